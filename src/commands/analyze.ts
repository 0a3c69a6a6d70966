import {Args, Flags} from '@oclif/core'
import {BaseCommand, jsonFlag} from '../cli/base.js'
import {progressBar} from '../cli/progress.js'
import {loadCosts, replayFlags, replayWithFlags, resolvePolicies} from '../cli/replay-flags.js'
import {TOOL_VERSION} from '../cli/version.js'
import {openDb, openDbReadOnly} from '../store/db.js'
import {loadTrace} from '../ingest/load.js'
import type {RunSummary} from '../replay/run.js'
import {selectRuns} from '../report/runs.js'
import {contentionReport} from '../report/contention.js'
import {renderContention} from '../report/text.js'
import {json} from '../report/output.js'
import {prepareStatements, renderResults, runStatements} from '../cli/query-output.js'
import {splitStatements} from '../store/readonly-query.js'

export default class Analyze extends BaseCommand {
  static override description = `Ingest a trace, replay it under several locking policies and print the contention report.

The main job in one command. The database goes beside the trace (TRACE.vmareplay.db) unless --db is given;
query it afterwards with \`vmareplay query\`, \`report contention\`, \`compare\` or \`export\`.`

  static override examples = [
    '<%= config.bin %> analyze traces/py_threads_small.trace.txt',
    '<%= config.bin %> analyze app.trace.txt.xz --policy v6.4,v6.18,spf --mode what-if',
    '<%= config.bin %> analyze node.trace.txt --maps 4242=node.maps --db node.db --json',
    `<%= config.bin %> analyze trace.dat --query "SELECT policy, count(*) FROM fault_outcomes WHERE path = 'mmap_lock' GROUP BY 1"`,
  ]

  static override args = {
    traces: Args.string({
      description: 'trace files (ftrace, perf script or CSV; plain, .gz, .xz; or trace.dat)',
      required: true,
    }),
  }
  static override strict = false

  static override flags = {
    db: Flags.string({description: 'database file (default: beside the first trace, TRACE.vmareplay.db)'}),
    policy: Flags.string({
      description: 'comma-separated policies (see `vmareplay policies`)',
      default: 'mmap-lock,v6.4,v6.18,ideal',
    }),
    ...replayFlags,
    maps: Flags.string({description: '/proc/PID/maps snapshot taken when tracing began, as PID=FILE', multiple: true}),
    top: Flags.integer({description: 'rows in the report tables', default: 10, min: 1}),
    query: Flags.string({
      description:
        'read-only SQL to run after the replay, printed with its result (repeatable; `;` separates statements)',
      multiple: true,
    }),
    json: jsonFlag,
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Analyze)
    const paths = argv as string[]
    const policies = resolvePolicies(flags.policy, flags['policy-file'], 'mmap-lock,v6.4,v6.18,ideal')
    const costs = loadCosts(flags.costs)
    const maps = (flags.maps ?? []).map((v) => {
      const [pid, file] = v.split('=')
      return {pid: Number(pid), file: file ?? ''}
    })
    const dbPath = flags.db ?? `${paths[0]!.replace(/\.(gz|xz)$/, '')}.vmareplay.db`
    const db = openDb(dbPath)
    const statements = (flags.query ?? []).flatMap(splitStatements)
    if (statements.length > 0) {
      // a bad query fails now, not after the ingest and replay it would print after
      const check = openDbReadOnly(dbPath)
      try {
        prepareStatements(check, statements, '--query')
      } catch (error) {
        db.close()
        throw error
      } finally {
        check.close()
      }
    }
    const runs: RunSummary[] = []
    try {
      for (const path of paths) {
        const bar = progressBar(`ingest ${path}`)
        let loaded
        try {
          loaded = await loadTrace(db, path, {
            toolVersion: TOOL_VERSION,
            maps: maps.length > 0 ? maps : undefined,
            onProgress: (d, t) => bar.update(d, t),
          })
        } finally {
          bar.stop()
        }
        const traceId = loaded.status === 'duplicate' ? loaded.traceId : loaded.summary.traceId
        runs.push(
          ...replayWithFlags(
            (m) => this.warn(m),
            {dbPath, db, traceId},
            policies,
            flags,
            costs,
            `replay ${policies.map((p) => p.name).join(',')}`,
          ),
        )
      }
    } finally {
      db.close()
    }
    const ro = openDbReadOnly(dbPath)
    try {
      const report = contentionReport(ro, selectRuns(ro, dbPath, {runs: runs.map((r) => r.runId)}), flags.top)
      const queries = runStatements(ro, statements, '--query')
      if (flags.json) this.log(json({db: dbPath, runs, report, ...(flags.query === undefined ? {} : {queries})}))
      else {
        this.log(renderContention(report, flags.top))
        if (queries.length > 0) this.log(`\nQueries\n\n${renderResults(queries, 'table')}`)
        this.log(
          `\ndatabase: ${dbPath} (runs ${runs.map((r) => r.runId).join(', ')}); next: vmareplay compare --db ${dbPath}`,
        )
      }
    } finally {
      ro.close()
    }
  }
}
