// perf backend: `perf record` with the same tracepoints (+ -d for data mmaps, -k mono), then
// `perf script --show-mmap-events --show-task-events -F +pid` into the output text, as one step.

import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {eventFacts, machineFacts, metaHeader} from './meta.js'
import {CaptureError, ExitCode} from './errors.js'
import {type EventSpec, resolveEvents} from './events.js'
import {type ExitStatus, describeStatus} from './launch.js'
import {outputPaths, writeJson} from './output.js'
import {monoNow, processRunning, resolveCommand} from './proc.js'
import {sleep, within} from './stop.js'
import {type CaptureTarget, checkArguments, requestEvents, resolveTarget} from './target.js'
import {DEFAULT_TRACEFS, FsIo, ensureTracefs} from './tracefs.js'
import type {CaptureResult, CommonOptions} from './types.js'

export const PERF_SCRIPT_ARGS = ['--show-mmap-events', '--show-task-events', '-F', '+pid'] as const

export interface PerfOptions extends CommonOptions {
  perf?: string
  tracefs?: string
  /** Keep perf.data as FILE.perf.data instead of a temporary file. */
  keepData?: boolean
  isRoot?: boolean
}

/** perf -m wants a power-of-two number of pages. */
export function perfMmapPages(bufferKb: number, pageKb = 4): number {
  const pages = Math.max(1, Math.ceil(bufferKb / pageKb))
  let p = 1
  while (p < pages) p *= 2
  return p
}

export function perfRecordArgs(
  events: readonly string[],
  o: {bufferKb: number; data: string; pid?: number; ctl?: [string, string]; command?: readonly string[]},
): string[] {
  const args = ['record', '-k', 'mono']
  for (const e of events) args.push('-e', e)
  args.push('-d', '-m', String(perfMmapPages(o.bufferKb)), '-o', o.data)
  if (o.pid !== undefined) {
    args.push('-p', String(o.pid))
    if (o.ctl) args.push('-D', '-1', '--control', `fifo:${o.ctl[0]},${o.ctl[1]}`)
  } else {
    args.push('--', ...(o.command ?? []))
  }
  return args
}

/** `LOST events: N` / `LOST_SAMPLES events: N` lines of `perf report --stats`. */
export function parsePerfStats(text: string): {total?: number; lost: number; lost_samples: number} {
  const n = (re: RegExp): number => Number(re.exec(text)?.[1] ?? 0)
  const total = /TOTAL events:\s+(\d+)/.exec(text)
  return {
    total: total ? Number(total[1]) : undefined,
    lost: n(/^\s*LOST events:\s+(\d+)/m),
    lost_samples: n(/^\s*LOST_SAMPLES events:\s+(\d+)/m),
  }
}

function exitOf(child: ChildProcess): Promise<ExitStatus> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({code: child.exitCode, signal: child.signalCode})
    else child.once('exit', (code, signal) => resolve({code, signal}))
  })
}

type Warn = (message: string) => void

/** Checks before anything starts: arguments, output file, perf, root, the target, the events. */
function preflight(
  o: PerfOptions,
  warn: Warn,
): {perf: string; target?: CaptureTarget; enabled: EventSpec[]; missing: EventSpec[]} {
  checkArguments(o)
  const perf = resolveCommand(o.perf ?? 'perf')
  if (perf === undefined) {
    throw new CaptureError(
      ExitCode.PERF_FAILED,
      `perf not found (${o.perf ?? 'perf'}); install it (apt-get install linux-perf) or use --backend ftrace`,
    )
  }
  const isRoot = o.isRoot ?? process.getuid?.() === 0
  if (!isRoot) {
    throw new CaptureError(
      ExitCode.PERMISSION,
      'recording tracepoints with perf needs root. Run as root (sudo vmareplay capture --backend perf …).',
    )
  }
  const root = o.tracefs ?? DEFAULT_TRACEFS
  const io = new FsIo()
  ensureTracefs(root, io, {mountIfMissing: root === DEFAULT_TRACEFS, isRoot})
  const target = resolveTarget(o)
  const {requested, available} = requestEvents(o, io, root)
  const {enabled, missing} = available ? resolveEvents(requested, available) : {enabled: requested, missing: []}
  if (missing.length > 0)
    warn(`event(s) not available on this kernel, recording without them: ${missing.map((e) => e.name).join(', ')}`)
  if (enabled.length === 0)
    throw new CaptureError(ExitCode.TRACE_FAILED, 'none of the requested events exists on this kernel')
  return {perf, target, enabled, missing}
}

/**
 * What the capture leaves behind, undone in one place: the `perf record` child (SIGINT), the
 * control FIFOs' fds, the temporary directory. close() runs on every exit path; kill() also on process exit.
 */
class PerfSession {
  readonly tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmareplay-perf-'))
  child: ChildProcess | undefined
  control: {ctl: number; ack: number; close(): void} | undefined
  /** `perf record` stderr lines worth keeping (the last 50). */
  readonly stderrTail: string[] = []

  readonly kill = (): void => {
    const {child} = this
    if (child && child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGINT')
      } catch {
        // gone
      }
    }
  }

  close(stopper: PerfOptions['stopper']): void {
    stopper.clearTimer()
    this.kill()
    this.control?.close()
    process.removeListener('exit', this.kill)
    fs.rmSync(this.tmp, {recursive: true, force: true})
  }
}

/** Start `perf record` (attach mode: with its events disabled and control FIFOs to enable them). */
function startRecord(
  perf: string,
  o: PerfOptions,
  s: PerfSession,
  target: CaptureTarget | undefined,
  events: readonly string[],
  data: string,
  times: Times,
): {recordArgs: string[]; exited: Promise<ExitStatus>} {
  let ctl: [string, string] | undefined
  if (target) {
    ctl = [path.join(s.tmp, 'ctl.fifo'), path.join(s.tmp, 'ack.fifo')]
    for (const f of ctl) {
      const r = spawnSync('mkfifo', ['-m', '600', f], {encoding: 'utf8'})
      if (r.status !== 0)
        throw new CaptureError(ExitCode.PERF_FAILED, `mkfifo ${f} failed: ${r.stderr || r.error?.message}`)
    }
  }
  s.control = ctl ? openControl(ctl) : undefined
  const recordArgs = perfRecordArgs(events, {bufferKb: o.bufferKb, data, pid: target?.tgid, ctl, command: o.command})
  times.record_start_mono = monoNow()
  const child = spawn(perf, recordArgs, {stdio: ['inherit', 'inherit', 'pipe']})
  s.child = child
  const exited = exitOf(child)
  child.stderr!.on('data', (b: Buffer) => {
    process.stderr.write(b)
    for (const line of b.toString('utf8').split('\n')) {
      if (/perf record|lost|LOST|Warning|error|Error/.test(line)) s.stderrTail.push(line.trim())
    }
    if (s.stderrTail.length > 50) s.stderrTail.splice(0, s.stderrTail.length - 50)
  })
  return {recordArgs, exited}
}

type Times = Record<string, number | [number, number]>
type MapsInfo = {lines: number; snapshot_mono: [number, number]}

/** Attach: perf opens the events disabled (-D -1); enable them, wait for the ack, THEN snapshot maps. */
async function enableAndSnapshot(
  fds: {ctl: number; ack: number},
  exited: Promise<ExitStatus>,
  s: PerfSession,
  tgid: number,
  mapsFile: string,
  times: Times,
  warn: Warn,
): Promise<MapsInfo | undefined> {
  let perfDone = false
  void exited.then(() => {
    perfDone = true
  })
  const ack = await perfControl(fds, 'enable', () => perfDone)
  if (!ack) {
    const st = await exited
    throw new CaptureError(
      ExitCode.PERF_FAILED,
      `perf record exited before recording (${describeStatus(st)}): ${s.stderrTail.join(' | ')}`,
    )
  }
  times.enabled_mono = monoNow()
  const m0 = monoNow()
  try {
    const maps = fs.readFileSync(`/proc/${tgid}/maps`, 'utf8')
    const m1 = monoNow()
    fs.writeFileSync(mapsFile, maps)
    return {lines: maps.split('\n').filter(Boolean).length, snapshot_mono: [m0, m1]}
  } catch (error) {
    warn(`could not snapshot /proc/${tgid}/maps: ${(error as Error).message}`)
    return undefined
  }
}

/** Wait for perf to exit, the stopper, or (attach) the target to exit; then stop perf. */
async function waitForStop(
  o: PerfOptions,
  s: PerfSession,
  exited: Promise<ExitStatus>,
  tg: number | undefined,
  times: Times,
): Promise<{stopReason: string; status: ExitStatus}> {
  o.stopper.startTimer(o.durationS)
  const gone = (async (): Promise<'target-exit'> => {
    while (tg !== undefined && o.stopper.reason === undefined && processRunning(tg)) await sleep(100)
    if (tg === undefined) await new Promise(() => {})
    return 'target-exit'
  })()
  const r = await Promise.race([exited.then(() => 'exit' as const), o.stopper.promise, gone])
  if (r !== 'exit') {
    // perf stops on SIGINT (and SIGTERMs the command it launched). After Ctrl-C it got SIGINT already.
    if (r !== 'SIGINT' || !(await within(exited, 1500))) s.kill()
  }
  const status = await exited
  times.record_end_mono = monoNow()
  return {stopReason: r, status}
}

/** `perf script` of the data file into the trace file. */
async function perfScript(
  perf: string,
  data: string,
  traceFile: string,
): Promise<{scriptArgs: string[]; scriptErr: string}> {
  let outFd: number
  try {
    outFd = fs.openSync(traceFile, 'w')
  } catch (error) {
    throw new CaptureError(ExitCode.TRACE_FAILED, `cannot write ${traceFile}: ${(error as Error).message}`)
  }
  const scriptArgs = ['script', ...PERF_SCRIPT_ARGS, '-i', data]
  let script: ExitStatus
  let scriptErr = ''
  try {
    const sc = spawn(perf, scriptArgs, {stdio: ['ignore', outFd, 'pipe']})
    sc.stderr!.on('data', (b: Buffer) => {
      scriptErr = (scriptErr + b.toString('utf8')).slice(-4000)
    })
    script = await exitOf(sc)
  } finally {
    fs.closeSync(outFd)
  }
  if (script.code !== 0)
    throw new CaptureError(
      ExitCode.PERF_FAILED,
      `perf ${scriptArgs.join(' ')} failed (${describeStatus(script)}): ${scriptErr.trim()}`,
    )
  return {scriptArgs, scriptErr}
}

interface PerfRecorded {
  target?: CaptureTarget
  mapsInfo?: MapsInfo
  paths: ReturnType<typeof outputPaths>
  times: Times
  stopReason: string
  status: ExitStatus
  perfVersion?: string
  recordArgs: string[]
  scriptArgs: string[]
  data: string
  stats: ReturnType<typeof parsePerfStats>
  stderrTail: string[]
  enabled: EventSpec[]
  missing: EventSpec[]
  lost: boolean
  lines: number
  bytes: number
  warnings: string[]
}

function perfMeta(o: PerfOptions, r: PerfRecorded): Record<string, unknown> {
  return {
    ...metaHeader(o, 'perf', r.target !== undefined),
    attach: r.target
      ? {
          pid: o.pid,
          tgid: r.target.tgid,
          comm: r.target.comm,
          maps_lines: r.mapsInfo?.lines ?? null,
          maps_snapshot_mono: r.mapsInfo?.snapshot_mono ?? null,
        }
      : null,
    trace_file: path.basename(r.paths.trace),
    maps_file: r.mapsInfo ? path.basename(r.paths.maps) : null,
    ...machineFacts(os.cpus().length),
    times: r.times,
    stop_reason: r.stopReason,
    // perf record exits with the launched command's exit code (and re-raises its fatal signal)
    exit_status: r.target ? null : r.status,
    perf: {
      exit_status: r.status,
      version: r.perfVersion,
      record: ['perf', ...r.recordArgs],
      script: ['perf', ...r.scriptArgs],
      data_file: o.keepData ? path.basename(r.data) : null,
      stats: r.stats,
      record_messages: r.stderrTail.filter((l) => l.startsWith('[ perf record')),
    },
    events: eventFacts(o, r.enabled, r.missing),
    loss: {lost: r.lost, perf_lost: r.stats.lost, perf_lost_samples: r.stats.lost_samples},
    output: {lines: r.lines, bytes: r.bytes},
    warnings: r.warnings,
    restore: {complete: true, failures: [], method: 'perf changes no tracing state'},
  }
}

export async function capturePerf(o: PerfOptions): Promise<CaptureResult> {
  const warnings: string[] = []
  const warn = (m: string): void => {
    warnings.push(m)
    o.log.warn(m)
  }
  const paths = outputPaths(o.out)
  const {perf, target, enabled, missing} = preflight(o, warn)

  const perfVersion = spawnSync(perf, ['--version'], {encoding: 'utf8'}).stdout?.trim()
  const s = new PerfSession()
  const data = o.keepData ? paths.trace.replace(/\.txt$/, '') + '.data' : path.join(s.tmp, 'perf.data')
  const times: Times = {}
  process.on('exit', s.kill)
  try {
    const {recordArgs, exited} = startRecord(
      perf,
      o,
      s,
      target,
      enabled.map((e) => e.name),
      data,
      times,
    )
    let mapsInfo: MapsInfo | undefined
    if (target && s.control) {
      mapsInfo = await enableAndSnapshot(s.control, exited, s, target.tgid, paths.maps, times, warn)
      o.log.info(
        `perf recording process ${target.tgid} (${target.comm})${o.durationS ? ` for ${o.durationS} s` : ''}; Ctrl-C stops`,
      )
    } else {
      o.log.info(
        `perf recording ${o.command!.join(' ')}${o.durationS ? ` for at most ${o.durationS} s` : ''}; Ctrl-C stops`,
      )
    }
    const {stopReason, status} = await waitForStop(o, s, exited, target?.tgid, times)
    // perf record exits with the signal/exit code of the workload in launch mode; it failed only if no data was written.
    if (!fs.existsSync(data) || fs.statSync(data).size === 0) {
      throw new CaptureError(
        ExitCode.PERF_FAILED,
        `perf record failed (${describeStatus(status)}): ${s.stderrTail.join(' | ')}`,
      )
    }

    const {scriptArgs, scriptErr} = await perfScript(perf, data, paths.trace)
    const stats = parsePerfStats(
      spawnSync(perf, ['report', '--stats', '-i', data], {encoding: 'utf8', maxBuffer: 1 << 26}).stdout ?? '',
    )
    const recordLost = s.stderrTail.some((l) => /lost \d+ chunks|LOST/.test(l))
    const lost = stats.lost > 0 || stats.lost_samples > 0 || recordLost
    if (lost)
      warn(
        `EVENTS WERE LOST (perf report --stats: LOST ${stats.lost}, LOST_SAMPLES ${stats.lost_samples}); capture again with a larger --buffer-kb`,
      )
    if (scriptErr.trim()) warnings.push(`perf script: ${scriptErr.trim().split('\n').slice(-3).join(' | ')}`)
    if (target === undefined && (status.code !== 0 || status.signal) && stopReason === 'exit') {
      warn(`perf record ended with ${describeStatus(status)} (usually the traced command's own status)`)
    }
    const {lines, bytes} = countLines(paths.trace)
    const meta = perfMeta(o, {
      target,
      mapsInfo,
      paths,
      times,
      stopReason,
      status,
      perfVersion,
      recordArgs,
      scriptArgs,
      data,
      stats,
      stderrTail: s.stderrTail,
      enabled,
      missing,
      lost,
      lines,
      bytes,
      warnings,
    })
    writeJson(paths.meta, meta)
    return {paths, meta, lost, warnings}
  } finally {
    s.close(o.stopper)
  }
}

/** Open both control FIFOs O_RDWR|O_NONBLOCK: never blocks, and perf's own opens then do not block either. */
function openControl(ctl: [string, string]): {ctl: number; ack: number; close(): void} {
  const flags = fs.constants.O_RDWR | fs.constants.O_NONBLOCK
  const c = fs.openSync(ctl[0], flags)
  const a = fs.openSync(ctl[1], flags)
  return {
    ctl: c,
    ack: a,
    close() {
      fs.closeSync(c)
      fs.closeSync(a)
    },
  }
}

/** Send a --control command and wait for perf's "ack" (false if perf exits or 30 s pass first). */
async function perfControl(fds: {ctl: number; ack: number}, cmd: string, done: () => boolean): Promise<boolean> {
  fs.writeSync(fds.ctl, `${cmd}\n`)
  const buf = Buffer.alloc(64)
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline && !done()) {
    try {
      const n = fs.readSync(fds.ack, buf, 0, buf.length, null)
      if (n > 0 && buf.subarray(0, n).toString().startsWith('ack')) return true
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error
    }
    await sleep(5)
  }
  return false
}

function countLines(file: string): {lines: number; bytes: number} {
  const fd = fs.openSync(file, 'r')
  const buf = Buffer.allocUnsafe(1 << 20)
  let lines = 0
  let bytes = 0
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null)
      if (n === 0) break
      bytes += n
      for (let i = buf.indexOf(10, 0); i !== -1 && i < n; i = buf.indexOf(10, i + 1)) lines++
    }
  } finally {
    fs.closeSync(fd)
  }
  return {lines, bytes}
}
