// Any table or view of the database as RFC 4180 CSV, streamed row by row; integers stay exact (ns, addresses).
import type {Db} from '../store/db.js'
import {UserError} from '../base/errors.js'
import {csvLine} from '../report/output.js'
import type {Sink} from './sink.js'

/** The tables and views of the database (sqlite_master), internal ones excluded. */
export function tableNames(db: Db): string[] {
  return db
    .prepare(
      `SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name`,
    )
    .pluck()
    .all() as string[]
}

export interface CsvExportOptions {
  table: string
  runId?: number
  traceId?: number
}

/** Validates the table name against sqlite_master and the filters against its columns; returns the SELECT. */
export function csvQuery(db: Db, opts: CsvExportOptions): {sql: string; params: number[]} {
  const names = tableNames(db)
  if (!names.includes(opts.table))
    throw new UserError(`--table ${opts.table}: no such table or view; one of: ${names.join(', ')}`)
  const cols = db.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(opts.table) as string[]
  const where: string[] = []
  const params: number[] = []
  if (opts.runId !== undefined) {
    if (!cols.includes('run_id')) throw new UserError(`--run: table ${opts.table} has no run_id column`)
    where.push('run_id = ?')
    params.push(opts.runId)
  }
  if (opts.traceId !== undefined) {
    if (!cols.includes('trace_id')) throw new UserError(`--trace: table ${opts.table} has no trace_id column`)
    where.push('trace_id = ?')
    params.push(opts.traceId)
  }
  // the name is one of sqlite_master's, quoted as an identifier
  return {
    sql: `SELECT * FROM "${opts.table.replaceAll('"', '""')}"${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}`,
    params,
  }
}

export async function exportCsv(db: Db, sink: Sink, opts: CsvExportOptions): Promise<number> {
  const {sql, params} = csvQuery(db, opts)
  const stmt = db.prepare(sql).safeIntegers(true)
  sink.push(csvLine(stmt.columns().map((c) => c.name)))
  let n = 0
  for (const row of stmt.raw(true).iterate(...params) as Iterable<unknown[]>) {
    n++
    if (sink.push(csvLine(row))) await sink.flush()
  }
  await sink.flush()
  return n
}
