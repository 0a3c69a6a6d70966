import {test, before, after} from 'node:test'
import assert from 'node:assert/strict'
import {smallDb, type Fixture} from './fixture.js'
import {selectRuns} from '../../src/report/runs.js'
import {compareRuns} from '../../src/report/compare.js'
import {comparisonCsv, comparisonJson, renderComparison} from '../../src/report/text.js'
import {UserError} from '../../src/base/errors.js'

let fx: Fixture
before(async () => {
  fx = await smallDb()
})
after(() => fx.db.close())

const counter = (runId: number, name: string): number =>
  (fx.db.prepare('SELECT value FROM run_counters WHERE run_id = ? AND name = ?').pluck().get(runId, name) as
    number | undefined) ?? 0

test('default selection is every run of the latest trace, labelled by policy', () => {
  const runs = selectRuns(fx.db, fx.path, {})
  assert.deepEqual(
    runs.map((r) => r.label),
    ['mmap-lock', 'v6.4', 'v6.18'],
  )
  assert.deepEqual(
    selectRuns(fx.db, fx.path, {policies: ['v6.18', 'mmap-lock']}).map((r) => r.runId),
    [fx.runIds['v6.18'], fx.runIds['mmap-lock']],
  )
  assert.throws(
    () => selectRuns(fx.db, fx.path, {runs: [999]}),
    (e: Error) => e instanceof UserError && /no run 999/.test(e.message),
  )
  assert.throws(() => selectRuns(fx.db, fx.path, {policies: ['v6.10']}), /no run with policy 'v6.10'.*replay/)
  assert.throws(() => selectRuns(fx.db, fx.path, {traces: [42]}), /no trace 42/)
})

test("each delta is the difference of the two runs' stored counters", () => {
  const runs = selectRuns(fx.db, fx.path, {policies: ['mmap-lock', 'v6.18']})
  const c = compareRuns(fx.db, runs, {top: 10})
  const [a, b] = [fx.runIds['mmap-lock']!, fx.runIds['v6.18']!]
  assert.equal(c.baseline, 'mmap-lock')
  for (const name of [
    'faults.path.vma_lock',
    'faults.path.mmap_lock',
    'faults.took_mmap_lock',
    'vma_lock_success',
    'vma_lock_abort',
    'rcu.peakPendingBytes',
  ]) {
    const row = c.rows.find((r) => r.key === name)!
    assert.ok(row, name)
    assert.deepEqual(row.values, [counter(a, name), counter(b, name)], name)
    assert.equal(row.deltas[1], counter(b, name) - counter(a, name), name)
    assert.equal(row.deltas[0], 0)
  }
  // the mmap-lock policy sends every fault down the mmap_lock path; 6.18 almost none
  assert.ok(counter(a, 'faults.path.mmap_lock') > counter(b, 'faults.path.mmap_lock'))
  // fallback reasons add up to the fallback count in each run
  const fb = c.rows.filter((r) => r.key.startsWith('fallback.reason.'))
  for (const i of [0, 1])
    assert.equal(
      fb.reduce((s, r) => s + r.values[i]!, 0),
      c.rows.find((r) => r.key === 'faults.path.mmap_lock')!.values[i],
    )
  // total fault wait equals SQL over fault_results
  const total = (run: number): number =>
    fx.db.prepare('SELECT sum(wait_ns) FROM fault_results WHERE run_id = ?').pluck().get(run) as number
  const tw = c.rows.find((r) => r.key === 'fault.wait.total_ns')!
  assert.deepEqual(tw.values, [total(a), total(b)])
  assert.equal(tw.deltas[1], total(b) - total(a))
})

test('the baseline can be any column; an unknown baseline is a usage error', () => {
  const runs = selectRuns(fx.db, fx.path, {})
  const c = compareRuns(fx.db, runs, {baseline: 'v6.18', top: 5})
  const i = c.columns.findIndex((x) => x.label === 'v6.18')
  for (const r of c.rows) if (r.values[i] !== null) assert.equal(r.deltas[i], 0)
  assert.throws(() => compareRuns(fx.db, runs, {baseline: 'v9.9', top: 5}), /--baseline v9.9: not one of/)
  assert.equal(compareRuns(fx.db, runs, {baseline: String(fx.runIds['v6.4']), top: 5}).baseline, 'v6.4')
})

test('changed operations carry, per run, exactly the waits they caused in lock_waits', () => {
  const runs = selectRuns(fx.db, fx.path, {})
  const c = compareRuns(fx.db, runs, {top: 50})
  assert.ok(c.changedOps.length > 0, 'the small trace has operations that delay faults under mmap-lock only')
  const q = fx.db.prepare(
    `SELECT count(*) AS waits, coalesce(sum(wait_ns), 0) AS total, coalesce(sum(waiter_op = 'fault'), 0) AS faults FROM lock_waits WHERE run_id = ? AND holder_event_id = ?`,
  )
  for (const o of c.changedOps) {
    c.columns.forEach((col, i) => {
      const s = q.get(col.run_id, o.holder_event_id) as {waits: number; total: number; faults: number}
      assert.equal(o.effects[i]!.total_wait_ns, s.total)
      assert.equal(o.effects[i]!.faults_delayed, s.faults)
    })
    const totals = o.effects.map((e) => e.total_wait_ns)
    assert.equal(o.spread_ns, Math.max(...totals) - Math.min(...totals))
  }
  for (let i = 1; i < c.changedOps.length; i++) assert.ok(c.changedOps[i - 1]!.spread_ns >= c.changedOps[i]!.spread_ns)
})

test('renderings: a table with units in the metric names, CSV with value and delta columns, JSON keyed by label', () => {
  const runs = selectRuns(fx.db, fx.path, {policies: ['mmap-lock', 'v6.18']})
  const c = compareRuns(fx.db, runs, {top: 5})
  const text = renderComparison(c)
  assert.match(text, /fault wait total \(ms\)/)
  assert.match(text, /writer wait max \(µs\)/)
  assert.match(text, /v6\.18 \(Δ\)/)
  const lines = comparisonCsv(c).split('\r\n')
  assert.equal(lines[0], 'key,metric,unit,mmap-lock,mmap-lock delta,v6.18,v6.18 delta')
  const row = lines.find((l) => l.startsWith('faults.path.vma_lock,'))!.split(',')
  assert.equal(Number(row[6]), Number(row[5]) - Number(row[3]))
  const j = comparisonJson(c) as {rows: {key: string; values: Record<string, number>; deltas: Record<string, number>}[]}
  const jr = j.rows.find((r) => r.key === 'faults.path.mmap_lock')!
  assert.equal(jr.deltas['v6.18'], jr.values['v6.18']! - jr.values['mmap-lock']!)
})

test('report html reuses the contention sections: the comparison is the same as computed from scratch', async () => {
  const {contentionReport} = await import('../../src/report/contention.js')
  const runs = selectRuns(fx.db, fx.path, {})
  const pre = contentionReport(fx.db, runs, 5)
  assert.deepEqual(compareRuns(fx.db, runs, {top: 5, pre}), compareRuns(fx.db, runs, {top: 5}))
})

test('labels: policies for one trace, traces for one policy, both otherwise; duplicates get the run id', async () => {
  const {labelRuns} = await import('../../src/report/runs.js')
  const r = (runId: number, traceId: number, policy: string, tracePath = `/x/t${traceId}.trace.txt.xz`) => ({
    runId,
    traceId,
    policy,
    mode: 'faithful',
    calibratedHolds: false,
    faults: 0,
    ops: 0,
    simEndNs: 0,
    tracePath,
    traceFirstNs: 0,
  })
  assert.deepEqual(
    labelRuns([r(1, 1, 'v6.4'), r(2, 1, 'v6.18')]).map((x) => x.label),
    ['v6.4', 'v6.18'],
  )
  assert.deepEqual(
    labelRuns([r(1, 1, 'v6.18', '/a/node_attach.trace.txt.xz'), r(2, 2, 'v6.18', '/a/xz_T2.perf.txt')]).map(
      (x) => x.label,
    ),
    ['t1:node_attach', 't2:xz_T2'],
  )
  assert.deepEqual(
    labelRuns([r(1, 1, 'v6.4'), r(2, 1, 'v6.18'), r(3, 2, 'v6.18')]).map((x) => x.label),
    ['v6.4@t1', 'v6.18@t1', 'v6.18@t2'],
  )
  assert.deepEqual(
    labelRuns([r(1, 1, 'v6.18'), r(4, 1, 'v6.18'), r(5, 1, 'v6.4')]).map((x) => x.label),
    ['v6.18#1', 'v6.18#4', 'v6.4'],
  )
})
