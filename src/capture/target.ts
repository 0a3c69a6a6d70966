// What both capture backends check before they change anything: the arguments, the process to attach to or the
// command to launch, and the events asked for against what the kernel has.

import * as path from 'node:path'
import {CaptureError, ExitCode} from './errors.js'
import {type EventSpec, parseAvailableEvents, requestedEvents, splitEvent} from './events.js'
import {checkWritable, outputPaths} from './output.js'
import {readStatus, resolveCommand} from './proc.js'
import type {TracefsIo} from './tracefs.js'
import type {CommonOptions} from './types.js'

export interface CaptureTarget {
  pid: number
  tgid: number
  comm: string
}

/** Exactly one of --pid and a command, and an output file that can be written. */
export function checkArguments(o: CommonOptions): void {
  if ((o.command === undefined || o.command.length === 0) === (o.pid === undefined)) {
    throw new CaptureError(ExitCode.USAGE, 'give either --pid PID (attach) or -- COMMAND ARGS... (launch), not both')
  }
  checkWritable(outputPaths(o.out).trace)
}

/** Attach mode: the live process behind --pid (a thread attaches its whole process). Launch mode: undefined,
 * once the command is found. */
export function resolveTarget(o: CommonOptions): CaptureTarget | undefined {
  if (o.pid === undefined) {
    const cmd = o.command![0]!
    if (resolveCommand(cmd) === undefined) {
      throw new CaptureError(
        ExitCode.COMMAND_NOT_FOUND,
        `command not found or not executable: ${cmd} (give a path or check $PATH)`,
      )
    }
    return undefined
  }
  const st = readStatus(o.pid)
  if (st === undefined || st.state.startsWith('Z') || st.state.startsWith('X')) {
    throw new CaptureError(ExitCode.UNKNOWN_PID, `no running process with pid ${o.pid} (check with: ps -p ${o.pid})`)
  }
  if (st.tgid !== o.pid)
    o.log.info(`pid ${o.pid} is a thread of process ${st.tgid}; attaching to the whole process ${st.tgid}`)
  return {pid: o.pid, tgid: st.tgid, comm: st.name}
}

/** The requested events (each name checked) and the kernel's available_events, when tracefs lists them. */
export function requestEvents(
  o: CommonOptions,
  io: TracefsIo,
  root: string,
): {requested: EventSpec[]; available?: Set<string>} {
  const requested = requestedEvents(o.events)
  for (const e of requested) splitEvent(e.name)
  const availFile = path.join(root, 'available_events')
  return {requested, available: io.exists(availFile) ? parseAvailableEvents(io.read(availFile)) : undefined}
}
