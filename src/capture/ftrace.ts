// ftrace backend: configure a tracefs instance (or the top-level buffer), follow the launched
// command or the attached process, save the trace text and restore every setting it changed.

import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {eventFacts, machineFacts, metaHeader} from './meta.js'
import {CaptureError, ExitCode, errnoOf} from './errors.js'
import {type EventSpec, splitEvent} from './events.js'
import {Journal, type RestoreFailure, restoreEntries} from './journal.js'
import {type BlockedWrapper, type ExitStatus, describeStatus, startBlockedWrapper, stopCommand} from './launch.js'
import {type Lock, acquireLock, pidAlive} from './lock.js'
import {
  type CpuStats,
  FtraceScanner,
  type TraceScan,
  copyFile,
  lossOf,
  outputPaths,
  readCpuStats,
  writeJson,
} from './output.js'
import {listTids, monoNow, processRunning} from './proc.js'
import {sleep} from './stop.js'
import {type CaptureTarget, checkArguments, requestEvents, resolveTarget} from './target.js'
import {DEFAULT_TRACEFS, FsIo, type TracefsIo, ensureTracefs} from './tracefs.js'
import type {CaptureResult, CommonOptions} from './types.js'

export const INSTANCE_PREFIX = 'vmareplay-'

export interface FtraceOptions extends CommonOptions {
  /** tracefs root (default /sys/kernel/tracing); tests pass a fake directory. */
  tracefs?: string
  io?: TracefsIo
  /** Capture in a private tracefs instance (default) instead of the top-level buffer. */
  instance: boolean
  /** Lock file guarding the top-level buffer (global mode only). */
  lockFile: string
  mountIfMissing?: boolean
  isRoot?: boolean
  /** Milliseconds to wait for the launch wrapper to block on its FIFO. */
  wrapperWaitMs?: number
  /** Grace period when stopping a launched command (ms). */
  graceMs?: number
}

/** The trace options the capture sets (only written when they differ), and why. */
export const FTRACE_OPTIONS: ReadonlyArray<{
  name: string
  value: string
  why: string
  required?: boolean
  globalOnly?: boolean
}> = [
  {name: 'record-tgid', value: '1', required: true, why: 'TGID column: which process each thread belongs to'},
  {name: 'event-fork', value: '1', required: true, why: 'children and threads of a traced task join set_event_pid'},
  {
    name: 'overwrite',
    value: '0',
    why: 'if the buffer fills, drop the newest events (counted as "dropped") instead of overwriting the start of the program',
  },
  {name: 'irq-info', value: '1', why: 'the standard flags column (`d....`) the parsers expect'},
  {name: 'context-info', value: '1', why: 'COMM-PID, CPU and timestamp columns'},
  {
    name: 'record-cmd',
    value: '1',
    globalOnly: true,
    why: 'resolve COMM names (top-level only; instances use the global setting)',
  },
  {name: 'markers', value: '1', why: 'allow trace_marker writes (attach-mode maps_snapshot markers)'},
  {name: 'hash-ptr', value: '1', why: 'mm= pointers hashed as in the corpus'},
  {name: 'raw', value: '0', why: 'text format, not raw numbers'},
  {name: 'hex', value: '0', why: 'text format'},
  {name: 'bin', value: '0', why: 'text format'},
  {name: 'latency-format', value: '0', why: 'standard (non-latency) line layout'},
  {name: 'stacktrace', value: '0', why: 'no kernel stack after every event'},
  {name: 'userstacktrace', value: '0', why: 'no user stack after every event'},
  {name: 'verbose', value: '0', why: 'standard line layout'},
]

function memAvailableKb(): number | undefined {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'))
    return m ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

/** 128 MiB per CPU, but at most a quarter of the available memory over all CPUs; at least 4 MiB. */
export function defaultBufferKb(cpus = os.cpus().length || 1, availKb = memAvailableKb()): number {
  let kb = 131072
  if (availKb !== undefined) kb = Math.min(kb, Math.floor(availKb / 4 / cpus / 1024) * 1024)
  return Math.max(kb, 4096)
}

interface AttachInfo {
  pid: number
  tgid: number
  comm: string
  tids_at_attach: number
  tids_added_late: number
  maps_lines?: number
  maps_snapshot_mono?: [number, number]
}

type Warn = (message: string) => void

/**
 * Everything the capture changed, undone in one place: the tracefs settings (instance removed, or
 * the journal written back newest first), then the global-mode lock, then the launch wrapper.
 * Every exit path (return, throw, process exit) ends here; the second call returns the first's result.
 */
class FtraceTeardown {
  /** Where the capture writes: the tracefs root, or the instance directory once it exists. */
  dir: string
  instance: string | undefined
  lock: Lock | undefined
  wrapper: BlockedWrapper | undefined
  journal: Journal | undefined
  failures: RestoreFailure[] = []
  private tornDown = false

  constructor(
    private readonly io: TracefsIo,
    root: string,
  ) {
    this.dir = root
  }

  restore(): RestoreFailure[] {
    if (this.tornDown) return this.failures
    this.tornDown = true
    const failures: RestoreFailure[] = []
    if (this.instance !== undefined) {
      try {
        this.io.write(path.join(this.dir, 'tracing_on'), '0')
      } catch {
        // removing the instance below stops it anyway
      }
      try {
        this.io.rmdirInstance(this.dir)
      } catch (error) {
        failures.push({file: this.dir, value: '(remove instance)', error: (error as Error).message})
      }
    } else if (this.journal) {
      failures.push(...this.journal.restore())
    }
    if (this.lock) {
      if (failures.length === 0) this.lock.release()
      // else: keep the lock with the journal, so the next capture retries the restore
    }
    this.wrapper?.cleanup()
    this.failures = failures
    return failures
  }

  /** The end of the capture, whether it succeeded or not. */
  close(stopper: FtraceOptions['stopper']): RestoreFailure[] {
    if (this.wrapper && this.wrapper.status() === undefined) {
      // an error while the command runs: do not leave it behind untraced
      try {
        process.kill(this.wrapper.pid, 'SIGTERM')
      } catch {
        // gone
      }
    }
    stopper.clearTimer()
    return this.restore()
  }
}

/** Checks that change nothing: arguments, output file, tracefs, the target, the events. */
function preflight(
  o: FtraceOptions,
  io: TracefsIo,
  root: string,
  warn: Warn,
): {target?: CaptureTarget; requested: EventSpec[]; available?: Set<string>; cpus: number} {
  checkArguments(o)
  const isRoot = o.isRoot ?? process.getuid?.() === 0
  ensureTracefs(root, io, {mountIfMissing: o.mountIfMissing ?? root === DEFAULT_TRACEFS, isRoot})
  const target = resolveTarget(o)
  const {requested, available} = requestEvents(o, io, root)

  const avail = memAvailableKb()
  const cpus = os.cpus().length || 1
  if (avail !== undefined && o.bufferKb * cpus > avail / 2) {
    warn(
      `--buffer-kb ${o.bufferKb} × ${cpus} CPUs is more than half of the available memory (${Math.round(avail / 1024)} MiB)`,
    )
  }
  return {target, requested, available, cpus}
}

/** Where to record: a private instance, or the top-level buffer under a lock. Returns the journal of changes. */
function openBuffer(o: FtraceOptions, io: TracefsIo, root: string, t: FtraceTeardown, warn: Warn): Journal {
  if (o.instance) {
    const instDir = path.join(root, 'instances')
    if (!io.exists(instDir)) {
      warn(`${instDir} does not exist (kernel without tracefs instances); using the top-level buffer`)
    } else {
      removeStaleInstances(io, instDir, warn)
      t.instance = `${INSTANCE_PREFIX}${process.pid}`
      try {
        io.mkdirInstance(path.join(instDir, t.instance))
      } catch (error) {
        t.instance = undefined
        const code = errnoOf(error)
        throw new CaptureError(
          code === 'EACCES' || code === 'EPERM' ? ExitCode.PERMISSION : ExitCode.TRACE_FAILED,
          `cannot create the tracefs instance ${path.join(instDir, `${INSTANCE_PREFIX}${process.pid}`)}: ${(error as Error).message}. ` +
            'Run as root, or use --no-instance to capture in the top-level buffer.',
        )
      }
      t.dir = path.join(instDir, t.instance)
    }
  }
  if (t.instance === undefined) {
    const lock = acquireLock(o.lockFile, root)
    t.lock = lock
    if (lock.stale) {
      const f = restoreEntries(io, lock.stale.dir, lock.stale.journal)
      warn(
        `restored ${lock.stale.journal.length - f.length} tracing setting(s) left changed by a killed capture (pid ${lock.stale.pid})` +
          (f.length ? `; could not restore: ${f.map((x) => x.file).join(', ')}` : ''),
      )
    }
  }
  const lock = t.lock
  t.journal = new Journal(io, t.dir, lock ? (entries) => lock.update(entries) : undefined)
  return t.journal
}

/** Instances named after a capture that no longer runs (or after this pid, reused). */
function removeStaleInstances(io: TracefsIo, instDir: string, warn: Warn): void {
  for (const name of io.list(instDir)) {
    const m = new RegExp(`^${INSTANCE_PREFIX}(\\d+)$`).exec(name)
    if (m && (Number(m[1]) === process.pid || !pidAlive(Number(m[1])))) {
      try {
        io.rmdirInstance(path.join(instDir, name))
        warn(`removed the stale tracefs instance ${name} left by a killed capture`)
      } catch {
        // not fatal
      }
    }
  }
}

/** Stop the buffer and configure tracer, clock, options, size, events and filters; clear the buffer. */
function configure(
  o: FtraceOptions,
  j: Journal,
  root: string,
  inInstance: boolean,
  requested: readonly EventSpec[],
  available: Set<string> | undefined,
  warn: Warn,
): {enabled: EventSpec[]; missing: EventSpec[]; optionsSet: Record<string, string>} {
  const {io} = j
  j.set('tracing_on', '0')
  if (!inInstance) {
    if (j.has('current_tracer')) j.ensure('current_tracer', 'nop')
    // Other users' events would pollute the trace: disable them for the capture (restored afterwards).
    if (j.has('set_event')) {
      const ours = new Set(requested.map((e) => e.name))
      for (const name of io
        .read(j.abs('set_event'))
        .split('\n')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const i = name.indexOf(':')
        if (ours.has(name) || i <= 0) continue
        const f = `events/${name.slice(0, i)}/${name.slice(i + 1)}/enable`
        if (j.has(f)) j.ensure(f, '0')
      }
    }
    if (j.has('set_event_notrace_pid')) j.ensure('set_event_notrace_pid', '')
  }
  if (!/\bmono\b/.test(io.read(j.abs('trace_clock')))) {
    throw new CaptureError(
      ExitCode.TRACE_FAILED,
      `this kernel's trace_clock has no "mono" clock (${io.read(j.abs('trace_clock')).trim()})`,
    )
  }
  j.ensure('trace_clock', 'mono')
  const optionsSet = setOptions(j, root, inInstance, warn)
  try {
    j.ensure('buffer_size_kb', String(o.bufferKb))
  } catch (error) {
    throw new CaptureError(
      ExitCode.TRACE_FAILED,
      `cannot size the trace buffer to ${o.bufferKb} KiB per CPU: ${(error as Error).message}. Use a smaller --buffer-kb.`,
    )
  }
  const {enabled, missing} = enableEvents(j, requested, available, warn)
  j.set('set_event_pid', '')
  io.write(j.abs('trace'), '') // clear the buffer
  return {enabled, missing, optionsSet}
}

/** FTRACE_OPTIONS, written where they differ; the top-level-only ones are checked, not changed, in an instance. */
function setOptions(j: Journal, root: string, inInstance: boolean, warn: Warn): Record<string, string> {
  const optionsSet: Record<string, string> = {}
  for (const opt of FTRACE_OPTIONS) {
    if (opt.globalOnly && inInstance) {
      const g = path.join(root, 'options', opt.name)
      if (j.io.exists(g) && j.io.read(g).trim() !== opt.value)
        warn(`top-level option ${opt.name} is ${j.io.read(g).trim()}, not ${opt.value} (${opt.why}); left unchanged`)
      continue
    }
    const f = `options/${opt.name}`
    if (!j.has(f)) {
      if (opt.required) warn(`option ${opt.name} does not exist on this kernel (${opt.why})`)
      continue
    }
    j.ensure(f, opt.value)
    optionsSet[opt.name] = opt.value
  }
  return optionsSet
}

/** Enable each requested event that exists, clearing its filter; fail if none exists. */
function enableEvents(
  j: Journal,
  requested: readonly EventSpec[],
  available: Set<string> | undefined,
  warn: Warn,
): {enabled: EventSpec[]; missing: EventSpec[]} {
  const enabled: EventSpec[] = []
  const missing: EventSpec[] = []
  for (const e of requested) {
    const [sys, ev] = splitEvent(e.name)
    const enable = `events/${sys}/${ev}/enable`
    if ((available && !available.has(e.name)) || !j.has(enable)) {
      missing.push(e)
      continue
    }
    const filter = `events/${sys}/${ev}/filter`
    if (j.has(filter) && j.ensure(filter, 'none'))
      warn(`cleared an event filter on ${e.name} for the capture (restored afterwards)`)
    j.set(enable, '1')
    enabled.push(e)
  }
  if (missing.length > 0) {
    warn(`event(s) not available on this kernel, recording without them: ${missing.map((e) => e.name).join(', ')}`)
  }
  if (enabled.length === 0)
    throw new CaptureError(ExitCode.TRACE_FAILED, 'none of the requested events exists on this kernel')
  return {enabled, missing}
}

type Times = Record<string, number | [number, number]>

/** Write tracing_on, bracketed by the monotonic clock read before and after. */
function switchTracing(j: Journal, value: '0' | '1', times: Times, key: string): void {
  const t0 = monoNow()
  j.io.write(j.abs('tracing_on'), value)
  times[key] = [t0, monoNow()]
}

/** Launch mode: start the command blocked, filter on its pid, trace it until it exits or the stopper fires. */
async function recordLaunch(
  o: FtraceOptions,
  j: Journal,
  t: FtraceTeardown,
  times: Times,
  warn: Warn,
): Promise<{commandPid: number; stopReason: string; status?: ExitStatus}> {
  const w = await startBlockedWrapper(o.command!, {waitMs: o.wrapperWaitMs})
  t.wrapper = w
  if (!w.blocked)
    warn('could not see the launch wrapper block on its FIFO; the trace may start with a few shell start-up events')
  j.set('set_event_pid', String(w.pid))
  switchTracing(j, '1', times, 'tracing_on_mono')
  w.release()
  o.log.info(
    `tracing ${o.command!.join(' ')} (pid ${w.pid})${o.durationS ? ` for at most ${o.durationS} s` : ''}; Ctrl-C stops`,
  )
  o.stopper.startTimer(o.durationS)
  const r = await Promise.race([w.exited.then(() => 'exit' as const), o.stopper.promise])
  if (r !== 'exit') {
    o.log.info(`stopping (${r}): terminating ${o.command![0]} (pid ${w.pid})`)
    await stopCommand(w, r, o.graceMs)
  }
  return {commandPid: w.pid, stopReason: r, status: w.status()}
}

/** Attach mode: filter on the process's threads, snapshot its maps once tracing is on, trace until it exits or the stopper fires. */
async function recordAttach(
  o: FtraceOptions,
  j: Journal,
  target: CaptureTarget,
  times: Times,
  warn: Warn,
): Promise<{attachInfo: AttachInfo; stopReason: string}> {
  const {io} = j
  const tids = listTids(target.tgid)
  if (tids.length === 0)
    throw new CaptureError(ExitCode.UNKNOWN_PID, `process ${target.tgid} exited before tracing started`)
  j.set('set_event_pid', tids.join(' '))
  switchTracing(j, '1', times, 'tracing_on_mono')
  // Threads created between the listing and tracing_on are not in the filter yet: add them.
  const late = listTids(target.tgid).filter((t) => !tids.includes(t))
  if (late.length > 0) io.append(j.abs('set_event_pid'), late.join(' '))
  const attachInfo: AttachInfo = {
    pid: target.pid,
    tgid: target.tgid,
    comm: target.comm,
    tids_at_attach: tids.length,
    tids_added_late: late.length,
  }
  snapshotMaps(j, target.tgid, outputPaths(o.out).maps, attachInfo, warn)
  o.log.info(
    `tracing process ${target.tgid} (${target.comm}, ${tids.length + late.length} threads)` +
      `${o.durationS ? ` for ${o.durationS} s` : ''}; Ctrl-C stops`,
  )
  o.stopper.startTimer(o.durationS)
  const tg = target.tgid
  const gone = (async (): Promise<'target-exit'> => {
    while (o.stopper.reason === undefined && processRunning(tg)) await sleep(100)
    return 'target-exit'
  })()
  const stopReason = await Promise.race([o.stopper.promise, gone])
  o.stopper.stop(stopReason as 'target-exit')
  return {attachInfo, stopReason}
}

/** Snapshot the address space AFTER tracing is on (every later change is in the trace), between two trace markers. */
function snapshotMaps(j: Journal, tgid: number, mapsFile: string, attachInfo: AttachInfo, warn: Warn): void {
  const marker = j.abs('trace_marker')
  const hasMarker = j.io.exists(marker)
  if (hasMarker) j.io.append(marker, `maps_snapshot_begin pid=${tgid}`)
  const m0 = monoNow()
  let maps: string | undefined
  try {
    maps = fs.readFileSync(`/proc/${tgid}/maps`, 'utf8')
  } catch (error) {
    warn(`could not read /proc/${tgid}/maps: ${(error as Error).message}`)
  }
  const m1 = monoNow()
  if (hasMarker) j.io.append(marker, `maps_snapshot_end pid=${tgid}`)
  if (maps !== undefined) {
    try {
      fs.writeFileSync(mapsFile, maps)
    } catch (error) {
      throw new CaptureError(ExitCode.TRACE_FAILED, `cannot write ${mapsFile}: ${(error as Error).message}`)
    }
    attachInfo.maps_lines = maps.split('\n').filter(Boolean).length
    attachInfo.maps_snapshot_mono = [m0, m1]
  }
}

/** Stop tracing, read the per-CPU stats and copy the buffer to the trace file, scanning it on the way. */
async function stopAndDrain(o: FtraceOptions, j: Journal, times: Times): Promise<{stats: CpuStats[]; scan: TraceScan}> {
  switchTracing(j, '0', times, 'tracing_off_mono')
  const stats = readCpuStats(j.io, j.dir)
  const scanner = new FtraceScanner()
  await copyFile(
    j.abs('trace'),
    outputPaths(o.out).trace,
    (b) => scanner.push(b),
    () => o.stopper.aborted,
  )
  return {stats, scan: scanner.end()}
}

/** The error a failed capture ends with (after the restore was attempted). */
function captureFailure(
  primary: unknown,
  restoreFailures: readonly RestoreFailure[],
  log: FtraceOptions['log'],
): CaptureError {
  if (restoreFailures.length > 0) log.warn(`could not restore: ${failureText(restoreFailures)}`)
  if (primary instanceof CaptureError) return primary
  const code = errnoOf(primary)
  return new CaptureError(
    code === 'EACCES' || code === 'EPERM' ? ExitCode.PERMISSION : ExitCode.TRACE_FAILED,
    `tracefs operation failed: ${(primary as Error).message}`,
  )
}

function failureText(failures: readonly RestoreFailure[]): string {
  return failures.map((f) => `${f.file} (wanted ${JSON.stringify(f.value)}: ${f.error})`).join('; ')
}

interface Recorded {
  target?: CaptureTarget
  cpus: number
  enabled: EventSpec[]
  missing: EventSpec[]
  optionsSet: Record<string, string>
  times: Times
  attachInfo?: AttachInfo
  status?: ExitStatus
  stopReason?: string
  commandPid?: number
  stats: CpuStats[]
  scan?: TraceScan
}

function ftraceMeta(
  o: FtraceOptions,
  root: string,
  r: Recorded,
  loss: {lost: boolean; reasons: string[]},
  t: FtraceTeardown,
  warnings: string[],
): Record<string, unknown> {
  const paths = outputPaths(o.out)
  return {
    ...metaHeader(o, 'ftrace', r.target !== undefined),
    command_pid: r.commandPid ?? null,
    attach: r.attachInfo ?? null,
    trace_file: path.basename(paths.trace),
    maps_file: r.attachInfo?.maps_lines !== undefined ? path.basename(paths.maps) : null,
    ...machineFacts(r.cpus),
    times: r.times,
    stop_reason: r.stopReason,
    exit_status: r.status ?? null,
    ftrace: {
      tracefs: root,
      instance: t.instance ?? null,
      buffer_size_kb: o.bufferKb,
      options: r.optionsSet,
      pid_filter: 'set_event_pid + options/event-fork',
    },
    events: eventFacts(o, r.enabled, r.missing),
    loss: {lost: loss.lost, reasons: loss.reasons, trace: r.scan ?? null, per_cpu: r.stats},
    output: {lines: r.scan?.lines ?? 0, bytes: r.scan?.bytes ?? 0},
    warnings,
    restore: {
      complete: t.failures.length === 0,
      failures: t.failures,
      method: t.instance ? 'instance removed' : 'journal written back',
    },
  }
}

export async function captureFtrace(o: FtraceOptions): Promise<CaptureResult> {
  const io = o.io ?? new FsIo()
  const root = o.tracefs ?? DEFAULT_TRACEFS
  const warnings: string[] = []
  const warn = (m: string): void => {
    warnings.push(m)
    o.log.warn(m)
  }
  const paths = outputPaths(o.out)

  // nothing is changed until all checks pass
  const {target, requested, available, cpus} = preflight(o, io, root, warn)

  const t = new FtraceTeardown(io, root)
  const onExit = (): void => {
    t.restore()
  }
  process.on('exit', onExit)

  let primary: unknown
  const r: Recorded = {target, cpus, enabled: [], missing: [], optionsSet: {}, times: {}, stats: []}
  try {
    const j = openBuffer(o, io, root, t, warn)
    Object.assign(r, configure(o, j, root, t.instance !== undefined, requested, available, warn))
    Object.assign(
      r,
      target === undefined
        ? await recordLaunch(o, j, t, r.times, warn)
        : await recordAttach(o, j, target, r.times, warn),
    )
    Object.assign(r, await stopAndDrain(o, j, r.times))
  } catch (error) {
    primary = error
  } finally {
    t.close(o.stopper)
    process.removeListener('exit', onExit)
  }
  if (primary !== undefined) throw captureFailure(primary, t.failures, o.log)

  const loss = lossOf(r.scan, r.stats)
  if (loss.lost)
    warn(`EVENTS WERE LOST (${loss.reasons.join('; ')}); capture again with a larger --buffer-kb (now ${o.bufferKb})`)
  if (r.status && (r.status.code !== 0 || r.status.signal))
    warn(`the traced command ended with ${describeStatus(r.status)}`)

  const meta = ftraceMeta(o, root, r, loss, t, warnings)
  writeJson(paths.meta, meta)
  if (t.failures.length > 0) {
    throw new CaptureError(
      ExitCode.RESTORE_FAILED,
      `trace saved to ${paths.trace}, but some tracing settings could not be restored: ${failureText(t.failures)}. ` +
        (t.lock
          ? `The next capture retries from ${o.lockFile}; or write the values back by hand.`
          : 'Remove the instance by hand (rmdir).'),
    )
  }
  return {paths, meta, lost: loss.lost, warnings}
}
