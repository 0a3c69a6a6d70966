import * as fs from 'node:fs'
import {tmpdir} from 'node:os'
import * as path from 'node:path'

import {Args, Flags} from '@oclif/core'

import {BaseCommand, jsonFlag, UserError} from '../../cli/base.js'
import {progressBar} from '../../cli/progress.js'
import {loadCosts, replayFlags} from '../../cli/replay-flags.js'
import {TOOL_VERSION} from '../../cli/version.js'
import {csv, json, table} from '../../report/output.js'
import {openDb} from '../../store/db.js'
import {validateSuite} from '../../validate/cross-generation.js'
import {
  comparisonCsvRow,
  comparisonRow,
  faithfulRow,
  renderMarkdown,
  rewriteSection,
  verdictSummary,
} from '../../validate/lab-render.js'

export default class LabValidate extends BaseCommand {
  static override summary = 'Check the what-if predictions of every kernel pair against the real runs of a lab suite.'

  static override description = `Ingests every trace of a suite recorded by \`lab suite\` (already ingested traces are found by their sha256). For each workload and each pair of kernels (source → target, both directions, and each kernel onto itself as a sanity row), every source run is replayed in what-if mode under the target kernel's policy with --calibrate-holds and compared with the real target runs: share of user faults that took mmap_lock and its split by reason family, mmap_lock read/write acquisitions per 1,000 user faults, and mmap_lock waits (total per second of trace, p50, p99, contended acquisitions) as the trace's own start_locking → acquire_returned show them. Each row gives the predicted mean over the source runs and their min–max, the real mean and min–max over the target runs, the error (percentage points for shares, predicted/real otherwise) and a verdict: within spread, within 0.2 pp, within ×1.5, outside. Each trace is also replayed faithfully under its own kernel's policy: accuracy and F1 of took_mmap_lock per workload and kernel, and the trylock-versus-sleeping-lock split. Definitions: docs/validation.md.`

  static override usage = [
    'lab validate [SUITE_DIR] [--db FILE] [--json | --csv] [--write-doc FILE] [--raw FILE] [--workload LIST] [--runs N]',
  ]

  static override examples = [
    {description: 'The suite in ./lab-suite, as tables', command: '<%= config.bin %> <%= command.id %>'},
    {
      description: 'Regenerate the docs',
      command:
        '<%= config.bin %> <%= command.id %> lab-suite --write-doc docs/validation.md --raw docs/validation-lab.json',
    },
    {
      description: 'Two workloads, 3 runs each, kept in a database',
      command:
        '<%= config.bin %> <%= command.id %> lab-suite --workload anon_threads,node_gc --runs 3 --db lab.db --csv',
    },
  ]

  static override args = {suite: Args.string({description: 'suite directory (with index.json)', default: 'lab-suite'})}

  static override flags = {
    db: Flags.string({description: 'keep the ingested traces and runs in this database (default: a temporary one)'}),
    workload: Flags.string({
      char: 'w',
      helpValue: 'LIST',
      description: "comma-separated subset of the suite's workloads",
    }),
    runs: Flags.integer({
      char: 'n',
      min: 1,
      description: "use the first N runs of each kernel and workload (default: the suite's runs per kernel)",
    }),
    'write-doc': Flags.string({
      helpValue: 'FILE',
      description:
        'rewrite the section between <!-- lab-validate:begin --> and <!-- lab-validate:end --> of this markdown file',
    }),
    raw: Flags.string({helpValue: 'FILE', description: 'write every number as JSON to this file'}),
    costs: replayFlags.costs,
    calibrate: Flags.boolean({
      default: true,
      allowNo: true,
      description:
        "fit each trace's cost table to its own mmap_lock holds (vmareplay calibrate) before replaying it; --no-calibrate replays with the default table",
    }),
    json: jsonFlag,
    csv: Flags.boolean({description: 'print the comparisons as CSV', exclusive: ['json']}),
  }

  public async run(): Promise<void> {
    const {args, flags} = await this.parse(LabValidate)
    const costs = loadCosts(flags.costs)
    const doc = flags['write-doc']
    if (doc !== undefined && !fs.existsSync(doc)) throw new UserError(`--write-doc ${doc}: no such file`)
    const tmp = flags.db === undefined ? fs.mkdtempSync(path.join(tmpdir(), 'vmareplay-lab-validate-')) : null
    const dbPath = flags.db ?? path.join(tmp!, 'lab.db')
    const bar = progressBar('lab validate')
    let result
    try {
      const db = openDb(dbPath)
      try {
        result = await validateSuite({
          suiteDir: args.suite,
          db,
          dbPath,
          workloads: flags.workload
            ?.split(',')
            .map((s) => s.trim())
            .filter(Boolean),
          runs: flags.runs,
          costs,
          calibrate: flags.calibrate,
          toolVersion: TOOL_VERSION,
          onProgress: (d, t) => bar.update(d, t),
        })
      } finally {
        bar.stop()
        db.close()
      }
    } finally {
      if (tmp !== null) fs.rmSync(tmp, {recursive: true, force: true})
    }
    if (doc !== undefined) {
      const next = rewriteSection(fs.readFileSync(doc, 'utf8'), renderMarkdown(result))
      if (typeof next !== 'string') throw new UserError(`--write-doc ${doc}: ${next.error}`)
      fs.writeFileSync(doc, next)
    }
    if (flags.raw !== undefined) fs.writeFileSync(flags.raw, json(result) + '\n')
    if (flags.json) this.log(json(result))
    else if (flags.csv) process.stdout.write(csv(result.comparisons.map(comparisonCsvRow)))
    else {
      this.log(table(result.faithful.map(faithfulRow)))
      this.log(table(result.comparisons.map(comparisonRow)))
      this.log(
        Object.entries(verdictSummary(result))
          .map(([v, n]) => `${v}: ${n}`)
          .join(', ') + ' (cross pairs)',
      )
    }
  }
}
