// readOps: the merge of the fault scan with the other events and the syscalls comes out in exactly the order SQL
// gives for (ts_ns, event_id), across page boundaries, with ties and with timestamps that go backwards; the faults
// read from fault_pages are exactly those the SQL scan of the events table gives, and a trace without pages replays.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {existsSync, mkdtempSync, readdirSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {openDb, type Db} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'
import {readOps, TIME_INDEX_SQL, traceInfo} from '../../src/replay/stream.js'
import {policyByName} from '../../src/replay/policies.js'
import {replayTrace} from '../../src/replay/run.js'

const dir = mkdtempSync(join(tmpdir(), 'vmareplay-stream-'))
/** ftrace timestamps with 9 decimals (as perf --ns and some clocks print): exact ns past 2^53, as BigInt */
const line = (ns: bigint, body: string): string =>
  `           synth-100     (    100) [000] d....  ${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}: ${body}`
const fault = (ns: bigint, i: number): string =>
  line(ns, `page_fault_user: address=0x${(0x7f0000000000 + i * 4096).toString(16)} ip=0x401000 error_code=0x6`)

/**
 * ~3 pages of faults, 7 per timestamp (ties straddle page ends), and syscalls between them, at epoch-scale
 * nanoseconds (1.7e18, where a double is 256 ns coarse) that differ in the last digit.
 */
function trace(name: string, backwards: boolean): string {
  const lines = ['# tracer: nop', '#']
  const N = 10_000
  for (let i = 0; i < N; i++) {
    // backwards: blocks of 1,000 faults in reverse time order, so the file order is not the time order
    const block = backwards ? 9 - Math.floor(i / 1000) : Math.floor(i / 1000)
    const us = 1_700_000_000_000_000_001n + BigInt(block * 1000 + Math.floor((i % 1000) / 7))
    lines.push(fault(us, i))
    if (i % 2500 === 1234) {
      lines.push(line(us, 'sys_enter: NR 11 (7f0000000000, 1000, 0, 0, 0, 0)'))
      lines.push(line(us, 'sys_exit: NR 11 = 0'))
    }
  }
  const path = join(dir, name)
  writeFileSync(path, lines.join('\n') + '\n')
  return path
}

for (const backwards of [false, true]) {
  test(`readOps gives (ts, event id) order across fault pages${backwards ? ', timestamps going backwards' : ''}`, async () => {
    const db = openDb(join(dir, `s-${backwards}.db`))
    const r = await loadTrace(db, trace(`t-${backwards}.txt`, backwards), {toolVersion: 'test'})
    assert.equal(r.status, 'ingested')
    const info = traceInfo(db, 1)
    assert.equal(info.monotonic, !backwards)
    // pages are in file order: a trace whose file order is not its time order gets none and is read by SQL
    assert.equal(pagedFaults(db, 1), backwards ? 0 : 10_000)
    if (backwards) db.exec(TIME_INDEX_SQL)
    const got: [string, number, number][] = []
    readOps(db, info, (op) => got.push([op.type, op.eventId, op.t]))
    const want = db
      .prepare(
        `SELECT CASE WHEN e.kind = 1 THEN 'fault' ELSE 'syscall' END, e.event_id, e.ts_ns - ? FROM events e
         WHERE e.kind = 1 OR e.event_id IN (SELECT enter_event_id FROM syscalls) ORDER BY e.ts_ns, e.event_id`,
      )
      .raw(true)
      .all(info.firstTsNs) as [string, number, number][]
    assert.equal(got.filter((o) => o[0] === 'fault').length, 10_000)
    assert.equal(got.filter((o) => o[0] === 'syscall').length, 4)
    assert.deepEqual(got, want)
    if (!backwards) {
      // a page missing (the count no longer matches the trace's faults): the SQL scan, with the same ops
      db.exec('BEGIN')
      db.exec('DELETE FROM fault_pages WHERE page_no = 1')
      const bySql: typeof got = []
      readOps(db, info, (op) => bySql.push([op.type, op.eventId, op.t]))
      db.exec('ROLLBACK')
      assert.deepEqual(bySql, want)
    }
    db.close()
  })
}

/** Faults the trace's fault_pages hold. */
const pagedFaults = (db: Db, traceId: number): number =>
  db.prepare('SELECT total(faults) FROM fault_pages WHERE trace_id = ?').pluck().get(traceId) as number

/** readOps' whole output, hashed (a long trace has millions of ops). */
function opsDigest(db: Db, traceId: number): {ops: number; faults: number; sha: string} {
  const h = createHash('sha256')
  let ops = 0
  let faults = 0
  readOps(db, traceInfo(db, traceId), (op) => {
    ops++
    if (op.type === 'fault') faults++
    h.update(JSON.stringify(op))
  })
  return {ops, faults, sha: h.digest('hex')}
}

/** The same read with the trace's pages gone (rolled back after), so the faults come from the events table. */
function opsDigestBySql(db: Db, traceId: number): ReturnType<typeof opsDigest> {
  db.exec('BEGIN')
  try {
    db.prepare('DELETE FROM fault_pages WHERE trace_id = ?').run(traceId)
    return opsDigest(db, traceId)
  } finally {
    db.exec('ROLLBACK')
  }
}

const REAL =
  process.env.VMAREPLAY_REAL_TRACES ?? fileURLToPath(new URL('../../../../shared/traces/real/', import.meta.url))
const REPO_TRACES = fileURLToPath(new URL('../../../traces/', import.meta.url))
const traceFiles = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => /\.(trace\.txt|perf\.txt)(\.xz)?$/.test(f))
        .map((f) => join(dir, f))
    : []

test(
  'faults read from fault_pages are the ops the SQL scan gives, on every real trace (one database)',
  {timeout: 900_000},
  async () => {
    const files = [...traceFiles(REPO_TRACES), ...traceFiles(REAL)]
    assert.ok(files.length >= 4)
    const db = openDb(join(dir, 'real.db'))
    let paged = 0
    for (const file of files) {
      const r = await loadTrace(db, file, {toolVersion: 'test'})
      assert.equal(r.status, 'ingested', file)
      if (r.status !== 'ingested') continue
      const {traceId, monotonic, faults, kernelFaults} = r.summary
      assert.equal(pagedFaults(db, traceId), monotonic ? faults + kernelFaults : 0, file)
      if (!monotonic) continue
      paged++
      const pages = opsDigest(db, traceId)
      assert.equal(pages.faults, faults + kernelFaults, file)
      assert.deepEqual(pages, opsDigestBySql(db, traceId), file)
    }
    assert.ok(paged >= 4, `${paged} traces had pages`)
    db.close()
  },
)

test('a trace without fault_pages (ingested before they existed) replays as one with them', async () => {
  const path = join(dir, 'nopages.db')
  const db = openDb(path)
  await loadTrace(db, join(REPO_TRACES, 'py_threads_small.trace.txt'), {toolVersion: 'test'})
  assert.ok(pagedFaults(db, 1) > 0)
  const policies = ['mmap-lock', 'v6.18'].map(policyByName)
  const replay = (): string[] =>
    (['faithful', 'what-if'] as const).flatMap((mode) =>
      replayTrace(path, db, 1, policies, {mode, costs: {}, toolVersion: 'test'}).map((r) => r.digest),
    )
  const withPages = replay()
  db.prepare('DELETE FROM fault_pages').run()
  assert.deepEqual(replay(), withPages)
  db.close()
})
