// Loads one trace file into the database atomically: everything in one transaction, rolled back on any error or
// interruption, so a failed or killed ingest leaves the database exactly as it was.
import {createHash} from 'node:crypto'
import {createReadStream, existsSync, readFileSync, statSync} from 'node:fs'
import {resolve} from 'node:path'
import type {Db} from './db.js'
import {TraceWriter, type IngestSummary} from './ingest.js'
import {parseTrace, type ParseOptions} from '../parse/detect.js'
import {readMapsFile} from '../parse/maps.js'
import {outputPaths} from '../capture/output.js'
import type {TraceFormat} from '../model/events.js'

export interface LoadOptions {
  format?: TraceFormat
  strict?: boolean
  maps?: {pid: number; file: string}[]
  onProgress?: ParseOptions['onProgress']
  toolVersion: string
}

export type LoadResult = {status: 'ingested'; path: string; summary: IngestSummary} | {status: 'duplicate'; path: string; traceId: number}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** `vmareplay capture` saves FILE.meta.json beside a trace with the kernel it was recorded on. */
function captureMeta(path: string): {kernelVersion?: string} | null {
  const {meta} = outputPaths(path.replace(/\.(gz|xz)$/, ''))
  if (!existsSync(meta)) return null
  try {
    const m = JSON.parse(readFileSync(meta, 'utf8')) as {kernel?: {release?: string}}
    return {kernelVersion: m.kernel?.release}
  } catch {
    return null
  }
}

/** An attach-mode capture's snapshot saved beside the trace (FILE.maps), used when --maps is not given. */
function sidecarMaps(path: string, pids: number[]): {pid: number; file: string}[] {
  const {maps} = outputPaths(path.replace(/\.(gz|xz)$/, ''))
  return pids.length === 1 && existsSync(maps) ? [{pid: pids[0]!, file: maps}] : []
}

export async function loadTrace(db: Db, path: string, opts: LoadOptions): Promise<LoadResult> {
  const abs = resolve(path)
  const size = statSync(abs).size
  const sha = await sha256File(abs)
  const dup = db.prepare('SELECT trace_id FROM traces WHERE sha256 = ?').get(sha) as {trace_id: number} | undefined
  if (dup !== undefined) return {status: 'duplicate', path: abs, traceId: dup.trace_id}
  db.exec('BEGIN IMMEDIATE')
  try {
    const {lastInsertRowid} = db
      .prepare(
        `INSERT INTO traces (path, format, sha256, size_bytes, lines, events, faults, kernel_faults, malformed_lines,
           unknown_events, lost_events, lost_windows, monotonic, warnings, ingested_by)
         VALUES (?, '?', ?, ?, 0, 0, 0, 0, 0, 0, 0, 0, 1, '[]', ?)`,
      )
      .run(abs, sha, size, opts.toolVersion)
    const writer = new TraceWriter(db, Number(lastInsertRowid), opts.strict ?? false)
    const stats = await parseTrace(abs, writer, {format: opts.format, onProgress: opts.onProgress})
    for (const m of opts.maps ?? sidecarMaps(abs, writer.snapshotPids())) {
      const {entries, problems} = await readMapsFile(m.file)
      for (const p of problems) writer.warn(`${m.file}:${p.line}: ${p.reason}`)
      writer.addInitialMaps(m.pid, entries, `maps:${resolve(m.file)}`, writer.snapshotTime(m.pid))
    }
    const captured = captureMeta(abs)
    if (captured?.kernelVersion !== undefined) writer.meta('kernel_version', captured.kernelVersion)
    const summary = writer.finish(stats.format, stats.lines)
    db.exec('COMMIT')
    return {status: 'ingested', path: abs, summary}
  } catch (error) {
    db.exec('ROLLBACK')
    throw error
  }
}
