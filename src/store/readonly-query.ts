// Read-only SQL for `vmareplay query`: the connection is opened read-only and query_only, and statements that
// change the connection rather than the file (ATTACH, DETACH, PRAGMA, VACUUM INTO) or load code are refused.
import type {Db} from './db.js'
import {StoreError} from '../base/errors.js'

const REFUSED_FIRST_WORD = /^\s*(?:(?:--[^\n]*\n|\/\*[\s\S]*?\*\/)\s*)*(attach|detach|pragma|vacuum|reindex|analyze)\b/i
const REFUSED_FUNCTION = /\b(load_extension|readfile|writefile|edit|fts3_tokenizer)\s*\(/i

export function prepareReadOnly(db: Db, sql: string) {
  const first = REFUSED_FIRST_WORD.exec(sql)
  if (first !== null) throw new StoreError(`query is read-only: ${first[1]!.toUpperCase()} is not allowed; use SELECT (or WITH … SELECT)`, 2)
  const fn = REFUSED_FUNCTION.exec(sql)
  if (fn !== null) throw new StoreError(`query is read-only: ${fn[1]}() is not allowed`, 2)
  db.pragma('query_only = 1')
  let stmt
  try {
    stmt = db.prepare(sql)
  } catch (error) {
    throw new StoreError(`SQL error: ${(error as Error).message}`, 2)
  }
  if (!stmt.readonly) throw new StoreError('query is read-only: this statement would write; use SELECT (or WITH … SELECT)', 2)
  if (!stmt.reader) throw new StoreError('query returns no rows: use SELECT (or WITH … SELECT)', 2)
  return stmt
}
