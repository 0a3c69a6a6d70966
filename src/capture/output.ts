// Saving the trace text, loss accounting, output file names and the meta file.

import * as fs from 'node:fs'
import * as path from 'node:path'

import {CaptureError, ExitCode} from './errors.js'
import type {TracefsIo} from './tracefs.js'

export interface OutputPaths {
  trace: string
  meta: string
  maps: string
}

/** `x.trace.txt` -> x.meta.json / x.maps beside it (the corpus' naming: node_attach.trace.txt + node_attach.maps). */
export function outputPaths(out: string): OutputPaths {
  const base = out.replace(/\.(trace|perf)\.txt$/, '').replace(/\.txt$/, '')
  return {trace: out, meta: `${base}.meta.json`, maps: `${base}.maps`}
}

export function defaultOut(backend: 'ftrace' | 'perf', now = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0')
  const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`
  return `vmareplay-${stamp}.${backend === 'perf' ? 'perf' : 'trace'}.txt`
}

export interface CpuStats {
  cpu: number
  entries: number
  overrun: number
  commit_overrun: number
  dropped: number
}

/** Parse per_cpu/cpuN/stats (`entries: N`, `overrun: N`, `commit overrun: N`, `dropped events: N`, …). */
export function parseCpuStats(cpu: number, text: string): CpuStats {
  const num = (k: string): number => Number(new RegExp(`^${k}:\\s*(\\d+)`, 'm').exec(text)?.[1] ?? 0)
  return {
    cpu,
    entries: num('entries'),
    overrun: num('overrun'),
    commit_overrun: num('commit overrun'),
    dropped: num('dropped events'),
  }
}

export function readCpuStats(io: TracefsIo, dir: string): CpuStats[] {
  return io
    .list(path.join(dir, 'per_cpu'))
    .filter((c) => /^cpu\d+$/.test(c))
    .map((c) => Number(c.slice(3)))
    .sort((a, b) => a - b)
    .flatMap((cpu) => {
      const f = path.join(dir, 'per_cpu', `cpu${cpu}`, 'stats')
      return io.exists(f) ? [parseCpuStats(cpu, io.read(f))] : []
    })
}

export interface TraceScan {
  lines: number
  bytes: number
  /** From `# entries-in-buffer/entries-written: A/B   #P:N`. */
  entries_in_buffer?: number
  entries_written?: number
  /** `CPU:N [LOST M EVENTS]` lines and the sum of M (unknown counts add 0). */
  lost_markers: number
  lost_marker_events: number
  /** `##### CPU N buffer started ####` lines (a CPU's older events were overwritten). */
  buffer_started_markers: number
}

export interface LossReport {
  lost: boolean
  reasons: string[]
}

export function lossOf(scan: TraceScan | undefined, stats: readonly CpuStats[]): LossReport {
  const reasons: string[] = []
  if (
    scan?.entries_in_buffer !== undefined &&
    scan.entries_written !== undefined &&
    scan.entries_in_buffer !== scan.entries_written
  ) {
    reasons.push(`entries-in-buffer/entries-written ${scan.entries_in_buffer}/${scan.entries_written}`)
  }
  if (scan && scan.lost_markers > 0)
    reasons.push(`${scan.lost_markers} "[LOST … EVENTS]" markers (${scan.lost_marker_events} events)`)
  if (scan && scan.buffer_started_markers > 0) reasons.push(`${scan.buffer_started_markers} "buffer started" markers`)
  for (const s of stats) {
    if (s.overrun || s.commit_overrun || s.dropped) {
      reasons.push(`cpu${s.cpu}: overrun ${s.overrun}, commit overrun ${s.commit_overrun}, dropped ${s.dropped}`)
    }
  }
  return {lost: reasons.length > 0, reasons}
}

/** Incremental line scanner for ftrace text (header, loss markers, line count). */
export class FtraceScanner {
  readonly scan: TraceScan = {lines: 0, bytes: 0, lost_markers: 0, lost_marker_events: 0, buffer_started_markers: 0}
  private carry = ''

  push(chunk: Buffer): void {
    this.scan.bytes += chunk.length
    const text = this.carry + chunk.toString('latin1')
    const parts = text.split('\n')
    this.carry = parts.pop() ?? ''
    for (const line of parts) this.line(line)
  }

  end(): TraceScan {
    if (this.carry !== '') this.line(this.carry)
    this.carry = ''
    return this.scan
  }

  private line(line: string): void {
    this.scan.lines++
    const c = line.charCodeAt(0)
    if (c === 35 /* # */) {
      const m = /^# entries-in-buffer\/entries-written: (\d+)\/(\d+)/.exec(line)
      if (m) {
        this.scan.entries_in_buffer = Number(m[1])
        this.scan.entries_written = Number(m[2])
      } else if (/^##### CPU \d+ buffer started ####/.test(line)) {
        this.scan.buffer_started_markers++
      }
    } else if (c === 67 /* C */ && line.startsWith('CPU:')) {
      const m = /^CPU:\d+ \[LOST(?: (\d+))? EVENTS\]/.exec(line)
      if (m) {
        this.scan.lost_markers++
        this.scan.lost_marker_events += Number(m[1] ?? 0)
      }
    }
  }
}

/**
 * Copy a (tracefs) file to `dest` in 1 MiB chunks, feeding `onChunk`. Async so that signals are
 * handled meanwhile; `aborted()` is polled between chunks.
 */
export async function copyFile(
  src: string,
  dest: string,
  onChunk: (b: Buffer) => void,
  aborted: () => boolean,
): Promise<void> {
  let inFh: fs.promises.FileHandle | undefined
  let outFh: fs.promises.FileHandle | undefined
  try {
    inFh = await fs.promises.open(src, 'r')
    try {
      outFh = await fs.promises.open(dest, 'w')
    } catch (error) {
      throw new CaptureError(ExitCode.TRACE_FAILED, `cannot write the trace to ${dest}: ${(error as Error).message}`)
    }
    const buf = Buffer.allocUnsafe(1 << 20)
    for (;;) {
      if (aborted())
        throw new CaptureError(
          ExitCode.TRACE_FAILED,
          `interrupted while saving the trace to ${dest} (the file is incomplete)`,
        )
      const {bytesRead} = await inFh.read(buf, 0, buf.length, null)
      if (bytesRead === 0) break
      const chunk = buf.subarray(0, bytesRead)
      onChunk(chunk)
      await outFh.write(chunk)
    }
  } finally {
    await outFh?.close()
    await inFh?.close()
  }
}

export function writeJson(file: string, value: unknown): void {
  try {
    fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n')
  } catch (error) {
    throw new CaptureError(ExitCode.TRACE_FAILED, `cannot write ${file}: ${(error as Error).message}`)
  }
}

/** Fail early (before touching tracefs) when the output cannot be created. */
export function checkWritable(file: string): void {
  const dir = path.dirname(path.resolve(file))
  try {
    fs.accessSync(dir, fs.constants.W_OK)
  } catch {
    throw new CaptureError(
      ExitCode.TRACE_FAILED,
      `cannot write the output: directory ${dir} does not exist or is not writable (use --out)`,
    )
  }
}
