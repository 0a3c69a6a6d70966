// A fake tracefs directory for unit tests of the capture: regular files with the kernel's initial
// contents, an Io that records every write, emulates instance creation and "fills" the trace buffer.

import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {MM_SYSCALLS} from '../../src/capture/events.js'
import {normalize} from '../../src/capture/journal.js'
import {FsIo, type WriteRecord} from '../../src/capture/tracefs.js'

export const FAKE_EVENTS = [
  'exceptions:page_fault_user',
  'exceptions:page_fault_kernel',
  'raw_syscalls:sys_enter',
  'raw_syscalls:sys_exit',
  'mmap_lock:mmap_lock_start_locking',
  'mmap_lock:mmap_lock_acquire_returned',
  'mmap_lock:mmap_lock_released',
  // mmap:vm_unmapped_area deliberately missing: "an event that does not exist on this kernel"
  'mmap:exit_mmap',
  'sched:sched_process_fork',
  'sched:sched_process_exec',
  'sched:sched_process_exit',
  'sched:sched_switch',
  'task:task_newtask',
  ...MM_SYSCALLS.flatMap((s) => [`syscalls:sys_enter_${s}`, `syscalls:sys_exit_${s}`]),
  'filemap:mm_filemap_add_to_page_cache',
  'filemap:mm_filemap_delete_from_page_cache',
  'filemap:mm_filemap_fault',
  'filemap:mm_filemap_map_pages',
  'filemap:mm_filemap_get_pages',
  'readahead:page_cache_sync_ra',
  'readahead:page_cache_async_ra',
]

export const OPTION_DEFAULTS: Record<string, string> = {
  'record-tgid': '0',
  'event-fork': '0',
  overwrite: '1',
  'irq-info': '1',
  'context-info': '1',
  'record-cmd': '1',
  markers: '1',
  'hash-ptr': '1',
  raw: '0',
  hex: '0',
  bin: '0',
  'latency-format': '0',
  stacktrace: '0',
  userstacktrace: '0',
  verbose: '0',
}

export const CLOCKS = ['local', 'global', 'counter', 'uptime', 'perf', 'mono', 'mono_raw', 'boot', 'tai', 'x86-tsc']

export const CANNED_TRACE = `# tracer: nop
#
# entries-in-buffer/entries-written: 3/3   #P:2
#
#           TASK-PID       TGID    CPU#  |||||  TIMESTAMP  FUNCTION
#              | |           |       |   |||||     |         |
         python3-4061    (   4061) [000] .....   383.163810: sys_exit: NR 257 = 3
         python3-4061    (   4061) [000] d....   383.165599: page_fault_user: address=0x55bfd95a0424 ip=0x7f00 error_code=0x6
         python3-4061    (   4061) [000] .....   383.165601: mmap_lock_start_locking: mm=00000000ff572df2 memcg_id=5 write=false
`

export const CPU_STATS = (overrun = 0, dropped = 0): string =>
  `entries: 3\noverrun: ${overrun}\ncommit overrun: 0\nbytes: 120\noldest event ts:   383.163810\nnow ts:   384.0\ndropped events: ${dropped}\nread events: 0\n`

function put(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), {recursive: true})
  fs.writeFileSync(file, content)
}

/** Populate a tracefs-like directory (top level when `top`, else an instance). */
export function populate(dir: string, top: boolean, opts: {enabled?: string[]; cpus?: number} = {}): void {
  const cpus = opts.cpus ?? 2
  put(path.join(dir, 'tracing_on'), '1\n')
  put(path.join(dir, 'set_event'), (opts.enabled ?? []).map((e) => `${e}\n`).join(''))
  put(path.join(dir, 'set_event_pid'), '')
  put(path.join(dir, 'set_event_notrace_pid'), '')
  put(path.join(dir, 'buffer_size_kb'), top ? '7 (expanded: 1408)\n' : '1410\n')
  put(path.join(dir, 'trace_clock'), '[local] global counter uptime perf mono mono_raw boot tai x86-tsc\n')
  put(path.join(dir, 'current_tracer'), 'nop\n')
  put(path.join(dir, 'trace'), '# tracer: nop\n#\n# entries-in-buffer/entries-written: 0/0   #P:2\n')
  put(path.join(dir, 'trace_marker'), '')
  for (const [k, v] of Object.entries(OPTION_DEFAULTS)) {
    if (!top && k === 'record-cmd') continue // top-level only, as on the real kernel
    put(path.join(dir, 'options', k), `${v}\n`)
  }
  for (const e of FAKE_EVENTS) {
    const [sys, ev] = e.split(':')
    put(path.join(dir, 'events', sys, ev, 'enable'), (opts.enabled ?? []).includes(e) ? '1\n' : '0\n')
    put(path.join(dir, 'events', sys, ev, 'filter'), 'none\n')
  }
  for (let c = 0; c < cpus; c++) {
    put(path.join(dir, 'per_cpu', `cpu${c}`, 'stats'), CPU_STATS())
    put(path.join(dir, 'per_cpu', `cpu${c}`, 'buffer_size_kb'), top ? '7 (expanded: 1408)\n' : '1410\n')
  }
  if (top) {
    put(path.join(dir, 'available_events'), FAKE_EVENTS.join('\n') + '\n')
    fs.mkdirSync(path.join(dir, 'instances'), {recursive: true})
  }
}

export function makeFakeTracefs(opts: {enabled?: string[]; cpus?: number} = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmareplay-faketracefs-'))
  populate(dir, true, opts)
  return dir
}

/** Every regular file under dir, relative path -> normalised value. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (d: string): void => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name)
      const rel = path.relative(dir, p)
      if (fs.statSync(p).isDirectory()) {
        out[`${rel}/`] = 'dir'
        walk(p)
      } else if (name !== 'trace' && name !== 'trace_marker') {
        out[rel] = normalize(rel, fs.readFileSync(p, 'utf8'))
      }
    }
  }
  walk(dir)
  return out
}

export class FakeIo extends FsIo {
  readonly writes: WriteRecord[] = []
  /** Content the "kernel" puts into `trace` when the capture clears it. */
  traceContent = CANNED_TRACE
  /** Throw on the first write to a file whose path ends with this (simulated kernel error). */
  failOn: string | undefined
  failError = 'EINVAL'

  constructor(readonly root: string) {
    super()
  }

  rel(file: string): string {
    return path.relative(this.root, file)
  }

  override write(file: string, value: string): void {
    this.record(file, value, false)
    if (path.basename(file) === 'trace') {
      fs.writeFileSync(file, this.traceContent)
      return
    }
    if (path.basename(file) === 'trace_clock') {
      // like the kernel: the list stays, the selected clock is bracketed
      if (!CLOCKS.includes(value)) throw Object.assign(new Error(`EINVAL: no clock ${value}`), {code: 'EINVAL'})
      fs.writeFileSync(file, CLOCKS.map((c) => (c === value ? `[${c}]` : c)).join(' ') + '\n')
      return
    }
    super.write(file, value)
  }

  override append(file: string, value: string): void {
    this.record(file, value, true)
    fs.appendFileSync(file, value + '\n')
  }

  override mkdirInstance(dir: string): void {
    fs.mkdirSync(dir)
    populate(dir, false)
  }

  override rmdirInstance(dir: string): void {
    fs.rmSync(dir, {recursive: true, force: true})
  }

  private record(file: string, value: string, append: boolean): void {
    const rel = this.rel(file)
    if (this.failOn !== undefined && rel.endsWith(this.failOn)) {
      this.failOn = undefined
      const e = new Error(`${this.failError}: simulated kernel error, write ${rel}`) as NodeJS.ErrnoException
      e.code = this.failError
      throw e
    }
    this.writes.push({file: rel, value, append})
  }

  /** Values written to `rel`, in order. */
  written(rel: string): string[] {
    return this.writes.filter((w) => w.file === rel).map((w) => w.value)
  }
}

export function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now()
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve()
      else if (Date.now() - t0 > ms) reject(new Error('waitFor: timed out'))
      else setTimeout(tick, 10)
    }
    tick()
  })
}
