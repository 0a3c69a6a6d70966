import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import fc from 'fast-check'
import {openDb, type Db} from '../../src/store/db.js'
import {Kind} from '../../src/model/events.js'
import {faultWaitHistogram, waitDistribution, waitRows, lockOccupancy} from '../../src/report/metrics.js'
import {exactPercentiles} from '../../src/store/percentiles.js'

/** An empty database with one trace and one run whose faults have the given waits (ns), all in thread 1. */
function syntheticRun(waits: number[], writerWaits: number[] = []): {db: Db; runId: number} {
  const db = openDb(join(mkdtempSync(join(tmpdir(), 'vmareplay-pct-')), 'p.db'))
  db.prepare(
    `INSERT INTO traces (trace_id, path, format, sha256, size_bytes, lines, events, faults, kernel_faults, malformed_lines, unknown_events,
       lost_events, lost_windows, first_ts_ns, last_ts_ns, monotonic, warnings, ingested_by)
     VALUES (1, '/synthetic', 'ftrace', 'x', 0, 0, 0, ?, 0, 0, 0, 0, 0, 0, 1000000, 1, '[]', 'test')`,
  ).run(waits.length)
  db.prepare(
    `INSERT INTO runs (run_id, trace_id, policy, policy_json, mode, options_json, tool_version, faults, ops, sim_end_ns, digest)
              VALUES (1, 1, 'synthetic', '{}', 'faithful', '{}', 'test', ?, 0, 1000000, '')`,
  ).run(waits.length)
  db.prepare(`INSERT INTO reasons (reason_id, reason) VALUES (1, 'ok'), (2, 'vma_write_locked')`).run()
  // group 0: completed under the VMA lock; group 1: fell back (the faults that waited)
  db.prepare(
    `INSERT INTO fault_groups (run_id, group_id, tgid, vma_start, vma_end, vma_lock, took_mmap_lock, reason_id, low_confidence, inferred_vma)
     VALUES (1, 0, 1, 4096, 8192, 1, 0, 1, 0, 0), (1, 1, 1, 4096, 8192, 0, 1, 2, 0, 0)`,
  ).run()
  const e = db.prepare(
    `INSERT INTO events (event_id, trace_id, line, ts_ns, tid, tgid, kind, a, c) VALUES (?, 1, ?, ?, 1, 1, ${Kind.FaultUser}, 4096, 6)`,
  )
  const f = db.prepare(
    'INSERT INTO fault_rows (run_id, event_id, group_id, wait_ns, latency_ns, start_delay_ns, hold_ns) VALUES (1, ?, ?, ?, ?, 0, 0)',
  )
  const w = db.prepare(
    `INSERT INTO lock_waits (run_id, lock, mode, tgid, waiter_tid, waiter_op, waiter_event_id, start_ns, end_ns, wait_ns, holder_tid, holder_op, holder_event_id)
     VALUES (1, 'mmap_lock', ?, 1, ?, ?, ?, ?, ?, ?, 2, 'munmap', 999)`,
  )
  waits.forEach((ns, i) => {
    const fb = ns > 0 ? 1 : 0
    e.run(i + 1, i + 1, i * 1000)
    f.run(i + 1, fb, ns, ns + 100)
    if (ns > 0) w.run('read', 1, 'fault', i + 1, i * 1000, i * 1000 + ns + 100, ns)
  })
  writerWaits.forEach((ns, i) => w.run('write', 3, 'mmap', 10_000 + i, i * 1000, i * 1000 + ns, ns))
  return {db, runId: 1}
}

/** Nearest-rank percentile in JS: the value at rank ceil(p/100·n). */
function nearestRank(values: number[], p: number): number {
  if (values.length === 0) return 0
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length, Math.max(1, Math.ceil((p * s.length) / 100))) - 1]!
}

test('percentiles are exact nearest-rank values, by hand on ten faults', () => {
  const {db, runId} = syntheticRun([0, 0, 0, 0, 5000, 10_000, 20_000, 40_000, 80_000, 160_000])
  const d = waitDistribution(db, runId, 'all faults', [50, 90, 99])
  // ranks: p50 → 5th value, p90 → 9th, p99 → ceil(9.9) = 10th
  assert.deepEqual(d.values, [5000, 80_000, 160_000])
  assert.equal(d.n, 10)
  assert.equal(d.nonzero, 6)
  assert.equal(d.totalNs, 315_000)
  assert.equal(d.maxNs, 160_000)
  const waited = waitDistribution(db, runId, 'faults that waited', [50, 90, 99])
  // six values 5,10,20,40,80,160 µs: p50 → rank 3, p90 → rank ceil(5.4) = 6, p99 → rank 6
  assert.deepEqual(waited.values, [20_000, 160_000, 160_000])
  const rows = waitRows(db, runId)
  const readers = rows.find((r) => r.group === 'mmap_lock readers (waits)')!
  assert.equal(readers.count, 6)
  assert.equal(readers.p50_ns, 20_000)
  assert.equal(rows.find((r) => r.group === 'mmap_lock writers (waits)')!.count, 0)
  db.close()
})

test('percentiles of an empty population, a single value, and all zeros', () => {
  const {db, runId} = syntheticRun([0, 0, 0], [7000])
  assert.deepEqual(waitDistribution(db, runId, 'all faults').values, [0, 0, 0])
  assert.deepEqual(waitDistribution(db, runId, 'faults that waited').values, [0, 0, 0])
  assert.equal(waitDistribution(db, runId, 'faults that waited').n, 0)
  const w = waitDistribution(db, runId, 'mmap_lock writers (waits)')
  assert.deepEqual([w.n, ...w.values, w.maxNs], [1, 7000, 7000, 7000, 7000])
  db.close()
})

test('percentiles agree with a JS nearest-rank on random populations (zeros counted, not sorted)', () => {
  const {db} = syntheticRun([])
  db.exec('CREATE TEMP TABLE vals (v INTEGER NOT NULL)')
  const ins = db.prepare('INSERT INTO vals (v) VALUES (?)')
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constant(0), fc.integer({min: 1, max: 5_000_000})), {maxLength: 300}),
      fc.constantFrom(1, 25, 50, 90, 99, 99.9, 100),
      (values, p) => {
        db.exec('DELETE FROM vals')
        for (const v of values) ins.run(v)
        const d = exactPercentiles(db, 'SELECT v FROM vals', {}, [p])
        assert.equal(d.values[0], nearestRank(values, p))
        assert.equal(d.n, values.length)
        assert.equal(d.maxNs, values.length === 0 ? 0 : Math.max(...values))
      },
    ),
    {numRuns: 150},
  )
  db.close()
})

test('the fault-wait histogram puts each wait in its log bucket', () => {
  const {db, runId} = syntheticRun([0, 0, 999, 1000, 2999, 3000, 150_000_000])
  const h = faultWaitHistogram(db, runId)
  assert.equal(h.zero, 2)
  assert.equal(h.buckets[0], 1) // < 1 µs
  assert.equal(h.buckets[1], 2) // [1, 3) µs
  assert.equal(h.buckets[2], 1) // [3, 10) µs
  assert.equal(h.buckets.at(-1), 1) // ≥ 100 ms
  assert.equal(
    h.buckets.reduce((s, x) => s + x, 0),
    5,
  )
  db.close()
})

test('lock occupancy spreads waits over buckets and counts faults and fallbacks where they start', () => {
  // one writer wait of 2.5 ms from t=0 with 1 ms buckets: 1, 1, 0.5 waiting writers
  const {db, runId} = syntheticRun([0, 5000], [2_500_000])
  const occ = lockOccupancy(db, runId, 1_000_000).get(1)!
  assert.deepEqual(
    [0, 1, 2].map((k) => occ.get(k)!.waitingWriters),
    [1, 1, 0.5],
  )
  assert.equal(occ.get(0)!.faults, 2)
  assert.equal(occ.get(0)!.fallbacks, 1)
  // a fault whose thread was still busy starts after its recorded time, and counts where it started
  db.prepare('UPDATE fault_rows SET start_delay_ns = 1000000 WHERE event_id = 2').run()
  const later = lockOccupancy(db, runId, 1_000_000).get(1)!
  assert.deepEqual([later.get(0)!.faults, later.get(1)!.faults, later.get(1)!.fallbacks], [1, 1, 1])
  db.close()
})
