// Options and results shared by the two capture backends.

import type {EventChoice} from './events.js'
import type {OutputPaths} from './output.js'
import type {Stopper} from './stop.js'

export interface Logger {
  info(message: string): void
  warn(message: string): void
}

export const silentLogger: Logger = {info() {}, warn() {}}

export interface CommonOptions {
  /** The trace file (FILE); FILE.meta.json / FILE.maps are derived by outputPaths(). */
  out: string
  /** Launch mode: the command and its arguments. */
  command?: readonly string[]
  /** Attach mode: the process to follow. */
  pid?: number
  /** Stop after this many seconds (launch mode: the command is then terminated). */
  durationS?: number
  /** Per-CPU buffer size in KiB (ftrace ring buffer, or perf's mmap buffer). */
  bufferKb: number
  events: EventChoice
  log: Logger
  stopper: Stopper
  /** vmareplay version, for the meta file. */
  toolVersion?: string
}

export interface CaptureResult {
  paths: OutputPaths
  meta: Record<string, unknown>
  lost: boolean
  warnings: string[]
}
