// perf backend: `perf record` with the same tracepoints (+ -d for data mmaps, -k mono), then
// `perf script --show-mmap-events --show-task-events -F +pid` into the output text, as one step.

import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {readEnvironment} from './environment.js'
import {CaptureError, ExitCode} from './errors.js'
import {parseAvailableEvents, requestedEvents, resolveEvents, splitEvent} from './events.js'
import {type ExitStatus, describeStatus} from './launch.js'
import {checkWritable, outputPaths, writeJson} from './output.js'
import {monoNow, processRunning, readStatus, resolveCommand} from './proc.js'
import {sleep, within} from './stop.js'
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

export function perfRecordArgs(events: readonly string[], o: {bufferKb: number; data: string; pid?: number; ctl?: [string, string]; command?: readonly string[]}): string[] {
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

export async function capturePerf(o: PerfOptions): Promise<CaptureResult> {
  const log = o.log
  const warnings: string[] = []
  const warn = (m: string): void => {
    warnings.push(m)
    log.warn(m)
  }
  const paths = outputPaths(o.out)
  if ((o.command === undefined || o.command.length === 0) === (o.pid === undefined)) {
    throw new CaptureError(ExitCode.USAGE, 'give either --pid PID (attach) or -- COMMAND ARGS... (launch), not both')
  }
  checkWritable(paths.trace)
  const perf = resolveCommand(o.perf ?? 'perf')
  if (perf === undefined) {
    throw new CaptureError(ExitCode.PERF_FAILED, `perf not found (${o.perf ?? 'perf'}); install it (apt-get install linux-perf) or use --backend ftrace`)
  }
  const isRoot = o.isRoot ?? process.getuid?.() === 0
  if (!isRoot) {
    throw new CaptureError(ExitCode.PERMISSION, 'recording tracepoints with perf needs root. Run as root (sudo vmareplay capture --backend perf …).')
  }
  const root = o.tracefs ?? DEFAULT_TRACEFS
  const io = new FsIo()
  ensureTracefs(root, io, {mountIfMissing: root === DEFAULT_TRACEFS, isRoot})
  let target: {tgid: number; comm: string} | undefined
  if (o.pid !== undefined) {
    const st = readStatus(o.pid)
    if (st === undefined || st.state.startsWith('Z')) {
      throw new CaptureError(ExitCode.UNKNOWN_PID, `no running process with pid ${o.pid} (check with: ps -p ${o.pid})`)
    }
    target = {tgid: st.tgid, comm: st.name}
  } else if (resolveCommand(o.command![0]) === undefined) {
    throw new CaptureError(ExitCode.COMMAND_NOT_FOUND, `command not found or not executable: ${o.command![0]} (give a path or check $PATH)`)
  }
  const requested = requestedEvents(o.events)
  for (const e of requested) splitEvent(e.name)
  const availFile = path.join(root, 'available_events')
  const {enabled, missing} = io.exists(availFile)
    ? resolveEvents(requested, parseAvailableEvents(io.read(availFile)))
    : {enabled: requested, missing: []}
  if (missing.length > 0) warn(`event(s) not available on this kernel, recording without them: ${missing.map((e) => e.name).join(', ')}`)
  if (enabled.length === 0) throw new CaptureError(ExitCode.TRACE_FAILED, 'none of the requested events exists on this kernel')

  const perfVersion = spawnSync(perf, ['--version'], {encoding: 'utf8'}).stdout?.trim()
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmareplay-perf-'))
  const data = o.keepData ? paths.trace.replace(/\.txt$/, '') + '.data' : path.join(tmp, 'perf.data')
  const times: Record<string, number | [number, number]> = {}
  let status: ExitStatus | undefined
  let stopReason: string | undefined
  let recordArgs: string[] = []
  let mapsInfo: {lines: number; snapshot_mono: [number, number]} | undefined
  const stderrTail: string[] = []
  let closeControl = (): void => {}
  let child: ChildProcess | undefined
  const killPerf = (): void => {
    if (child && child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGINT')
      } catch {
        // gone
      }
    }
  }
  process.on('exit', killPerf)
  try {
    let ctl: [string, string] | undefined
    if (target) {
      ctl = [path.join(tmp, 'ctl.fifo'), path.join(tmp, 'ack.fifo')]
      for (const f of ctl) {
        const r = spawnSync('mkfifo', ['-m', '600', f], {encoding: 'utf8'})
        if (r.status !== 0) throw new CaptureError(ExitCode.PERF_FAILED, `mkfifo ${f} failed: ${r.stderr || r.error?.message}`)
      }
    }
    const fds = ctl ? openControl(ctl) : undefined
    closeControl = () => fds?.close()
    recordArgs = perfRecordArgs(enabled.map((e) => e.name), {bufferKb: o.bufferKb, data, pid: target?.tgid, ctl, command: o.command})
    times.record_start_mono = monoNow()
    child = spawn(perf, recordArgs, {stdio: ['inherit', 'inherit', 'pipe']})
    const exited = exitOf(child)
    child.stderr!.on('data', (b: Buffer) => {
      process.stderr.write(b)
      for (const line of b.toString('utf8').split('\n')) {
        if (/perf record|lost|LOST|Warning|error|Error/.test(line)) stderrTail.push(line.trim())
      }
      if (stderrTail.length > 50) stderrTail.splice(0, stderrTail.length - 50)
    })
    let perfDone = false
    void exited.then(() => {
      perfDone = true
    })
    if (target && fds) {
      // Attach: perf opens the events disabled (-D -1); enable them, wait for the ack, THEN snapshot maps.
      const ack = await perfControl(fds, 'enable', () => perfDone)
      if (!ack) {
        const st = await exited
        throw new CaptureError(ExitCode.PERF_FAILED, `perf record exited before recording (${describeStatus(st)}): ${stderrTail.join(' | ')}`)
      }
      times.enabled_mono = monoNow()
      const m0 = monoNow()
      try {
        const maps = fs.readFileSync(`/proc/${target.tgid}/maps`, 'utf8')
        const m1 = monoNow()
        fs.writeFileSync(paths.maps, maps)
        mapsInfo = {lines: maps.split('\n').filter(Boolean).length, snapshot_mono: [m0, m1]}
      } catch (error) {
        warn(`could not snapshot /proc/${target.tgid}/maps: ${(error as Error).message}`)
      }
      log.info(`perf recording process ${target.tgid} (${target.comm})${o.durationS ? ` for ${o.durationS} s` : ''}; Ctrl-C stops`)
    } else {
      log.info(`perf recording ${o.command!.join(' ')}${o.durationS ? ` for at most ${o.durationS} s` : ''}; Ctrl-C stops`)
    }
    o.stopper.startTimer(o.durationS)
    const tg = target?.tgid
    const gone = (async (): Promise<'target-exit'> => {
      while (tg !== undefined && o.stopper.reason === undefined && processRunning(tg)) await sleep(100)
      if (tg === undefined) await new Promise(() => {})
      return 'target-exit'
    })()
    const r = await Promise.race([exited.then(() => 'exit' as const), o.stopper.promise, gone])
    stopReason = r
    if (r !== 'exit') {
      // perf stops on SIGINT (and SIGTERMs the command it launched). After Ctrl-C it got SIGINT already.
      if (r !== 'SIGINT' || !(await within(exited, 1500))) killPerf()
    }
    status = await exited
    times.record_end_mono = monoNow()
    // perf record exits with the signal/exit code of the workload in launch mode; it failed only if no data was written.
    if (!fs.existsSync(data) || fs.statSync(data).size === 0) {
      throw new CaptureError(ExitCode.PERF_FAILED, `perf record failed (${describeStatus(status)}): ${stderrTail.join(' | ')}`)
    }

    // perf script -> text
    let outFd: number
    try {
      outFd = fs.openSync(paths.trace, 'w')
    } catch (error) {
      throw new CaptureError(ExitCode.TRACE_FAILED, `cannot write ${paths.trace}: ${(error as Error).message}`)
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
    if (script.code !== 0) throw new CaptureError(ExitCode.PERF_FAILED, `perf ${scriptArgs.join(' ')} failed (${describeStatus(script)}): ${scriptErr.trim()}`)
    const stats = parsePerfStats(spawnSync(perf, ['report', '--stats', '-i', data], {encoding: 'utf8', maxBuffer: 1 << 26}).stdout ?? '')
    const recordLost = stderrTail.some((l) => /lost \d+ chunks|LOST/.test(l))
    const lost = stats.lost > 0 || stats.lost_samples > 0 || recordLost
    if (lost) warn(`EVENTS WERE LOST (perf report --stats: LOST ${stats.lost}, LOST_SAMPLES ${stats.lost_samples}); capture again with a larger --buffer-kb`)
    if (scriptErr.trim()) warnings.push(`perf script: ${scriptErr.trim().split('\n').slice(-3).join(' | ')}`)
    if (target === undefined && status && (status.code !== 0 || status.signal) && stopReason === 'exit') {
      warn(`perf record ended with ${describeStatus(status)} (usually the traced command's own status)`)
    }
    const {lines, bytes} = countLines(paths.trace)
    const meta: Record<string, unknown> = {
      format: 'vmareplay-capture-meta/1',
      tool: {name: 'vmareplay capture', version: o.toolVersion},
      backend: 'perf',
      mode: target ? 'attach' : 'launch',
      command: o.command ?? null,
      attach: target ? {pid: o.pid, tgid: target.tgid, comm: target.comm, maps_lines: mapsInfo?.lines ?? null, maps_snapshot_mono: mapsInfo?.snapshot_mono ?? null} : null,
      trace_file: path.basename(paths.trace),
      maps_file: mapsInfo ? path.basename(paths.maps) : null,
      kernel: {release: os.release(), version: os.version(), machine: os.machine()},
      environment: readEnvironment(),
      cpus: os.cpus().length,
      created: new Date().toISOString(),
      clock: 'mono',
      times,
      stop_reason: stopReason,
      // perf record exits with the launched command's exit code (and re-raises its fatal signal)
      exit_status: target ? null : (status ?? null),
      perf: {
        exit_status: status ?? null,
        version: perfVersion,
        record: ['perf', ...recordArgs],
        script: ['perf', ...scriptArgs],
        data_file: o.keepData ? path.basename(data) : null,
        stats,
        record_messages: stderrTail.filter((l) => l.startsWith('[ perf record')),
      },
      events: {
        enabled: enabled.map((e) => e.name),
        missing: missing.map((e) => e.name),
        groups: {kfault: o.events.kfault, pagecache: o.events.pagecache, extra: o.events.extra},
      },
      loss: {lost, perf_lost: stats.lost, perf_lost_samples: stats.lost_samples},
      output: {lines, bytes},
      warnings,
      restore: {complete: true, failures: [], method: 'perf changes no tracing state'},
    }
    writeJson(paths.meta, meta)
    return {paths, meta, lost, warnings}
  } finally {
    o.stopper.clearTimer()
    killPerf()
    closeControl()
    process.removeListener('exit', killPerf)
    fs.rmSync(tmp, {recursive: true, force: true})
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
