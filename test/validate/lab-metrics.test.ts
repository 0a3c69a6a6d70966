// The lab-validate metrics on a hand-written trace whose numbers were counted by hand: acquisitions (a downgrade is
// not one, a failed trylock is not one), which acquisitions were contended and how long they waited, and the share
// and reason family of the faults that took mmap_lock.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {openDb} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'
import {replayTrace} from '../../src/replay/run.js'
import {policyByName} from '../../src/replay/policies.js'
import {familyOf, metricValues, observeLocks, percentile, realMetrics} from '../../src/validate/lab-metrics.js'

const MM = 'mm=0000000000000aaa memcg_path=/'
const line = (tid: number, ts: string, body: string): string =>
  `          python-${tid}     (     10) [000] .....     ${ts}: ${body}`
const start = (tid: number, ts: string, write: boolean): string =>
  line(tid, ts, `mmap_lock_start_locking: ${MM} write=${write}`)
const acq = (tid: number, ts: string, write: boolean, ok = true): string =>
  line(tid, ts, `mmap_lock_acquire_returned: ${MM} write=${write} success=${ok}`)
const rel = (tid: number, ts: string, write: boolean): string =>
  line(tid, ts, `mmap_lock_released: ${MM} write=${write}`)
const fault = (tid: number, ts: string, addr: string, ec: string): string =>
  line(tid, ts, `page_fault_user: address=${addr} ip=0x401000 error_code=${ec}`)

const TRACE = [
  '# tracer: nop',
  fault(10, '1.000000', '0x7f0000001000', '0x6'),
  start(10, '1.000001', false),
  acq(10, '1.000002', false), // uncontended read
  start(11, '1.000010', true), // a reader holds: contended write
  rel(10, '1.000020', false),
  acq(11, '1.000030', true), // waited 20 µs
  fault(12, '1.000040', '0x7f0000002000', '0x6'),
  start(12, '1.000041', false),
  acq(12, '1.000042', false, false), // the writer holds: trylock fails (no acquisition)
  start(12, '1.000043', false), // after a failed trylock: contended
  rel(11, '1.000050', true),
  acq(12, '1.000060', false),
  rel(12, '1.000070', false), // waited 17 µs
  start(11, '1.000080', true),
  acq(11, '1.000081', true), // uncontended write
  acq(11, '1.000090', false), // mmap_write_downgrade: not an acquisition, the writer now reads
  start(10, '1.000091', false),
  acq(10, '1.000092', false),
  rel(10, '1.000093', false), // beside a reader: uncontended
  rel(11, '1.000095', false),
  start(12, '1.000100', false),
  acq(12, '1.000101', false), // uncontended read
  start(11, '1.000102', true), // a reader holds: contended write
  start(10, '1.000103', false), // readers queue behind the waiting writer: contended
  rel(12, '1.000110', false),
  acq(11, '1.000115', true),
  rel(11, '1.000116', true), // waited 13 µs
  acq(10, '1.000120', false),
  rel(10, '1.000121', false), // waited 17 µs
  fault(13, '1.000130', '0x7f0000003000', '0x4'), // no mmap_lock at all
  '',
].join('\n')

async function ingest(trace = TRACE): Promise<{db: ReturnType<typeof openDb>; dbPath: string; traceId: number}> {
  const dir = mkdtempSync(join(tmpdir(), 'vmareplay-labm-'))
  writeFileSync(join(dir, 'hand.trace.txt'), trace)
  const dbPath = join(dir, 'm.db')
  const db = openDb(dbPath)
  const r = await loadTrace(db, join(dir, 'hand.trace.txt'), {toolVersion: 'test'})
  assert.equal(r.status, 'ingested')
  if (r.status !== 'ingested') throw new Error('not ingested')
  assert.equal(r.summary.malformedLines, 0)
  return {db, dbPath, traceId: r.summary.traceId}
}

test("acquisitions and contended waits from the trace's own mmap_lock events", async () => {
  const {db, traceId} = await ingest()
  const o = observeLocks(db, traceId)
  assert.equal(o.acquireRead, 5, 'read acquisitions: the downgrade and the failed trylock do not count')
  assert.equal(o.acquireWrite, 3)
  assert.deepEqual(o.contendedWaitsNs, [20_000, 17_000, 13_000, 17_000])
  assert.deepEqual(o.readStealWaitsNs, [], 'both contended reads met a writer holding or taking the lock first')
  assert.deepEqual(o.readerWakeNs, [10_000, 4_000], 'the reads queued across a write release')
  db.close()
})

test("a reader's steal behind a queued writer and a queued reader's wake-up, as calibrate measures them", async () => {
  const {db, traceId} = await ingest(
    [
      '# tracer: nop',
      start(20, '2.000000', false),
      acq(20, '2.000001', false), // a reader holds
      start(21, '2.000002', true), // a writer queues
      rel(20, '2.000010', false),
      fault(22, '2.000011', '0x7f0000001000', '0x6'),
      start(22, '2.000012', false),
      acq(22, '2.000013', false, false), // trylock fails: a writer waits
      start(22, '2.000014', false),
      acq(22, '2.000017', false), // no writer holds, none takes it first: the steal, 3 µs
      rel(22, '2.000020', false),
      acq(21, '2.000030', true),
      start(23, '2.000031', false), // queued behind the writer
      rel(21, '2.000040', true),
      acq(23, '2.000190', false), // granted at the release, running 150 µs later
      rel(23, '2.000191', false),
      '',
    ].join('\n'),
  )
  const o = observeLocks(db, traceId)
  assert.deepEqual(o.readStealWaitsNs, [3_000])
  assert.deepEqual(o.readerWakeNs, [150_000])
  assert.deepEqual(o.contendedWaitsNs, [3_000, 28_000, 159_000], 'in acquire_returned order')
  db.close()
})

test('wait statistics: nearest-rank percentiles, total per second of trace', async () => {
  assert.equal(percentile([13, 17, 17, 20], 0.5), 17)
  assert.equal(percentile([13, 17, 17, 20], 0.99), 20)
  assert.equal(percentile([], 0.5), 0)
  const {db, dbPath, traceId} = await ingest()
  const [run] = replayTrace(dbPath, db, traceId, [policyByName('mmap-lock')], {
    mode: 'faithful',
    costs: {},
    toolVersion: 'test',
  })
  const v = metricValues(realMetrics(db, traceId, run!.runId))
  assert.equal(v['took_mmap_lock'], 2 / 3, 'two of the three user faults took mmap_lock')
  assert.equal(v['acquire_read_per_1k'], (1000 * 5) / 3)
  assert.equal(v['acquire_write_per_1k'], 1000)
  assert.equal(v['contended'], 4)
  assert.equal(v['wait_p50_ns'], 17_000)
  assert.equal(v['wait_p99_ns'], 20_000)
  // 67 µs of waits over the trace's 130 µs
  assert.ok(Math.abs(v['wait_ns_per_s']! - 67_000 / 130e-6) < 1e-3, String(v['wait_ns_per_s']))
  // under mmap-lock (6.1) every fault's reason is the missing per-VMA path: both real mmap_lock faults go there
  assert.equal(v['took.policy_mmap_lock'], 2 / 3)
  assert.equal(v['took.anon_vma'], 0)
  assert.equal(v['took.other'], 0)
  db.close()
})

test('reason families', () => {
  assert.equal(familyOf('anon_vma_trylock'), 'anon_vma')
  assert.equal(familyOf('anon_vma_trylock_failed'), 'anon_vma')
  assert.equal(familyOf('file_no_map_pages'), 'file')
  assert.equal(familyOf('io_retry'), 'file')
  assert.equal(familyOf('stack_growth'), 'stack')
  assert.equal(familyOf('policy_mmap_lock'), 'policy_mmap_lock')
  assert.equal(familyOf('vma_write_locked'), 'other')
  assert.equal(familyOf('ok'), 'other')
})
