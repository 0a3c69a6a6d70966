// Exit codes of `vmareplay capture` and the error type the capture logic throws.
// The oclif command turns a CaptureError into `this.error(message, {exit: code})`.

export const ExitCode = {
  OK: 0,
  /** Unexpected internal error (oclif's default). */
  INTERNAL: 1,
  /** Bad flags or arguments (also oclif's own code for flag-parse errors). */
  USAGE: 2,
  /** Not root / tracefs or perf not accessible for writing. */
  PERMISSION: 3,
  /** tracefs is not mounted and could not be mounted, or it is not a tracefs. */
  NO_TRACEFS: 4,
  /** --pid names no running process. */
  UNKNOWN_PID: 5,
  /** Another global-mode capture holds the lock file. */
  BUSY: 6,
  /** The command to launch was not found or is not executable. */
  COMMAND_NOT_FOUND: 7,
  /** perf is not installed, or perf record / perf script failed. */
  PERF_FAILED: 8,
  /** A tracefs operation failed during the capture, or the output could not be written. */
  TRACE_FAILED: 9,
  /** The capture finished but some tracing setting could not be restored. */
  RESTORE_FAILED: 10,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

/** Human-readable table, used by --help and docs/capture.md. */
export const EXIT_CODE_HELP: ReadonlyArray<[number, string]> = [
  [ExitCode.OK, 'capture saved (lost events and a failing traced command are warnings, see the meta file)'],
  [ExitCode.INTERNAL, 'unexpected internal error'],
  [ExitCode.USAGE, 'bad flags or arguments (e.g. both --pid and a command, or neither)'],
  [ExitCode.PERMISSION, 'not root: tracefs/perf need root (run with sudo)'],
  [ExitCode.NO_TRACEFS, 'tracefs not mounted and could not be mounted'],
  [ExitCode.UNKNOWN_PID, '--pid: no such process'],
  [ExitCode.BUSY, 'another global-mode capture holds the lock file'],
  [ExitCode.COMMAND_NOT_FOUND, 'the command to launch was not found or is not executable'],
  [ExitCode.PERF_FAILED, 'perf missing, or perf record/perf script failed'],
  [ExitCode.TRACE_FAILED, 'a tracefs operation failed, or the output could not be written'],
  [ExitCode.RESTORE_FAILED, 'the trace was saved but some tracing setting could not be restored'],
]

export class CaptureError extends Error {
  readonly code: ExitCodeValue
  constructor(code: ExitCodeValue, message: string) {
    super(message)
    this.name = 'CaptureError'
    this.code = code
  }
}

/** errno code of a Node system error, if any. */
export function errnoOf(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as {code: unknown}).code === 'string') {
    return (err as {code: string}).code
  }
  return undefined
}
