// The RCU-deferred vm_file release what-if (policy knob rcuDeferredFput, e.g. spf-rcu-file): what the deferral
// cost per run (fput.* / files.* counters, file_releases rows) and, beside a v6.18 run of the same trace, what it
// bought (faults moved off mmap_lock). Present only when such a run is in the report, so other reports are as before.
import type {Db} from '../store/db.js'
import {counters} from './metrics.js'
import type {RunRef} from './runs.js'

export interface RcuFileRun {
  run_id: number
  policy: string
  deferred_fputs: number
  delay_p50_ns: number
  delay_p99_ns: number
  delay_max_ns: number
  peak_files_waiting: number
  peak_bytes_waiting: number
  files_released: number
  /** released after they would have been without the deferral */
  late_releases: number
  /** of those, files whose fd the trace shows closed (close(2) or exit): ->release ran late on the last reference */
  last_ref_late: number
  /** longest window in which umount of the file's filesystem would have failed with EBUSY */
  max_busy_ns: number
}

export interface RcuFilePath {
  run_id: number
  policy: string
  /** the path where the trace names it, else the model's file id */
  file: string
  fd: string
  releases: number
  late_total_ns: number
  late_max_ns: number
}

export interface RcuFileTrade {
  trace_id: number
  mode: string
  baseline_run_id: number
  run_id: number
  policy: string
  /** faults that completed under mmap_lock: baseline, this policy, and the difference (what it buys) */
  baseline_mmap_lock_faults: number
  mmap_lock_faults: number
  faults_moved: number
  /** of the baseline's fallbacks, the ones for ->fault without ->map_pages */
  baseline_file_no_map_pages: number
  deferred_fputs: number
  last_ref_late: number
  max_busy_ns: number
}

/** call_rcu as the model issues it (VMA objects on 6.4–6.14, maple tree nodes, deferred fputs): per run. */
export interface RcuCallbackRun {
  run_id: number
  policy: string
  callbacks: number
  mean_latency_ns: number
  max_latency_ns: number
  peak_pending_bytes: number
  peak_pending_objects: number
}

export interface RcuFileReport {
  runs: RcuFileRun[]
  paths: RcuFilePath[]
  trade: RcuFileTrade[]
  call_rcu: RcuCallbackRun[]
}

/** The section, or null when no run of `runs` defers VMA fputs. */
export function rcuFileReport(db: Db, runs: RunRef[], top: number): RcuFileReport | null {
  const byRun = new Map(runs.map((r) => [r.runId, counters(db, r.runId)]))
  const deferring = runs.filter((r) => byRun.get(r.runId)!.has('fput.deferred'))
  if (deferring.length === 0) return null
  const c = (r: RunRef, name: string): number => byRun.get(r.runId)!.get(name) ?? 0
  const out: RcuFileReport = {runs: [], paths: [], trade: [], call_rcu: []}
  const pathRows = db.prepare(
    `SELECT coalesce(path, file_id) AS file, fd, count(*) AS releases, sum(late_ns) AS late_total_ns, max(late_ns) AS late_max_ns
     FROM file_releases WHERE run_id = ? AND late_ns > 0 AND fd <> 'none'
     GROUP BY file, fd ORDER BY late_max_ns DESC, late_total_ns DESC, file LIMIT ?`,
  )
  for (const r of deferring) {
    out.runs.push({
      run_id: r.runId,
      policy: r.label,
      deferred_fputs: c(r, 'fput.deferred'),
      delay_p50_ns: c(r, 'fput.delay_p50_ns'),
      delay_p99_ns: c(r, 'fput.delay_p99_ns'),
      delay_max_ns: c(r, 'fput.delay_max_ns'),
      peak_files_waiting: c(r, 'fput.peak_files_waiting'),
      peak_bytes_waiting: c(r, 'fput.peak_bytes_waiting'),
      files_released: c(r, 'files.released'),
      late_releases: c(r, 'files.late'),
      last_ref_late: c(r, 'files.last_ref_late'),
      max_busy_ns: c(r, 'files.max_busy_ns'),
    })
    for (const p of pathRows.all(r.runId, top) as Omit<RcuFilePath, 'run_id' | 'policy'>[])
      out.paths.push({run_id: r.runId, policy: r.label, ...p})
    const base = runs.find((b) => b.policy === 'v6.18' && b.traceId === r.traceId && b.mode === r.mode)
    if (base !== undefined)
      out.trade.push({
        trace_id: r.traceId,
        mode: r.mode,
        baseline_run_id: base.runId,
        run_id: r.runId,
        policy: r.label,
        baseline_mmap_lock_faults: c(base, 'faults.path.mmap_lock'),
        mmap_lock_faults: c(r, 'faults.path.mmap_lock'),
        faults_moved: c(base, 'faults.path.mmap_lock') - c(r, 'faults.path.mmap_lock'),
        baseline_file_no_map_pages: c(base, 'faults.reason.file_no_map_pages'),
        deferred_fputs: c(r, 'fput.deferred'),
        last_ref_late: c(r, 'files.last_ref_late'),
        max_busy_ns: c(r, 'files.max_busy_ns'),
      })
  }
  for (const r of runs) {
    const n = c(r, 'rcu.callbacks')
    out.call_rcu.push({
      run_id: r.runId,
      policy: r.label,
      callbacks: n,
      mean_latency_ns: n === 0 ? 0 : Math.round(c(r, 'rcu.cbLatencySumNs') / n),
      max_latency_ns: c(r, 'rcu.cbLatencyMaxNs'),
      peak_pending_bytes: c(r, 'rcu.peakPendingBytes'),
      peak_pending_objects: c(r, 'rcu.peakPendingObjects'),
    })
  }
  return out
}
