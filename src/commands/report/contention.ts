import {Flags} from '@oclif/core'
import {BaseCommand, dbFlag, jsonFlag} from '../../cli/base.js'
import {openDbReadOnly} from '../../store/db.js'
import {json} from '../../report/output.js'
import {selectRuns} from '../../report/runs.js'
import {contentionReport, SECTIONS, type Section} from '../../report/contention.js'
import {contentionCsv, renderContention} from '../../report/text.js'

export default class ReportContention extends BaseCommand {
  static override description = `Where faults fell back to mmap_lock, who waited, and on whom.

For each run: faults by completion path and reason; exact wait percentiles (p50/p90/p99/max) for all faults, fallback faults, mmap_lock readers and writers and VMA write locks; the operations that blocked others most (which syscall in which thread, at which trace line, how long it held the lock, how many faults it delayed); the hottest VMAs; and per-thread and per-process totals. Default: every run of the most recent trace that has runs. See docs/reports.md for how to read it.`

  static override examples = [
    '<%= config.bin %> report contention',
    '<%= config.bin %> report contention --run 3 --top 20',
    '<%= config.bin %> report contention --trace 2 --json > contention.json',
    '<%= config.bin %> report contention --csv blockers > blockers.csv',
  ]

  static override flags = {
    db: dbFlag,
    run: Flags.integer({description: 'one run id (see `vmareplay query "SELECT * FROM runs"`)', exclusive: ['trace']}),
    trace: Flags.integer({description: 'every run of this trace (default: the most recent trace with runs)'}),
    top: Flags.integer({description: 'rows in the blocker, VMA, thread and process tables', default: 10, min: 1}),
    json: jsonFlag,
    csv: Flags.string({description: 'print one section as RFC 4180 CSV (raw ns)', options: [...SECTIONS], exclusive: ['json']}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(ReportContention)
    const db = openDbReadOnly(flags.db)
    try {
      const runs = selectRuns(db, flags.db, flags.run !== undefined ? {runs: [flags.run]} : {traces: flags.trace === undefined ? undefined : [flags.trace]})
      const report = contentionReport(db, runs, flags.top)
      if (flags.csv !== undefined) process.stdout.write(contentionCsv(report, flags.csv as Section))
      else this.log(flags.json ? json(report) : renderContention(report, flags.top))
    } finally {
      db.close()
    }
  }
}
