import {test, before, after} from 'node:test'
import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {Writable} from 'node:stream'
import {smallDb, SHARED_REAL, type Fixture} from '../report/fixture.js'
import {Sink} from '../../src/export/sink.js'
import {exportPerfetto, usTs, type PerfettoOptions} from '../../src/export/perfetto.js'
import {checkTrace} from './validate-trace.js'

class Collect extends Writable {
  chunks: string[] = []
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk.toString())
    cb()
  }
  text(): string {
    return this.chunks.join('')
  }
}

async function exportText(
  fx: Fixture,
  o: Partial<PerfettoOptions> & {runId: number},
): Promise<{text: string; stats: Awaited<ReturnType<typeof exportPerfetto>>; writes: number}> {
  const out = new Collect()
  const sink = new Sink(out)
  const stats = await exportPerfetto(fx.db, sink, {faults: 'all', bucketNs: 1_000_000, ...o})
  await sink.flush()
  return {text: out.text(), stats, writes: out.chunks.length}
}

let fx: Fixture
before(async () => {
  fx = await smallDb(['mmap-lock', 'v6.18'])
})
after(() => fx.db.close())

test('ts keeps ns as a three-digit fraction of µs', () => {
  assert.equal(usTs(0), '0')
  assert.equal(usTs(1_000), '1')
  assert.equal(usTs(1_234_567), '1234.567')
  assert.equal(usTs(5), '0.005')
  assert.equal(usTs(41_213_869_123_456), '41213869123.456')
})

test('the checker itself rejects overlapping slices, unpaired flows and unnamed tracks', () => {
  const meta =
    '{"name":"process_name","ph":"M","pid":1,"tid":1,"args":{"name":"p"}},{"name":"thread_name","ph":"M","pid":1,"tid":1,"args":{"name":"t"}}'
  const doc = (evs: string): string => `{"traceEvents":[${meta}${evs === '' ? '' : ','}${evs}]}`
  const x = (ts: number, dur: number): string => `{"name":"a","ph":"X","ts":${ts},"dur":${dur},"pid":1,"tid":1}`
  assert.doesNotThrow(() => checkTrace(doc([x(0, 10), x(2, 3), x(5, 5), x(10, 1)].join(','))))
  assert.throws(() => checkTrace(doc([x(0, 10), x(5, 10)].join(','))), /overlaps its parent/)
  assert.throws(() => checkTrace(doc([x(5, 1), x(0, 1)].join(','))), /after/)
  assert.throws(
    () => checkTrace(doc(`${x(0, 10)},{"name":"b","cat":"l","ph":"s","id":1,"ts":1,"pid":1,"tid":1}`)),
    /every flow start has an end/,
  )
  assert.throws(
    () => checkTrace(`{"traceEvents":[{"name":"a","ph":"X","ts":0,"dur":1,"pid":2,"tid":2}]}`),
    /no process_name/,
  )
  // a flow start after a child ended binds to that (ended) child in Perfetto: rejected
  const flowPair = (ts: number): string =>
    `{"name":"b","cat":"l","ph":"s","id":1,"ts":${ts},"pid":1,"tid":1},{"name":"b","cat":"l","ph":"f","bp":"e","id":1,"ts":${ts},"pid":1,"tid":1}`
  assert.throws(
    () => checkTrace(doc([x(0, 10), x(1, 2), flowPair(5)].join(','))),
    /would bind to no slice or an ended one/,
  )
  assert.doesNotThrow(() => checkTrace(doc([x(0, 10), x(1, 2), x(4, 3), flowPair(5)].join(','))))
})

test('a run exports as well-formed Chrome JSON: tracks named, slices nested, flows paired, counters ordered', async () => {
  const runId = fx.runIds['mmap-lock']!
  const {text, stats, writes} = await exportText(fx, {runId})
  const c = checkTrace(text)
  const faults = fx.db.prepare('SELECT count(*) FROM fault_results WHERE run_id = ?').pluck().get(runId) as number
  assert.equal(c.slices.filter((s) => s.cat === 'fault').length, faults)
  assert.equal(stats.faultSlices, faults)
  assert.ok(c.flows > 0, 'faults wait for syscalls under mmap-lock in this trace, so there are flow arrows')
  assert.equal(stats.flows, c.flows)
  const waits = fx.db.prepare('SELECT count(*) FROM lock_waits WHERE run_id = ?').pluck().get(runId) as number
  assert.equal(c.slices.filter((s) => s.cat === 'wait').length, waits)
  // every wait with a known holder gets its arrow in a full export
  const held = fx.db
    .prepare('SELECT count(*) FROM lock_waits WHERE run_id = ? AND holder_event_id IS NOT NULL')
    .pluck()
    .get(runId) as number
  assert.equal(stats.flowsNoHolder, 0)
  assert.equal(stats.flows + stats.flowsNoOverlap, held)
  assert.ok(stats.flows >= held - 1)
  // arrows start at the holder's hold (or, for a queued holder, its own wait) and end at the wait they caused
  for (const [start, end] of c.boundTo.values()) {
    assert.match(end.name!, /^wait /)
    assert.ok(
      start.cat === 'hold' || start.cat === 'wait' || start.cat === 'fault' || start.cat === 'syscall',
      start.name,
    )
  }
  // an arrow leaves a wait slice only where the holder was itself waiting: a reader's steal blames the writer queued
  // ahead of it (rwsem_down_read_slowpath), the common case on this trace
  const queuedHolder = fx.db
    .prepare(
      `SELECT count(*) FROM lock_waits w WHERE run_id = ? AND EXISTS (SELECT 1 FROM lock_waits h WHERE h.run_id = w.run_id
       AND h.waiter_event_id = w.holder_event_id AND h.start_ns <= w.start_ns AND h.end_ns >= w.start_ns)`,
    )
    .pluck()
    .get(runId) as number
  const fromWait = [...c.boundTo.values()].filter(([s]) => s.cat === 'wait').length
  assert.ok(fromWait > 0 && fromWait <= queuedHolder, `${fromWait} arrows from a wait, ${queuedHolder} queued holders`)
  assert.ok(
    [...c.boundTo.values()].some(([s]) => s.cat === 'hold'),
    'and the others from a hold',
  )
  assert.ok(c.counters.length > 0)
  assert.ok(writes > 1, 'written in chunks, not one string')
  // a fault slice names its path and reason and carries address, error code and wait
  const f = c.slices.find((s) => s.cat === 'fault' && (s.args!.wait_ns as number) > 0)!
  assert.match(f.name!, /^fault mmap_lock\/\w+/)
  assert.match(f.args!.address as string, /^0x[0-9a-f]+$/)
  assert.ok('error_code' in f.args!)
  // the slice is the stored fault: same wait, start and address
  const addr = fx.db.prepare(`SELECT printf('0x%x', a) FROM events WHERE event_id = ?`).pluck().get(f.args!.event_id)
  assert.equal(f.args!.address, addr)
  const row = fx.db
    .prepare(
      `SELECT f.wait_ns, e.ts_ns - t.first_ts_ns + f.start_delay_ns AS start_ns FROM fault_results f JOIN events e USING (event_id)
       JOIN traces t USING (trace_id) WHERE f.run_id = ? AND f.event_id = ?`,
    )
    .get(runId, f.args!.event_id) as {wait_ns: number; start_ns: number}
  assert.equal(row.wait_ns, f.args!.wait_ns)
  assert.ok(Math.abs(row.start_ns / 1000 - f.ts!) < 1e-6)
  assert.equal(stats.clamped, 0)
})

test('filters: only slow faults, a time window, a limit', async () => {
  const runId = fx.runIds['v6.18']!
  const slow = await exportText(fx, {runId, faults: 'slow'})
  const c = checkTrace(slow.text)
  const expected = fx.db
    .prepare(
      'SELECT count(*) FROM fault_results JOIN fault_groups USING (run_id, group_id) WHERE run_id = ? AND (vma_lock = 0 OR took_mmap_lock = 1 OR wait_ns > 0)',
    )
    .pluck()
    .get(runId) as number
  assert.equal(c.slices.filter((s) => s.cat === 'fault').length, expected)
  const win = checkTrace((await exportText(fx, {runId, fromNs: 100_000_000, toNs: 200_000_000})).text)
  assert.ok(win.slices.length > 0)
  for (const s of win.slices) assert.ok(s.ts! + s.dur! >= 100_000 && s.ts! <= 200_000, `${s.name} at ${s.ts}`)
  const lim = await exportText(fx, {runId, limit: 50})
  assert.equal(checkTrace(lim.text).slices.filter((s) => s.cat === 'fault').length, 50)
  assert.ok(lim.stats.truncated)
})

const realTrace = join(SHARED_REAL, 'py_threads_anon.trace.txt')
test(
  'the export of a real corpus trace (py_threads_anon, 83k faults) is well-formed',
  {skip: existsSync(realTrace) ? false : `${realTrace} not present`},
  async () => {
    const big = await smallDb(['mmap-lock'], realTrace)
    try {
      const {text, stats} = await exportText(big, {runId: big.runIds['mmap-lock']!})
      const c = checkTrace(text)
      assert.ok(stats.faultSlices > 80_000)
      assert.ok(c.flows > 0)
    } finally {
      big.db.close()
    }
  },
)
