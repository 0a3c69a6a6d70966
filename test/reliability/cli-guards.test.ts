// The CLI's guards on the database: `query` is read-only (exit 2, the message says so) and a database from a
// newer vmareplay is refused by every command (exit 3). test/store/db.test.ts covers the library functions.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {openDb} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'
import {SCHEMA_VERSION} from '../../src/store/schema.js'
import {assertHandled, fingerprint, integrity, PY_SMALL, tmp} from './helpers.js'
import {cliAsync} from '../cli.js'

const dir = tmp('guards')

test('query through the CLI refuses every write, attach, pragma and extension attempt: exit 2, "read-only", database unchanged', async () => {
  const path = join(dir, 'q.db')
  const db = openDb(path)
  await loadTrace(db, PY_SMALL, {toolVersion: 'test'})
  db.close()
  const before = fingerprint(path, 1)
  const attempts = [
    'INSERT INTO traces (path) VALUES (1)',
    'DELETE FROM events',
    'UPDATE traces SET path = 1',
    'DROP TABLE events',
    'DROP VIEW fault_outcomes',
    'CREATE TABLE t (x)',
    'CREATE TEMP TABLE t (x)',
    'CREATE INDEX i ON events(tid)',
    `ATTACH DATABASE '${join(dir, 'other.db')}' AS o`,
    '  /* sneaky */ attach database ":memory:" as m',
    ' -- comment\nATTACH ":memory:" AS m', // leading space: oclif would take a leading -- for a flag
    'DETACH DATABASE main',
    'PRAGMA user_version = 7',
    'PRAGMA query_only = 0',
    'pragma journal_mode = delete',
    'PRAGMA writable_schema = 1',
    "SELECT load_extension('/tmp/evil.so')",
    "select LOAD_EXTENSION ('/tmp/evil.so', 'init')",
    `VACUUM INTO '${join(dir, 'copy.db')}'`,
    'VACUUM',
    'REINDEX',
    'ANALYZE',
    'WITH x AS (SELECT 1) INSERT INTO traces (path) SELECT * FROM x',
    'BEGIN IMMEDIATE',
    'SELECT 1; DELETE FROM events',
    'REPLACE INTO traces (trace_id, path) VALUES (1, 2)',
    'INSERT INTO traces DEFAULT VALUES RETURNING trace_id',
  ]
  // run a few at a time (each is a process)
  const results: {sql: string; code: number | null; err: string}[] = []
  for (let i = 0; i < attempts.length; i += 4)
    results.push(
      ...(await Promise.all(
        attempts.slice(i, i + 4).map(async (sql) => ({sql, ...(await cliAsync('query', '--db', path, sql))})),
      )),
    )
  for (const r of results) {
    assertHandled({code: r.code, signal: null, out: '', err: r.err}, `query ${JSON.stringify(r.sql)}`, [2])
    assert.match(r.err, /read-only|returns no rows|more than one statement/, `${r.sql}: ${r.err}`)
  }
  const d = new Database(path, {readonly: true})
  assert.equal(d.pragma('user_version', {simple: true}), SCHEMA_VERSION)
  d.close()
  assert.deepEqual(fingerprint(path, 1), before)
  assert.equal(integrity(path), 'ok')
  const ok = await cliAsync('query', '--db', path, '--json', "SELECT count(*) AS n FROM pragma_table_info('events')")
  assert.equal(ok.code, 0, ok.err)
})

test('a database with a newer schema version is refused by every command with exit 3 and a clear message', async () => {
  const path = join(dir, 'newer.db')
  openDb(path).close()
  const raw = new Database(path)
  raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
  raw.close()
  const runs = await Promise.all([
    cliAsync('query', '--db', path, 'SELECT 1'),
    cliAsync('ingest', PY_SMALL, '--db', path),
    cliAsync('replay', '--db', path),
    cliAsync('traces', '--db', path),
    cliAsync('report', 'contention', '--db', path),
  ])
  for (const r of runs) {
    assertHandled(r, 'command on a newer database', [3])
    assert.match(r.err, /newer than this vmareplay/)
  }
  const d = new Database(path, {readonly: true})
  assert.equal(d.pragma('user_version', {simple: true}), SCHEMA_VERSION + 1, 'the newer database is not modified')
  d.close()
})
