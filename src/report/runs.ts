// Which replay runs a report is about: explicit run ids, the latest run of each named policy, or every run of a
// trace (default: the most recent trace that has runs). Also the column label each run gets in a report.
import {basename} from 'node:path'
import type {Db} from '../store/db.js'
import {UserError} from '../base/errors.js'

export interface RunRef {
  runId: number
  traceId: number
  policy: string
  mode: string
  /** replayed with --calibrate-holds (options_json) */
  calibratedHolds: boolean
  faults: number
  ops: number
  simEndNs: number
  tracePath: string
  /** first_ts_ns of the trace: run times are ns since this instant. */
  traceFirstNs: number
  /** A short unique column name: the policy, or the trace when every run has the same policy. */
  label: string
}

export interface RunSelection {
  runs?: number[]
  policies?: string[]
  traces?: number[]
}

const RUN_SQL = `SELECT r.run_id AS runId, r.trace_id AS traceId, r.policy, r.mode,
  coalesce(json_extract(r.options_json, '$.calibrateHolds'), 0) = 1 AS calibratedHolds, r.faults, r.ops, r.sim_end_ns AS simEndNs,
  t.path AS tracePath, coalesce(t.first_ts_ns, 0) AS traceFirstNs FROM runs r JOIN traces t USING (trace_id)`

/** Parses "1,2,3" (flags) into positive integers, or throws a UserError naming the flag. */
export function idList(flag: string, value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined
  const ids = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  if (ids.length === 0) throw new UserError(`--${flag}: expected a comma-separated list of ids`)
  return ids.map((s) => {
    if (!/^\d+$/.test(s)) throw new UserError(`--${flag}: '${s}' is not an id (expected e.g. --${flag} 1,2)`)
    return Number(s)
  })
}

export function nameList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  return names.length === 0 ? undefined : names
}

function ensureRuns(db: Db, dbPath: string): void {
  const traces = db.prepare('SELECT count(*) FROM traces').pluck().get() as number
  if (traces === 0) throw new UserError(`no trace in ${dbPath}: run \`vmareplay ingest <trace> --db ${dbPath}\` first`)
  const runs = db.prepare('SELECT count(*) FROM runs').pluck().get() as number
  if (runs === 0)
    throw new UserError(
      `no replay run in ${dbPath}: run \`vmareplay replay --db ${dbPath} --policy mmap-lock,v6.18\` first`,
    )
}

function checkTraces(db: Db, dbPath: string, traces: number[]): void {
  for (const id of traces) {
    const n = db.prepare('SELECT count(*) FROM traces WHERE trace_id = ?').pluck().get(id) as number
    if (n === 0) throw new UserError(`no trace ${id} in ${dbPath} (see \`vmareplay traces --db ${dbPath}\`)`)
  }
}

/** The most recently ingested trace that has at least one run. */
export function latestTraceWithRuns(db: Db): number {
  return db.prepare('SELECT max(trace_id) FROM runs').pluck().get() as number
}

export function selectRuns(db: Db, dbPath: string, sel: RunSelection): RunRef[] {
  ensureRuns(db, dbPath)
  let out: Omit<RunRef, 'label'>[]
  if (sel.runs !== undefined) {
    out = sel.runs.map((id) => {
      const r = db.prepare(`${RUN_SQL} WHERE r.run_id = ?`).get(id) as Omit<RunRef, 'label'> | undefined
      if (r === undefined) {
        const ids = db
          .prepare("SELECT group_concat(run_id, ', ') FROM (SELECT run_id FROM runs ORDER BY run_id)")
          .pluck()
          .get() as string
        throw new UserError(`no run ${id} in ${dbPath} (runs: ${ids})`)
      }
      return r
    })
  } else {
    const traces = sel.traces ?? [latestTraceWithRuns(db)]
    checkTraces(db, dbPath, traces)
    out = []
    for (const traceId of traces) {
      const all = db.prepare(`${RUN_SQL} WHERE r.trace_id = ? ORDER BY r.run_id`).all(traceId) as Omit<
        RunRef,
        'label'
      >[]
      if (all.length === 0)
        throw new UserError(
          `trace ${traceId} has no replay run: run \`vmareplay replay --db ${dbPath} --trace ${traceId} --policy ...\``,
        )
      if (sel.policies === undefined) {
        out.push(...all)
        continue
      }
      for (const p of sel.policies) {
        const latest = all.filter((r) => r.policy === p).at(-1)
        if (latest === undefined) {
          const have = [...new Set(all.map((r) => r.policy))].join(', ')
          throw new UserError(
            `trace ${traceId} has no run with policy '${p}' (it has: ${have}); run \`vmareplay replay --db ${dbPath} --trace ${traceId} --policy ${p}\``,
          )
        }
        out.push(latest)
      }
    }
  }
  const seen = new Set<number>()
  out = out.filter((r) => (seen.has(r.runId) ? false : (seen.add(r.runId), true)))
  return labelRuns(out)
}

/** Column labels: policy names for runs of one trace, trace names for one policy over traces, else both. */
export function labelRuns(runs: Omit<RunRef, 'label'>[]): RunRef[] {
  const oneTrace = new Set(runs.map((r) => r.traceId)).size <= 1
  const onePolicy = new Set(runs.map((r) => r.policy)).size <= 1 && runs.length > 1
  const base = (r: Omit<RunRef, 'label'>): string =>
    oneTrace
      ? r.policy
      : onePolicy
        ? `t${r.traceId}:${basename(r.tracePath).replace(/\.(trace\.txt|perf\.txt|txt|csv)(\.xz|\.gz)?$/, '')}`
        : `${r.policy}@t${r.traceId}`
  const counts = new Map<string, number>()
  for (const r of runs) counts.set(base(r), (counts.get(base(r)) ?? 0) + 1)
  // SQLite gives calibratedHolds as 0/1
  return runs.map((r) => ({
    ...r,
    calibratedHolds: Boolean(r.calibratedHolds),
    label: counts.get(base(r))! > 1 ? `${base(r)}#${r.runId}` : base(r),
  }))
}

/** How a run was replayed, for people: its mode, and whether its syscall holds came from the trace. */
export function replayKind(r: {mode: string; calibratedHolds: boolean}): string {
  return r.calibratedHolds ? `${r.mode}, calibrated holds` : r.mode
}

/** True when every run replays the same trace (event ids, and so operations, can be matched across runs). */
export function sameTrace(runs: RunRef[]): boolean {
  return new Set(runs.map((r) => r.traceId)).size <= 1
}
