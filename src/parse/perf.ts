// `perf script` text (default fields, optionally -F +pid):
//   COMM TID [CPU] TIME: subsys:event: PAYLOAD        or        COMM PID/TID [CPU] TIME: ...
// plus --show-mmap-events / --show-task-events side-band lines (PERF_RECORD_MMAP2, _COMM, _FORK, _EXIT).
// COMM is right-aligned and may contain spaces, so the prefix is parsed outwards from `[CPU]`. Without a PID
// column the TGID is inferred (see Emitter): the side-band records' pid/tid pairs and task_newtask feed it.
// Sample lines are parsed from their bytes (see bytes.ts); side-band and other lines as strings.
//
// PERF_RECORD_FORK/EXIT and `COMM exec` only feed TGID inference and are counted as unknown: they duplicate
// sched_process_fork/exit/exec, which the capture records as tracepoints, and emitting both would double them.

import {Kind, type ImportSink, type U64} from '../model/events.js'
import {key, Line, NameTable, tsAt} from './bytes.js'
import {PrefixedImporter} from './prefixed.js'
import {parseInteger, tsToNs} from './numbers.js'
import {payload, sysArgs, sysRet, type ArgStyle} from './payloads.js'
import {Ch} from './chars.js'

const NAMES = new NameTable([
  ['exceptions:page_fault_user', Kind.FaultUser],
  ['exceptions:page_fault_kernel', Kind.FaultKernel],
  ['raw_syscalls:sys_enter', Kind.SysEnter],
  ['raw_syscalls:sys_exit', Kind.SysExit],
  ['mmap_lock:mmap_lock_start_locking', Kind.LockStart],
  ['mmap_lock:mmap_lock_acquire_returned', Kind.LockAcquire],
  ['mmap_lock:mmap_lock_released', Kind.LockRelease],
  ['mmap:vm_unmapped_area', Kind.UnmappedArea],
  ['mmap:exit_mmap', Kind.ExitMmap],
  ['sched:sched_process_fork', Kind.Fork],
  ['sched:sched_process_exec', Kind.Exec],
  ['sched:sched_process_exit', Kind.Exit],
  ['task:task_newtask', Kind.NewTask],
  ['readahead:page_cache_sync_ra', Kind.Readahead],
  ['readahead:page_cache_async_ra', Kind.Readahead],
  ['filemap:mm_filemap_add_to_page_cache', Kind.PageCacheAdd],
  ['filemap:mm_filemap_fault', Kind.FilemapFault],
  ['filemap:mm_filemap_map_pages', Kind.FilemapMapPages],
  ['maple_tree:ma_write', Kind.MapleWrite],
  ['ftrace:print', Kind.Marker],
])

const K_PERF_RECORD = key('PERF_RECORD_')
const K_SYS_ENTER = key('syscalls:sys_enter_')
const K_SYS_EXIT = key('syscalls:sys_exit_')

/** `COMM [PID/]TID TIME:` when perf was told not to print the CPU (-F without cpu); off the hot path. */
const NO_CPU = /^\s*(.*?)\s+(?:(\d+)\/)?(\d+)\s+(\d+\.\d+):\s+/
const NO_CPU_SPAN = 160 // that prefix always fits: comm <= 15 chars plus padded numbers

/** The parsed prefix of one perf script line; parse() returns where the body starts, or -1. */
class PerfPrefix {
  tid = 0
  pid = -1 // -1: no PID column
  cpu: number | null = 0
  comm = ''
  ts: U64 = 0
  private commBytes = new Uint8Array(0) // bytes of `comm`, to reuse the string while lines repeat it

  parse(L: Line): number {
    for (let br = L.find(91, L.start); br !== -1; br = L.find(91, br + 1)) {
      const r = this.at(L, br)
      if (r >= 0) return r
    }
    const s = L.line()
    const m = NO_CPU.exec(s.length > NO_CPU_SPAN ? s.slice(0, NO_CPU_SPAN) : s) // bounded: the regex backtracks
    if (m === null) return -1
    const ts = tsToNs(m[4]!, 0, m[4]!.length)
    if (ts === null) return -1
    this.tid = Number(m[3])
    this.pid = m[2] === undefined ? -1 : Number(m[2])
    this.cpu = null
    this.comm = m[1]!
    this.commBytes = new Uint8Array(0)
    this.ts = ts
    return L.start + Buffer.byteLength(m[0])
  }

  private at(L: Line, br: number): number {
    const b = L.b
    const s0 = L.start
    const e = L.end
    let i = br + 1
    let cpu = 0
    for (; i < e; i++) {
      const c = b[i]! - 48
      if (c < 0 || c > 9) break
      cpu = cpu * 10 + c
    }
    if (i === br + 1 || i + 1 >= e || b[i] !== Ch.RBRACKET || b[i + 1] !== Ch.SPACE) return -1
    let k = br - 1
    while (k >= s0 && b[k] === Ch.SPACE) k--
    let last = k
    let tid = 0
    let mul = 1
    for (; k >= s0; k--) {
      const c = b[k]! - 48
      if (c < 0 || c > 9) break
      tid += c * mul
      mul *= 10
    }
    if (k === last) return -1
    let pid = -1
    if (k >= s0 && b[k] === Ch.SLASH) {
      k--
      last = k
      mul = 1
      pid = 0
      for (; k >= s0; k--) {
        const c = b[k]! - 48
        if (c < 0 || c > 9) break
        pid += c * mul
        mul *= 10
      }
      if (k === last) return -1
    }
    if (k >= s0 && b[k] !== Ch.SPACE) return -1
    let p = i + 2
    while (p < e && b[p] === Ch.SPACE) p++
    let q = p
    while (q < e && b[q] !== Ch.COLON && b[q] !== Ch.SPACE) q++
    if (q >= e || b[q] !== Ch.COLON) return -1
    const ts = tsAt(L, p, q)
    if (ts === null) return -1
    this.tid = tid
    this.pid = pid
    this.cpu = cpu
    this.ts = ts
    let ce = k
    while (ce > s0 && b[ce - 1] === Ch.SPACE) ce--
    let c = s0
    while (c < ce && b[c] === Ch.SPACE) c++
    const cb = this.commBytes
    if (ce - c !== cb.length || !L.has(c, cb)) {
      this.comm = L.str(c, ce)
      this.commBytes = new Uint8Array(b.subarray(c, ce))
    }
    q++
    while (q < e && b[q] === Ch.SPACE) q++
    return q
  }
}

const probeLine = new Line()
const probe = new PerfPrefix()

/** Whether a line has the perf script layout with a `sys:event:` or PERF_RECORD_ body (used by detection). */
export function isPerfEventLine(line: string): boolean {
  probeLine.setString(line, 0)
  const bs = probe.parse(probeLine)
  if (bs < 0) return false
  const body = probeLine.str(bs, probeLine.end)
  if (body.startsWith('PERF_RECORD_')) return true
  const ne = body.indexOf(': ')
  return /^\w+:\w+:?$/.test(ne < 0 ? body : body.slice(0, ne))
}

const MMAP2 =
  /^PERF_RECORD_MMAP2 (-?\d+)\/(-?\d+): \[(0x[0-9a-f]+|0)\((0x[0-9a-f]+|0)\) @ (0x[0-9a-f]+|0) (?:<([0-9a-fA-F]*)>|[0-9a-f]+:[0-9a-f]+ (\d+) \d+)\]: ([r-][w-][x-][sp]) (.*)$/
const MMAP = /^PERF_RECORD_MMAP (-?\d+)\/(-?\d+): /
const COMM = /^PERF_RECORD_COMM( exec)?: (.*):(-?\d+)\/(-?\d+)$/
const FORK_EXIT = /^PERF_RECORD_(?:FORK|EXIT)\((-?\d+):(-?\d+)\):\((-?\d+):(-?\d+)\)/
const LAST_INT = /(\d+)\s*$/

const PROT_READ = 1
const PROT_WRITE = 2
const PROT_EXEC = 4
const MAP_SHARED = 1
const MAP_PRIVATE = 2

export class PerfImporter extends PrefixedImporter<PerfPrefix> {
  readonly format = 'perf' as const
  private readonly style: ArgStyle = {prefixed: false, bareHex: false} // format-file rendering: no kernel hint

  constructor(sink: ImportSink) {
    super(sink, new PerfPrefix())
  }

  protected event(bs: number): string | null {
    const L = this.L
    if (L.has(bs, K_PERF_RECORD)) return this.sideBand(L.str(bs, L.end), L.no)
    const pre = this.pre
    this.em.task(pre.tid, pre.pid >= 0 ? pre.pid : null)
    return this.tracepoint(bs)
  }

  private tracepoint(bs: number): string | null {
    const L = this.L
    const e = L.end
    // `subsys:event: payload`: the name ends at the first ': ' (or a ':' ending the line)
    let ne = L.find(58, bs)
    while (ne >= 0 && ne + 1 < e && L.at(ne + 1) !== Ch.SPACE) ne = L.find(58, ne + 1)
    if (ne < 0) ne = e
    const p = ne + 2 > e ? e : ne + 2
    const kind = NAMES.find(L, bs, ne)
    if (kind !== 0) return payload(this.em, kind, L, p)
    if (L.has(bs, K_SYS_ENTER)) return sysArgs(this.em, L, p, e, bs + 19, ne, this.style)
    if (L.has(bs, K_SYS_EXIT)) return sysRet(this.em, L, p, bs + 18, ne)
    // non-tracepoint samples print `PERIOD EVENT:`; count them by event name
    const name = L.str(bs, ne)
    this.sink.unknown(name.slice(name.lastIndexOf(' ') + 1), L.no)
    return null
  }

  private sideBand(s: string, lineNo: number): string | null {
    const em = this.em
    const rec = /^\w+/.exec(s)![0]
    switch (rec) {
      case 'PERF_RECORD_MMAP2': {
        const m = MMAP2.exec(s)
        if (m === null) return 'malformed PERF_RECORD_MMAP2'
        const perms = m[8]!
        const prot =
          (perms[0] === 'r' ? PROT_READ : 0) | (perms[1] === 'w' ? PROT_WRITE : 0) | (perms[2] === 'x' ? PROT_EXEC : 0)
        const start = parseInteger(m[3]!)
        const len = parseInteger(m[4]!)
        const pgoff = parseInteger(m[5]!)
        if (start === null || len === null || pgoff === null) return 'bad number in PERF_RECORD_MMAP2'
        const pid = Number(m[1])
        const tid = Number(m[2])
        em.tid = tid
        em.tgid = pid
        em.noteTask(tid, pid)
        const ino = m[7] === undefined ? null : parseInteger(m[7])
        em.event(
          Kind.Mmap2,
          start,
          len,
          pgoff,
          ino,
          prot,
          perms[3] === 's' ? MAP_SHARED : MAP_PRIVATE,
          `${perms} ${m[9]}`,
        )
        return null
      }
      case 'PERF_RECORD_COMM': {
        const m = COMM.exec(s)
        if (m === null) return 'malformed PERF_RECORD_COMM'
        const pid = Number(m[3])
        const tid = Number(m[4])
        em.noteTask(tid, pid)
        if (m[1] !== undefined) {
          this.sink.unknown('PERF_RECORD_COMM exec', lineNo)
          return null
        }
        em.tid = tid
        em.tgid = pid
        em.comm = m[2]!
        em.event(Kind.Comm, pid, null, null, null, null, null, m[2]!)
        return null
      }
      case 'PERF_RECORD_FORK':
      case 'PERF_RECORD_EXIT': {
        const m = FORK_EXIT.exec(s)
        if (m === null) return `malformed ${rec}`
        em.noteTask(Number(m[2]), Number(m[1]), rec === 'PERF_RECORD_FORK')
        em.noteTask(Number(m[4]), Number(m[3]))
        this.sink.unknown(rec, lineNo)
        return null
      }
      case 'PERF_RECORD_MMAP': {
        const m = MMAP.exec(s)
        if (m === null) return 'malformed PERF_RECORD_MMAP'
        em.noteTask(Number(m[2]), Number(m[1])) // pid -1: the kernel map
        this.sink.unknown(rec, lineNo)
        return null
      }
      case 'PERF_RECORD_LOST':
      case 'PERF_RECORD_LOST_SAMPLES': {
        const m = LAST_INT.exec(s.slice(Math.max(rec.length, s.length - 40))) // bounded: the regex backtracks
        em.lost(lineNo, em.cpu, m === null ? null : Number(m[1]))
        return null
      }
      default:
        this.sink.unknown(rec, lineNo)
        return null
    }
  }

  /** Lines without the sample layout: blank lines, `# ...` headers (--header), call-chain frames (-G). */
  protected other(s: string, lineNo: number): void {
    const t = s.trim()
    if (t === '' || t.charCodeAt(0) === Ch.HASH) return
    if (s.charCodeAt(0) <= Ch.SPACE && /^[0-9a-f]+ /.test(t)) {
      this.sink.unknown('<callchain>', lineNo)
      return
    }
    this.em.problem(lineNo, 'not a perf script line (expected COMM [PID/]TID [CPU] TIME: EVENT: ...)', s)
  }

  finish(): void {
    this.em.finish()
  }
}
