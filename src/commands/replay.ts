import {Flags} from '@oclif/core'
import {BaseCommand, dbFlag, jsonFlag, UserError} from '../cli/base.js'
import {loadCosts, replayFlags, replayWithFlags, resolvePolicies} from '../cli/replay-flags.js'
import {openDb} from '../store/db.js'
import {policyForKernel} from '../replay/detect-policy.js'
import type {RunSummary} from '../replay/run.js'
import {json, table} from '../report/output.js'

export default class Replay extends BaseCommand {
  static override description = `Replay an ingested trace through the simulated kernel under one or more locking policies.

The trace is read once for all policies. Every fault's path, reason, wait and latency is stored (view
fault_outcomes), with lock waits, holds and the kernel's vma_lock_* counters. The trace's own mmap_lock events are
never used to decide a fault's path; with --calibrate-holds they size the syscalls' critical sections, which
otherwise come from the cost table, bounded by each call's traced duration (docs/replay.md, Costs).`

  static override examples = [
    '<%= config.bin %> replay --policy v6.4,v6.18,spf',
    '<%= config.bin %> replay --trace 2 --policy mmap-lock,ideal --mode what-if --json',
    '<%= config.bin %> replay --policy-file no-fork-lock.json --costs costs.json',
    '<%= config.bin %> replay --policy mmap-lock,v6.18 --mode what-if --calibrate-holds',
  ]

  static override flags = {
    db: dbFlag,
    trace: Flags.integer({description: 'trace id (default: the most recently ingested)'}),
    policy: Flags.string({
      description:
        "comma-separated policies (see `vmareplay policies`); default: the recording kernel's (traces.kernel_version: 6.1 → mmap-lock, 6.12 → v6.10, 6.18 → v6.18), else v6.18",
    }),
    ...replayFlags,
    json: jsonFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Replay)
    const costs = loadCosts(flags.costs)
    const db = openDb(flags.db)
    let runs: RunSummary[]
    try {
      const traceId = flags.trace ?? latestTrace(db, flags.db)
      const kernel = db.prepare('SELECT kernel_version FROM traces WHERE trace_id = ?').pluck().get(traceId) as
        string | null | undefined
      const policies = resolvePolicies(flags.policy, flags['policy-file'], policyForKernel(kernel ?? null).name)
      runs = replayWithFlags((m) => this.warn(m), {dbPath: flags.db, db, traceId}, policies, flags, costs, 'replay')
    } finally {
      db.close()
    }
    this.log(flags.json ? json(runs) : table(runs.map((r) => ({...r, digest: r.digest.slice(0, 16)}))))
  }
}

export function latestTrace(db: import('../store/db.js').Db, path: string): number {
  const id = db.prepare('SELECT max(trace_id) FROM traces').pluck().get() as number | null
  if (id === null) throw new UserError(`no trace in ${path}: run \`vmareplay ingest <trace> --db ${path}\` first`)
  return id
}
