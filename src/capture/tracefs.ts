// Minimal synchronous access to a tracefs directory (the real one or a fake directory in tests).
// All writes go through TracefsIo so tests can record them and emulate instance creation.

import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

import {CaptureError, ExitCode, errnoOf} from './errors.js'

export const DEFAULT_TRACEFS = '/sys/kernel/tracing'

/** One write done through TracefsIo (kept by RecordingIo in tests). */
export interface WriteRecord {
  file: string
  value: string
  append: boolean
}

/** File operations used by the capture; FsIo is the real one. */
export interface TracefsIo {
  read(file: string): string
  /** Open with O_TRUNC (clears set_event_pid/trace on a real tracefs; replaces a fake file's content). */
  write(file: string, value: string): void
  /** Open with O_APPEND (set_event_pid additions, trace_marker). */
  append(file: string, value: string): void
  exists(file: string): boolean
  list(dir: string): string[]
  /** Create a tracefs instance directory (the kernel populates it). */
  mkdirInstance(dir: string): void
  /** Remove a tracefs instance directory (frees its buffers and disables its events). */
  rmdirInstance(dir: string): void
}

export class FsIo implements TracefsIo {
  read(file: string): string {
    return fs.readFileSync(file, 'utf8')
  }

  write(file: string, value: string): void {
    writeFd(file, fs.constants.O_WRONLY | fs.constants.O_TRUNC, value)
  }

  append(file: string, value: string): void {
    writeFd(file, fs.constants.O_WRONLY | fs.constants.O_APPEND, value)
  }

  exists(file: string): boolean {
    return fs.existsSync(file)
  }

  list(dir: string): string[] {
    try {
      return fs.readdirSync(dir)
    } catch {
      return []
    }
  }

  mkdirInstance(dir: string): void {
    fs.mkdirSync(dir)
  }

  rmdirInstance(dir: string): void {
    // The kernel refuses (EBUSY) while a file of the instance is open; retry briefly.
    for (let i = 0; ; i++) {
      try {
        fs.rmdirSync(dir)
        return
      } catch (error) {
        if (errnoOf(error) === 'ENOENT') return
        if (errnoOf(error) !== 'EBUSY' || i >= 20) throw error
        sleepSync(50)
      }
    }
  }
}

function writeFd(file: string, flags: number, value: string): void {
  try {
    const fd = fs.openSync(file, flags)
    try {
      // A zero-length write is not a write(2) at all; tracefs files want at least a newline.
      const data = Buffer.from(value === '' ? '\n' : value)
      fs.writeSync(fd, data, 0, data.length)
    } finally {
      fs.closeSync(fd)
    }
  } catch (error) {
    const e = error as NodeJS.ErrnoException
    const wrapped = new Error(
      `writing ${JSON.stringify(value)} to ${file} failed: ${e.code ?? ''} ${e.message}`.replace(/\s+/g, ' '),
    ) as NodeJS.ErrnoException
    wrapped.code = e.code
    throw wrapped
  }
}

export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/** `[local] global counter …` -> `local`; a plain value is returned trimmed. */
export function selected(text: string): string {
  const m = /\[([^\]]+)\]/.exec(text)
  return m ? m[1] : text.trim()
}

/** `7 (expanded: 1408)` -> `1408`; `X` (per-CPU sizes differ) stays `X`. */
export function bufferKb(text: string): string {
  const t = text.trim()
  const m = /expanded:\s*(\d+)/.exec(t)
  return m ? m[1] : (t.split(/\s+/)[0] ?? '')
}

/** Whitespace/newline separated list (set_event_pid, set_event). */
export function listOf(text: string): string[] {
  return text.split(/\s+/).filter((s) => s !== '' && !s.startsWith('#'))
}

/**
 * Make sure `root` is a usable tracefs. For the default path it mounts tracefs when absent
 * (`mount -t tracefs nodev /sys/kernel/tracing`). Returns true when it mounted it.
 */
export function ensureTracefs(root: string, io: TracefsIo, opts: {mountIfMissing: boolean; isRoot: boolean}): boolean {
  let mounted = false
  if (!io.exists(path.join(root, 'tracing_on'))) {
    if (!opts.mountIfMissing) {
      throw new CaptureError(
        ExitCode.NO_TRACEFS,
        `${root} is not a tracefs (no tracing_on file). Point --tracefs at a mounted tracefs.`,
      )
    }
    if (!opts.isRoot && fs.existsSync(root)) {
      try {
        fs.accessSync(root, fs.constants.R_OK | fs.constants.X_OK)
      } catch {
        throw new CaptureError(
          ExitCode.PERMISSION,
          `cannot access ${root}: capturing needs root. Run as root (sudo vmareplay capture …).`,
        )
      }
    }
    if (!opts.isRoot) {
      throw new CaptureError(
        ExitCode.PERMISSION,
        `tracefs is not mounted at ${root} and mounting it needs root. Run as root (sudo vmareplay capture …), or ask an admin to run: mount -t tracefs nodev ${root}`,
      )
    }
    const r = spawnSync('mount', ['-t', 'tracefs', 'nodev', root], {encoding: 'utf8'})
    if (r.status !== 0 || !io.exists(path.join(root, 'tracing_on'))) {
      const why = (r.error?.message ?? r.stderr ?? '').trim()
      throw new CaptureError(
        ExitCode.NO_TRACEFS,
        `tracefs is not mounted at ${root} and \`mount -t tracefs nodev ${root}\` failed${why ? `: ${why}` : ''}. ` +
          'The kernel needs CONFIG_TRACING/CONFIG_FTRACE; mount it by hand and retry, or use --backend perf.',
      )
    }
    mounted = true
  }
  try {
    fs.accessSync(path.join(root, 'tracing_on'), fs.constants.W_OK)
  } catch {
    throw new CaptureError(
      ExitCode.PERMISSION,
      `${root}/tracing_on is not writable: capturing needs root. Run as root (sudo vmareplay capture …).`,
    )
  }
  return mounted
}
