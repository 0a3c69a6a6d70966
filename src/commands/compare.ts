import {Flags} from '@oclif/core'
import {BaseCommand, dbFlag, jsonFlag, UserError} from '../cli/base.js'
import {openDbReadOnly} from '../store/db.js'
import {json} from '../report/output.js'
import {idList, nameList, selectRuns} from '../report/runs.js'
import {compareRuns} from '../report/compare.js'
import {comparisonCsv, comparisonJson, renderComparison} from '../report/text.js'

export default class Compare extends BaseCommand {
  static override description = `Compare replay runs side by side: one column per run, each value with its delta against the baseline.

Rows: faults per completion path and fallback reason, lock_vma_under_rcu outcomes, mmap_lock acquisitions, fault and writer waits (total, p50/p99/max), the worst stall, the simulated run length and the RCU deferred-free peak. Below: the operations whose effect on other threads changed most between the runs (e.g. a munmap that delayed 300 faults under one policy and none under another).

Columns are policies of one trace (default: every run of the most recent trace with runs; the latest run of each policy with --policies), or one policy over several traces (--trace 1,2 --policies v6.18).`

  static override examples = [
    '<%= config.bin %> compare',
    '<%= config.bin %> compare --policies mmap-lock,v6.4,v6.18 --baseline v6.18',
    '<%= config.bin %> compare --runs 3,8 --json',
    '<%= config.bin %> compare --trace 1,2 --policies v6.18 --csv > traces.csv',
  ]

  static override flags = {
    db: dbFlag,
    runs: Flags.string({description: 'comma-separated run ids', exclusive: ['policies', 'trace']}),
    policies: Flags.string({description: 'comma-separated policy names: the latest run of each'}),
    trace: Flags.string({
      description: 'trace id, or comma-separated ids to compare traces (default: the most recent with runs)',
    }),
    baseline: Flags.string({
      description: 'the column deltas are computed against: a label, policy or run id (default: the first)',
    }),
    top: Flags.integer({description: 'rows in the changed-operations table', default: 15, min: 1}),
    json: jsonFlag,
    csv: Flags.boolean({description: 'print the comparison as RFC 4180 CSV (raw ns and bytes)', exclusive: ['json']}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Compare)
    const db = openDbReadOnly(flags.db)
    try {
      const runs = selectRuns(db, flags.db, {
        runs: idList('runs', flags.runs),
        policies: nameList(flags.policies),
        traces: idList('trace', flags.trace),
      })
      if (runs.length < 2 && flags.runs !== undefined)
        throw new UserError('--runs: give at least two run ids to compare')
      const c = compareRuns(db, runs, {baseline: flags.baseline, top: flags.top})
      if (flags.csv) process.stdout.write(comparisonCsv(c))
      else this.log(flags.json ? json(comparisonJson(c)) : renderComparison(c))
    } finally {
      db.close()
    }
  }
}
