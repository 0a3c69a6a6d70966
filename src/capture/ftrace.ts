// ftrace backend: configure a tracefs instance (or the top-level buffer), follow the launched
// command or the attached process, save the trace text and restore every setting it changed.

import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {readEnvironment} from './environment.js'
import {CaptureError, ExitCode, errnoOf} from './errors.js'
import {type EventSpec, parseAvailableEvents, requestedEvents, splitEvent} from './events.js'
import {Journal, type RestoreFailure, restoreEntries} from './journal.js'
import {type BlockedWrapper, type ExitStatus, describeStatus, startBlockedWrapper, stopCommand} from './launch.js'
import {type Lock, acquireLock, pidAlive} from './lock.js'
import {
  type CpuStats,
  FtraceScanner,
  type TraceScan,
  checkWritable,
  copyFile,
  lossOf,
  outputPaths,
  readCpuStats,
  writeJson,
} from './output.js'
import {listTids, monoNow, processRunning, readStatus, resolveCommand} from './proc.js'
import {sleep} from './stop.js'
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
export const FTRACE_OPTIONS: ReadonlyArray<{name: string; value: string; why: string; required?: boolean; globalOnly?: boolean}> = [
  {name: 'record-tgid', value: '1', required: true, why: 'TGID column: which process each thread belongs to'},
  {name: 'event-fork', value: '1', required: true, why: 'children and threads of a traced task join set_event_pid'},
  {name: 'overwrite', value: '0', why: 'if the buffer fills, drop the newest events (counted as "dropped") instead of overwriting the start of the program'},
  {name: 'irq-info', value: '1', why: 'the standard flags column (`d....`) the parsers expect'},
  {name: 'context-info', value: '1', why: 'COMM-PID, CPU and timestamp columns'},
  {name: 'record-cmd', value: '1', globalOnly: true, why: 'resolve COMM names (top-level only; instances use the global setting)'},
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

export async function captureFtrace(o: FtraceOptions): Promise<CaptureResult> {
  const io = o.io ?? new FsIo()
  const root = o.tracefs ?? DEFAULT_TRACEFS
  const log = o.log
  const warnings: string[] = []
  const warn = (m: string): void => {
    warnings.push(m)
    log.warn(m)
  }
  const paths = outputPaths(o.out)

  // ---- preflight: nothing is changed until all checks pass ----
  if ((o.command === undefined || o.command.length === 0) === (o.pid === undefined)) {
    throw new CaptureError(ExitCode.USAGE, 'give either --pid PID (attach) or -- COMMAND ARGS... (launch), not both')
  }
  checkWritable(paths.trace)
  const isRoot = o.isRoot ?? process.getuid?.() === 0
  ensureTracefs(root, io, {mountIfMissing: o.mountIfMissing ?? root === DEFAULT_TRACEFS, isRoot})

  let target: {pid: number; tgid: number; comm: string} | undefined
  if (o.pid !== undefined) {
    const st = readStatus(o.pid)
    if (st === undefined || st.state.startsWith('Z') || st.state.startsWith('X')) {
      throw new CaptureError(ExitCode.UNKNOWN_PID, `no running process with pid ${o.pid} (check with: ps -p ${o.pid})`)
    }
    target = {pid: o.pid, tgid: st.tgid, comm: st.name}
    if (st.tgid !== o.pid) log.info(`pid ${o.pid} is a thread of process ${st.tgid}; attaching to the whole process ${st.tgid}`)
  } else if (resolveCommand(o.command![0]) === undefined) {
    throw new CaptureError(ExitCode.COMMAND_NOT_FOUND, `command not found or not executable: ${o.command![0]} (give a path or check $PATH)`)
  }

  const requested = requestedEvents(o.events)
  for (const e of requested) splitEvent(e.name)
  const availFile = path.join(root, 'available_events')
  const available = io.exists(availFile) ? parseAvailableEvents(io.read(availFile)) : undefined

  const avail = memAvailableKb()
  const cpus = os.cpus().length || 1
  if (avail !== undefined && o.bufferKb * cpus > avail / 2) {
    warn(`--buffer-kb ${o.bufferKb} × ${cpus} CPUs is more than half of the available memory (${Math.round(avail / 1024)} MiB)`)
  }

  // ---- setup ----
  let dir = root
  let instance: string | undefined
  let lock: Lock | undefined
  let wrapper: BlockedWrapper | undefined
  let journal: Journal | undefined
  let tornDown = false
  let restoreFailures: RestoreFailure[] = []

  const teardown = (): RestoreFailure[] => {
    if (tornDown) return restoreFailures
    tornDown = true
    const failures: RestoreFailure[] = []
    if (instance !== undefined) {
      try {
        io.write(path.join(dir, 'tracing_on'), '0')
      } catch {
        // removing the instance below stops it anyway
      }
      try {
        io.rmdirInstance(dir)
      } catch (error) {
        failures.push({file: dir, value: '(remove instance)', error: (error as Error).message})
      }
    } else if (journal) {
      failures.push(...journal.restore())
    }
    if (lock) {
      if (failures.length === 0) lock.release()
      // else: keep the lock with the journal, so the next capture retries the restore
    }
    wrapper?.cleanup()
    restoreFailures = failures
    return failures
  }
  const onExit = (): void => {
    teardown()
  }
  process.on('exit', onExit)

  let primary: unknown
  let scan: TraceScan | undefined
  let stats: CpuStats[] = []
  const enabled: EventSpec[] = []
  const missing: EventSpec[] = []
  const optionsSet: Record<string, string> = {}
  const times: Record<string, number | [number, number]> = {}
  let attachInfo: AttachInfo | undefined
  let status: ExitStatus | undefined
  let stopReason: string | undefined
  let commandPid: number | undefined

  try {
    // 1. where: a private instance, or the top-level buffer under a lock
    if (o.instance) {
      const instDir = path.join(root, 'instances')
      if (!io.exists(instDir)) {
        warn(`${instDir} does not exist (kernel without tracefs instances); using the top-level buffer`)
      } else {
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
        instance = `${INSTANCE_PREFIX}${process.pid}`
        try {
          io.mkdirInstance(path.join(instDir, instance))
        } catch (error) {
          instance = undefined
          const code = errnoOf(error)
          throw new CaptureError(
            code === 'EACCES' || code === 'EPERM' ? ExitCode.PERMISSION : ExitCode.TRACE_FAILED,
            `cannot create the tracefs instance ${path.join(instDir, `${INSTANCE_PREFIX}${process.pid}`)}: ${(error as Error).message}. ` +
              'Run as root, or use --no-instance to capture in the top-level buffer.',
          )
        }
        dir = path.join(instDir, instance)
      }
    }
    if (instance === undefined) {
      lock = acquireLock(o.lockFile, root)
      if (lock.stale) {
        const f = restoreEntries(io, lock.stale.dir, lock.stale.journal)
        warn(
          `restored ${lock.stale.journal.length - f.length} tracing setting(s) left changed by a killed capture (pid ${lock.stale.pid})` +
            (f.length ? `; could not restore: ${f.map((x) => x.file).join(', ')}` : ''),
        )
      }
    }
    const j = new Journal(io, dir, lock ? (entries) => lock!.update(entries) : undefined)
    journal = j

    // 2. stop and configure
    j.set('tracing_on', '0')
    if (instance === undefined) {
      if (j.has('current_tracer')) j.ensure('current_tracer', 'nop')
      // Other users' events would pollute the trace: disable them for the capture (restored afterwards).
      if (j.has('set_event')) {
        const ours = new Set(requested.map((e) => e.name))
        for (const name of io.read(path.join(dir, 'set_event')).split('\n').map((s) => s.trim()).filter(Boolean)) {
          const i = name.indexOf(':')
          if (ours.has(name) || i <= 0) continue
          const f = `events/${name.slice(0, i)}/${name.slice(i + 1)}/enable`
          if (j.has(f)) j.ensure(f, '0')
        }
      }
      if (j.has('set_event_notrace_pid')) j.ensure('set_event_notrace_pid', '')
    }
    if (!/\bmono\b/.test(io.read(j.abs('trace_clock')))) {
      throw new CaptureError(ExitCode.TRACE_FAILED, `this kernel's trace_clock has no "mono" clock (${io.read(j.abs('trace_clock')).trim()})`)
    }
    j.ensure('trace_clock', 'mono')
    for (const opt of FTRACE_OPTIONS) {
      if (opt.globalOnly && instance !== undefined) {
        const g = path.join(root, 'options', opt.name)
        if (io.exists(g) && io.read(g).trim() !== opt.value) warn(`top-level option ${opt.name} is ${io.read(g).trim()}, not ${opt.value} (${opt.why}); left unchanged`)
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
    try {
      j.ensure('buffer_size_kb', String(o.bufferKb))
    } catch (error) {
      throw new CaptureError(
        ExitCode.TRACE_FAILED,
        `cannot size the trace buffer to ${o.bufferKb} KiB per CPU: ${(error as Error).message}. Use a smaller --buffer-kb.`,
      )
    }
    for (const e of requested) {
      const [sys, ev] = splitEvent(e.name)
      const enable = `events/${sys}/${ev}/enable`
      if ((available && !available.has(e.name)) || !j.has(enable)) {
        missing.push(e)
        continue
      }
      const filter = `events/${sys}/${ev}/filter`
      if (j.has(filter) && j.ensure(filter, 'none')) warn(`cleared an event filter on ${e.name} for the capture (restored afterwards)`)
      j.set(enable, '1')
      enabled.push(e)
    }
    if (missing.length > 0) {
      warn(`event(s) not available on this kernel, recording without them: ${missing.map((e) => e.name).join(', ')}`)
    }
    if (enabled.length === 0) throw new CaptureError(ExitCode.TRACE_FAILED, 'none of the requested events exists on this kernel')
    j.set('set_event_pid', '')
    io.write(j.abs('trace'), '') // clear the buffer

    // 3. record
    const on = (): void => {
      const t0 = monoNow()
      io.write(j.abs('tracing_on'), '1')
      times.tracing_on_mono = [t0, monoNow()]
    }
    if (target === undefined) {
      wrapper = await startBlockedWrapper(o.command!, {waitMs: o.wrapperWaitMs})
      commandPid = wrapper.pid
      if (!wrapper.blocked) warn('could not see the launch wrapper block on its FIFO; the trace may start with a few shell start-up events')
      j.set('set_event_pid', String(wrapper.pid))
      on()
      wrapper.release()
      log.info(`tracing ${o.command!.join(' ')} (pid ${wrapper.pid})${o.durationS ? ` for at most ${o.durationS} s` : ''}; Ctrl-C stops`)
      o.stopper.startTimer(o.durationS)
      const w = wrapper
      const r = await Promise.race([w.exited.then(() => 'exit' as const), o.stopper.promise])
      stopReason = r
      if (r !== 'exit') {
        log.info(`stopping (${r}): terminating ${o.command![0]} (pid ${w.pid})`)
        await stopCommand(w, r, o.graceMs)
      }
      status = w.status()
    } else {
      const tids = listTids(target.tgid)
      if (tids.length === 0) throw new CaptureError(ExitCode.UNKNOWN_PID, `process ${target.tgid} exited before tracing started`)
      j.set('set_event_pid', tids.join(' '))
      on()
      // Threads created between the listing and tracing_on are not in the filter yet: add them.
      const late = listTids(target.tgid).filter((t) => !tids.includes(t))
      if (late.length > 0) io.append(j.abs('set_event_pid'), late.join(' '))
      attachInfo = {pid: target.pid, tgid: target.tgid, comm: target.comm, tids_at_attach: tids.length, tids_added_late: late.length}
      // Snapshot the address space AFTER tracing is on: every later change is in the trace.
      const marker = j.abs('trace_marker')
      const hasMarker = io.exists(marker)
      if (hasMarker) io.append(marker, `maps_snapshot_begin pid=${target.tgid}`)
      const m0 = monoNow()
      let maps: string | undefined
      try {
        maps = fs.readFileSync(`/proc/${target.tgid}/maps`, 'utf8')
      } catch (error) {
        warn(`could not read /proc/${target.tgid}/maps: ${(error as Error).message}`)
      }
      const m1 = monoNow()
      if (hasMarker) io.append(marker, `maps_snapshot_end pid=${target.tgid}`)
      if (maps !== undefined) {
        try {
          fs.writeFileSync(paths.maps, maps)
        } catch (error) {
          throw new CaptureError(ExitCode.TRACE_FAILED, `cannot write ${paths.maps}: ${(error as Error).message}`)
        }
        attachInfo.maps_lines = maps.split('\n').filter(Boolean).length
        attachInfo.maps_snapshot_mono = [m0, m1]
      }
      log.info(
        `tracing process ${target.tgid} (${target.comm}, ${tids.length + late.length} threads)` +
          `${o.durationS ? ` for ${o.durationS} s` : ''}; Ctrl-C stops`,
      )
      o.stopper.startTimer(o.durationS)
      const tg = target.tgid
      const gone = (async (): Promise<'target-exit'> => {
        while (o.stopper.reason === undefined && processRunning(tg)) await sleep(100)
        return 'target-exit'
      })()
      stopReason = await Promise.race([o.stopper.promise, gone])
      o.stopper.stop(stopReason as 'target-exit')
    }
    const t0 = monoNow()
    io.write(j.abs('tracing_on'), '0')
    times.tracing_off_mono = [t0, monoNow()]

    // 4. save
    stats = readCpuStats(io, dir)
    const scanner = new FtraceScanner()
    await copyFile(j.abs('trace'), paths.trace, (b) => scanner.push(b), () => o.stopper.aborted)
    scan = scanner.end()
  } catch (error) {
    primary = error
  } finally {
    if (wrapper && wrapper.status() === undefined) {
      // an error while the command runs: do not leave it behind untraced
      try {
        process.kill(wrapper.pid, 'SIGTERM')
      } catch {
        // gone
      }
    }
    o.stopper.clearTimer()
    teardown()
    process.removeListener('exit', onExit)
  }

  const failText = restoreFailures.map((f) => `${f.file} (wanted ${JSON.stringify(f.value)}: ${f.error})`).join('; ')
  if (primary !== undefined) {
    if (restoreFailures.length > 0) log.warn(`could not restore: ${failText}`)
    if (primary instanceof CaptureError) throw primary
    const code = errnoOf(primary)
    throw new CaptureError(
      code === 'EACCES' || code === 'EPERM' ? ExitCode.PERMISSION : ExitCode.TRACE_FAILED,
      `tracefs operation failed: ${(primary as Error).message}`,
    )
  }

  const loss = lossOf(scan, stats)
  if (loss.lost) warn(`EVENTS WERE LOST (${loss.reasons.join('; ')}); capture again with a larger --buffer-kb (now ${o.bufferKb})`)
  if (status && (status.code !== 0 || status.signal)) warn(`the traced command ended with ${describeStatus(status)}`)

  const meta: Record<string, unknown> = {
    format: 'vmareplay-capture-meta/1',
    tool: {name: 'vmareplay capture', version: o.toolVersion},
    backend: 'ftrace',
    mode: target ? 'attach' : 'launch',
    command: o.command ?? null,
    command_pid: commandPid ?? null,
    attach: attachInfo ?? null,
    trace_file: path.basename(paths.trace),
    maps_file: attachInfo?.maps_lines !== undefined ? path.basename(paths.maps) : null,
    kernel: {release: os.release(), version: os.version(), machine: os.machine()},
    environment: readEnvironment(),
    cpus,
    created: new Date().toISOString(),
    clock: 'mono',
    times,
    stop_reason: stopReason,
    exit_status: status ?? null,
    ftrace: {
      tracefs: root,
      instance: instance ?? null,
      buffer_size_kb: o.bufferKb,
      options: optionsSet,
      pid_filter: 'set_event_pid + options/event-fork',
    },
    events: {
      enabled: enabled.map((e) => e.name),
      missing: missing.map((e) => e.name),
      groups: {
        kfault: o.events.kfault,
        pagecache: o.events.pagecache,
        extra: o.events.extra,
      },
    },
    loss: {lost: loss.lost, reasons: loss.reasons, trace: scan ?? null, per_cpu: stats},
    output: {lines: scan?.lines ?? 0, bytes: scan?.bytes ?? 0},
    warnings,
    restore: {complete: restoreFailures.length === 0, failures: restoreFailures, method: instance ? 'instance removed' : 'journal written back'},
  }
  writeJson(paths.meta, meta)
  if (restoreFailures.length > 0) {
    throw new CaptureError(
      ExitCode.RESTORE_FAILED,
      `trace saved to ${paths.trace}, but some tracing settings could not be restored: ${failText}. ` +
        (lock ? `The next capture retries from ${o.lockFile}; or write the values back by hand.` : 'Remove the instance by hand (rmdir).'),
    )
  }
  return {paths, meta, lost: loss.lost, warnings}
}
