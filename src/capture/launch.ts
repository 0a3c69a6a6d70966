// Launch mode without losing the program's start (the FIFO technique of recipes/cap.sh):
// a wrapper shell is started that blocks opening a FIFO; the capture puts the wrapper's PID in
// set_event_pid, turns tracing on and only then opens the FIFO, so the wrapper `exec`s the command
// under the same, already traced, PID.

import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {CaptureError, ExitCode} from './errors.js'
import {wchan} from './proc.js'
import {sleep, within} from './stop.js'

export interface ExitStatus {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface BlockedWrapper {
  readonly pid: number
  readonly child: ChildProcess
  /** Resolves when the wrapper (= the command after exec) has exited. */
  readonly exited: Promise<ExitStatus>
  readonly status: () => ExitStatus | undefined
  /** Whether the wrapper was seen blocked on the FIFO before tracing was turned on. */
  readonly blocked: boolean
  /** Let the wrapper exec the command. */
  release(): void
  /** Remove the FIFO and its temp directory. */
  cleanup(): void
}

const WRAPPER_SCRIPT = 'read _vmareplay_go < "$0"; exec "$@"'

export async function startBlockedWrapper(
  command: readonly string[],
  opts: {waitMs?: number} = {},
): Promise<BlockedWrapper> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmareplay-capture-'))
  const fifo = path.join(tmp, 'go.fifo')
  const mk = spawnSyncMkfifo(fifo)
  if (!mk.ok) {
    fs.rmSync(tmp, {recursive: true, force: true})
    throw new CaptureError(ExitCode.TRACE_FAILED, `cannot create a FIFO in ${tmp}: ${mk.error}`)
  }
  const child = spawn('/bin/sh', ['-c', WRAPPER_SCRIPT, fifo, ...command], {stdio: 'inherit'})
  let status: ExitStatus | undefined
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      status = {code, signal}
      resolve(status)
    })
  })
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve))
  if (child.pid === undefined) {
    const err = await spawnError
    fs.rmSync(tmp, {recursive: true, force: true})
    throw new CaptureError(ExitCode.COMMAND_NOT_FOUND, `cannot start /bin/sh for the launch wrapper: ${err.message}`)
  }
  const pid = child.pid
  // Wait until the wrapper blocks in open(FIFO) so that its own start-up is not traced. Correctness
  // does not depend on it (the wrapper cannot exec before release()), so time out softly.
  const deadline = Date.now() + (opts.waitMs ?? 3000)
  let blocked = false
  while (Date.now() < deadline && status === undefined) {
    if (wchan(pid) === 'wait_for_partner') {
      blocked = true
      break
    }
    await sleep(2)
  }
  if (status !== undefined) {
    fs.rmSync(tmp, {recursive: true, force: true})
    throw new CaptureError(ExitCode.TRACE_FAILED, `the launch wrapper exited early (${describeStatus(status)})`)
  }
  let released = false
  return {
    pid,
    child,
    exited,
    status: () => status,
    blocked,
    release() {
      if (released) return
      released = true
      // O_NONBLOCK: fails with ENXIO instead of hanging if the wrapper is gone.
      const fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)
      try {
        fs.writeSync(fd, 'go\n')
      } finally {
        fs.closeSync(fd)
      }
    },
    cleanup() {
      fs.rmSync(tmp, {recursive: true, force: true})
    },
  }
}

function spawnSyncMkfifo(fifo: string): {ok: true} | {ok: false; error: string} {
  // Node has no mkfifo(3); mkfifo(1) is in coreutils.
  const r = spawnSyncSafe('mkfifo', ['-m', '600', fifo])
  return r === '' ? {ok: true} : {ok: false, error: r}
}

function spawnSyncSafe(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, {encoding: 'utf8'})
  if (r.error) return r.error.message
  if (r.status !== 0) return (r.stderr || `exit ${r.status}`).trim()
  return ''
}

export function describeStatus(s: ExitStatus): string {
  return s.signal ? `killed by ${s.signal}` : `exit code ${s.code}`
}

/**
 * Stop a launched command: for Ctrl-C give it `graceMs` to exit by itself (the terminal sent it SIGINT
 * too), then SIGTERM, then SIGKILL.
 */
export async function stopCommand(w: BlockedWrapper, reason: string, graceMs = 2000): Promise<void> {
  const waitExit = (ms: number): Promise<boolean> => within(w.exited, ms)
  if (w.status() !== undefined) return
  if (reason === 'SIGINT' && (await waitExit(graceMs))) return
  try {
    process.kill(w.pid, 'SIGTERM')
  } catch {
    return
  }
  if (await waitExit(graceMs)) return
  try {
    process.kill(w.pid, 'SIGKILL')
  } catch {
    return
  }
  await waitExit(graceMs)
}
