// What a replay stores per fault: read back through fault_outcomes and the fault tables, it is exactly what the
// engine reported to the writer, one row per fault per run, in both modes.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {openDb} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'
import {RunWriter} from '../../src/store/runs.js'
import {replayTrace} from '../../src/replay/run.js'
import {policyByName} from '../../src/replay/policies.js'

interface Reported {
  eventId: number
  tid: number
  tgid: number
  path: string
  took: boolean
  reason: string
  waitNs: number
  latencyNs: number
  startNs: number
  endNs: number
  holdNs: number
  vma: [number, number] | null
  inferred: boolean
}

const dir = mkdtempSync(join(tmpdir(), 'vmareplay-faults-'))
const dbPath = join(dir, 'f.db')
const db = openDb(dbPath)
// the small trace with one lost-events marker before a fault on CPU 1, so that some faults are low-confidence
const lines = readFileSync('traces/py_threads_small.trace.txt', 'utf8').split('\n')
const at = lines.findIndex((l, i) => i > lines.length / 2 && /\[001\].*page_fault_user/.test(l))
lines.splice(at, 0, 'CPU:1 [LOST 12 EVENTS]')
writeFileSync(join(dir, 'lost.trace.txt'), lines.join('\n'))
await loadTrace(db, join(dir, 'lost.trace.txt'), {toolVersion: 'test'})

// what the engine reports, captured on its way to the writer thread
const reported = new Map<number, Reported[]>()
const fault = RunWriter.prototype.fault
RunWriter.prototype.fault = function (op, out, inferred) {
  let list = reported.get(this.runId)
  if (list === undefined) reported.set(this.runId, (list = []))
  const {path, tookMmapLock: took, reason, waitNs, latencyNs, startNs, endNs, holdNs} = out
  list.push({
    eventId: op.eventId,
    tid: op.tid,
    tgid: op.tgid,
    path,
    took,
    reason,
    waitNs,
    latencyNs,
    startNs,
    endNs,
    holdNs,
    vma: out.vma && [out.vma.start, out.vma.end],
    inferred,
  })
  fault.call(this, op, out, inferred)
}
const policies = [policyByName('mmap-lock'), policyByName('v6.18')]
const runs = ['faithful', 'what-if'].flatMap((mode) =>
  replayTrace(dbPath, db, 1, policies, {mode: mode as 'faithful' | 'what-if', costs: {}, toolVersion: 'test'}),
)
RunWriter.prototype.fault = fault

const events = new Map(
  (
    db
      .prepare(`SELECT event_id, ts_ns, tid, printf('0x%x', a) AS address, c FROM events WHERE kind IN (1, 2)`)
      .all() as {event_id: number; ts_ns: number; tid: number; address: string; c: number}[]
  ).map((e) => [e.event_id, e]),
)
const firstTs = db.prepare('SELECT first_ts_ns FROM traces').pluck().get() as number
const lost = db.prepare('SELECT start_ts_ns AS s, end_ts_ns AS e FROM lost_windows').all() as {s: number; e: number}[]

test('fault_outcomes: one row per fault per run, with what the engine reported', () => {
  assert.equal(runs.length, 4)
  let low = 0
  for (const run of runs) {
    const faults = reported.get(run.runId)!
    assert.equal(faults.length, run.faults)
    assert.equal(run.faults, events.size)
    const expected = faults.map((f) => {
      const e = events.get(f.eventId)!
      const confidence = lost.some((w) => e.ts_ns >= w.s && e.ts_ns <= w.e) ? 'low' : f.inferred ? 'inferred' : 'high'
      if (confidence === 'low') low++
      return [
        run.runId,
        run.policy,
        e.ts_ns,
        f.tgid,
        e.tid,
        e.address,
        e.c,
        f.path,
        f.took ? 1 : 0,
        f.reason,
        f.waitNs,
        f.latencyNs,
        confidence,
      ]
    })
    const rows = db.prepare('SELECT * FROM fault_outcomes WHERE run_id = ?').raw(true).all(run.runId)
    const key = (r: unknown): string => JSON.stringify(r)
    assert.deepEqual(rows.map(key).sort(), expected.map(key).sort(), `${run.policy} ${run.mode}`)
  }
  assert.ok(low > 0, 'the lost window covers some faults')
})

test('fault_results and fault_groups: start, VMA and flags of every fault exact', () => {
  let delayed = 0
  for (const run of runs) {
    const stored = new Map(
      (
        db
          .prepare(
            `SELECT f.event_id, e.ts_ns - ? + f.start_delay_ns AS start_ns, f.start_delay_ns, g.tgid, g.vma_start, g.vma_end, g.inferred_vma
             FROM fault_results f JOIN fault_groups g USING (run_id, group_id) JOIN events e USING (event_id) WHERE f.run_id = ?`,
          )
          .all(firstTs, run.runId) as {
          event_id: number
          start_ns: number
          start_delay_ns: number
          tgid: number
          vma_start: number | null
          vma_end: number | null
          inferred_vma: number
        }[]
      ).map((r) => [r.event_id, r]),
    )
    for (const f of reported.get(run.runId)!) {
      const r = stored.get(f.eventId)!
      assert.deepEqual(
        [r.start_ns, r.tgid, r.vma_start, r.vma_end, r.inferred_vma],
        [f.startNs, f.tgid, f.vma?.[0] ?? null, f.vma?.[1] ?? null, f.inferred ? 1 : 0],
        `event ${f.eventId}`,
      )
      if (r.start_delay_ns !== 0) delayed++
    }
  }
  assert.ok(delayed > 0, 'what-if starts some faults after their recorded time')
  // groups are numbered per run from 0 and every one is used
  for (const run of runs) {
    const g = db
      .prepare('SELECT count(*) AS n, max(group_id) AS top FROM fault_groups WHERE run_id = ?')
      .get(run.runId) as {n: number; top: number}
    assert.equal(g.top, g.n - 1)
    assert.equal(
      db.prepare('SELECT count(DISTINCT group_id) FROM fault_results WHERE run_id = ?').pluck().get(run.runId),
      g.n,
    )
  }
})

test('lock_holds: every operation hold, and every fault read hold from its fault_results row', () => {
  let faultHolds = 0
  for (const run of runs) {
    const expected = reported
      .get(run.runId)!
      .filter((f) => f.holdNs > 0)
      .map((f) => [run.runId, 'mmap_lock', 'read', f.tgid, f.tid, 'fault', f.eventId, f.startNs, f.endNs, f.holdNs])
    faultHolds += expected.length
    const rows = db.prepare(`SELECT * FROM lock_holds WHERE run_id = ? AND op = 'fault'`).raw(true).all(run.runId)
    const key = (r: unknown): string => JSON.stringify(r)
    assert.deepEqual(rows.map(key).sort(), expected.map(key).sort(), `${run.policy} ${run.mode}`)
    const ops = db.prepare('SELECT count(*) FROM op_lock_holds WHERE run_id = ?').pluck().get(run.runId) as number
    assert.ok(ops > 0)
    assert.equal(
      db.prepare(`SELECT count(*) FROM lock_holds WHERE run_id = ? AND op <> 'fault'`).pluck().get(run.runId),
      ops,
    )
  }
  assert.ok(faultHolds > 0, 'mmap-lock faults hold mmap_lock for read')
})
