// The contention report of one or more runs: the sections of sections.ts, each a list of flat rows naming their
// run, built from the query layer. Renderers (text.ts, html.ts) only format it; --json prints it as is (times in ns).
import type {Db} from '../store/db.js'
import type {RunRef} from './runs.js'
import type {SortKey, WaitFilter} from './lockstat.js'
import {rcuFileReport} from './rcu-file.js'
import {type CollectContext, type ContentionReport, SECTIONS, type SectionRows, type TraceFacts} from './sections.js'

export interface ContentionOptions {
  key?: SortKey
  filter?: WaitFilter
}

export function traceFacts(db: Db, traceIds: number[]): TraceFacts[] {
  const stmt = db.prepare(
    `SELECT trace_id, path, format, kernel_version, events, faults, coalesce(last_ts_ns - first_ts_ns, 0) AS span_ns, lost_events
     FROM traces WHERE trace_id = ?`,
  )
  return traceIds.map((id) => stmt.get(id) as TraceFacts)
}

export function contentionReport(db: Db, runs: RunRef[], top: number, opts: ContentionOptions = {}): ContentionReport {
  const {key = 'wait_total', filter = {}} = opts
  const keys = Object.keys(SECTIONS) as (keyof SectionRows)[]
  const sections = Object.fromEntries(keys.map((k) => [k, []])) as unknown as SectionRows
  for (const run of runs) {
    const tag = {run_id: run.runId, policy: run.label}
    const c: CollectContext = {db, run, top, key, filter, collected: {}}
    for (const k of keys) {
      const rows = SECTIONS[k].collect(c)
      ;(c.collected as Record<string, unknown>)[k] = rows
      for (const row of rows) (sections[k] as object[]).push({...tag, ...row})
    }
  }
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
    ...sections,
    sort_key: key,
    filter,
  }
  const rcu = rcuFileReport(db, runs, top)
  if (rcu !== null) report.rcu_file = rcu
  return report
}
