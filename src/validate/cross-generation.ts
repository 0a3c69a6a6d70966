// `lab validate`: every trace of a lab suite (src/lab/suite.ts) ingested; each source run replayed in what-if mode
// under every kernel's policy and compared with the real runs of that kernel; each trace also replayed faithfully
// under its own kernel's policy (the per-fault score, and the attribution of real faults to reason families).
import * as fs from 'node:fs'
import * as path from 'node:path'
import type {Db} from '../store/db.js'
import {UserError} from '../base/errors.js'
import type {CostTable} from '../kernel/index.js'
import {INDEX_FILE, SUITE_FORMAT, type SuiteIndex, type SuiteRunEntry} from '../lab/suite.js'
import {loadTrace} from '../ingest/load.js'
import {policyForKernel} from '../replay/detect-policy.js'
import type {Policy} from '../replay/policies.js'
import {replayTrace} from '../replay/run.js'
import {costsForTrace} from './lab-costs.js'
import {isShare, metricValues, predictedMetrics, realMetrics, runReasons} from './lab-metrics.js'
import {faultHoldsNs, observeFaults} from './observed.js'
import {hasLockEvents, poolScores, scoreRun, type Score} from './score.js'

export const LAB_VALIDATE_FORMAT = 'vmareplay-lab-validate/1'

export type Verdict = 'within spread' | 'within 0.2 pp' | 'within ×1.5' | 'outside'

export interface Spread {
  mean: number
  min: number
  max: number
  values: number[]
}

export interface Comparison {
  workload: string
  source: string
  target: string
  /** policy of the target kernel the source runs were replayed under */
  policy: string
  mode: 'what-if' | 'faithful'
  metric: string
  predicted: Spread
  real: Spread
  /** percentage points (shares) or predicted/real (null: real is 0 and predicted is not) */
  error: number | null
  unit: 'pp' | 'ratio'
  verdict: Verdict
}

export interface FaithfulScore {
  workload: string
  kernel: string
  policy: string
  traces: number
  faults: number
  accuracy: number
  f1: number
  observedMmapLock: number
  predictedMmapLock: number
  /** faults that took mmap_lock: one uncontended section (trylock) vs a failed trylock then the sleeping lock */
  split: {
    real: {uncontended: number; sleeping: number}
    predicted: {uncontended: number; sleeping: number}
    agree: number
    both: number
  }
}

export interface TraceEntry {
  kernel: string
  workload: string
  run: number
  trace: string
  sha256: string
  real: Record<string, number>
  faithful: Record<string, number>
  whatIf: Record<string, Record<string, number>>
}

export interface LabValidation {
  format: typeof LAB_VALIDATE_FORMAT
  suite: {
    kernels: {name: string; release: string; version: string | null; policy: string}[]
    workloads: string[]
    runs: number
    /** day of the first capture (trace.meta.json `created`) */
    recorded: string | null
    vm: SuiteIndex['vm']
  }
  options: {whatIf: 'what-if'; calibrateHolds: true; calibrate: boolean; costs: Partial<CostTable>}
  comparisons: Comparison[]
  faithful: FaithfulScore[]
  traces: TraceEntry[]
}

export interface LabValidateOptions {
  suiteDir: string
  db: Db
  dbPath: string
  workloads?: string[]
  runs?: number
  costs: Partial<CostTable>
  /** fit each trace's cost table to its own mmap_lock holds (calibrate.ts) before replaying it */
  calibrate: boolean
  toolVersion: string
  onProgress?: (done: number, total: number) => void
}

/** The suite's index, checked: the format, and every selected trace on disk. */
export function readSuite(dir: string): SuiteIndex {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new UserError(`${dir}: no such suite directory; record one with \`vmareplay lab suite --out ${dir}\``)
  const file = path.join(dir, INDEX_FILE)
  if (!fs.existsSync(file))
    throw new UserError(`${file}: no ${INDEX_FILE}; this is not a suite directory (\`vmareplay lab suite\` writes it)`)
  let index: SuiteIndex
  try {
    index = JSON.parse(fs.readFileSync(file, 'utf8')) as SuiteIndex
  } catch (error) {
    throw new UserError(`${file}: not JSON (${(error as Error).message})`)
  }
  if (index.format !== SUITE_FORMAT)
    throw new UserError(`${file}: format ${JSON.stringify(index.format)}, expected ${SUITE_FORMAT}`)
  return index
}

/** The first `runs` runs of every kernel × workload; a usage error names what is missing. */
export function selectRuns(
  index: SuiteIndex,
  dir: string,
  workloads: string[] | undefined,
  runs: number | undefined,
): {workloads: string[]; runs: number; entries: SuiteRunEntry[]} {
  const known = index.workloads.map((w) => w.name)
  const chosen = workloads ?? known
  for (const w of chosen)
    if (!known.includes(w)) throw new UserError(`--workload ${w}: not in the suite; it has ${known.join(', ')}`)
  if (index.kernels.length === 0) throw new UserError(`${path.join(dir, INDEX_FILE)}: no kernels in the suite`)
  const n = runs ?? index.runs_per_kernel
  const entries: SuiteRunEntry[] = []
  for (const w of chosen) {
    for (const k of index.kernels) {
      const have = index.runs.filter((r) => r.kernel === k.name && r.workload === w).sort((a, b) => a.run - b.run)
      if (have.length < n)
        throw new UserError(
          `${dir}: ${k.name} ${w} has ${have.length} run(s), ${n} needed; resume the suite (\`vmareplay lab suite --out ${dir}\`) or pass --runs ${have.length}`,
        )
      for (const r of have.slice(0, n)) {
        if (!fs.existsSync(path.join(dir, r.trace)))
          throw new UserError(
            `${path.join(dir, r.trace)}: missing (listed in ${INDEX_FILE}); re-record that run or pass --runs`,
          )
        entries.push(r)
      }
    }
  }
  return {workloads: chosen, runs: n, entries}
}

function recorded(dir: string, entries: SuiteRunEntry[]): string | null {
  let first: string | null = null
  for (const e of entries) {
    try {
      const created = (JSON.parse(fs.readFileSync(path.join(dir, e.meta), 'utf8')) as {created?: string}).created
      if (typeof created === 'string' && (first === null || created < first)) first = created
    } catch {
      // a run without its meta file: the date comes from the others
    }
  }
  return first === null ? null : first.slice(0, 10)
}

export function spread(values: number[]): Spread {
  if (values.length === 0) return {mean: 0, min: 0, max: 0, values}
  return {
    mean: values.reduce((s, x) => s + x, 0) / values.length,
    min: Math.min(...values),
    max: Math.max(...values),
    values,
  }
}

/** The error of the predicted mean against the real mean, and the verdict (docs/validation.md). */
export function judge(
  metric: string,
  predicted: Spread,
  real: Spread,
): {error: number | null; unit: 'pp' | 'ratio'; verdict: Verdict} {
  const p = predicted.mean
  const inSpread = p >= real.min - 1e-12 && p <= real.max + 1e-12
  if (isShare(metric)) {
    const error = (p - real.mean) * 100
    return {
      error,
      unit: 'pp',
      verdict: inSpread ? 'within spread' : Math.abs(error) <= 0.2 + 1e-12 ? 'within 0.2 pp' : 'outside',
    }
  }
  const error = real.mean === 0 ? (p === 0 ? 1 : null) : p / real.mean
  return {
    error,
    unit: 'ratio',
    verdict: inSpread
      ? 'within spread'
      : error !== null && error <= 1.5 && error >= 1 / 1.5
        ? 'within ×1.5'
        : 'outside',
  }
}

interface TraceState {
  entry: SuiteRunEntry
  traceId: number
  sha256: string
  faithfulRun: number
  whatIfRuns: Map<string, number> // kernel name → run id
  score: Score | null
  split: FaithfulScore['split']
}

function splitOf(db: Db, traceId: number, runId: number): FaithfulScore['split'] {
  const reasons = runReasons(db, runId)
  const s: FaithfulScore['split'] = {
    real: {uncontended: 0, sleeping: 0},
    predicted: {uncontended: 0, sleeping: 0},
    agree: 0,
    both: 0,
  }
  for (const r of reasons.values()) if (r.took) s.predicted[r.waitNs > 0 ? 'sleeping' : 'uncontended']++
  observeFaults(db, traceId, (f) => {
    const sleeping = f.pattern === 'read_contended' || f.pattern === 'anon_vma_failed_fallback'
    if (f.took && (sleeping || f.pattern === 'read')) s.real[sleeping ? 'sleeping' : 'uncontended']++
    const p = reasons.get(f.eventId)
    if (!f.took || p === undefined || !p.took || !(sleeping || f.pattern === 'read')) return
    s.both++
    if (sleeping === p.waitNs > 0) s.agree++
  })
  return s
}

export async function validateSuite(o: LabValidateOptions): Promise<LabValidation> {
  const index = readSuite(o.suiteDir)
  const sel = selectRuns(index, o.suiteDir, o.workloads, o.runs)
  const db = o.db
  const states: TraceState[] = []
  const kernelVersion = new Map<string, string | null>()
  const total = sel.entries.length * 2
  let done = 0
  for (const entry of sel.entries) {
    const loaded = await loadTrace(db, path.join(o.suiteDir, entry.trace), {toolVersion: o.toolVersion})
    const traceId = loaded.status === 'duplicate' ? loaded.traceId : loaded.summary.traceId
    const t = db.prepare('SELECT kernel_version, sha256 FROM traces WHERE trace_id = ?').get(traceId) as {
      kernel_version: string | null
      sha256: string
    }
    if (!hasLockEvents(db, traceId))
      throw new UserError(
        `${entry.trace}: no mmap_lock events; the suite's traces must be recorded with them (vmareplay capture records them by default)`,
      )
    if (!kernelVersion.has(entry.kernel)) kernelVersion.set(entry.kernel, t.kernel_version)
    states.push({
      entry,
      traceId,
      sha256: t.sha256,
      faithfulRun: 0,
      whatIfRuns: new Map(),
      score: null,
      split: {real: {uncontended: 0, sleeping: 0}, predicted: {uncontended: 0, sleeping: 0}, agree: 0, both: 0},
    })
    o.onProgress?.(++done, total)
  }
  const policies = new Map<string, Policy>(
    index.kernels.map((k) => [k.name, policyForKernel(kernelVersion.get(k.name) ?? k.release)]),
  )
  for (const s of states) {
    const costs = costsForTrace(o.dbPath, db, s.traceId, o.calibrate, o.costs)
    const own = policies.get(s.entry.kernel)!
    const faultHolds = own.generation.perVmaLock ? undefined : faultHoldsNs(db, s.traceId)
    s.faithfulRun = replayTrace(o.dbPath, db, s.traceId, [own], {
      mode: 'faithful',
      costs,
      calibrateHolds: true,
      faultHoldsNs: faultHolds,
      toolVersion: o.toolVersion,
    })[0]!.runId
    // one what-if pass per distinct target policy
    const distinct = [...new Map([...policies.values()].map((p) => [p.name, p])).values()]
    const runs = replayTrace(o.dbPath, db, s.traceId, distinct, {
      mode: 'what-if',
      costs,
      calibrateHolds: true,
      faultHoldsNs: faultHolds,
      toolVersion: o.toolVersion,
    })
    for (const [k, p] of policies) s.whatIfRuns.set(k, runs.find((r) => r.policy === p.name)!.runId)
    s.score = scoreRun(db, s.traceId, s.faithfulRun, 0)
    s.split = splitOf(db, s.traceId, s.faithfulRun)
    o.onProgress?.(++done, total)
  }
  const traces: TraceEntry[] = states.map((s) => ({
    kernel: s.entry.kernel,
    workload: s.entry.workload,
    run: s.entry.run,
    trace: s.entry.trace,
    sha256: s.sha256,
    real: metricValues(realMetrics(db, s.traceId, s.faithfulRun)),
    faithful: metricValues(predictedMetrics(db, s.traceId, s.faithfulRun)),
    whatIf: Object.fromEntries(
      [...s.whatIfRuns].map(([k, run]) => [k, metricValues(predictedMetrics(db, s.traceId, run))]),
    ),
  }))
  const comparisons: Comparison[] = []
  const faithful: FaithfulScore[] = []
  const kernels = index.kernels.map((k) => k.name)
  for (const w of sel.workloads) {
    const of = (k: string): TraceEntry[] => traces.filter((t) => t.workload === w && t.kernel === k)
    for (const source of kernels) {
      for (const target of kernels) {
        const add = (mode: Comparison['mode'], pick: (t: TraceEntry) => Record<string, number>): void => {
          for (const metric of Object.keys(of(target)[0]!.real)) {
            const predicted = spread(of(source).map((t) => pick(t)[metric]!))
            const real = spread(of(target).map((t) => t.real[metric]!))
            comparisons.push({
              workload: w,
              source,
              target,
              policy: policies.get(target)!.name,
              mode,
              metric,
              predicted,
              real,
              ...judge(metric, predicted, real),
            })
          }
        }
        add('what-if', (t) => t.whatIf[target]!)
        if (source === target) add('faithful', (t) => t.faithful)
      }
    }
    for (const k of kernels) {
      const mine = states.filter((s) => s.entry.workload === w && s.entry.kernel === k)
      const pooled = poolScores(mine.map((s) => s.score!))
      const split: FaithfulScore['split'] = {
        real: {uncontended: 0, sleeping: 0},
        predicted: {uncontended: 0, sleeping: 0},
        agree: 0,
        both: 0,
      }
      for (const s of mine) {
        for (const side of ['real', 'predicted'] as const)
          for (const c of ['uncontended', 'sleeping'] as const) split[side][c] += s.split[side][c]
        split.agree += s.split.agree
        split.both += s.split.both
      }
      faithful.push({
        workload: w,
        kernel: k,
        policy: policies.get(k)!.name,
        traces: mine.length,
        faults: pooled.faults,
        accuracy: pooled.accuracy,
        f1: pooled.mmapLock.f1,
        observedMmapLock: pooled.mmapLock.observed,
        predictedMmapLock: pooled.mmapLock.predicted,
        split,
      })
    }
  }
  return {
    format: LAB_VALIDATE_FORMAT,
    suite: {
      kernels: index.kernels.map((k) => ({
        name: k.name,
        release: k.release,
        version: k.source.kind === 'debian' ? k.source.version : null,
        policy: policies.get(k.name)!.name,
      })),
      workloads: sel.workloads,
      runs: sel.runs,
      recorded: recorded(o.suiteDir, sel.entries),
      vm: index.vm,
    },
    options: {whatIf: 'what-if', calibrateHolds: true, calibrate: o.calibrate, costs: o.costs},
    comparisons,
    faithful,
    traces,
  }
}
