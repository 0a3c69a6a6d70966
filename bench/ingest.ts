// Ingest throughput of one trace end to end into SQLite, beside the time `wc -l` takes to read the same text.
import {execFileSync, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {openDb} from '../src/store/db.js'
import {loadTrace} from '../src/ingest/load.js'
import {PeakRss} from './rss.js'

export interface IngestBench {
  file: string
  events: number
  seconds: number
  eventsPerSec: number
  mbPerSec: number
  textBytes: number
  peakRssMb: number
  wcSeconds: number
}

/** Seconds `wc -l` needs for the decompressed text (the floor: reading the lines and nothing else). */
function wcSeconds(path: string): number {
  const start = process.hrtime.bigint()
  const cmd = path.endsWith('.xz')
    ? `xz -dc '${path}' | wc -l`
    : path.endsWith('.gz')
      ? `gzip -dc '${path}' | wc -l`
      : `wc -l < '${path}'`
  spawnSync('bash', ['-c', cmd], {stdio: 'ignore'})
  return Number(process.hrtime.bigint() - start) / 1e9
}

export async function benchIngest(path: string): Promise<IngestBench & {dbPath: string; traceId: number}> {
  const dir = mkdtempSync(join(tmpdir(), 'vmareplay-bench-'))
  const dbPath = join(dir, 'bench.db')
  const db = openDb(dbPath)
  const rss = new PeakRss()
  const start = process.hrtime.bigint()
  const r = await loadTrace(db, path, {toolVersion: 'bench'})
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  const peak = rss.stop()
  db.close()
  if (r.status !== 'ingested') throw new Error('bench database was not empty')
  const textBytes = path.endsWith('.xz')
    ? Number(
        execFileSync('bash', ['-c', `xz -dc '${path}' | wc -c`])
          .toString()
          .trim(),
      )
    : statSync(path).size
  return {
    file: path,
    events: r.summary.events,
    seconds,
    eventsPerSec: r.summary.events / seconds,
    mbPerSec: textBytes / 1e6 / seconds,
    textBytes,
    peakRssMb: peak,
    wcSeconds: wcSeconds(path),
    dbPath,
    traceId: r.summary.traceId,
  }
}

export function cleanup(dbPath: string): void {
  rmSync(join(dbPath, '..'), {recursive: true, force: true})
}
