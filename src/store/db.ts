// Opening the vmareplay database: WAL, schema version checks, and the read-only mode `query` uses.
import Database from 'better-sqlite3'
import {existsSync, statSync} from 'node:fs'
import {StoreError} from '../base/errors.js'
import {MIGRATIONS, SCHEMA_VERSION, schemaSql} from './schema.js'

export type Db = Database.Database

const BUSY_TIMEOUT_MS = 5000
const PAGE_SIZE = 16384

/** Opens (creating if needed) a database for writing: WAL so readers can query while ingest or replay writes. */
export function openDb(path: string): Db {
  if (existsSync(path) && statSync(path).isDirectory())
    throw new StoreError(`--db ${path} is a directory; give a file path`)
  let db: Db
  try {
    db = new Database(path, {timeout: BUSY_TIMEOUT_MS})
  } catch (error) {
    throw new StoreError(`cannot open database ${path}: ${(error as Error).message}`)
  }
  try {
    // A new file gets 16 KiB pages (a WAL database cannot change it later): an ingest writes every page twice (WAL,
    // then checkpoint), and a quarter of the page writes costs less kernel time than 4 KiB pages (docs/benchmarks.md).
    if ((db.pragma('page_count', {simple: true}) as number) === 0) db.pragma(`page_size = ${PAGE_SIZE}`)
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.pragma('foreign_keys = ON')
    ensureSchema(db, path)
  } catch (error) {
    db.close()
    if (error instanceof StoreError) throw error
    throw new StoreError(`${path} is not a usable vmareplay database: ${(error as Error).message}`)
  }
  return db
}

/** Opens an existing database read-only; the connection itself cannot write, attach or load extensions. */
export function openDbReadOnly(path: string): Db {
  if (!existsSync(path))
    throw new StoreError(`no database at ${path}: run \`vmareplay ingest <trace> --db ${path}\` first`, 2)
  let db: Db
  try {
    db = new Database(path, {readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS})
  } catch (error) {
    throw new StoreError(`cannot open database ${path}: ${(error as Error).message}`)
  }
  let version: number
  try {
    version = checkVersion(db, path)
  } catch (error) {
    db.close()
    throw error
  }
  if (version > 0 && version < SCHEMA_VERSION) {
    // written by an older vmareplay: migrate it (a write, once), then read it as this version's schema
    db.close()
    try {
      openDb(path).close()
    } catch (error) {
      throw new StoreError(
        `${path} was written by an older vmareplay (schema ${version}) and must be migrated to schema ${SCHEMA_VERSION} before it can be read, which failed: ${(error as Error).message}; make it writable, or ingest the trace into a new --db`,
      )
    }
    return openDbReadOnly(path)
  }
  return db
}

function checkVersion(db: Db, path: string): number {
  const version = db.pragma('user_version', {simple: true}) as number
  if (version > SCHEMA_VERSION)
    throw new StoreError(
      `${path} has schema version ${version}, newer than this vmareplay understands (${SCHEMA_VERSION}); upgrade vmareplay or use another --db`,
    )
  if (version === 0) {
    const tables = db.prepare(`SELECT count(*) AS n FROM sqlite_master`).get() as {n: number}
    if (tables.n > 0) throw new StoreError(`${path} is an SQLite file but not a vmareplay database; use another --db`)
  }
  return version
}

function ensureSchema(db: Db, path: string): void {
  const version = checkVersion(db, path)
  if (version === SCHEMA_VERSION) return
  // A migration rewrites tables other rows reference: the foreign-key switch only takes effect outside a transaction.
  if (version > 0) db.pragma('foreign_keys = OFF')
  // Two processes may create or migrate the same file at once: re-read the version inside the write lock.
  db.exec('BEGIN IMMEDIATE')
  try {
    const now = db.pragma('user_version', {simple: true}) as number
    if (now === 0) db.exec(schemaSql())
    else for (let v = now; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!)
    db.pragma(`user_version = ${SCHEMA_VERSION}`)
    db.exec('COMMIT')
  } catch (error) {
    db.exec('ROLLBACK')
    throw error
  } finally {
    db.pragma('foreign_keys = ON')
  }
}
