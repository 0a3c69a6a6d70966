// ftrace text as /sys/kernel/tracing/trace, trace_pipe and `trace-cmd report` print it:
//   COMM-TID [(TGID)] [CPU] [FLAGS] TIMESTAMP: EVENT: PAYLOAD
// TGID column (record-tgid) and FLAGS (irq-info, 4 or 5 chars) are optional. COMM may contain anything (spaces,
// '-', '/', '#', `<...>`), so the prefix is parsed outwards from the `[CPU]` field: leftwards over `(TGID)` and
// `-TID` (the dash before the TID digits ends COMM), rightwards over FLAGS and TIMESTAMP. Lines are parsed from
// their bytes (see bytes.ts); lines without the event layout (headers, markers) are handled as strings.

import {Kind, type ImportSink, type U64} from '../model/events.js'
import {key, Line, NameTable, tsAt} from './bytes.js'
import {PrefixedImporter} from './prefixed.js'
import {payload, sysArgs, sysRet, type ArgStyle} from './payloads.js'
import {Ch} from './chars.js'

const NAMES = new NameTable([
  ['page_fault_user', Kind.FaultUser],
  ['page_fault_kernel', Kind.FaultKernel],
  ['sys_enter', Kind.SysEnter],
  ['sys_exit', Kind.SysExit],
  ['mmap_lock_start_locking', Kind.LockStart],
  ['mmap_lock_acquire_returned', Kind.LockAcquire],
  ['mmap_lock_released', Kind.LockRelease],
  ['vm_unmapped_area', Kind.UnmappedArea],
  ['exit_mmap', Kind.ExitMmap],
  ['sched_process_fork', Kind.Fork],
  ['sched_process_exec', Kind.Exec],
  ['sched_process_exit', Kind.Exit],
  ['task_newtask', Kind.NewTask],
  ['ma_write', Kind.MapleWrite],
  ['tracing_mark_write', Kind.Marker],
  ['print', Kind.Marker],
  ['page_cache_sync_ra', Kind.Readahead],
  ['page_cache_async_ra', Kind.Readahead],
  ['mm_filemap_add_to_page_cache', Kind.PageCacheAdd],
  ['mm_filemap_fault', Kind.FilemapFault],
  ['mm_filemap_map_pages', Kind.FilemapMapPages],
])

const K_SYS = key('sys_')
const K_SYS_ENTER = key('sys_enter_')
const K_SYS_EXIT = key('sys_exit_')
const K_ARROW = key(' -> ')
const K_FUNC = key(' <-')

function isIdent(c: number): boolean {
  return (
    (c >= Ch.LOWER_A && c <= Ch.LOWER_Z) ||
    (c >= Ch.DIGIT_0 && c <= Ch.DIGIT_9) ||
    c === Ch.UNDERSCORE ||
    (c >= Ch.UPPER_A && c <= Ch.UPPER_Z)
  )
}

/** The parsed prefix of one ftrace line; parse() returns where the body starts, or -1. */
class FtracePrefix {
  tid = 0
  tgid = -1 // -1: no TGID column; -2: `(-------)`, the tracer did not know it
  cpu = 0
  comm = ''
  ts: U64 = 0
  private commBytes = new Uint8Array(0) // bytes of `comm`, to reuse the string while lines repeat it

  parse(L: Line): number {
    for (let br = L.find(91, L.start); br !== -1; br = L.find(91, br + 1)) {
      const r = this.at(L, br)
      if (r >= 0) return r
    }
    return -1
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
    // leftwards: [(TGID)] then -TID
    let k = br - 1
    while (k > s0 && b[k] === Ch.SPACE) k--
    let tgid = -1
    if (k > s0 && b[k] === Ch.RPAREN) {
      k--
      if (b[k] === Ch.DASH) {
        while (k > s0 && b[k] === Ch.DASH) k--
        tgid = -2
      } else {
        const last = k
        let mul = 1
        tgid = 0
        for (; k >= s0; k--) {
          const c = b[k]! - 48
          if (c < 0 || c > 9) break
          tgid += c * mul
          mul *= 10
        }
        if (k === last) return -1
      }
      while (k > s0 && b[k] === Ch.SPACE) k--
      if (k <= s0 || b[k] !== Ch.LPAREN) return -1
      k--
      while (k > s0 && b[k] === Ch.SPACE) k--
    }
    const last = k
    let tid = 0
    let mul = 1
    for (; k >= s0; k--) {
      const c = b[k]! - 48
      if (c < 0 || c > 9) break
      tid += c * mul
      mul *= 10
    }
    if (k === last || k < s0 || b[k] !== Ch.DASH) return -1
    const dash = k
    // rightwards: [FLAGS] TIMESTAMP:
    let p = i + 2
    while (p < e && b[p] === Ch.SPACE) p++
    let q = p
    while (q < e && b[q] !== Ch.SPACE && b[q] !== Ch.COLON) q++
    if (q < e && b[q] === Ch.SPACE) {
      p = q
      while (p < e && b[p] === Ch.SPACE) p++
      q = p
      while (q < e && b[q] !== Ch.SPACE && b[q] !== Ch.COLON) q++
    }
    if (q >= e || b[q] !== Ch.COLON) return -1
    const ts = tsAt(L, p, q)
    if (ts === null) return -1
    this.tid = tid
    this.tgid = tgid
    this.cpu = cpu
    this.ts = ts
    let c = s0
    while (c < dash && b[c] === Ch.SPACE) c++
    const cb = this.commBytes
    if (dash - c !== cb.length || !L.has(c, cb)) {
      this.comm = L.str(c, dash)
      this.commBytes = new Uint8Array(b.subarray(c, dash))
    }
    q++
    while (q < e && b[q] === Ch.SPACE) q++
    return q
  }
}

const probeLine = new Line()
const probe = new FtracePrefix()

/** Whether a line has the ftrace event layout (used by format detection). */
export function isFtraceEventLine(line: string): boolean {
  probeLine.setString(line, 0)
  return probe.parse(probeLine) >= 0
}

const LAYOUT = 'not an ftrace event line (expected COMM-TID [(TGID)] [CPU] [FLAGS] TIMESTAMP: EVENT: ...)'

export class FtraceImporter extends PrefixedImporter<FtracePrefix> {
  readonly format = 'ftrace' as const
  private readonly style: ArgStyle = {prefixed: false, bareHex: false} // ftrace's own sys_X(...) rendering
  private readonly fmtStyle: ArgStyle = {prefixed: false, bareHex: false} // trace-cmd's format-file rendering

  constructor(sink: ImportSink) {
    super(sink, new FtracePrefix())
  }

  protected event(bs: number): string | null {
    const pre = this.pre
    this.em.task(pre.tid, pre.tgid >= 0 ? pre.tgid : null)
    return this.body(bs)
  }

  private body(bs: number): string | null {
    const L = this.L
    const e = L.end
    const colon = L.find(58, bs)
    if (colon > bs) {
      const kind = NAMES.find(L, bs, colon)
      if (kind !== 0) return payload(this.em, kind, L, L.skipSpaces(colon + 1)) // trace-cmd pads the name
    }
    let q = bs
    while (q < e && isIdent(L.b[q]!)) q++
    if (q === bs) {
      if (L.at(bs) === Ch.LT && L.at(e - 1) === Ch.GT) {
        this.sink.unknown(L.str(bs, e), L.no) // `<stack trace>`, `<user stack trace>`
        return null
      }
      return 'no event name after the timestamp'
    }
    const c = L.at(q)
    if (c === Ch.COLON) {
      const p = L.skipSpaces(q + 1)
      // trace-cmd renders syscall-specific events from the format file: `sys_enter_mmap: addr: 0x00000000, ...`
      if (L.has(bs, K_SYS_ENTER)) return sysArgs(this.em, L, p, e, bs + 10, q, this.fmtStyle)
      if (L.has(bs, K_SYS_EXIT)) return sysRet(this.em, L, p, bs + 9, q)
      this.sink.unknown(L.str(bs, q), L.no)
      return null
    }
    if (c === Ch.LPAREN && L.has(bs, K_SYS)) {
      let close = e - 1
      while (close > q && L.at(close) !== Ch.RPAREN) close--
      if (close === q) return 'syscall arguments not closed'
      return sysArgs(this.em, L, q + 1, close, bs + 4, q, this.style)
    }
    if (c === Ch.SPACE && L.has(q, K_ARROW) && L.has(bs, K_SYS)) return sysRet(this.em, L, q + 4, bs + 4, q)
    if (c === Ch.SPACE && L.has(q, K_FUNC)) {
      this.sink.unknown('function', L.no) // function tracer: `func <-parent`
      return null
    }
    return 'unrecognised event body'
  }

  /** Lines without the event layout: header comments, loss markers, stack frames, trace-cmd preamble. */
  protected other(s: string, lineNo: number): void {
    const t = s.trim()
    if (t === '') return
    if (t.charCodeAt(0) === Ch.HASH) {
      this.header(t, lineNo)
      return
    }
    if (t.startsWith('CPU:')) {
      // `CPU:N [LOST M EVENTS]`, `CPU:N [LOST EVENTS]`; trace-cmd: `CPU:N [M EVENTS DROPPED]`, `CPU:N [EVENTS DROPPED]`
      const m = /^CPU:(\d+) \[(?:LOST (\d+) EVENTS|LOST EVENTS|(\d+) EVENTS DROPPED|EVENTS DROPPED)\]$/.exec(t)
      if (m === null) {
        this.em.problem(lineNo, 'malformed lost-events marker', s)
        return
      }
      const count = m[2] ?? m[3]
      this.em.lost(lineNo, Number(m[1]), count === undefined ? null : Number(count))
      return
    }
    if (t.startsWith('=> ')) {
      this.sink.unknown('<stack frame>', lineNo)
      return
    }
    let m = /^cpus=(\d+)$/.exec(t)
    if (m !== null) {
      this.sink.meta('cpus', m[1]!)
      return
    }
    m = /^version = (\S+)$/.exec(t)
    if (m !== null) {
      this.sink.meta('trace_cmd_version', m[1]!)
      return
    }
    if (/^CPU \d+ is empty$/.test(t)) return
    this.em.problem(lineNo, LAYOUT, s)
  }

  private header(t: string, lineNo: number): void {
    let m = /^##### CPU (\d+) buffer started ####$/.exec(t)
    if (m !== null) {
      // overwrite mode: this CPU's older events were overwritten, so its data only starts here
      this.sink.meta(`buffer_started.cpu${m[1]}`, String(lineNo))
      this.em.lost(lineNo, Number(m[1]), null)
      return
    }
    m = /^# tracer: (\S+)/.exec(t)
    if (m !== null) {
      this.sink.meta('tracer', m[1]!)
      return
    }
    m = /^# entries-in-buffer\/entries-written: (\d+)\/(\d+)(?:\s+#P:(\d+))?/.exec(t)
    if (m !== null) {
      const inBuffer = Number(m[1])
      const written = Number(m[2])
      this.sink.meta('entries_in_buffer', m[1]!)
      this.sink.meta('entries_written', m[2]!)
      if (m[3] !== undefined) this.sink.meta('cpus', m[3])
      if (written > inBuffer) this.em.lost(lineNo, null, written - inBuffer) // overwritten before the trace was read
    }
  }

  finish(): void {
    if (this.style.prefixed) this.em.hint('>= 6.18: syscall args print small values in decimal, others 0x-prefixed')
    if (this.style.bareHex) this.em.hint('<= 6.17: syscall args print bare hex')
    this.em.finish()
  }
}
