// The contention report of one or more runs: sections of flat rows (each row names its run), built from the
// query layer. Renderers (text.ts, html.ts) only format it; --json prints it as is (times in ns).
import type {Db} from '../store/db.js'
import type {RunRef} from './runs.js'
import {
  lockContention,
  lockStat,
  lockStatClasses,
  type LockRow,
  type LockStatClassRow,
  type LockStatRow,
  type SortKey,
  type WaitFilter,
} from './lockstat.js'
import {rcuFileReport, type RcuFileReport} from './rcu-file.js'
import {
  hotVmas,
  pathReasons,
  processRows,
  threadRows,
  topBlockers,
  waitRows,
  type BlockerRow,
  type PathReasonRow,
  type ProcessRow,
  type ThreadRow,
  type VmaRow,
  type WaitRow,
} from './metrics.js'

export interface TraceFacts {
  trace_id: number
  path: string
  format: string
  kernel_version: string | null
  events: number
  faults: number
  span_ns: number
  lost_events: number
}

type Tagged<T> = {run_id: number; policy: string} & T

export interface ContentionReport {
  traces: TraceFacts[]
  runs: {
    run_id: number
    trace_id: number
    policy: string
    label: string
    mode: string
    calibrated_holds: boolean
    faults: number
    ops: number
    sim_end_ns: number
  }[]
  paths: Tagged<PathReasonRow & {share: number}>[]
  waits: Tagged<WaitRow>[]
  blockers: Tagged<BlockerRow & {rank: number}>[]
  vmas: Tagged<VmaRow & {rank: number}>[]
  threads: Tagged<ThreadRow>[]
  processes: Tagged<ProcessRow>[]
  /** perf lock contention: waits by lock, mode and waiting class, sorted by `sort_key` */
  locks: Tagged<LockRow & {rank: number}>[]
  /** /proc/lock_stat: contentions and acquisitions per lock and mode */
  lockstat: Tagged<LockStatRow>[]
  /** lock_stat's contention points: waiter and holder classes side by side */
  lockstat_classes: Tagged<LockStatClassRow>[]
  sort_key: SortKey
  /** --pid/--tid/--read/--write: they filter locks, lockstat, lockstat_classes, blockers, threads and processes */
  filter: WaitFilter
  /** Only when a run defers VMA fputs (rcuDeferredFput): the deferred vm_file releases and their trade (rcu-file.ts) */
  rcu_file?: RcuFileReport
}

export interface ContentionOptions {
  key?: SortKey
  filter?: WaitFilter
}

export const SECTIONS = [
  'runs',
  'paths',
  'waits',
  'blockers',
  'vmas',
  'threads',
  'processes',
  'locks',
  'lockstat',
  'lockstat_classes',
] as const
export type Section = (typeof SECTIONS)[number]

export function traceFacts(db: Db, traceIds: number[]): TraceFacts[] {
  const stmt = db.prepare(
    `SELECT trace_id, path, format, kernel_version, events, faults, coalesce(last_ts_ns - first_ts_ns, 0) AS span_ns, lost_events
     FROM traces WHERE trace_id = ?`,
  )
  return traceIds.map((id) => stmt.get(id) as TraceFacts)
}

export function contentionReport(db: Db, runs: RunRef[], top: number, opts: ContentionOptions = {}): ContentionReport {
  const {key = 'wait_total', filter = {}} = opts
  const report: ContentionReport = {
    traces: traceFacts(db, [...new Set(runs.map((r) => r.traceId))]),
    runs: runs.map((r) => ({
      run_id: r.runId,
      trace_id: r.traceId,
      policy: r.policy,
      label: r.label,
      mode: r.mode,
      calibrated_holds: r.calibratedHolds,
      faults: r.faults,
      ops: r.ops,
      sim_end_ns: r.simEndNs,
    })),
    paths: [],
    waits: [],
    blockers: [],
    vmas: [],
    threads: [],
    processes: [],
    locks: [],
    lockstat: [],
    lockstat_classes: [],
    sort_key: key,
    filter,
  }
  for (const r of runs) {
    const tag = {run_id: r.runId, policy: r.label}
    for (const p of pathReasons(db, r.runId))
      report.paths.push({...tag, ...p, share: r.faults === 0 ? 0 : p.faults / r.faults})
    for (const w of waitRows(db, r.runId)) report.waits.push({...tag, ...w})
    topBlockers(db, r.runId, top, key, filter).forEach((b, i) => report.blockers.push({...tag, rank: i + 1, ...b}))
    hotVmas(db, r.runId, r.traceId, top).forEach((v, i) => report.vmas.push({...tag, rank: i + 1, ...v}))
    const threads = threadRows(db, r.runId, r.traceId).filter(
      (t) => (filter.pid === undefined || t.tgid === filter.pid) && (filter.tid === undefined || t.tid === filter.tid),
    )
    for (const t of threads) report.threads.push({...tag, ...t})
    for (const p of processRows(db, r.traceId, threads)) report.processes.push({...tag, ...p})
    lockContention(db, r.runId, key, top, filter).forEach((l, i) => report.locks.push({...tag, rank: i + 1, ...l}))
    for (const l of lockStat(db, r.runId, filter)) report.lockstat.push({...tag, ...l})
    for (const c of lockStatClasses(db, r.runId, key, top, filter)) report.lockstat_classes.push({...tag, ...c})
  }
  const rcu = rcuFileReport(db, runs, top)
  if (rcu !== null) report.rcu_file = rcu
  return report
}
