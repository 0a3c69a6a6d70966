import {Flags} from '@oclif/core'
import {writeFileSync} from 'node:fs'
import {BaseCommand, dbFlag, UserError} from '../../cli/base.js'
import {TOOL_VERSION} from '../../cli/version.js'
import {openDbReadOnly} from '../../store/db.js'
import {idList, nameList, selectRuns} from '../../report/runs.js'
import {buildPage} from '../../report/page.js'
import {renderHtml} from '../../report/html.js'

export default class ReportHtml extends BaseCommand {
  static override description = `Write the contention report of one or more runs as one self-contained HTML file.

Headline numbers per run, a timeline of mmap_lock holds, waits and fallbacks, a histogram of fault waits per run (log scale), the comparison table, the top blocking operations and the hottest VMAs. Inline CSS and SVG only: the file opens offline in any browser and can be attached or archived as is. See docs/reports.md.`

  static override examples = [
    '<%= config.bin %> report html --out report.html',
    '<%= config.bin %> report html --policies mmap-lock,v6.4,v6.18 --baseline mmap-lock --out report.html',
    '<%= config.bin %> report html --runs 3,8 --title "fork under 6.4 vs 6.18" --out fork.html',
  ]

  static override flags = {
    db: dbFlag,
    runs: Flags.string({description: 'comma-separated run ids', exclusive: ['policies', 'trace']}),
    policies: Flags.string({description: 'comma-separated policy names: the latest run of each'}),
    trace: Flags.string({description: 'trace id(s) (default: the most recent trace with runs)'}),
    baseline: Flags.string({
      description: 'the run deltas are computed against (label, policy or run id; default: the first)',
    }),
    out: Flags.string({description: 'the HTML file to write', required: true}),
    top: Flags.integer({description: 'rows in the blocker, VMA and changed-operation tables', default: 10, min: 1}),
    buckets: Flags.integer({description: 'timeline buckets across the run', default: 600, min: 10, max: 5000}),
    title: Flags.string({description: 'page title'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(ReportHtml)
    const db = openDbReadOnly(flags.db)
    let html: string
    let n: number
    try {
      const runs = selectRuns(db, flags.db, {
        runs: idList('runs', flags.runs),
        policies: nameList(flags.policies),
        traces: idList('trace', flags.trace),
      })
      n = runs.length
      html = renderHtml(
        buildPage(db, runs, {
          top: flags.top,
          buckets: flags.buckets,
          title: flags.title,
          baseline: flags.baseline,
          toolVersion: TOOL_VERSION,
        }),
      )
    } finally {
      db.close()
    }
    try {
      writeFileSync(flags.out, html)
    } catch (error) {
      throw new UserError(`--out ${flags.out}: ${(error as Error).message}`)
    }
    this.log(`${flags.out}: ${n} run${n === 1 ? '' : 's'}, ${(Buffer.byteLength(html) / 1024).toFixed(0)} KiB`)
  }
}
