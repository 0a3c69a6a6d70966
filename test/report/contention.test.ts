import {test, before, after} from 'node:test'
import assert from 'node:assert/strict'
import {smallDb, type Fixture} from './fixture.js'
import {selectRuns} from '../../src/report/runs.js'
import {contentionReport} from '../../src/report/contention.js'
import {contentionCsv, renderContention} from '../../src/report/text.js'
import {json} from '../../src/report/output.js'

let fx: Fixture
before(async () => {
  fx = await smallDb()
})
after(() => fx.db.close())

test('paths and reasons add up to every fault of each run', () => {
  const r = contentionReport(fx.db, selectRuns(fx.db, fx.path, {}), 10)
  for (const run of r.runs) {
    const rows = r.paths.filter((p) => p.run_id === run.run_id)
    assert.equal(
      rows.reduce((s, p) => s + p.faults, 0),
      run.faults,
    )
    const fb = rows.filter((p) => p.path === 'mmap_lock').reduce((s, p) => s + p.faults, 0)
    const counted =
      (fx.db
        .prepare(`SELECT value FROM run_counters WHERE run_id = ? AND name = 'faults.path.mmap_lock'`)
        .pluck()
        .get(run.run_id) as number | undefined) ?? 0
    assert.equal(fb, counted)
    const all = r.waits.find((w) => w.run_id === run.run_id && w.group === 'all faults')!
    assert.equal(all.count, run.faults)
    assert.ok(all.p50_ns <= all.p90_ns && all.p90_ns <= all.p99_ns && all.p99_ns <= all.max_ns)
  }
})

test('top blockers: totals match lock_waits for that holder, ordered by delay, described from the trace', () => {
  const runId = fx.runIds['mmap-lock']!
  const r = contentionReport(fx.db, selectRuns(fx.db, fx.path, {runs: [runId]}), 5)
  assert.ok(r.blockers.length > 0, 'faults wait for munmap/mprotect under mmap-lock in this trace')
  const q = fx.db.prepare(
    `SELECT count(*) AS n, sum(wait_ns) AS total, sum(waiter_op = 'fault') AS faults FROM lock_waits WHERE run_id = ? AND holder_event_id = ?`,
  )
  for (const b of r.blockers) {
    const s = q.get(runId, b.holder_event_id) as {n: number; total: number; faults: number}
    assert.equal(b.waits, s.n)
    assert.equal(b.total_wait_ns, s.total)
    assert.equal(b.faults_delayed, s.faults)
    assert.ok(b.trace_line !== null && b.trace_line > 0)
    assert.ok(b.detail.startsWith(b.op === 'fault' ? 'fault' : b.op.slice(0, 3)), `${b.op}: ${b.detail}`)
  }
  for (let i = 1; i < r.blockers.length; i++)
    assert.ok(r.blockers[i - 1]!.total_wait_ns >= r.blockers[i]!.total_wait_ns)
})

test('hottest VMAs, threads and processes agree with fault_results', () => {
  const runId = fx.runIds['v6.4']!
  const r = contentionReport(fx.db, selectRuns(fx.db, fx.path, {runs: [runId]}), 10)
  const top = r.vmas[0]!
  const s = fx.db
    .prepare(
      `SELECT count(*) AS n, sum(vma_lock = 0) AS fb FROM fault_results JOIN fault_groups USING (run_id, group_id)
       WHERE run_id = ? AND tgid = ? AND vma_start = ? AND vma_end = ?`,
    )
    .get(runId, top.tgid, top.vma_start, top.vma_end) as {n: number; fb: number}
  assert.deepEqual([top.faults, top.fallbacks], [s.n, s.fb])
  assert.notEqual(top.kind, '', 'the kind of mapping is derived from the trace')
  assert.equal(
    r.threads.reduce((x, t) => x + t.faults, 0),
    r.runs[0]!.faults,
  )
  assert.equal(
    r.processes.reduce((x, p) => x + p.faults, 0),
    r.runs[0]!.faults,
  )
  assert.ok(r.threads.every((t) => t.comm !== ''))
})

test('the people rendering has units in headers; CSV and JSON carry raw ns', () => {
  const r = contentionReport(fx.db, selectRuns(fx.db, fx.path, {}), 5)
  const text = renderContention(r, 5)
  for (const h of ['p99 (µs)', 'total (ms)', 'total delay (µs)', 'hold (µs)', 'Hottest VMAs', 'fell back to mmap_lock'])
    assert.ok(text.includes(h), h)
  const csv = contentionCsv(r, 'waits').split('\r\n')
  assert.equal(csv[0], 'run_id,policy,group,count,waited,total_wait_ns,p50_ns,p90_ns,p99_ns,max_ns')
  const parsed = JSON.parse(json(r)) as {waits: {max_ns: number}[]; blockers: unknown[]}
  assert.ok(parsed.waits.every((w) => Number.isInteger(w.max_ns)))
})
