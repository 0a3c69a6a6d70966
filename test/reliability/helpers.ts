// Shared helpers for the reliability tests (the CLI runner is test/cli.ts): temporary databases, integrity checks and a
// fingerprint of one trace's rows (to prove a failed or hostile ingest left another trace untouched).
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {existsSync, mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import Database from 'better-sqlite3'
import {REPO, type CliResult} from '../cli.js'

export const REAL = resolve('../shared/traces/real')
export const PY_SMALL = join(REPO, 'traces', 'py_threads_small.trace.txt')
export const XZ_SMALL = join(REPO, 'traces', 'xz_T2_small.perf.txt')
export const BIG = join(REAL, 'make_j2_lua.trace.txt.xz')
/** `{skip: reason}` for tests that need the shared real traces. */
export const needsReal = (file = BIG): {skip?: string} => (existsSync(file) ? {} : {skip: `${file} not present`})

export const tmp = (tag = 'rel'): string => mkdtempSync(join(tmpdir(), `vmareplay-${tag}-`))

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** A JavaScript stack trace printed to the terminal ("    at fn (file:1:2)"). */
export function assertNoStack(text: string, what: string): void {
  assert.doesNotMatch(
    text,
    /^\s+at .+(\(.*:\d+:\d+\)|:\d+:\d+)$/m,
    `${what} printed a stack trace:\n${text.slice(0, 2000)}`,
  )
}

/** Exit codes a hostile-input command may end with: 0 (counted problems) or 2 (unreadable input); never 1 (internal). */
export function assertHandled(r: CliResult, what: string, allowed = [0, 2]): void {
  assertNoStack(r.err + r.out, what)
  assert.ok(
    r.code !== null && allowed.includes(r.code),
    `${what}: exit ${r.code} (signal ${r.signal}), expected one of ${allowed}\n${r.err.slice(0, 2000)}`,
  )
}

export function integrity(dbPath: string): string {
  const db = new Database(dbPath) // read-write so a leftover WAL is recovered, as the tool itself would
  try {
    return (db.pragma('integrity_check') as {integrity_check: string}[]).map((r) => r.integrity_check).join('; ')
  } finally {
    db.close()
  }
}

const TRACE_TABLES = [
  'events',
  'event_counts',
  'threads',
  'processes',
  'mms',
  'syscalls',
  'initial_maps',
  'lost_windows',
  'parse_problems',
]
const RUN_TABLES = ['fault_groups', 'fault_results', 'lock_waits', 'op_lock_holds', 'run_counters', 'thread_results']

export interface Fingerprint {
  counts: Record<string, number>
  sha256: string
}

/** Row counts of every table for one trace (and its runs) plus a SHA-256 over all those rows. */
export function fingerprint(dbPath: string, traceId: number): Fingerprint {
  const db = new Database(dbPath, {readonly: true})
  try {
    db.defaultSafeIntegers(true)
    const hash = createHash('sha256')
    const counts: Record<string, number> = {}
    const feed = (name: string, sql: string, ...params: unknown[]): void => {
      const rows: string[] = []
      for (const row of db
        .prepare(sql)
        .raw(true)
        .iterate(...params) as Iterable<unknown[]>)
        rows.push(
          JSON.stringify(row, (_k, v: unknown) =>
            typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? v.toString('hex') : v,
          ),
        )
      rows.sort() // WITHOUT ROWID tables have no rowid order: hash the sorted rows
      hash.update(`${name}\n${rows.join('\n')}\n`)
      counts[name] = rows.length
    }
    feed('traces', 'SELECT * FROM traces WHERE trace_id = ?', traceId)
    for (const t of TRACE_TABLES) feed(t, `SELECT * FROM ${t} WHERE trace_id = ?`, traceId)
    feed('runs', 'SELECT * FROM runs WHERE trace_id = ? ORDER BY run_id', traceId)
    for (const t of RUN_TABLES)
      feed(t, `SELECT * FROM ${t} WHERE run_id IN (SELECT run_id FROM runs WHERE trace_id = ?) `, traceId)
    return {counts, sha256: hash.digest('hex')}
  } finally {
    db.close()
  }
}

/** Global row counts: what an interrupted command must leave unchanged. */
export function totals(dbPath: string): Record<string, number> {
  const db = new Database(dbPath, {readonly: true})
  try {
    const out: Record<string, number> = {}
    for (const t of ['traces', 'runs', ...TRACE_TABLES, ...RUN_TABLES])
      out[t] = db.prepare(`SELECT count(*) FROM ${t}`).pluck().get() as number
    return out
  } finally {
    db.close()
  }
}
