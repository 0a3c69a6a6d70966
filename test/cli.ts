// The one way the tests run the CLI: `node bin/run.js …` from the repository root, NO_COLOR and a wide terminal, oclif's
// wrapped error lines joined back, synchronously, asynchronously or as a child to signal, and with its peak memory.
import assert from 'node:assert/strict'
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

export const REPO = fileURLToPath(new URL('../../', import.meta.url))
export const BIN = join(REPO, 'bin', 'run.js')

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  out: string
  err: string
}

export interface CliOptions {
  /** standard input */
  input?: string
  /** added to the environment */
  env?: NodeJS.ProcessEnv
  /** ms before the child is killed (spawnSync's timeout) */
  timeout?: number
}

const env = (o: CliOptions): NodeJS.ProcessEnv => ({...process.env, NO_COLOR: '1', COLUMNS: '400', ...o.env})

/** oclif wraps messages at the terminal width with a ' ›   ' prefix per line: unwrap them. */
const unwrap = (s: string): string => s.replace(/\s*\n\s*›\s+/g, ' ')

/** Runs `vmareplay ARGS…` to completion. */
export function cli(...args: string[]): CliResult {
  return cliWith({}, ...args)
}

/** Runs `vmareplay ARGS…` to completion with input, environment or a timeout. */
export function cliWith(o: CliOptions, ...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: env(o),
    cwd: REPO,
    input: o.input,
    timeout: o.timeout,
    maxBuffer: 64 << 20,
  })
  return {code: r.status, signal: r.signal, out: r.stdout, err: unwrap(r.stderr)}
}

/** Runs the CLI asynchronously (for concurrency tests). */
export function cliAsync(...args: string[]): Promise<CliResult> {
  return new Promise((done) => {
    const c = spawnCli(args)
    let out = ''
    let err = ''
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    c.on('close', (code, signal) => done({code, signal, out, err: unwrap(err)}))
  })
}

/** The CLI as a child process, to signal or to watch. */
export function spawnCli(args: string[], o: CliOptions = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], {env: env(o), cwd: REPO, stdio: ['ignore', 'pipe', 'pipe']})
}

/** Waits for a child to exit; returns its code and signal. */
export function exited(c: ChildProcess): Promise<{code: number | null; signal: NodeJS.Signals | null}> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve({code: c.exitCode, signal: c.signalCode})
  return new Promise((done) => c.on('exit', (code, signal) => done({code, signal})))
}

/** Wall time and peak RSS (MB) of a command run as a child: /usr/bin/time -v when present, else VmHWM polled from /proc. */
export async function runMeasured(args: string[]): Promise<CliResult & {peakRssMb: number; seconds: number}> {
  const t0 = process.hrtime.bigint()
  const seconds = (): number => Number(process.hrtime.bigint() - t0) / 1e9
  if (existsSync('/usr/bin/time')) {
    const r = spawnSync('/usr/bin/time', ['-v', process.execPath, BIN, ...args], {
      encoding: 'utf8',
      env: env({}),
      cwd: REPO,
      maxBuffer: 256 << 20,
    })
    const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)
    assert.ok(m !== null, `no RSS in /usr/bin/time output: ${r.stderr.slice(-500)}`)
    return {
      code: r.status,
      signal: r.signal,
      out: r.stdout,
      err: unwrap(r.stderr),
      peakRssMb: Number(m[1]) / 1024,
      seconds: seconds(),
    }
  }
  const c = spawnCli(args)
  let out = ''
  let err = ''
  c.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  c.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  let peakKb = 0
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${c.pid}/status`, 'utf8'))
      if (m !== null) peakKb = Math.max(peakKb, Number(m[1]))
    } catch {
      // exited between polls
    }
  }, 20)
  const {code, signal} = await exited(c)
  clearInterval(poll)
  return {code, signal, out, err: unwrap(err), peakRssMb: peakKb / 1024, seconds: seconds()}
}
