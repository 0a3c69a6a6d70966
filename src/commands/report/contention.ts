import {Flags} from '@oclif/core'
import {BaseCommand, dbFlag, jsonFlag} from '../../cli/base.js'
import {openDbReadOnly} from '../../store/db.js'
import {json} from '../../report/output.js'
import {selectRuns} from '../../report/runs.js'
import {contentionReport} from '../../report/contention.js'
import {CSV_SECTIONS, type CsvSection} from '../../report/sections.js'
import {SORT_KEYS, type SortKey} from '../../report/lockstat.js'
import {contentionCsv, lockContentionSeparated, renderContention} from '../../report/text.js'

export default class ReportContention extends BaseCommand {
  static override description = `Where faults fell back to mmap_lock, who waited, and on whom.

For each run: faults by completion path and reason; lock contention as perf lock contention shows it (-k, -E, -x, --pid/--tid, --read/--write) and as /proc/lock_stat does (read and write split, waiting and holding classes side by side); exact wait percentiles (p50/p90/p99/max) for all faults, fallback faults, mmap_lock readers and writers and VMA write locks; the operations that blocked others most (which syscall in which thread, at which trace line, how long it held the lock, how many faults it delayed); the hottest VMAs; and per-thread and per-process totals. Default: every run of the most recent trace that has runs. See docs/reports.md for how to read it.`

  static override examples = [
    '<%= config.bin %> report contention',
    '<%= config.bin %> report contention --run 3 --top 20',
    '<%= config.bin %> report contention --trace 2 --json > contention.json',
    '<%= config.bin %> report contention --csv blockers > blockers.csv',
    '<%= config.bin %> report contention -k wait_max -E 5 --write',
    '<%= config.bin %> report contention --pid 4242 -x ,',
    '<%= config.bin %> report contention --csv lockstat',
  ]

  static override flags = {
    db: dbFlag,
    run: Flags.integer({description: 'one run id (see `vmareplay query "SELECT * FROM runs"`)', exclusive: ['trace']}),
    trace: Flags.integer({description: 'every run of this trace (default: the most recent trace with runs)'}),
    top: Flags.integer({
      char: 'E',
      aliases: ['entries'],
      description: 'rows per run in the lock, blocker, VMA, thread and process tables (perf: -E/--entries)',
      default: 10,
      min: 1,
    }),
    key: Flags.string({
      char: 'k',
      description: "sort the lock and blocker tables by (perf lock contention's keys)",
      options: [...SORT_KEYS],
      default: 'wait_total',
    }),
    pid: Flags.integer({description: 'only waits of this process (and, in lock_stat, its holds)'}),
    tid: Flags.integer({description: 'only waits of this thread (and, in lock_stat, its holds)'}),
    read: Flags.boolean({description: 'only read waits (mmap_lock read, rwsem:R)', exclusive: ['write']}),
    write: Flags.boolean({
      description: 'only write waits (mmap_lock write and VMA write locks, rwsem:W)',
      exclusive: ['read'],
    }),
    json: jsonFlag,
    csv: Flags.string({
      description: 'print one section as RFC 4180 CSV (raw ns)',
      options: [...CSV_SECTIONS],
      exclusive: ['json', 'field-separator'],
    }),
    'field-separator': Flags.string({
      char: 'x',
      description: 'print the lock contention table with SEP between fields (perf lock contention -x), raw ns',
      exclusive: ['json', 'csv'],
    }),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(ReportContention)
    const db = openDbReadOnly(flags.db)
    try {
      const runs = selectRuns(
        db,
        flags.db,
        flags.run !== undefined ? {runs: [flags.run]} : {traces: flags.trace === undefined ? undefined : [flags.trace]},
      )
      const filter = {
        pid: flags.pid,
        tid: flags.tid,
        mode: flags.read ? ('read' as const) : flags.write ? ('write' as const) : undefined,
      }
      const report = contentionReport(db, runs, flags.top, {key: flags.key as SortKey, filter})
      if (flags.csv !== undefined) process.stdout.write(contentionCsv(report, flags.csv as CsvSection))
      else if (flags['field-separator'] !== undefined)
        process.stdout.write(lockContentionSeparated(report, flags['field-separator']))
      else this.log(flags.json ? json(report) : renderContention(report, flags.top))
    } finally {
      db.close()
    }
  }
}
