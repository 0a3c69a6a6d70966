import {Args, Flags} from '@oclif/core'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {BaseCommand, EXIT, jsonFlag} from '../cli/base.js'
import {loadCosts, replayFlags, resolvePolicies} from '../cli/replay-flags.js'
import {TOOL_VERSION} from '../cli/version.js'
import {openDb, type Db} from '../store/db.js'
import {loadTrace} from '../ingest/load.js'
import {policyForKernel} from '../replay/detect-policy.js'
import {replayTrace} from '../replay/run.js'
import type {Mode} from '../replay/engine.js'
import {
  hasLockEvents,
  meetsBar,
  PER_TRACE_BAR,
  perTraceBar,
  poolScores,
  scoreRun,
  type Score,
} from '../validate/score.js'
import {json, keyValues, table} from '../report/output.js'

interface TraceScore {
  path: string
  traceId: number
  policy: string
  runId: number
  score: Score | null // null: the trace has no mmap_lock events to validate against
  /** The per-trace bar (applies from PER_TRACE_BAR.minObserved observed mmap_lock faults): what this trace misses. */
  perTraceBar: {applies: boolean; failures: string[]} | null
}

export default class Validate extends BaseCommand {
  static override description = `Score the model against the kernel: predicted vs observed mmap_lock use per user fault.

Each trace is replayed with its mmap_lock events withheld, under the policy of the kernel that recorded it
(--policy, else detected from the kernel version, else v6.18). Its own mmap_lock events then say what the kernel
did for every fault (docs/validation.md). Prints a confusion matrix of took_mmap_lock, accuracy beside the
trivial "never" baseline, precision/recall/F1 of the mmap_lock class, the same by observed pattern, the first
disagreements and a summary line per trace. --bar exits 5 unless pooled accuracy >= 99.5 %, F1 >= 0.9 and no trace
with >= 50 mmap_lock faults is below F1 0.7; --bar-per-trace exits 5 unless every trace with >= 50 mmap_lock faults
has accuracy >= 99.9 % and F1 >= 0.95, naming those that do not.`

  static override examples = [
    '<%= config.bin %> validate ../shared/traces/real/py_threads_anon.trace.txt',
    '<%= config.bin %> validate ../shared/traces/real/*.trace.txt* --bar',
    '<%= config.bin %> validate ../shared/traces/real/*.trace.txt* --bar-per-trace',
    '<%= config.bin %> validate app.trace.txt --policy v6.10 --disagreements 50 --json',
  ]

  static override args = {
    traces: Args.string({description: 'trace files recorded with the mmap_lock tracepoints', required: true}),
  }
  static override strict = false

  static override flags = {
    db: Flags.string({description: 'keep the ingested traces and runs in this database (default: a temporary one)'}),
    policy: Flags.string({
      description: 'policy of the recording kernel (default: detected from the trace, else v6.18)',
    }),
    disagreements: Flags.integer({description: 'how many disagreements to list per trace', default: 10}),
    bar: Flags.boolean({description: 'exit 5 unless the scores meet the validation bar'}),
    'bar-per-trace': Flags.boolean({
      description: `exit 5 unless every trace with >= ${PER_TRACE_BAR.minObserved} observed mmap_lock faults has accuracy >= ${PER_TRACE_BAR.accuracy * 100} % and F1 >= ${PER_TRACE_BAR.f1}`,
    }),
    mode: replayFlags.mode,
    costs: replayFlags.costs,
    json: jsonFlag,
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Validate)
    const costs = loadCosts(flags.costs)
    const fixed = flags.policy === undefined ? null : resolvePolicies(flags.policy, undefined, 'v6.18')[0]!
    const tmp = flags.db === undefined ? mkdtempSync(join(tmpdir(), 'vmareplay-validate-')) : null
    const dbPath = flags.db ?? join(tmp!, 'validate.db')
    const db = openDb(dbPath)
    const results: TraceScore[] = []
    try {
      for (const path of argv as string[])
        results.push(await this.validateOne(db, dbPath, path, fixed, flags.mode as Mode, costs, flags.disagreements))
    } finally {
      db.close()
      if (tmp !== null) rmSync(tmp, {recursive: true, force: true})
    }
    const scored = results.filter((r) => r.score !== null)
    const pooled = poolScores(scored.map((r) => r.score!))
    const failures = meetsBar(
      pooled,
      scored.map((r) => r.score!),
    )
    const perTraceFailures = scored
      .filter((r) => r.perTraceBar!.failures.length > 0)
      .map((r) => `${traceName(r)}: ${r.perTraceBar!.failures.join(', ')}`)
    if (flags.json) {
      const {disagreements: _d, ...total} = pooled
      this.log(
        json({
          ...total,
          bar: {met: failures.length === 0, failures},
          barPerTrace: {met: perTraceFailures.length === 0, failures: perTraceFailures},
          traces: results,
        }),
      )
    } else this.print(results, pooled, failures, perTraceFailures)
    if ((flags.bar || flags['bar-per-trace']) && scored.length === 0)
      this.error('no trace had mmap_lock events to validate against', {exit: EXIT.check})
    if (flags.bar && failures.length > 0)
      this.error(`below the validation bar: ${failures.join('; ')}`, {exit: EXIT.check})
    if (flags['bar-per-trace'] && perTraceFailures.length > 0)
      this.error(`below the per-trace bar: ${perTraceFailures.join('; ')}`, {exit: EXIT.check})
  }

  private async validateOne(
    db: Db,
    dbPath: string,
    path: string,
    fixed: ReturnType<typeof resolvePolicies>[number] | null,
    mode: Mode,
    costs: ReturnType<typeof loadCosts>,
    max: number,
  ): Promise<TraceScore> {
    const loaded = await loadTrace(db, path, {toolVersion: TOOL_VERSION})
    const traceId = loaded.status === 'duplicate' ? loaded.traceId : loaded.summary.traceId
    const kernel = db.prepare('SELECT kernel_version FROM traces WHERE trace_id = ?').pluck().get(traceId) as
      string | null
    const policy = fixed ?? policyForKernel(kernel)
    if (!hasLockEvents(db, traceId))
      return {path, traceId, policy: policy.name, runId: 0, score: null, perTraceBar: null}
    const [run] = replayTrace(dbPath, db, traceId, [policy], {mode, costs, toolVersion: TOOL_VERSION})
    const score = scoreRun(db, traceId, run!.runId, max)
    return {path, traceId, policy: policy.name, runId: run!.runId, score, perTraceBar: perTraceBar(score)}
  }

  private print(results: TraceScore[], pooled: Score, failures: string[], perTraceFailures: string[]): void {
    const pct = (x: number): string => `${(x * 100).toFixed(3)} %`
    const row = (name: string, s: Score): Record<string, unknown> => ({
      trace: name,
      faults: s.faults,
      'observed mmap_lock': s.mmapLock.observed,
      'predicted mmap_lock': s.mmapLock.predicted,
      TP: s.confusion.truePositives,
      FP: s.confusion.falsePositives,
      FN: s.confusion.falseNegatives,
      accuracy: pct(s.accuracy),
      '"never" baseline': pct(s.baselineAccuracy),
      precision: s.mmapLock.precision.toFixed(3),
      recall: s.mmapLock.recall.toFixed(3),
      F1: s.mmapLock.f1.toFixed(3),
    })
    const rows = results.map((r) =>
      r.score === null
        ? {trace: `${r.path} (no mmap_lock events: skipped)`}
        : row(`${r.path.split('/').at(-1)} [${r.policy}]`, r.score),
    )
    rows.push(row('pooled', pooled))
    this.log(table(rows, Object.keys(row('', pooled))))
    this.log('\nby observed pattern (pooled):')
    this.log(
      table(
        Object.entries(pooled.byPattern)
          .sort(([, a], [, b]) => b.faults - a.faults)
          .map(([pattern, v]) => ({
            pattern,
            faults: v.faults,
            'predicted mmap_lock': v.predictedTook,
            agree: v.agree,
            agreement: pct(v.agree / v.faults),
          })),
      ),
    )
    for (const r of results) {
      if (r.score === null || r.score.disagreements.length === 0) continue
      this.log(`\nfirst disagreements in ${r.path}:`)
      this.log(
        table(
          r.score.disagreements.map((d) => ({
            line: d.line,
            tid: d.tid,
            ts_ns: d.tsNs,
            address: d.address,
            error: `0x${d.errorCode.toString(16)}`,
            vma: d.vma === null ? '-' : d.vma + (d.inferredVma ? ' (inferred)' : ''),
            predicted: `${d.predictedTook ? 'mmap_lock' : 'vma_lock'}: ${d.predicted}`,
            observed: d.signature === '' ? 'none' : d.signature,
          })),
        ),
      )
    }
    this.log('\nper trace:')
    for (const r of results) this.log(summaryLine(r))
    this.log('')
    this.log(
      keyValues([
        ['validation bar', failures.length === 0 ? 'met' : `NOT met: ${failures.join('; ')}`],
        ['per-trace bar', perTraceFailures.length === 0 ? 'met' : `NOT met: ${perTraceFailures.join('; ')}`],
      ]),
    )
  }
}

const traceName = (r: TraceScore): string => r.path.split('/').at(-1)!

/** One line per trace: its scores and where it stands against the per-trace bar. */
function summaryLine(r: TraceScore): string {
  if (r.score === null) return `${traceName(r)}: no mmap_lock events, not scored`
  const s = r.score
  const bar = r.perTraceBar!
  const verdict = !bar.applies
    ? `per-trace bar n/a (< ${PER_TRACE_BAR.minObserved} mmap_lock faults)`
    : bar.failures.length === 0
      ? 'per-trace bar met'
      : `BELOW the per-trace bar: ${bar.failures.join(', ')}`
  return `${traceName(r)} [${r.policy}]: ${s.faults} faults, ${s.mmapLock.observed} took mmap_lock, accuracy ${(s.accuracy * 100).toFixed(3)} %, F1 ${s.mmapLock.f1.toFixed(3)} (FP ${s.confusion.falsePositives}, FN ${s.confusion.falseNegatives}): ${verdict}`
}
