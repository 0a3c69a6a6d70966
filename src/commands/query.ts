import {Args, Flags} from '@oclif/core'
import {BaseCommand, dbFlag, jsonFlag} from '../cli/base.js'
import {StoreError} from '../base/errors.js'
import {openDbReadOnly} from '../store/db.js'
import {prepareReadOnly} from '../store/readonly-query.js'
import {csvLine, json, table} from '../report/output.js'
import {Sink, SinkClosed} from '../export/sink.js'

export default class Query extends BaseCommand {
  static override description = `Run read-only SQL over the database (tables and views are documented in docs/schema.md).

Statements that would write, ATTACH another file, change pragmas or load extensions are refused.`

  static override examples = [
    `<%= config.bin %> query "SELECT name, count FROM event_counts WHERE trace_id = 1 ORDER BY count DESC"`,
    `<%= config.bin %> query "SELECT policy, path, count(*) FROM fault_outcomes GROUP BY 1, 2" --csv > paths.csv`,
    `<%= config.bin %> query "SELECT * FROM ev_fault_user LIMIT 5" --json`,
  ]

  static override args = {sql: Args.string({description: 'one SELECT statement', required: true})}
  static override flags = {
    db: dbFlag,
    json: jsonFlag,
    csv: Flags.boolean({description: 'print RFC 4180 CSV', exclusive: ['json']}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Query)
    const db = openDbReadOnly(flags.db)
    try {
      const stmt = prepareReadOnly(db, args.sql)
      stmt.safeIntegers(true) // 64-bit addresses and timestamps stay exact
      const columns = stmt.columns().map((c) => c.name)
      try {
        if (flags.csv) {
          // streamed with backpressure: a million-row table must not pile up in memory; `| head` ends it quietly
          const out = new Sink(process.stdout)
          out.push(csvLine(columns))
          try {
            for (const row of stmt.raw().iterate() as Iterable<unknown[]>) if (out.push(csvLine(row))) await out.flush()
            await out.close()
          } catch (error) {
            if (!(error instanceof SinkClosed)) throw error
          }
        } else {
          const rows = stmt.all() as Record<string, unknown>[]
          this.log(flags.json ? json(rows) : table(rows, columns))
        }
      } catch (error) {
        throw new StoreError(`SQL error: ${(error as Error).message}`, 2)
      }
    } finally {
      db.close()
    }
  }
}
