// Running one guest: QEMU in its own process group, its console saved and watched, killed (the whole group) at the
// timeout, on a stall, on KVM failing or when the caller aborts.

import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import {performance} from 'node:perf_hooks'

import {consoleEvent} from './guest.js'

export interface VmRun {
  qemu: string
  args: readonly string[]
  consoleFile: string
  timeoutMs: number
  signal?: AbortSignal
  /** Each console line (for --verbose). */
  onLine?: (line: string) => void
}

export interface VmResult {
  /** exited: QEMU ended by itself; the others: it was killed for that reason. */
  end: 'exited' | 'timeout' | 'stall' | 'kvm' | 'aborted'
  code: number | null
  signal: NodeJS.Signals | null
  /** Guest stages seen on the console: guest uptime and host seconds since the start. */
  stages: Record<string, {uptime: number; host_s: number}>
  errors: string[]
  panic: string | null
  /** The line that ended the VM (stall / KVM). */
  reason: string | null
  wall_s: number
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // the group is gone already
  }
}

export function runVm(o: VmRun): Promise<VmResult> {
  const t0 = performance.now()
  const since = (): number => Math.round(performance.now() - t0) / 1000
  const out = fs.openSync(o.consoleFile, 'w')
  const child = spawn(o.qemu, o.args, {detached: true, stdio: ['ignore', 'pipe', 'pipe']})
  const res: VmResult = {
    end: 'exited',
    code: null,
    signal: null,
    stages: {},
    errors: [],
    panic: null,
    reason: null,
    wall_s: 0,
  }
  let ended = false
  const stop = (why: Exclude<VmResult['end'], 'exited'>, reason: string | null): void => {
    if (ended) return
    ended = true
    res.end = why
    res.reason = reason
    if (child.pid !== undefined) killGroup(child.pid)
  }
  let carry = ''
  const onData = (b: Buffer): void => {
    fs.writeSync(out, b)
    const parts = (carry + b.toString('latin1')).split('\n')
    carry = parts.pop() ?? ''
    for (const line of parts) {
      o.onLine?.(line.replace(/\r$/, ''))
      const ev = consoleEvent(line)
      if (ev === undefined) continue
      if (ev.kind === 'stage') res.stages[ev.stage] = {uptime: ev.uptime, host_s: since()}
      else if (ev.kind === 'error') res.errors.push(ev.text)
      else if (ev.kind === 'panic') res.panic = ev.text
      else stop(ev.kind, ev.text)
    }
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const timer = setTimeout(() => stop('timeout', null), o.timeoutMs)
  const onAbort = (): void => stop('aborted', null)
  o.signal?.addEventListener('abort', onAbort)
  return new Promise((resolve, reject) => {
    let settled = false
    const finish = (): void => {
      clearTimeout(timer)
      o.signal?.removeEventListener('abort', onAbort)
      fs.closeSync(out)
      settled = true
    }
    child.on('error', (error) => {
      if (settled) return
      finish()
      reject(error)
    })
    // whatever QEMU (or a wrapper script) left in its group goes with it, so that its pipes close
    child.on('exit', () => {
      if (child.pid !== undefined) killGroup(child.pid)
    })
    child.on('close', (code, signal) => {
      if (settled) return
      if (carry !== '') onData(Buffer.from('\n'))
      finish()
      res.code = code
      res.signal = signal
      res.wall_s = since()
      resolve(res)
    })
  })
}
