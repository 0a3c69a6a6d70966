// The comparison of runs (policies over one trace, or one policy over traces): one row per metric, one value per
// run, each with its delta against the baseline run; and the operations whose effect on others changed most.
// Values are in base units (count, ns, bytes); renderers pick µs/ms/KiB from `display`.
import type {Db} from '../store/db.js'
import {UserError} from '../base/errors.js'
import {sameTrace, type RunRef} from './runs.js'
import {
  counters,
  holdCounts,
  opEffects,
  opFacts,
  pathReasons,
  waitDistribution,
  worstStall,
  type OpEffect,
  type PathReasonRow,
  type StallRow,
  type WaitGroup,
  type WaitRow,
} from './metrics.js'
import type {Distribution} from '../store/percentiles.js'

export type Unit = 'count' | 'ns' | 'bytes'
export type Display = 'count' | 'us' | 'ms' | 'KiB'

export interface CompareRow {
  key: string
  metric: string
  unit: Unit
  display: Display
  values: (number | null)[]
  /** value − baseline value (null when either is missing) */
  deltas: (number | null)[]
  /** a sub-row (reasons under their path) */
  indent?: boolean
}

export interface Column {
  label: string
  run_id: number
  trace_id: number
  policy: string
  mode: string
  calibrated_holds: boolean
}

export interface ChangedOp {
  holder_event_id: number
  op: string
  detail: string
  tid: number | null
  comm: string | null
  trace_line: number | null
  trace_ns: number | null
  /** per column (run), in column order */
  effects: OpEffect[]
  /** max − min of total delay over the columns */
  spread_ns: number
}

export interface Comparison {
  columns: Column[]
  baseline: string
  rows: CompareRow[]
  /** the worst stall of each run: who waited on whom */
  stalls: (StallRow | null)[]
  changedOps: ChangedOp[]
  notes: string[]
}

export function resolveBaseline(runs: RunRef[], baseline: string | undefined): number {
  if (baseline === undefined) return 0
  const i = runs.findIndex((r) => r.label === baseline || String(r.runId) === baseline)
  const j = i >= 0 ? i : runs.findIndex((r) => r.policy === baseline)
  if (j < 0)
    throw new UserError(
      `--baseline ${baseline}: not one of the compared runs (${runs.map((r) => r.label).join(', ')}); give a label, policy or run id`,
    )
  return j
}

interface RunData {
  c: Map<string, number>
  paths: ReturnType<typeof pathReasons>
  holds: ReturnType<typeof holdCounts>
  faults: ReturnType<typeof waitDistribution>
  waiting: ReturnType<typeof waitDistribution>
  writers: ReturnType<typeof waitDistribution>
  vma: ReturnType<typeof waitDistribution>
  stall: StallRow | null
}

/** What a contention report already computed for the runs (report html): reused instead of queried again. */
export interface Precomputed {
  paths: (PathReasonRow & {run_id: number})[]
  waits: (WaitRow & {run_id: number})[]
}

function gather(db: Db, runId: number, pre?: Precomputed): RunData {
  const dist = (group: WaitGroup, ps: number[]): Distribution => {
    const w = pre?.waits.find((x) => x.run_id === runId && x.group === group)
    if (w === undefined) return waitDistribution(db, runId, group, ps)
    const byP: Record<number, number> = {50: w.p50_ns, 90: w.p90_ns, 99: w.p99_ns}
    return {n: w.count, nonzero: w.waited, totalNs: w.total_wait_ns, maxNs: w.max_ns, values: ps.map((p) => byP[p]!)}
  }
  const paths = pre?.paths.filter((p) => p.run_id === runId)
  return {
    c: counters(db, runId),
    paths: paths !== undefined && paths.length > 0 ? paths : pathReasons(db, runId),
    holds: holdCounts(db, runId),
    faults: dist('all faults', [50, 99]),
    waiting: dist('faults that waited', [50, 99]),
    writers: dist('mmap_lock writers (waits)', [50, 99]),
    vma: dist('VMA write lock (waits)', [99]),
    stall: worstStall(db, runId),
  }
}

export function compareRuns(
  db: Db,
  runs: RunRef[],
  opts: {baseline?: string; top: number; pre?: Precomputed},
): Comparison {
  const base = resolveBaseline(runs, opts.baseline)
  const data = runs.map((r) => gather(db, r.runId, opts.pre))
  const rows: CompareRow[] = []
  const add = (
    key: string,
    metric: string,
    unit: Unit,
    display: Display,
    get: (d: RunData, r: RunRef) => number | null,
    indent = false,
  ): void => {
    const values = runs.map((r, i) => get(data[i]!, r))
    const b = values[base] ?? null
    rows.push({
      key,
      metric,
      unit,
      display,
      values,
      deltas: values.map((v) => (v === null || b === null ? null : v - b)),
      indent,
    })
  }
  const ctr =
    (name: string) =>
    (d: RunData): number =>
      d.c.get(name) ?? 0
  const reasonsOf = (path: string): string[] => {
    const max = new Map<string, number>()
    for (const d of data)
      for (const p of d.paths) if (p.path === path) max.set(p.reason, Math.max(max.get(p.reason) ?? 0, p.faults))
    return [...max].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([r]) => r)
  }
  const reasonCount =
    (path: string, reason: string) =>
    (d: RunData): number =>
      d.paths.find((p) => p.path === path && p.reason === reason)?.faults ?? 0

  add('faults', 'faults replayed', 'count', 'count', (_d, r) => r.faults)
  add('faults.path.vma_lock', 'completed under the VMA lock', 'count', 'count', ctr('faults.path.vma_lock'))
  for (const reason of reasonsOf('vma_lock'))
    add(`vma_lock.reason.${reason}`, `VMA lock: ${reason}`, 'count', 'count', reasonCount('vma_lock', reason), true)
  add('faults.path.mmap_lock', 'fell back to mmap_lock', 'count', 'count', ctr('faults.path.mmap_lock'))
  for (const reason of reasonsOf('mmap_lock'))
    add(`fallback.reason.${reason}`, `fallback: ${reason}`, 'count', 'count', reasonCount('mmap_lock', reason), true)
  add(
    'faults.took_mmap_lock',
    'faults that took mmap_lock (incl. trylock)',
    'count',
    'count',
    ctr('faults.took_mmap_lock'),
  )
  add('faults.trylock_failed', 'faults whose trylock failed', 'count', 'count', ctr('faults.trylock_failed'))
  for (const k of ['success', 'abort', 'retry', 'miss'])
    add(`vma_lock_${k}`, `lock_vma_under_rcu ${k}`, 'count', 'count', ctr(`vma_lock_${k}`))
  add(
    'mmap_lock.acquire.read',
    'mmap_lock read acquisitions (incl. trylocks)',
    'count',
    'count',
    ctr('mmap_lock.acquire.read'),
  )
  add('mmap_lock.acquire.write', 'mmap_lock write acquisitions', 'count', 'count', ctr('mmap_lock.acquire.write'))
  add('mmap_lock.read_hold_ns', 'mmap_lock read hold total (ms)', 'ns', 'ms', (d) => d.holds.read_hold_ns)
  add('mmap_lock.write_hold_ns', 'mmap_lock write hold total (ms)', 'ns', 'ms', (d) => d.holds.write_hold_ns)
  add('fault.waited', 'faults that waited', 'count', 'count', (d) => d.faults.nonzero)
  add('fault.wait.total_ns', 'fault wait total (ms)', 'ns', 'ms', (d) => d.faults.totalNs)
  add('fault.wait.p50_ns', 'fault wait p50, all faults (µs)', 'ns', 'us', (d) => d.faults.values[0]!)
  add('fault.wait.p99_ns', 'fault wait p99, all faults (µs)', 'ns', 'us', (d) => d.faults.values[1]!)
  add('fault.wait.max_ns', 'fault wait max (µs)', 'ns', 'us', (d) => d.faults.maxNs)
  add('fault.wait.waiting_p50_ns', 'fault wait p50, faults that waited (µs)', 'ns', 'us', (d) => d.waiting.values[0]!)
  add('fault.wait.waiting_p99_ns', 'fault wait p99, faults that waited (µs)', 'ns', 'us', (d) => d.waiting.values[1]!)
  add('writer.waits', 'mmap_lock writer waits', 'count', 'count', (d) => d.writers.n)
  add('writer.wait.total_ns', 'writer wait total (ms)', 'ns', 'ms', (d) => d.writers.totalNs)
  add('writer.wait.p99_ns', 'writer wait p99 (µs)', 'ns', 'us', (d) => d.writers.values[1]!)
  add('writer.wait.max_ns', 'writer wait max (µs)', 'ns', 'us', (d) => d.writers.maxNs)
  add('vma_writer.wait.total_ns', 'VMA write-lock wait total (ms)', 'ns', 'ms', (d) => d.vma.totalNs)
  add('stall.max_ns', 'worst stall, any lock (µs)', 'ns', 'us', (d) => d.stall?.wait_ns ?? 0)
  add('sim_end_ns', 'simulated run length (ms)', 'ns', 'ms', (_d, r) => r.simEndNs)
  add('rcu.peakPendingBytes', 'RCU deferred-free peak (KiB)', 'bytes', 'KiB', ctr('rcu.peakPendingBytes'))
  add('rcu.peakPendingObjects', 'RCU deferred-free peak (objects)', 'count', 'count', ctr('rcu.peakPendingObjects'))
  add('rcu.callbacks', 'RCU callbacks', 'count', 'count', ctr('rcu.callbacks'))

  const notes: string[] = []
  let changedOps: ChangedOp[] = []
  if (!sameTrace(runs))
    notes.push('runs replay different traces: operations cannot be matched across them, so no per-operation comparison')
  else changedOps = changedOperations(db, runs, opts.top)
  if (runs.some((r) => r.mode !== 'what-if'))
    notes.push(
      'simulated run length changes with waits only in what-if mode (faithful mode starts each operation at its traced time)',
    )
  return {
    columns: runs.map((r) => ({
      label: r.label,
      run_id: r.runId,
      trace_id: r.traceId,
      policy: r.policy,
      mode: r.mode,
      calibrated_holds: r.calibratedHolds,
    })),
    baseline: runs[base]!.label,
    rows,
    stalls: data.map((d) => d.stall),
    changedOps,
    notes,
  }
}

/** Operations (holder events) whose total delay of other threads differs most between the runs. */
export function changedOperations(db: Db, runs: RunRef[], top: number): ChangedOp[] {
  const effects = opEffects(
    db,
    runs.map((r) => r.runId),
  )
  const zero: OpEffect = {faults_delayed: 0, waits: 0, total_wait_ns: 0}
  const ranked = [...effects]
    .map(([ev, e]) => {
      const per = runs.map((r) => e.byRun.get(r.runId) ?? zero)
      const totals = per.map((p) => p.total_wait_ns)
      const faults = per.map((p) => p.faults_delayed)
      return {
        ev,
        op: e.op,
        per,
        spread: Math.max(...totals) - Math.min(...totals),
        fspread: Math.max(...faults) - Math.min(...faults),
      }
    })
    .filter((x) => x.spread > 0 || x.fspread > 0)
    .sort((a, b) => b.spread - a.spread || b.fspread - a.fspread || a.ev - b.ev)
    .slice(0, top)
  const facts = opFacts(
    db,
    ranked.map((x) => x.ev),
    new Map(ranked.map((x) => [x.ev, x.op])),
  )
  return ranked.map((x) => {
    const f = facts.get(x.ev)
    return {
      holder_event_id: x.ev,
      op: x.op,
      detail: f?.detail ?? x.op,
      tid: f?.tid ?? null,
      comm: f?.comm ?? null,
      trace_line: f?.trace_line ?? null,
      trace_ns: f?.trace_ns ?? null,
      effects: x.per,
      spread_ns: x.spread,
    }
  })
}

/** Which way a row improves, for colouring deltas: fewer fallbacks and waits are better, more VMA-lock faults. */
export function betterWhen(key: string): 'lower' | 'higher' | null {
  if (key === 'faults' || key === 'rcu.callbacks' || key === 'sim_end_ns') return null
  if (key === 'faults.path.vma_lock' || key.startsWith('vma_lock.reason.') || key === 'vma_lock_success')
    return key === 'vma_lock.reason.access_error' ? null : 'higher'
  return 'lower'
}
