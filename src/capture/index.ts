// Entry point of the capture logic (the oclif command is a thin wrapper around runCapture).

import {captureFtrace, type FtraceOptions} from './ftrace.js'
import {capturePerf, type PerfOptions} from './perf.js'
import type {CaptureResult} from './types.js'

export {CaptureError, EXIT_CODE_HELP, ExitCode} from './errors.js'
export {KFAULT_EVENTS, PAGECACHE_EVENTS, STD_EVENTS, requestedEvents, splitEvent} from './events.js'
export {defaultBufferKb, FTRACE_OPTIONS} from './ftrace.js'
export {DEFAULT_LOCK_FILE} from './lock.js'
export {defaultOut, outputPaths} from './output.js'
export {Stopper} from './stop.js'
export {DEFAULT_TRACEFS} from './tracefs.js'
export type {CaptureResult, Logger} from './types.js'

export type RunOptions = ({backend: 'ftrace'} & FtraceOptions) | ({backend: 'perf'} & PerfOptions)

export async function runCapture(o: RunOptions): Promise<CaptureResult> {
  return o.backend === 'perf' ? capturePerf(o) : captureFtrace(o)
}
