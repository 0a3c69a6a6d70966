import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync, mkdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {StoreError} from '../../src/base/errors.js'
import {openDb, openDbReadOnly} from '../../src/store/db.js'
import {SCHEMA_VERSION} from '../../src/store/schema.js'
import {prepareReadOnly} from '../../src/store/readonly-query.js'

const tmp = (): string => mkdtempSync(join(tmpdir(), 'vmareplay-db-'))

test('a new database gets the schema, WAL mode and the schema version', () => {
  const path = join(tmp(), 'a.db')
  const db = openDb(path)
  assert.equal(db.pragma('journal_mode', {simple: true}), 'wal')
  assert.equal(db.pragma('user_version', {simple: true}), SCHEMA_VERSION)
  const names = (
    db.prepare(`SELECT name FROM sqlite_master WHERE type IN ('table','view')`).all() as {name: string}[]
  ).map((r) => r.name)
  for (const t of [
    'traces',
    'events',
    'threads',
    'processes',
    'mms',
    'syscalls',
    'initial_maps',
    'lost_windows',
    'parse_problems',
    'ev_fault_user',
    'ev_lock_acquire',
  ])
    assert.ok(names.includes(t), `missing ${t}`)
  db.close()
  openDb(path).close() // reopening an up-to-date database is fine
})

test('a database from a newer vmareplay is refused with a clear error', () => {
  const path = join(tmp(), 'new.db')
  const raw = new Database(path)
  raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
  raw.exec('CREATE TABLE x (y)')
  raw.close()
  assert.throws(
    () => openDb(path),
    (e: Error) => e instanceof StoreError && /newer than this vmareplay/.test(e.message),
  )
  assert.throws(() => openDbReadOnly(path), /newer than this vmareplay/)
})

test('a foreign SQLite file and a directory are refused', () => {
  const dir = tmp()
  const path = join(dir, 'foreign.db')
  const raw = new Database(path)
  raw.exec('CREATE TABLE customers (id)')
  raw.close()
  assert.throws(() => openDb(path), /not a vmareplay database/)
  mkdirSync(join(dir, 'd'))
  assert.throws(() => openDb(join(dir, 'd')), /is a directory/)
  writeFileSync(join(dir, 'junk.db'), 'this is not sqlite at all, just text padding '.repeat(200))
  assert.throws(() => openDb(join(dir, 'junk.db')), StoreError)
})

test('read-only open of a missing database says how to create one', () => {
  assert.throws(() => openDbReadOnly(join(tmp(), 'none.db')), /run `vmareplay ingest/)
})

test('query refuses every statement that writes, attaches, changes pragmas or loads code', () => {
  const path = join(tmp(), 'q.db')
  openDb(path).close()
  const db = openDbReadOnly(path)
  const attempts = [
    'INSERT INTO traces (path) VALUES (1)',
    'DELETE FROM events',
    'UPDATE traces SET path = 1',
    'DROP TABLE events',
    'CREATE TABLE t (x)',
    `ATTACH DATABASE '${join(tmp(), 'other.db')}' AS o`,
    '  /* sneaky */ attach database ":memory:" as m',
    'DETACH DATABASE main',
    'PRAGMA user_version = 7',
    'PRAGMA query_only = 0',
    'pragma journal_mode = delete',
    "SELECT load_extension('/tmp/evil.so')",
    `VACUUM INTO '${join(tmp(), 'copy.db')}'`,
    'REINDEX',
    'ANALYZE',
    'WITH x AS (SELECT 1) INSERT INTO traces (path) SELECT * FROM x',
    'BEGIN IMMEDIATE',
    'SELECT 1; DELETE FROM events',
  ]
  for (const sql of attempts) assert.throws(() => prepareReadOnly(db, sql).all(), StoreError, sql)
  assert.equal(db.pragma('user_version', {simple: true}), SCHEMA_VERSION)
  assert.deepEqual(prepareReadOnly(db, 'SELECT count(*) AS n FROM events').get(), {n: 0})
  assert.ok(prepareReadOnly(db, "SELECT * FROM pragma_table_info('events')").all().length > 10)
  db.close()
})
