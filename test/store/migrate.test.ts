// Migration of a database written by an older vmareplay. The fixture is a real schema-1 file: traces/py_threads_small
// ingested and replayed (mmap-lock and v6.18 faithful, v6.4 what-if) by commit 51cfbc5, then VACUUMed and gzipped.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import Database from 'better-sqlite3'
import {openDb, openDbReadOnly} from '../../src/store/db.js'
import {SCHEMA_VERSION} from '../../src/store/schema.js'
import {REPO} from '../report/fixture.js'

function v1Copy(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'vmareplay-migrate-')), 'v1.db')
  writeFileSync(path, gunzipSync(readFileSync(join(REPO, 'test', 'fixtures', 'v1-py_threads_small.db.gz'))))
  return path
}

// Every column of both user-facing views, in one total order, so rows compare as lists.
const OUTCOMES = 'SELECT * FROM fault_outcomes ORDER BY run_id, ts_ns, tid, address, wait_ns, latency_ns'
const HOLDS = 'SELECT * FROM lock_holds ORDER BY run_id, start_ns, tid, op, event_id, mode, end_ns, hold_ns'

function read(path: string, sql: string): unknown[][] {
  const db = new Database(path, {readonly: true})
  try {
    return db.prepare(sql).raw(true).all() as unknown[][]
  } finally {
    db.close()
  }
}

test('a schema-1 database is migrated on open, and its fault outcomes and lock holds read exactly as before', () => {
  const path = v1Copy()
  const outcomes = read(path, OUTCOMES)
  const holds = read(path, HOLDS)
  assert.equal(read(path, 'PRAGMA user_version')[0]![0], 1)
  assert.ok(outcomes.length > 9000 && holds.length > 5000, 'the fixture has real rows to carry over')

  openDb(path).close()
  assert.equal(read(path, 'PRAGMA user_version')[0]![0], SCHEMA_VERSION)
  assert.deepEqual(read(path, OUTCOMES), outcomes)
  assert.deepEqual(read(path, HOLDS), holds)
  // fault read holds now live in the fault's row, the other holds in op_lock_holds
  const faultHolds = read(path, 'SELECT count(*) FROM fault_results WHERE hold_ns > 0')[0]![0] as number
  const opHolds = read(path, 'SELECT count(*) FROM op_lock_holds')[0]![0] as number
  assert.equal(faultHolds + opHolds, holds.length)
  assert.ok(faultHolds > 0 && opHolds > 0)
  assert.deepEqual(read(path, 'PRAGMA foreign_key_check'), [])
  // the migrated trace has no fault pages: its faults are replayed through the SQL scan
  assert.equal(read(path, 'SELECT count(*) FROM fault_pages')[0]![0], 0)
  // nor measured lock times: its syscalls keep every other column, with the new ones NULL
  assert.deepEqual(
    read(
      path,
      'SELECT count(*), count(lock_wait_ns), count(lock_hold_ns), count(enter_ts_ns) > 0 FROM syscalls',
    )[0]!.slice(1),
    [0, 0, 1],
  )
  // and the index the replay reads a trace's syscalls by, in entry order
  assert.deepEqual(read(path, "SELECT sql FROM sqlite_master WHERE name = 'syscalls_trace_enter'"), [
    ['CREATE INDEX syscalls_trace_enter ON syscalls(trace_id, enter_event_id)'],
  ])
})

test('a read-only command on a schema-1 database migrates it first, then reads the new schema', () => {
  const path = v1Copy()
  const outcomes = read(path, OUTCOMES)
  const db = openDbReadOnly(path)
  try {
    assert.equal(db.pragma('user_version', {simple: true}), SCHEMA_VERSION)
    assert.equal((db.prepare('SELECT count(*) AS n FROM fault_outcomes').get() as {n: number}).n, outcomes.length)
  } finally {
    db.close()
  }
})
