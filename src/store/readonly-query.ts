// Read-only SQL for `vmareplay query`: the connection is opened read-only and query_only, and statements that
// change the connection rather than the file (ATTACH, DETACH, PRAGMA, VACUUM INTO) or load code are refused.
import type {Db} from './db.js'
import {StoreError} from '../base/errors.js'

const REFUSED_FIRST_WORD = /^\s*(?:(?:--[^\n]*\n|\/\*[\s\S]*?\*\/)\s*)*(attach|detach|pragma|vacuum|reindex|analyze)\b/i
const REFUSED_FUNCTION = /\b(load_extension|readfile|writefile|edit|fts3_tokenizer)\s*\(/i

export function prepareReadOnly(db: Db, sql: string) {
  const first = REFUSED_FIRST_WORD.exec(sql)
  if (first !== null)
    throw new StoreError(
      `query is read-only: ${first[1]!.toUpperCase()} is not allowed; use SELECT (or WITH … SELECT)`,
      2,
    )
  const fn = REFUSED_FUNCTION.exec(sql)
  if (fn !== null) throw new StoreError(`query is read-only: ${fn[1]}() is not allowed`, 2)
  db.pragma('query_only = 1')
  let stmt
  try {
    stmt = db.prepare(sql)
  } catch (error) {
    throw new StoreError(`SQL error: ${(error as Error).message}`, 2)
  }
  if (!stmt.readonly)
    throw new StoreError('query is read-only: this statement would write; use SELECT (or WITH … SELECT)', 2)
  if (!stmt.reader) throw new StoreError('query returns no rows: use SELECT (or WITH … SELECT)', 2)
  return stmt
}

/** One statement of a script: its text (without the `;`) and the line it starts on (1-based). */
export interface ScriptStatement {
  sql: string
  line: number
}

/**
 * Splits an SQL script at the `;` that end statements, as sqlite3 reads a file: semicolons inside string
 * literals, quoted identifiers and comments do not count. Statements that are only comments or blank are dropped.
 */
export function splitStatements(script: string): ScriptStatement[] {
  const out: ScriptStatement[] = []
  let start = 0
  let line = 1
  let startLine = 1
  let code = false // the current statement has something besides comments and blanks
  const push = (end: number): void => {
    if (code) out.push({sql: script.slice(start, end).trim(), line: startLine})
    code = false
  }
  for (let i = 0; i < script.length; i++) {
    const c = script[i]!
    if (c === '\n') {
      line++
      continue
    }
    if (c === '-' && script[i + 1] === '-') {
      const nl = script.indexOf('\n', i)
      i = (nl < 0 ? script.length : nl) - 1
      continue
    }
    if (c === '/' && script[i + 1] === '*') {
      const end = script.indexOf('*/', i + 2)
      const stop = end < 0 ? script.length : end + 2
      for (let k = i; k < stop; k++) if (script[k] === '\n') line++
      i = stop - 1
      continue
    }
    if (c === ';') {
      push(i)
      start = i + 1
      startLine = line
      continue
    }
    if (/\s/.test(c)) continue
    if (!code) {
      code = true
      startLine = line
      start = i
    }
    const close = c === "'" || c === '"' || c === '`' ? c : c === '[' ? ']' : null
    if (close !== null) {
      // a quoted literal or identifier; a doubled quote inside it is an escaped quote
      let k = i + 1
      for (; k < script.length; k++) {
        if (script[k] === '\n') line++
        if (script[k] === close) {
          if (close !== ']' && script[k + 1] === close) k++
          else break
        }
      }
      i = k
    }
  }
  push(script.length)
  return out
}
