// LostWindows: which fault times fall in a lost-events window, asked in any order (faults complete out of order);
// the result records from the engine to the writer thread, field by field.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {LostWindows} from '../../src/store/run-rows.js'
import {ResultWriter} from '../../src/store/runs.js'
import {openDb} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'
import {newFaultOutcome, type Kernel} from '../../src/kernel/index.js'
import {newAcct} from '../../src/kernel/task.js'

test('lost windows: inclusive ends, overlapping windows merged, lookups in any order', () => {
  // two overlapping per-CPU windows [100, 200] and [150, 400], and a separate one [1000, 1000]
  const w = new LostWindows([
    [150, 400],
    [1000, 1000],
    [100, 200],
  ])
  const ask = [1000, 99, 100, 300, 400, 401, 999, 1001, 250, 150]
  assert.deepEqual(
    ask.map((t) => w.contains(t)),
    [true, false, true, true, true, false, false, false, true, true],
  )
  assert.equal(new LostWindows([]).contains(5), false)
})

test('result records round-trip: every field the engine reports lands in its column (FAULT, OP and FINISH layouts)', async () => {
  // Distinct values per field, so a field read from the wrong offset, on either side, shows as a wrong column.
  const dbPath = join(mkdtempSync(join(tmpdir(), 'vmareplay-records-')), 'r.db')
  const db = openDb(dbPath)
  const r = await loadTrace(db, 'traces/py_threads_small.trace.txt', {toolVersion: 'test'})
  const traceId = r.status === 'ingested' ? r.summary.traceId : 0
  const [e1, e2, e3] = db
    .prepare('SELECT event_id FROM events WHERE trace_id = ? ORDER BY event_id LIMIT 3')
    .pluck()
    .all(traceId) as number[]
  const writer = new ResultWriter(
    dbPath,
    [{traceId, policy: 'p', policyJson: '{}', mode: 'faithful', optionsJson: '{}', toolVersion: 'test'}],
    [],
    true,
  )
  const run = writer.runs[0]!
  const fault = {
    ...newFaultOutcome(),
    path: 'mmap_lock' as const,
    tookMmapLock: true,
    reason: 'no_vma' as const,
    waitNs: 11,
    latencyNs: 13,
    startNs: 1017,
    endNs: 1030,
    holdNs: 19,
    waitStartNs: 23,
    acquisitions: 3,
    writeAcquisitions: 1,
    waitedFor: {tid: 29, op: 'munmap', ref: e3!, write: true},
  }
  run.fault(
    {type: 'fault', eventId: e1!, t: 1000, tid: 7, tgid: 5, address: 0, errorCode: 6, user: true, io: false},
    fault,
    false,
  )
  const acct = {
    ...newAcct(),
    waitNs: 31,
    holdNs: 37,
    writeHoldNs: 35,
    waitStartNs: 41,
    vmaWaitNs: 43,
    acquisitions: 2,
    writeAcquisitions: 1,
    waitedFor: {tid: 47, op: 'fault', ref: e1!, write: false},
  }
  run.op({type: 'exit', eventId: e2!, t: 2000, tid: 8, tgid: 5, groupDead: null}, 'munmap', {
    op: 'munmap',
    tid: 8,
    startNs: 2003,
    endNs: 2100,
    acct,
    result: 0,
  })
  writer.runs[0]!.finish(
    {
      stats: {vmaLock: {success: 53, abort: 0, retry: 0, miss: 0}, vmasAllocated: 59, vmasReused: 0, anonVmas: 61},
      rcu: {stats: {gracePeriods: 67}},
      files: null,
    } as unknown as Kernel,
    2,
    3000,
  )
  writer.commit()
  const runId = run.runId
  assert.deepEqual(
    db
      .prepare('SELECT event_id, wait_ns, latency_ns, start_delay_ns, hold_ns FROM fault_results WHERE run_id = ?')
      .get(runId),
    {event_id: e1, wait_ns: 11, latency_ns: 13, start_delay_ns: 17, hold_ns: 19},
  )
  assert.deepEqual(db.prepare('SELECT tgid, vma_lock, took_mmap_lock FROM fault_groups WHERE run_id = ?').get(runId), {
    tgid: 5,
    vma_lock: 0,
    took_mmap_lock: 1,
  })
  const waits = db
    .prepare(
      'SELECT lock, mode, waiter_tid, waiter_op, waiter_event_id, start_ns, end_ns, wait_ns, holder_tid, holder_op, holder_event_id FROM lock_waits WHERE run_id = ? ORDER BY waiter_event_id, lock',
    )
    .all(runId)
  assert.deepEqual(waits, [
    {
      lock: 'mmap_lock',
      mode: 'write',
      waiter_tid: 7,
      waiter_op: 'fault',
      waiter_event_id: e1,
      start_ns: 23,
      end_ns: 34,
      wait_ns: 11,
      holder_tid: 29,
      holder_op: 'munmap',
      holder_event_id: e3,
    },
    {
      lock: 'mmap_lock',
      mode: 'write',
      waiter_tid: 8,
      waiter_op: 'munmap',
      waiter_event_id: e2,
      start_ns: 41,
      end_ns: 72,
      wait_ns: 31,
      holder_tid: 47,
      holder_op: 'fault',
      holder_event_id: e1,
    },
    {
      lock: 'vma',
      mode: 'write',
      waiter_tid: 8,
      waiter_op: 'munmap',
      waiter_event_id: e2,
      start_ns: 2003,
      end_ns: 2100,
      wait_ns: 43,
      holder_tid: null,
      holder_op: null,
      holder_event_id: null,
    },
  ])
  assert.deepEqual(db.prepare('SELECT mode, hold_ns FROM op_lock_holds WHERE run_id = ? ORDER BY mode').all(runId), [
    {mode: 'read', hold_ns: 2},
    {mode: 'write', hold_ns: 35},
  ])
  const counters = Object.fromEntries(
    (
      db.prepare('SELECT name, value FROM run_counters WHERE run_id = ?').all(runId) as {name: string; value: number}[]
    ).map((c) => [c.name, c.value]),
  )
  assert.equal(counters['vma_lock_success'], 53)
  assert.equal(counters['anon_vmas'], 61)
  assert.equal(counters['rcu.gracePeriods'], 67)
  assert.equal(counters['mmap_lock.acquire.read'], 2 + 1)
  assert.equal(counters['mmap_lock.acquire.write'], 1 + 1)
  assert.deepEqual(db.prepare('SELECT faults, ops, sim_end_ns FROM runs WHERE run_id = ?').get(runId), {
    faults: 1,
    ops: 2,
    sim_end_ns: 3000,
  })
  assert.equal(counters['fput.deferred'], undefined, 'a run without a file table has no fput counters')
  assert.equal(db.prepare('SELECT count(*) FROM file_releases WHERE run_id = ?').pluck().get(runId), 0)
  db.close()
})

test('FILE_RELEASE records: each field lands in its file_releases column, NULLs stay NULL, counters from the table', async () => {
  const dbPath = join(mkdtempSync(join(tmpdir(), 'vmareplay-records-')), 'f.db')
  const db = openDb(dbPath)
  const r = await loadTrace(db, 'traces/py_threads_small.trace.txt', {toolVersion: 'test'})
  const traceId = r.status === 'ingested' ? r.summary.traceId : 0
  const writer = new ResultWriter(
    dbPath,
    [{traceId, policy: 'spf-rcu-file', policyJson: '{}', mode: 'faithful', optionsJson: '{}', toolVersion: 'test'}],
    [],
    true,
  )
  const run = writer.runs[0]!
  const files = {
    releases: [
      {
        id: 'fd:5:3',
        path: '/lib/a.so',
        tgid: 5,
        fd: 'close',
        closedNs: 101,
        undeferredNs: 103,
        releasedNs: 10_107,
        deferredFputs: 2,
      },
      {
        id: 'exec@4096',
        path: null,
        tgid: null,
        fd: 'none',
        closedNs: null,
        undeferredNs: 211,
        releasedNs: 211,
        deferredFputs: 1,
      },
    ],
    delays: [30, 10, 20],
    stats: {deferred: 3, completed: 3, filesWaiting: 0, bytesWaiting: 0, peakFilesWaiting: 2, peakBytesWaiting: 400},
  }
  run.finish(
    {
      stats: {vmaLock: {success: 0, abort: 0, retry: 0, miss: 0}, vmasAllocated: 0, vmasReused: 0, anonVmas: 0},
      rcu: {stats: {}},
      files,
    } as unknown as Kernel,
    0,
    0,
  )
  writer.commit()
  const ro = db
  assert.deepEqual(
    ro
      .prepare(
        'SELECT file_id, path, tgid, fd, closed_ns, undeferred_ns, released_ns, late_ns, deferred_fputs FROM file_releases WHERE run_id = ? ORDER BY rowid',
      )
      .all(run.runId),
    [
      {
        file_id: 'fd:5:3',
        path: '/lib/a.so',
        tgid: 5,
        fd: 'close',
        closed_ns: 101,
        undeferred_ns: 103,
        released_ns: 10_107,
        late_ns: 10_004,
        deferred_fputs: 2,
      },
      {
        file_id: 'exec@4096',
        path: null,
        tgid: null,
        fd: 'none',
        closed_ns: null,
        undeferred_ns: 211,
        released_ns: 211,
        late_ns: 0,
        deferred_fputs: 1,
      },
    ],
  )
  const c = Object.fromEntries(
    (
      ro.prepare('SELECT name, value FROM run_counters WHERE run_id = ?').all(run.runId) as {
        name: string
        value: number
      }[]
    ).map((x) => [x.name, x.value]),
  )
  assert.deepEqual(
    [
      c['fput.deferred'],
      c['fput.delay_p50_ns'],
      c['fput.delay_p99_ns'],
      c['fput.delay_max_ns'],
      c['fput.peak_files_waiting'],
      c['fput.peak_bytes_waiting'],
      c['files.released'],
      c['files.late'],
      c['files.last_ref_late'],
      c['files.max_busy_ns'],
    ],
    [3, 20, 30, 30, 2, 400, 2, 1, 1, 10_004],
  )
  ro.close()
})
