// Loads one trace file into the database atomically: everything in one transaction, rolled back on any error or
// interruption, so a failed or killed ingest leaves the database exactly as it was.
import type {ThpMode} from '../kernel/index.js'
import {createHash, randomUUID} from 'node:crypto'
import {createReadStream, existsSync, readFileSync, statSync} from 'node:fs'
import {resolve} from 'node:path'
import {Worker} from 'node:worker_threads'
import type {Db} from '../store/db.js'
import {allocate, Slot} from './ingest-slots.js'
import {SlotRing} from '../store/slots.js'
import {TraceWriter, type IngestSummary} from './ingest.js'
import type {WorkerInput, WorkerMessage} from './ingest-worker.js'
import {revive} from '../base/worker-errors.js'
import {EventTracker, type TrackedTrace} from './track.js'
import {parseTrace, type ParseOptions, type ParseStats} from '../parse/detect.js'
import {readMapsFile} from '../parse/maps.js'
import {outputPaths} from '../capture/output.js'
import type {TraceFormat} from '../model/events.js'

export interface LoadOptions {
  format?: TraceFormat
  strict?: boolean
  maps?: {pid: number; file: string}[]
  onProgress?: ParseOptions['onProgress']
  toolVersion: string
  /** Parse on the calling thread instead of a worker (slower: parse and insert then share one core). */
  inProcess?: boolean
}

export type LoadResult =
  {status: 'ingested'; path: string; summary: IngestSummary} | {status: 'duplicate'; path: string; traceId: number}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, {highWaterMark: 1 << 20})) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** `vmareplay capture` saves FILE.meta.json beside a trace with the kernel it was recorded on. */
/** The recording machine's settings that change fault paths, stored as traces.environment. */
export interface TraceEnvironment {
  thp?: ThpMode
  /** CONFIG_BSD_PROCESS_ACCT of the recording kernel */
  bsdProcessAcct?: boolean
}

/** THP mode from /sys/kernel/mm/transparent_hugepage/enabled as printed ("always [madvise] never") or bare. */
export function thpMode(text: string | undefined): ThpMode | null {
  if (text === undefined) return null
  const m = /\[(always|madvise|never)\]/.exec(text) ?? /^\s*(always|madvise|never)\s*$/.exec(text)
  return m === null ? null : (m[1] as ThpMode)
}

function captureMeta(path: string): {kernelVersion?: string; environment?: TraceEnvironment} | null {
  const {meta} = outputPaths(path.replace(/\.(gz|xz)$/, ''))
  if (!existsSync(meta)) return null
  try {
    const m = JSON.parse(readFileSync(meta, 'utf8')) as {
      kernel?: {release?: string}
      environment?: {thp?: {enabled?: string} | string; bsd_process_acct?: boolean | null}
    }
    const thp = thpMode(typeof m.environment?.thp === 'string' ? m.environment.thp : m.environment?.thp?.enabled)
    const acct = m.environment?.bsd_process_acct
    const environment: TraceEnvironment = {
      ...(thp === null ? {} : {thp}),
      ...(typeof acct === 'boolean' ? {bsdProcessAcct: acct} : {}),
    }
    return {
      kernelVersion: m.kernel?.release,
      environment: Object.keys(environment).length === 0 ? undefined : environment,
    }
  } catch {
    return null
  }
}

/** An attach-mode capture's snapshot saved beside the trace (FILE.maps), used when --maps is not given. */
function sidecarMaps(path: string, pids: number[]): {pid: number; file: string}[] {
  const {maps} = outputPaths(path.replace(/\.(gz|xz)$/, ''))
  return pids.length === 1 && existsSync(maps) ? [{pid: pids[0]!, file: maps}] : []
}

/** Page cache for the ingest connection while it writes (KiB, negative as PRAGMA cache_size takes it). */
const INGEST_CACHE_KIB = 32768

export async function loadTrace(db: Db, path: string, opts: LoadOptions): Promise<LoadResult> {
  const abs = resolve(path)
  const size = statSync(abs).size
  // Hashing first would read the whole file before any work starts. Only a stored trace of the same size can be a
  // duplicate, so only then is the file hashed up front; otherwise the parse worker hashes it as it goes.
  let sha: string | null = null
  if (db.prepare('SELECT 1 FROM traces WHERE size_bytes = ? LIMIT 1').get(size) !== undefined) {
    sha = await sha256File(abs)
    const dup = db.prepare('SELECT trace_id FROM traces WHERE sha256 = ?').get(sha) as {trace_id: number} | undefined
    if (dup !== undefined) return {status: 'duplicate', path: abs, traceId: dup.trace_id}
  }
  const cache = db.pragma('cache_size', {simple: true}) as number
  // Every row this transaction writes references the traces row it starts with, so the per-row foreign-key
  // lookups prove nothing; the pragma only takes effect outside a transaction, hence here (restored below).
  const foreignKeys = db.pragma('foreign_keys', {simple: true}) as number
  if (foreignKeys !== 0) db.pragma('foreign_keys = OFF')
  try {
    return await ingest(db, abs, size, sha, opts, cache)
  } finally {
    if (foreignKeys !== 0) db.pragma('foreign_keys = ON')
  }
}

async function ingest(
  db: Db,
  abs: string,
  size: number,
  known: string | null,
  opts: LoadOptions,
  cache: number,
): Promise<LoadResult> {
  let sha = known
  db.exec('BEGIN IMMEDIATE')
  try {
    const {lastInsertRowid} = db
      .prepare(
        `INSERT INTO traces (path, format, sha256, size_bytes, lines, events, faults, kernel_faults, malformed_lines,
           unknown_events, lost_events, lost_windows, monotonic, warnings, ingested_by)
         VALUES (?, '?', ?, ?, 0, 0, 0, 0, 0, 0, 0, 0, 1, '[]', ?)`,
      )
      .run(abs, sha ?? `pending:${process.pid}:${randomUUID()}`, size, opts.toolVersion)
    const traceId = Number(lastInsertRowid)
    const cacheKib = cache < 0 ? -cache : (cache * (db.pragma('page_size', {simple: true}) as number)) / 1024
    if (cacheKib < INGEST_CACHE_KIB) db.pragma(`cache_size = ${-INGEST_CACHE_KIB}`)
    const writer = new TraceWriter(db, traceId)
    const parse = {
      path: abs,
      format: opts.format,
      strict: opts.strict ?? false,
      firstId: writer.firstId,
      hash: sha === null,
      onProgress: opts.onProgress,
    }
    const {stats, tracked, sha256} = opts.inProcess
      ? await parseHere(parse, writer)
      : await parseInWorker(parse, writer)
    if (sha === null) {
      sha = sha256!
      // another process may have committed the same file while this one parsed it (before BEGIN IMMEDIATE)
      const dup = db.prepare('SELECT trace_id FROM traces WHERE sha256 = ?').get(sha) as {trace_id: number} | undefined
      if (dup !== undefined) {
        db.exec('ROLLBACK')
        return {status: 'duplicate', path: abs, traceId: dup.trace_id}
      }
      db.prepare('UPDATE traces SET sha256 = ? WHERE trace_id = ?').run(sha, traceId)
    }
    const snapshots = new Map(tracked.snapshots)
    for (const m of opts.maps ?? sidecarMaps(abs, [...snapshots.keys()])) {
      const {entries, problems} = await readMapsFile(m.file)
      for (const p of problems) writer.warn(`${m.file}:${p.line}: ${p.reason}`)
      writer.addInitialMaps(m.pid, entries, `maps:${resolve(m.file)}`, snapshots.get(m.pid) ?? null)
    }
    if (stats.unterminatedLastLine)
      writer.warn(
        `the last line (${stats.lines}) has no newline: the file may have been cut short while it was written`,
      )
    const captured = captureMeta(abs)
    if (captured?.kernelVersion !== undefined) writer.meta('kernel_version', captured.kernelVersion)
    if (captured?.environment !== undefined) writer.meta('environment', JSON.stringify(captured.environment))
    const summary = writer.finish(tracked, stats.format, stats.lines)
    db.exec('COMMIT')
    return {status: 'ingested', path: abs, summary}
  } catch (error) {
    if (db.inTransaction) db.exec('ROLLBACK')
    throw error
  } finally {
    db.pragma(`cache_size = ${cache}`)
  }
}

interface ParseJob {
  path: string
  format?: TraceFormat
  strict: boolean
  firstId: number
  hash: boolean
  onProgress?: ParseOptions['onProgress']
}

interface Parsed {
  stats: ParseStats
  tracked: TrackedTrace
  sha256: string | null
}

/** Parses on this thread, the tracker writing straight into `writer`. */
async function parseHere(job: ParseJob, writer: TraceWriter): Promise<Parsed> {
  const hashing = job.hash ? sha256File(job.path) : Promise.resolve(null)
  hashing.catch(() => {})
  const tracker = new EventTracker(writer, job.firstId, job.strict)
  const stats = await parseTrace(job.path, tracker, {format: job.format, onProgress: job.onProgress})
  const tracked = tracker.end()
  return {stats, tracked, sha256: await hashing}
}

/**
 * Parses in a worker thread (ingest-worker.ts) while this thread inserts what it hands over, so parsing and SQLite
 * run on two cores. Rows arrive in file order through the shared slots of ingest-slots.ts; an error on either side stops both.
 */
function parseInWorker(job: ParseJob, writer: TraceWriter): Promise<Parsed> {
  const {slots: buffers, ctl: ctlBuffer} = allocate()
  const slots = buffers.map((b) => new Slot(b))
  const ring = new SlotRing(ctlBuffer)
  const input: WorkerInput = {
    path: job.path,
    format: job.format,
    strict: job.strict,
    firstId: job.firstId,
    hash: job.hash,
    progress: job.onProgress !== undefined,
    slots: buffers,
    ctl: ctlBuffer,
  }
  const worker = new Worker(new URL('./ingest-worker.js', import.meta.url), {
    workerData: input,
    stdout: false,
    stderr: false,
  })
  return new Promise<Parsed>((resolvePromise, reject) => {
    let settled = false
    const stop = (): void => {
      ring.stop()
      void worker.terminate()
    }
    const fail = (err: unknown): void => {
      if (settled) return
      settled = true
      stop()
      reject(err)
    }
    worker.on('message', (m: WorkerMessage) => {
      if (settled) return
      try {
        switch (m.type) {
          case 'batch':
            writer.insertSlot(slots[m.slot]!, m)
            ring.release(m.slot)
            break
          case 'progress':
            job.onProgress?.(m.done, m.total)
            break
          case 'done':
            settled = true
            void worker.terminate()
            resolvePromise({stats: m.stats, tracked: m.tracked, sha256: m.sha256})
            break
          case 'error':
            fail(revive(m.error))
            break
        }
      } catch (err) {
        fail(err)
      }
    })
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`ingest worker exited (code ${code}) before finishing`)))
  })
}
