// The result writer thread (store/runs.ts): a failure on either thread, mid-stream, fails the replay with its own
// error, leaves the database as it was and releases the write lock before replayTrace returns.
import {test, before} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {openDb, type Db} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'
import {replayTrace} from '../../src/replay/run.js'
import {policyByName} from '../../src/replay/policies.js'

/** Enough faults that the writer's slots wrap around many times and a progress callback runs. */
const FAULTS = 70_000
const dir = mkdtempSync(join(tmpdir(), 'vmareplay-writer-'))
const dbPath = join(dir, 'w.db')
let db: Db

before(async () => {
  const lines = ['# tracer: nop', '#']
  for (let i = 0; i < FAULTS; i++) {
    const ts = (1000 + i / 1e3).toFixed(6) // 1 ms apart: each fault done before the next
    const addr = (0x7f0000000000 + (i % 512) * 4096).toString(16)
    lines.push(
      `           synth-100     (    100) [000] d....  ${ts}: page_fault_user: address=0x${addr} ip=0x401000 error_code=0x6`,
    )
  }
  // a syscall after the faults keeps the syscall scan open while they replay
  lines.push(
    '           synth-100     (    100) [000] .....  1070.001000: sys_enter: NR 9 (0, 2000, 3, 22, ffffffff, 0)',
  )
  lines.push('           synth-100     (    100) [000] .....  1070.001002: sys_exit: NR 9 = 139586437120000')
  const trace = join(dir, 'synth.trace.txt')
  writeFileSync(trace, lines.join('\n') + '\n')
  db = openDb(dbPath)
  const r = await loadTrace(db, trace, {toolVersion: 'test'})
  assert.equal(r.status, 'ingested')
})

const policies = [policyByName('mmap-lock'), policyByName('v6.18')]
const opts = {mode: 'faithful' as const, costs: {}, toolVersion: 'test'}
const count = (table: string): number => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number

/** Nothing of a replay stored, and no one holds the write lock (a writer would fail at once, not wait). */
function untouched(): void {
  for (const t of [
    'runs',
    'fault_groups',
    'fault_results',
    'fault_spans',
    'fault_rows',
    'lock_waits',
    'lock_holds',
    'run_counters',
    'thread_results',
  ])
    assert.equal(count(t), 0, t)
  const other = new Database(dbPath, {timeout: 0})
  try {
    other.exec('BEGIN IMMEDIATE')
    other.exec('ROLLBACK')
  } finally {
    other.close()
  }
}

test('an insert failing on the writer thread fails the replay with its error and stores nothing', () => {
  db.exec(
    `CREATE TRIGGER late_boom BEFORE INSERT ON fault_spans WHEN NEW.last_event_id > ${FAULTS - 1000} BEGIN SELECT RAISE(ABORT, 'boom at the end'); END`,
  )
  try {
    assert.throws(() => replayTrace(dbPath, db, 1, policies, opts), /boom at the end/)
  } finally {
    db.exec('DROP TRIGGER late_boom')
  }
  untouched()
})

test('an error on the simulating thread rolls the writer back before it is rethrown', () => {
  let calls = 0
  const onProgress = (): void => {
    calls++
    throw new Error('interrupted')
  }
  // the simulating thread's own error surfaces (the trace reader closes its scans on the way out)
  assert.throws(() => replayTrace(dbPath, db, 1, policies, {...opts, onProgress}), /^Error: interrupted$/)
  assert.equal(calls, 1)
  untouched()
})

test('after a failed replay the same replay stores every run', () => {
  const runs = replayTrace(dbPath, db, 1, policies, opts)
  assert.deepEqual(
    runs.map((r) => r.faults),
    [FAULTS, FAULTS],
  )
  assert.equal(count('runs'), 2)
  assert.equal(count('fault_results'), 2 * FAULTS)
  const stored = db.prepare('SELECT digest FROM runs ORDER BY run_id').pluck().all()
  assert.deepEqual(
    stored,
    runs.map((r) => r.digest),
  )
})
