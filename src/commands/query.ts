import {Args, Flags} from '@oclif/core'
import {readFileSync} from 'node:fs'
import {BaseCommand, dbFlag, jsonFlag} from '../cli/base.js'
import {StoreError, UserError} from '../base/errors.js'
import {openDbReadOnly} from '../store/db.js'
import {prepareReadOnly, splitStatements} from '../store/readonly-query.js'
import {csvLine, json, table} from '../report/output.js'
import {renderResults, runStatements} from '../cli/query-output.js'
import {Sink, SinkClosed} from '../export/sink.js'

export default class Query extends BaseCommand {
  static override description = `Run read-only SQL over the database (tables and views are documented in docs/schema.md).

Statements that would write, ATTACH another file, change pragmas or load extensions are refused. With -f FILE
(\`-\` for standard input) every statement of the script runs in order and is printed with its result.`

  static override examples = [
    `<%= config.bin %> query "SELECT name, count FROM event_counts WHERE trace_id = 1 ORDER BY count DESC"`,
    `<%= config.bin %> query "SELECT policy, path, count(*) FROM fault_outcomes GROUP BY 1, 2" --csv > paths.csv`,
    `<%= config.bin %> query "SELECT * FROM ev_fault_user LIMIT 5" --json`,
    '<%= config.bin %> query -f waits.sql',
    `echo "SELECT count(*) FROM runs; SELECT policy FROM runs;" | <%= config.bin %> query -f -`,
  ]

  static override args = {sql: Args.string({description: 'one SELECT statement (or give -f FILE)'})}
  static override flags = {
    db: dbFlag,
    file: Flags.string({
      char: 'f',
      description: 'run every statement of an SQL file (- for standard input), each printed with its result',
    }),
    json: jsonFlag,
    csv: Flags.boolean({
      description: 'print RFC 4180 CSV (with -f: one block per statement, a blank line between)',
      exclusive: ['json'],
    }),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Query)
    // oclif reads a piped standard input into a missing argument: with `-f -` that is the script
    const fromStdin = flags.file === '-'
    if (!fromStdin && (args.sql === undefined) === (flags.file === undefined))
      throw new UserError('give one SELECT statement, or -f FILE with a script of them (see --help)')
    if (flags.file !== undefined) {
      const source = fromStdin ? 'standard input' : flags.file
      let script: string
      try {
        script = fromStdin ? (args.sql ?? readFileSync(0, 'utf8')) : readFileSync(flags.file, 'utf8')
      } catch (error) {
        throw new UserError(`cannot read ${source}: ${(error as Error).message}`)
      }
      const statements = splitStatements(script)
      if (statements.length === 0) throw new UserError(`${source} has no SQL statement`)
      const db = openDbReadOnly(flags.db)
      try {
        const out = renderResults(
          runStatements(db, statements, source),
          flags.json ? 'json' : flags.csv ? 'csv' : 'table',
        )
        if (flags.csv) process.stdout.write(out)
        else this.log(out)
      } finally {
        db.close()
      }
      return
    }
    const db = openDbReadOnly(flags.db)
    try {
      const stmt = prepareReadOnly(db, args.sql!)
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
