// The cost table of the machine that recorded a trace, fitted to the trace's own mmap_lock holds (docs/calibrate.md).
// A fault that takes mmap_lock holds it for its whole handling (every fault on 6.1; the anon_vma trylock and the
// fallbacks on 6.4+), so its acquire_returned → released span measures the service time of its kind there; the
// tree-changing syscalls' holds size their critical sections. What the trace does not show is scaled by the speed
// factor of what it does show, so a what-if replayed on the recording machine's time scale stays on it.
import {
  DEFAULT_COSTS,
  handleCostField,
  type CostTable,
  type FaultOutcome,
  type HandleCostField,
} from '../kernel/index.js'
import type {Recorder} from '../results/recorder.js'
import {policyForKernel} from '../replay/detect-policy.js'
import {Replayer} from '../replay/engine.js'
import {engineOptions} from '../replay/run.js'
import {readOps, TIME_INDEX_SQL, traceInfo} from '../replay/stream.js'
import {openDbReadOnly, type Db} from '../store/db.js'
import {exactPercentiles} from '../store/percentiles.js'
import {observeLocks, percentile} from './lab-metrics.js'
import {observeFaults} from './observed.js'

/** Fewer samples than this leave a field to the speed factor: a median of a handful is noise. */
export const MIN_SAMPLES = 20

/** Fields that are not durations of this machine's work: a fraction, and a timeout in jiffies (HZ, not speed). */
const NOT_SCALED = new Set<keyof CostTable>(['downgradeWriteFraction', 'rwsemHandoffNs'])

/** The fault path's steps scale with the measured fault kinds; the rest (syscalls, fork, exit, exec) with the
 * measured syscalls: a syscall's traced hold also carries the tracepoints it fires, so the two factors differ. */
const FAULT_PATH = new Set<keyof CostTable>([
  'faultEntryNs',
  'vmaLookupNs',
  'findVmaNs',
  'anonFaultNs',
  'zeroPageFaultNs',
  'fileFaultNs',
  'cowFaultNs',
  'thpFaultNs',
  'anonVmaPrepareNs',
  'ioNs',
  'uffdNs',
  'stackExpandNs',
  'wakeLatencyNs',
  'readSlowpathNs',
])

/** The mm syscalls whose whole critical section a cost field sizes (src/kernel/mmap.ts, mprotect.ts, mremap.ts, madvise.ts, mlock.ts), by traced name. */
const SYSCALL_FIELDS: Record<string, keyof CostTable> = {
  mmap: 'mmapNs',
  munmap: 'munmapNs',
  mprotect: 'mprotectNs',
  pkey_mprotect: 'mprotectNs',
  mremap: 'mremapNs',
  brk: 'brkNs',
  madvise: 'madviseNs',
  mlock: 'mlockNs',
  mlock2: 'mlockNs',
  munlock: 'mlockNs',
}

export interface CalibratedField {
  field: keyof CostTable
  defaultValue: number
  value: number
  /** measured: fitted to this many holds; scaled: default × speed factor; fixed: left at its default */
  source: 'measured' | 'scaled' | 'fixed'
  samples: number
  /** measured: median hold in the trace, and in the model's replay under the default table, ns */
  observedMedianNs?: number
  modelMedianNs?: number
}

export interface Calibration {
  traceId: number
  /** the policy of the recording kernel, whose faithful replay classified the faults */
  policy: string
  /** geometric means of measured / default over the measured fault-path fields and the other measured fields; a
   * group with none measured takes the other's (1 when nothing was measured) */
  speedFactor: {faultPath: number; syscalls: number}
  fields: CalibratedField[]
  costs: CostTable
}

/** Records, for each user fault that held mmap_lock without waiting, the field its hold measures and the model's hold. */
class HoldRecorder implements Recorder {
  private readonly insert
  constructor(db: Db) {
    this.insert = db.prepare('INSERT INTO temp.calibrate_model (event_id, field, hold_ns) VALUES (?, ?, ?)')
  }
  fault(op: {eventId: number; user: boolean}, out: FaultOutcome): void {
    const field = measuredField(out)
    if (op.user && field !== null && out.waitNs === 0 && !out.trylockFailed && out.holdNs > 0)
      this.insert.run(op.eventId, field, out.holdNs)
  }
  op(): void {}
}

/** Which cost field a fault's single mmap_lock read section measures, or null (no section, or several kinds in it). */
function measuredField(out: FaultOutcome): HandleCostField | 'anonVmaPrepareNs' | null {
  if (out.reason === 'anon_vma_trylock') return 'anonVmaPrepareNs' // __vmf_anon_prepare: the fault itself runs under the VMA lock
  if (out.path !== 'mmap_lock' || out.kind === null || out.segv || out.retries > 0 || out.writeAcquisitions > 0)
    return null
  return handleCostField(out.kind)
}

/**
 * Fits the cost table to trace `traceId`: replays it faithfully under its recording kernel's policy (the lock events
 * withheld, as always) to learn each fault's kind, pairs each fault the model handles in one uncontended mmap_lock
 * section with the trace's own single read section (`Sr Ar Rr`) of that fault, and shifts each kind's cost by the
 * difference of the medians; syscall fields take the median traced hold of their calls; the rest is scaled. The
 * scaled steps inside a measured section (find_vma) lengthen it, so a second replay under the fitted table takes
 * their share back out of the measured fields.
 */
export function calibrateCosts(dbPath: string, db: Db, traceId: number): Calibration {
  const info = traceInfo(db, traceId)
  const policy = policyForKernel(info.kernelVersion)
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS calibrate_model (event_id INTEGER PRIMARY KEY, field TEXT NOT NULL, hold_ns INTEGER NOT NULL);
           CREATE TEMP TABLE IF NOT EXISTS calibrate_observed (event_id INTEGER PRIMARY KEY, hold_ns INTEGER NOT NULL);
           DELETE FROM temp.calibrate_model; DELETE FROM temp.calibrate_observed;`)
  // the trace is read on a second connection: better-sqlite3 runs no statement on a connection mid-iteration, and
  // the rows go to temp tables on `db` as they come, so memory does not grow with the trace
  if (!info.monotonic) db.exec(TIME_INDEX_SQL)
  const reader = openDbReadOnly(dbPath)
  const replayHolds = (costs: Partial<CostTable>): void =>
    db.transaction(() => {
      db.exec('DELETE FROM temp.calibrate_model')
      const engine = new Replayer(policy, engineOptions(reader, info, {mode: 'faithful', costs}), new HoldRecorder(db))
      readOps(reader, info, (op) => engine.apply(op))
      engine.finish()
    })()
  try {
    const obs = db.prepare('INSERT INTO temp.calibrate_observed (event_id, hold_ns) VALUES (?, ?)')
    db.transaction(() =>
      observeFaults(reader, traceId, (f) => {
        if (f.pattern === 'read' && f.holdNs > 0) obs.run(f.eventId, f.holdNs)
      }),
    )()
    const locks = observeLocks(reader, traceId)
    const direct = [
      medianField('readSlowpathNs', locks.readStealWaitsNs),
      medianField('wakeLatencyNs', locks.readerWakeNs),
    ].filter((f) => f !== null)
    replayHolds({})
    const first = fit(db, traceId, policy.name, DEFAULT_COSTS, direct)
    replayHolds(first.costs)
    return fit(db, traceId, policy.name, first.costs, direct, first)
  } finally {
    reader.close()
    db.exec('DROP TABLE IF EXISTS temp.calibrate_model; DROP TABLE IF EXISTS temp.calibrate_observed')
  }
}

/**
 * An rwsem time measured directly from the trace's lock events (lab-metrics.ts observeLocks), as their median:
 * readSlowpathNs from the reader steals (start_locking → acquire_returned of the contended reads no writer held the
 * lock against), wakeLatencyNs from the queued readers granted at a writer's release (released → their
 * acquire_returned). Not speed-factor samples: the one is mostly the tracepoints themselves, the other scheduling.
 */
function medianField(field: 'readSlowpathNs' | 'wakeLatencyNs', samples: number[]): CalibratedField | null {
  const waits = [...samples].sort((a, b) => a - b)
  if (waits.length < MIN_SAMPLES) return null
  const v = percentile(waits, 0.5)
  return {
    field,
    defaultValue: DEFAULT_COSTS[field],
    value: v,
    source: 'measured',
    samples: waits.length,
    observedMedianNs: v,
  }
}

/** One fit of the fault fields against the model's holds under `base` (the table the model last replayed with). */
function fit(
  db: Db,
  traceId: number,
  policy: string,
  base: Readonly<CostTable>,
  direct: CalibratedField[],
  previous?: Calibration,
): Calibration {
  const median = (sql: string, params: Record<string, unknown>): {n: number; v: number} => {
    const d = exactPercentiles(db, sql, params, [50])
    return {n: d.n, v: d.values[0]!}
  }
  const measured = new Map<keyof CostTable, CalibratedField>()
  const faultFields = db.prepare('SELECT DISTINCT field FROM temp.calibrate_model ORDER BY field').pluck().all() as (
    HandleCostField | 'anonVmaPrepareNs'
  )[]
  for (const field of faultFields) {
    const pair = 'FROM temp.calibrate_model m JOIN temp.calibrate_observed o USING (event_id) WHERE m.field = @field'
    const o = median(`SELECT o.hold_ns AS v ${pair}`, {field})
    if (o.n < MIN_SAMPLES) continue
    const m = median(`SELECT m.hold_ns AS v ${pair}`, {field})
    const value = Math.max(0, base[field] + o.v - m.v)
    const modelMedianNs = previous?.fields.find((f) => f.field === field)?.modelMedianNs ?? m.v
    measured.set(field, {
      field,
      defaultValue: DEFAULT_COSTS[field],
      value,
      source: 'measured',
      samples: o.n,
      observedMedianNs: o.v,
      modelMedianNs,
    })
  }
  const byField = new Map<keyof CostTable, string[]>()
  for (const [name, field] of Object.entries(SYSCALL_FIELDS)) byField.set(field, [...(byField.get(field) ?? []), name])
  for (const [field, names] of byField) {
    const o = median(
      `SELECT lock_hold_ns AS v FROM syscalls WHERE trace_id = @trace AND lock_hold_ns IS NOT NULL AND name IN (${names.map((n) => `'${n}'`).join(',')})`,
      {trace: traceId},
    )
    if (o.n < MIN_SAMPLES) continue
    measured.set(field, {
      field,
      defaultValue: DEFAULT_COSTS[field],
      value: o.v,
      source: 'measured',
      samples: o.n,
      observedMedianNs: o.v,
    })
  }
  // the second fit keeps the first's speed factors: only the measured fields move
  const speedFactor = previous?.speedFactor ?? speedFactors(measured)
  for (const f of direct) measured.set(f.field, f)
  const fields = (Object.keys(DEFAULT_COSTS) as (keyof CostTable)[]).map((field): CalibratedField => {
    const m = measured.get(field)
    if (m !== undefined) return m
    const defaultValue = DEFAULT_COSTS[field]
    if (NOT_SCALED.has(field)) return {field, defaultValue, value: defaultValue, source: 'fixed', samples: 0}
    return {
      field,
      defaultValue,
      value: Math.round(defaultValue * (FAULT_PATH.has(field) ? speedFactor.faultPath : speedFactor.syscalls)),
      source: 'scaled',
      samples: 0,
    }
  })
  const costs = Object.fromEntries(fields.map((f) => [f.field, f.value])) as unknown as CostTable
  return {traceId, policy, speedFactor, fields, costs}
}

function speedFactors(measured: Map<keyof CostTable, CalibratedField>): Calibration['speedFactor'] {
  const factor = (inFaultPath: boolean): number | null => {
    const logs = [...measured.values()]
      .filter((f) => FAULT_PATH.has(f.field) === inFaultPath && f.value > 0)
      .map((f) => Math.log(f.value / f.defaultValue))
    return logs.length === 0 ? null : Math.exp(logs.reduce((a, b) => a + b, 0) / logs.length)
  }
  const faultPath = factor(true)
  const syscalls = factor(false)
  return {faultPath: faultPath ?? syscalls ?? 1, syscalls: syscalls ?? faultPath ?? 1}
}
