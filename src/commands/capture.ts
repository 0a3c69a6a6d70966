import {Command, Flags} from '@oclif/core'

import {
  CaptureError,
  DEFAULT_LOCK_FILE,
  DEFAULT_TRACEFS,
  EXIT_CODE_HELP,
  ExitCode,
  Stopper,
  defaultBufferKb,
  defaultOut,
  runCapture,
  splitEvent,
} from '../capture/index.js'

export default class Capture extends Command {
  static override summary = 'Record a real mm trace (ftrace or perf) of a command or a running process.'

  static override description = [
    'Records the tracepoints the replay and its validation use (page faults, mmap-family syscalls, mmap_lock, exec/fork/exit, page-cache events) for a launched command and its children (-- COMMAND ARGS...) or for a running process (--pid). Needs root.',
    'ftrace (default) works in a private tracefs instance (/sys/kernel/tracing/instances/vmareplay-<pid>) that is removed at the end, so the global tracing state is never touched and captures can run concurrently. With --no-instance it uses the top-level buffer under a lock file and writes every changed setting back afterwards, also on Ctrl-C and errors.',
    'Launch mode starts the command through a wrapper that blocks on a FIFO until tracing is on, so nothing of its start is lost. Attach mode turns tracing on first, then snapshots /proc/PID/maps into FILE.maps (between maps_snapshot_begin/end trace markers). The trace clock is mono (CLOCK_MONOTONIC) for both backends.',
    'Beside FILE it writes FILE.meta.json: kernel version, events enabled and missing, buffer size, loss counters, times. Lost events are reported as a warning and in the meta file. See docs/capture.md.',
    ['Exit codes:', ...EXIT_CODE_HELP.map(([c, t]) => `  ${String(c).padStart(2)}  ${t}`)].join('\n'),
  ].join('\n\n')

  static override usage = [
    'capture [--backend ftrace|perf] [--out FILE] [--duration S] [--pid PID | -- COMMAND ARGS...]',
  ]

  static override examples = [
    {
      description: 'Trace a short Python program from its first instruction (ftrace, launch mode)',
      command: '<%= config.bin %> <%= command.id %> --out py.trace.txt -- python3 traces/recipes/py_threads_small.py',
    },
    {
      description: 'Attach to a running process for 5 s; also writes node.maps',
      command: '<%= config.bin %> <%= command.id %> --pid 1234 --duration 5 --out node.trace.txt',
    },
    {
      description: 'The same tracepoints with perf (perf record + perf script in one step)',
      command: '<%= config.bin %> <%= command.id %> --backend perf --out xz.perf.txt -- xz -T2 -k -f big.tar',
    },
    {
      description: 'Bigger buffers and an extra event, in the top-level buffer',
      command:
        '<%= config.bin %> <%= command.id %> --buffer-kb 524288 --event maple_tree:ma_write --no-instance -- make -j2',
    },
  ]

  static override strict = false

  static override flags = {
    backend: Flags.option({
      options: ['ftrace', 'perf'] as const,
      default: 'ftrace',
      description: 'recorder: ftrace (tracefs) or perf record + perf script',
    })(),
    out: Flags.string({
      char: 'o',
      helpValue: 'FILE',
      description:
        'trace file to write (default vmareplay-<date>-<time>.trace.txt / .perf.txt); FILE.meta.json and, in attach mode, FILE.maps go beside it (a .trace.txt/.perf.txt suffix is dropped for those)',
    }),
    duration: Flags.string({
      helpValue: 'S',
      description:
        'stop after S seconds (decimals allowed; launch mode: the command is then terminated); default: until the command/process exits or Ctrl-C',
    }),
    pid: Flags.integer({
      char: 'p',
      helpValue: 'PID',
      min: 1,
      description: 'attach to this running process (all its threads; new threads/children are followed)',
    }),
    'buffer-kb': Flags.integer({
      helpValue: 'KB',
      min: 64,
      description:
        'per-CPU buffer in KiB (ftrace ring buffer / perf mmap buffer); default 131072, at most a quarter of free memory',
    }),
    kfault: Flags.boolean({
      default: true,
      allowNo: true,
      description: 'record exceptions:page_fault_kernel (kernel-mode faults always take mmap_lock)',
    }),
    pagecache: Flags.boolean({
      default: true,
      allowNo: true,
      description: 'record filemap:* and readahead:* events (page-cache hits/misses, I/O)',
    }),
    event: Flags.string({
      multiple: true,
      helpValue: 'SYS:EVENT',
      description: 'extra tracepoint subsystem:event to record (repeatable), e.g. maple_tree:ma_write',
    }),
    instance: Flags.boolean({
      default: true,
      allowNo: true,
      description:
        'ftrace: use a private tracefs instance (--no-instance: top-level buffer, serialised by a lock file)',
    }),
    tracefs: Flags.string({
      helpValue: 'DIR',
      default: DEFAULT_TRACEFS,
      description: 'tracefs mount point (mounted there if absent when it is the default)',
    }),
    'lock-file': Flags.string({
      default: DEFAULT_LOCK_FILE,
      description: 'lock file of --no-instance captures',
      hidden: true,
    }),
    'keep-data': Flags.boolean({default: false, description: 'perf: keep perf.data as FILE.perf.data (without .txt)'}),
  }

  public async run(): Promise<void> {
    const dd = this.argv.indexOf('--')
    const flagArgv = dd === -1 ? this.argv : this.argv.slice(0, dd)
    const command = dd === -1 ? [] : this.argv.slice(dd + 1)
    const {argv, flags} = await this.parse(Capture, flagArgv)
    if (argv.length > 0) {
      this.error(
        `unexpected argument(s) ${argv.join(' ')}: put -- before the command to launch (vmareplay capture [flags] -- COMMAND ARGS...)`,
        {exit: ExitCode.USAGE},
      )
    }
    if (command.length > 0 === (flags.pid !== undefined)) {
      this.error(
        command.length > 0
          ? 'give either --pid (attach) or -- COMMAND (launch), not both'
          : 'nothing to trace: give -- COMMAND ARGS... to launch, or --pid PID to attach',
        {exit: ExitCode.USAGE},
      )
    }
    let durationS: number | undefined
    if (flags.duration !== undefined) {
      durationS = Number(flags.duration)
      if (!Number.isFinite(durationS) || durationS <= 0) {
        this.error(`--duration must be a positive number of seconds, got ${flags.duration}`, {exit: ExitCode.USAGE})
      }
    }
    for (const e of flags.event ?? []) {
      try {
        splitEvent(e)
      } catch (error) {
        this.error(`--event: ${(error as Error).message}`, {exit: ExitCode.USAGE})
      }
    }
    const stopper = new Stopper()
    stopper.installSignals((sig, first) => {
      this.logToStderr(
        first
          ? `vmareplay capture: ${sig}: stopping, saving the trace and restoring tracing settings…`
          : `vmareplay capture: ${sig} again: not saving, restoring tracing settings…`,
      )
    })
    const log = {
      info: (m: string) => this.logToStderr(`vmareplay capture: ${m}`),
      warn: (m: string) => this.warn(m),
    }
    const common = {
      out: flags.out ?? defaultOut(flags.backend),
      command: command.length > 0 ? command : undefined,
      pid: flags.pid,
      durationS,
      bufferKb: flags['buffer-kb'] ?? defaultBufferKb(),
      events: {kfault: flags.kfault, pagecache: flags.pagecache, extra: flags.event ?? []},
      log,
      stopper,
      toolVersion: this.config.version,
    }
    try {
      const res =
        flags.backend === 'perf'
          ? await runCapture({backend: 'perf', ...common, tracefs: flags.tracefs, keepData: flags['keep-data']})
          : await runCapture({
              backend: 'ftrace',
              ...common,
              tracefs: flags.tracefs,
              instance: flags.instance,
              lockFile: flags['lock-file'],
            })
      const out = res.meta.output as {lines: number; bytes: number}
      this.logToStderr(
        `vmareplay capture: saved ${res.paths.trace} (${out.lines} lines, ${(out.bytes / 1048576).toFixed(1)} MiB), ${res.paths.meta}` +
          (res.meta.maps_file ? `, ${res.paths.maps}` : '') +
          (res.lost ? ' — EVENTS WERE LOST, see the warning above' : ', no events lost'),
      )
    } catch (error) {
      if (error instanceof CaptureError) this.error(error.message, {exit: error.code})
      throw error
    } finally {
      stopper.dispose()
    }
  }
}
