// Agreement between the model's predicted fault paths (a replay run) and what the kernel did (the trace's own
// mmap_lock events): a confusion matrix of took_mmap_lock, with precision/recall/F1 of the mmap_lock class.
import type {Db} from '../store/db.js'
import {Kind} from '../model/events.js'
import {observeFaults, type ObservedPattern} from './observed.js'

export interface Confusion {
  truePositives: number // both took mmap_lock
  falsePositives: number // predicted it, the kernel did not
  falseNegatives: number // the kernel took it, the model did not predict it
  trueNegatives: number
}

export interface Disagreement {
  eventId: number
  line: number
  tid: number
  tsNs: string
  address: string
  errorCode: number
  vma: string | null
  inferredVma: boolean
  predicted: string // reason
  predictedTook: boolean
  observed: ObservedPattern
  signature: string
}

export interface Score {
  faults: number
  agree: number
  accuracy: number
  /** Accuracy of always answering "no mmap_lock" — the trivial baseline. */
  baselineAccuracy: number
  mmapLock: {observed: number; predicted: number; truePositives: number; precision: number; recall: number; f1: number}
  confusion: Confusion
  byPattern: Record<string, {faults: number; predictedTook: number; agree: number}>
  disagreements: Disagreement[]
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b)

export function emptyConfusion(): Confusion {
  return {truePositives: 0, falsePositives: 0, falseNegatives: 0, trueNegatives: 0}
}

export function scoreFrom(c: Confusion, byPattern: Score['byPattern'], disagreements: Disagreement[]): Score {
  const faults = c.truePositives + c.falsePositives + c.falseNegatives + c.trueNegatives
  const agree = c.truePositives + c.trueNegatives
  const observed = c.truePositives + c.falseNegatives
  const predicted = c.truePositives + c.falsePositives
  const precision = ratio(c.truePositives, predicted)
  const recall = ratio(c.truePositives, observed)
  return {
    faults,
    agree,
    accuracy: ratio(agree, faults),
    baselineAccuracy: ratio(faults - observed, faults),
    mmapLock: {
      observed,
      predicted,
      truePositives: c.truePositives,
      precision,
      recall,
      f1: ratio(2 * precision * recall, precision + recall),
    },
    confusion: c,
    byPattern,
    disagreements,
  }
}

/** True if the trace recorded mmap_lock events at all (otherwise there is nothing to validate against). */
export function hasLockEvents(db: Db, traceId: number): boolean {
  return (
    db.prepare('SELECT 1 FROM events WHERE trace_id = ? AND kind = ? LIMIT 1').get(traceId, Kind.LockStart) !==
    undefined
  )
}

/** Scores one run against its trace's observed fault paths; keeps the first `maxDisagreements` disagreements. */
export function scoreRun(db: Db, traceId: number, runId: number, maxDisagreements: number): Score {
  const predicted = new Map<
    number,
    {took: number; reason: string; inferred: number; vs: number | null; ve: number | null}
  >()
  const rows = db
    .prepare(
      `SELECT r.event_id, g.took_mmap_lock, reasons.reason, g.inferred_vma, g.vma_start, g.vma_end
       FROM fault_results r JOIN fault_groups g USING (run_id, group_id) JOIN reasons ON reasons.reason_id = g.reason_id
       JOIN events e ON e.event_id = r.event_id
       WHERE r.run_id = ? AND e.kind = ?`,
    )
    .raw(true)
    .iterate(runId, Kind.FaultUser) as Iterable<[number, number, string, number, number | null, number | null]>
  for (const [id, took, reason, inferred, vs, ve] of rows) predicted.set(id, {took, reason, inferred, vs, ve})
  const c = emptyConfusion()
  const byPattern: Score['byPattern'] = {}
  const wrong: {
    eventId: number
    reason: string
    took: boolean
    pattern: ObservedPattern
    signature: string
    inferred: boolean
    vma: string | null
  }[] = []
  observeFaults(db, traceId, (f) => {
    const p = predicted.get(f.eventId)
    if (p === undefined) return
    const took = p.took === 1
    if (took && f.took) c.truePositives++
    else if (took) c.falsePositives++
    else if (f.took) c.falseNegatives++
    else c.trueNegatives++
    const b = (byPattern[f.pattern] ??= {faults: 0, predictedTook: 0, agree: 0})
    b.faults++
    if (took) b.predictedTook++
    if (took === f.took) b.agree++
    else {
      const vma = p.vs === null ? null : `0x${p.vs.toString(16)}-0x${p.ve!.toString(16)}`
      wrong.push({
        eventId: f.eventId,
        reason: p.reason,
        took,
        pattern: f.pattern,
        signature: f.signature,
        inferred: p.inferred === 1,
        vma,
      })
    }
  })
  wrong.sort((a, b) => a.eventId - b.eventId)
  const ev = db.prepare(
    "SELECT line, tid, ts_ns, printf('0x%x', a) AS address, c AS error_code FROM events WHERE event_id = ?",
  )
  ev.safeIntegers(true)
  const disagreements = wrong.slice(0, maxDisagreements).map((w) => {
    const e = ev.get(w.eventId) as {line: bigint; tid: bigint; ts_ns: bigint; address: string; error_code: bigint}
    return {
      eventId: w.eventId,
      line: Number(e.line),
      tid: Number(e.tid),
      tsNs: String(e.ts_ns),
      address: e.address,
      errorCode: Number(e.error_code),
      vma: w.vma,
      inferredVma: w.inferred,
      predicted: w.reason,
      predictedTook: w.took,
      observed: w.pattern,
      signature: w.signature,
    }
  })
  return scoreFrom(c, byPattern, disagreements)
}

/** Pools several traces' scores (sums of the confusion matrices and per-pattern counts). */
export function poolScores(scores: Score[]): Score {
  const c = emptyConfusion()
  const byPattern: Score['byPattern'] = {}
  for (const s of scores) {
    for (const k of Object.keys(c) as (keyof Confusion)[]) c[k] += s.confusion[k]
    for (const [p, v] of Object.entries(s.byPattern)) {
      const b = (byPattern[p] ??= {faults: 0, predictedTook: 0, agree: 0})
      b.faults += v.faults
      b.predictedTook += v.predictedTook
      b.agree += v.agree
    }
  }
  return scoreFrom(c, byPattern, [])
}

/** The bar from the validation issue: pooled accuracy ≥ 99.5 %, F1 ≥ 0.9, no trace with ≥ 50 mmap_lock faults below F1 0.7. */
export function meetsBar(pooled: Score, perTrace: Score[]): string[] {
  const failures: string[] = []
  if (pooled.accuracy < 0.995) failures.push(`pooled accuracy ${(pooled.accuracy * 100).toFixed(2)} % < 99.5 %`)
  if (pooled.mmapLock.f1 < 0.9) failures.push(`pooled F1 ${pooled.mmapLock.f1.toFixed(3)} < 0.9`)
  perTrace.forEach((s, i) => {
    if (s.mmapLock.observed >= 50 && s.mmapLock.f1 < 0.7)
      failures.push(
        `trace #${i + 1}: F1 ${s.mmapLock.f1.toFixed(3)} < 0.7 with ${s.mmapLock.observed} mmap_lock faults`,
      )
  })
  return failures
}

/** The per-trace bar: every trace with at least `minObserved` mmap_lock faults scores accuracy ≥ 99.9 % and F1 ≥ 0.95. */
export const PER_TRACE_BAR = {minObserved: 50, accuracy: 0.999, f1: 0.95} as const

/** Whether the per-trace bar applies to this trace's score, and what it misses (empty: met or not applicable). */
export function perTraceBar(s: Score): {applies: boolean; failures: string[]} {
  const applies = s.mmapLock.observed >= PER_TRACE_BAR.minObserved
  const failures: string[] = []
  if (applies && s.accuracy < PER_TRACE_BAR.accuracy)
    failures.push(`accuracy ${(s.accuracy * 100).toFixed(3)} % < ${PER_TRACE_BAR.accuracy * 100} %`)
  if (applies && s.mmapLock.f1 < PER_TRACE_BAR.f1) failures.push(`F1 ${s.mmapLock.f1.toFixed(3)} < ${PER_TRACE_BAR.f1}`)
  return {applies, failures}
}
