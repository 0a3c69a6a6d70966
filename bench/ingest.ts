// Ingest throughput of one trace end to end into SQLite, beside two floors measured in the same run: the time
// `wc -l` takes to read the same text, and SQLite's own insert of the same events rows (nothing parsed or bound).
// A compressed trace is decompressed first, untimed: the targets (#17) are for plain text.
import {execFileSync, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'
import {openDb} from '../src/store/db.js'
import {loadTrace} from '../src/ingest/load.js'
import {PeakRss} from './rss.js'

export interface IngestBench {
  file: string
  events: number
  /** lines of text (traces.lines) */
  lines: number
  seconds: number
  eventsPerSec: number
  mbPerSec: number
  textBytes: number
  peakRssMb: number
  wcSeconds: number
  /** seconds SQLite takes to insert the ingested events rows into an empty database in one INSERT … SELECT */
  bareInsertSeconds: number
}

/** Seconds `wc -l` needs for the decompressed text (the floor: reading the lines and nothing else). */
function wcSeconds(path: string): number {
  const start = process.hrtime.bigint()
  const cmd = path.endsWith('.gz') ? `gzip -dc '${path}' | wc -l` : `wc -l < '${path}'`
  spawnSync('bash', ['-c', cmd], {stdio: 'ignore'})
  return Number(process.hrtime.bigint() - start) / 1e9
}

/** Seconds for SQLite alone to copy the trace's events rows into the same table of a new database. */
function bareInsertSeconds(dir: string, dbPath: string): number {
  const db = openDb(join(dir, 'bare.db'))
  try {
    db.prepare('ATTACH DATABASE ? AS src').run(dbPath)
    db.exec('INSERT INTO main.traces SELECT * FROM src.traces') // the rows' foreign key, checked as in ingest
    const start = process.hrtime.bigint()
    db.exec('BEGIN; INSERT INTO main.events SELECT * FROM src.events; COMMIT')
    return Number(process.hrtime.bigint() - start) / 1e9
  } finally {
    db.close()
    rmSync(join(dir, 'bare.db'), {force: true})
  }
}

export async function benchIngest(given: string): Promise<IngestBench & {dbPath: string; traceId: number}> {
  const dir = mkdtempSync(join(tmpdir(), 'vmareplay-bench-'))
  const dbPath = join(dir, 'bench.db')
  const path = given.endsWith('.xz') ? join(dir, basename(given, '.xz')) : given
  if (path !== given) execFileSync('bash', ['-c', `xz -dc '${given}' > '${path}'`])
  const db = openDb(dbPath)
  const rss = new PeakRss()
  const start = process.hrtime.bigint()
  const r = await loadTrace(db, path, {toolVersion: 'bench'})
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  const peak = rss.stop()
  db.close()
  if (r.status !== 'ingested') throw new Error('bench database was not empty')
  const textBytes = statSync(path).size
  const check = openDb(dbPath)
  const lines = check.prepare('SELECT lines FROM traces WHERE trace_id = ?').pluck().get(r.summary.traceId) as number
  check.close()
  const wc = wcSeconds(path)
  const bare = bareInsertSeconds(dir, dbPath)
  if (path !== given) rmSync(path)
  return {
    file: path,
    events: r.summary.events,
    lines,
    seconds,
    eventsPerSec: r.summary.events / seconds,
    mbPerSec: textBytes / 1e6 / seconds,
    textBytes,
    peakRssMb: peak,
    wcSeconds: wc,
    bareInsertSeconds: bare,
    dbPath,
    traceId: r.summary.traceId,
  }
}

export function cleanup(dbPath: string): void {
  rmSync(join(dbPath, '..'), {recursive: true, force: true})
}
