// Read-only SQL statements run for `query -f FILE` and `analyze --query`, each printed with its result: as a
// table under its statement (as sqlite3 prints a script with `.echo on`), as JSON, or as CSV blocks.
import type {Db} from '../store/db.js'
import {StoreError} from '../base/errors.js'
import {prepareReadOnly, type ScriptStatement} from '../store/readonly-query.js'
import {csv, json, table} from '../report/output.js'

export interface QueryResult {
  sql: string
  line: number
  columns: string[]
  rows: Record<string, unknown>[]
}

/** Prepares every statement, so a bad one fails before any runs, naming its number and line. */
export function prepareStatements(db: Db, statements: ScriptStatement[], source: string) {
  return statements.map((s, i) => {
    try {
      const stmt = prepareReadOnly(db, s.sql)
      stmt.safeIntegers(true)
      return stmt
    } catch (error) {
      const where = statements.length === 1 && s.line === 1 ? source : `${source}: statement ${i + 1} (line ${s.line})`
      throw new StoreError(`${where}: ${(error as Error).message}`, 2)
    }
  })
}

/** Prepares every statement first (prepareStatements), then runs them in order. 64-bit integers stay exact. */
export function runStatements(db: Db, statements: ScriptStatement[], source: string): QueryResult[] {
  return prepareStatements(db, statements, source).map((stmt, i) => {
    try {
      return {
        sql: statements[i]!.sql,
        line: statements[i]!.line,
        columns: stmt.columns().map((c) => c.name),
        rows: stmt.all() as Record<string, unknown>[],
      }
    } catch (error) {
      throw new StoreError(
        `${source}: statement ${i + 1} (line ${statements[i]!.line}): SQL error: ${(error as Error).message}`,
        2,
      )
    }
  })
}

/** Each statement then its rows (tables), a JSON array of {sql, line, columns, rows}, or CSV blocks split by a blank line. */
export function renderResults(results: QueryResult[], format: 'table' | 'json' | 'csv'): string {
  if (format === 'json') return json(results)
  if (format === 'csv') return results.map((r) => csv(r.rows, r.columns)).join('\r\n')
  return results
    .map((r) => `${r.sql};\n${table(r.rows, r.columns)}\n(${r.rows.length} row${r.rows.length === 1 ? '' : 's'})`)
    .join('\n\n')
}
