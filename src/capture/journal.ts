// Read-before-write journal of tracefs settings: every file the capture changes is read first and
// its previous value recorded, so restore() can write all of them back (in reverse order).

import * as path from 'node:path'

import {bufferKb, listOf, selected, type TracefsIo} from './tracefs.js'

export interface JournalEntry {
  /** Path relative to the journal's directory (the tracefs root or the instance directory). */
  file: string
  /** Normalised previous value (what `current()` returned before the first change). */
  prev: string
}

export interface RestoreFailure {
  file: string
  value: string
  error: string
}

/** Normalise the text read from a tracefs file into the value one would write to get that state. */
export function normalize(file: string, raw: string): string {
  const base = path.basename(file)
  if (base === 'trace_clock' || base === 'current_tracer') return selected(raw)
  if (base === 'buffer_size_kb') return bufferKb(raw)
  if (base === 'set_event_pid' || base === 'set_event_notrace_pid') return listOf(raw).join(' ')
  if (base === 'filter') {
    const t = raw.trim()
    return t === '' ? 'none' : t
  }
  return raw.trim()
}

/** The text to write to a tracefs file to set the (normalised) value. */
export function writeValue(file: string, value: string): string {
  const base = path.basename(file)
  // `none` is what a filter file reads when no filter is set; writing 0 clears a filter.
  if (base === 'filter' && value === 'none') return '0'
  return value
}

export class Journal {
  readonly entries: JournalEntry[] = []
  private readonly seen = new Set<string>()

  constructor(
    readonly io: TracefsIo,
    readonly dir: string,
    private readonly onChange?: (entries: readonly JournalEntry[]) => void,
  ) {}

  abs(file: string): string {
    return path.join(this.dir, file)
  }

  has(file: string): boolean {
    return this.io.exists(this.abs(file))
  }

  current(file: string): string {
    return normalize(file, this.io.read(this.abs(file)))
  }

  /** Record the previous value of `file` (once), persisting the journal before anything is written. */
  remember(file: string): void {
    if (this.seen.has(file)) return
    const prev = this.current(file)
    if (path.basename(file) === 'buffer_size_kb' && prev === 'X') {
      // Per-CPU sizes differ: remember each CPU's size so restore() can write them back individually.
      for (const cpu of this.io
        .list(this.abs('per_cpu'))
        .filter((c) => /^cpu\d+$/.test(c))
        .sort(byCpu)) {
        this.remember(`per_cpu/${cpu}/buffer_size_kb`)
      }
    }
    this.seen.add(file)
    this.entries.push({file, prev})
    this.onChange?.(this.entries)
  }

  /** Remember, then write unconditionally. */
  set(file: string, value: string): void {
    this.remember(file)
    this.io.write(this.abs(file), writeValue(file, value))
  }

  /** Write only when the current value differs (so unchanged settings are not journaled). Returns true if written. */
  ensure(file: string, value: string): boolean {
    if (!this.seen.has(file) && this.current(file) === value) return false
    this.set(file, value)
    return true
  }

  /** Write every remembered file back to its previous value, newest first. Never throws. */
  restore(): RestoreFailure[] {
    return restoreEntries(this.io, this.dir, this.entries)
  }
}

/** Restore journal entries (also used to repair the state left by a killed global-mode capture). */
export function restoreEntries(io: TracefsIo, dir: string, entries: readonly JournalEntry[]): RestoreFailure[] {
  const failures: RestoreFailure[] = []
  for (const {file, prev} of [...entries].reverse()) {
    // A top-level buffer_size_kb of `X` cannot be written; its per-CPU entries restore the sizes.
    if (path.basename(file) === 'buffer_size_kb' && prev === 'X') continue
    try {
      io.write(path.join(dir, file), writeValue(file, prev))
    } catch (error) {
      failures.push({file: path.join(dir, file), value: prev, error: (error as Error).message})
    }
  }
  return failures
}

function byCpu(a: string, b: string): number {
  return Number(a.slice(3)) - Number(b.slice(3))
}
