// /proc helpers: target validation, thread lists, wchan, maps snapshot, command lookup.

import * as fs from 'node:fs'
import * as path from 'node:path'

export interface ProcStatus {
  name: string
  state: string
  tgid: number
  pid: number
}

export function readStatus(pid: number): ProcStatus | undefined {
  let text: string
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return undefined
  }
  const field = (k: string): string => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? ''
  return {name: field('Name'), state: field('State'), tgid: Number(field('Tgid')), pid: Number(field('Pid'))}
}

/** True while the process exists and is not a zombie. */
export function processRunning(pid: number): boolean {
  const st = readStatus(pid)
  return st !== undefined && !st.state.startsWith('Z') && !st.state.startsWith('X')
}

/** All thread ids of a process, sorted. */
export function listTids(tgid: number): number[] {
  try {
    return fs
      .readdirSync(`/proc/${tgid}/task`)
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 0)
      .sort((a, b) => a - b)
  } catch {
    return []
  }
}

export function wchan(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/wchan`, 'utf8').trim()
  } catch {
    return ''
  }
}

/** Resolve a command name like execvp(3) would; undefined when not found or not executable. */
export function resolveCommand(
  cmd: string,
  envPath = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
): string | undefined {
  const candidates = cmd.includes('/') ? [cmd] : envPath.split(':').map((d) => path.join(d || '.', cmd))
  for (const c of candidates) {
    try {
      const st = fs.statSync(c)
      if (!st.isFile()) continue
      fs.accessSync(c, fs.constants.X_OK)
      return path.resolve(c)
    } catch {
      // next
    }
  }
  return undefined
}

/** CLOCK_MONOTONIC in seconds (libuv's hrtime is CLOCK_MONOTONIC on Linux = ftrace's `mono` clock). */
export function monoNow(): number {
  return Number(process.hrtime.bigint()) / 1e9
}
