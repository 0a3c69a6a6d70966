// Payload parsers for the tracepoints the model uses. ftrace text and perf script print the same TP_printk
// bodies (perf renders syscall-specific events from the format file; see sysArgs). Each parser reads the line from
// p (first payload byte) to its end, emits through the Emitter, and returns null on success or the reason the
// payload was not understood.
//
// The hot payloads (faults, raw syscalls, named syscalls, mmap_lock: > 99% of real lines) are parsed from bytes,
// strictly left to right in TP_printk order (fixed per tracepoint), so no field needs a search. The rare ones
// (sched, task, vm_unmapped_area, exit_mmap, ma_write, markers) are parsed from the payload as a string.

import {Kind, type U64} from '../model/events.js'
import {boolAt, decAt, hexAt, key, NameTable, numAt, scan, type Line} from './bytes.js'
import {MEMCG_ID, MEMCG_PATH, type Emitter} from './emit.js'
import {decToI64, decToInt, decToU64, hexToU64, parseInteger, toSigned64} from './numbers.js'
import {Ch} from './chars.js'

const K_ADDRESS = key('address=')
const K_IP = key(' ip=')
const K_ERROR_CODE = key(' error_code=')
const K_NR = key('NR ')
const K_EQ = key(' = ')
const K_MM = key('mm=')
const K_MEMCG_ID = key(' memcg_id=')
const K_MEMCG_PATH = key(' memcg_path=')
const K_WRITE = key(' write=')
const K_SUCCESS = key(' success=')

const ARGS: (U64 | null)[] = [null, null, null, null, null]

// Syscall names seen so far (ASCII, at most 512: garbage must not grow it), so named syscall events reuse one
// string each instead of allocating one per event.
const SYSCALL_NAMES: string[] = []
const SYSCALLS = new NameTable([])

/** The syscall name in bytes [start, end). */
function syscallName(L: Line, start: number, end: number): string {
  const i = SYSCALLS.find(L, start, end)
  if (i > 0) return SYSCALL_NAMES[i - 1]!
  const name = L.str(start, end)
  if (SYSCALL_NAMES.length < 512 && Buffer.byteLength(name) === name.length)
    SYSCALLS.add(name, SYSCALL_NAMES.push(name))
  return name
}

/** `address=0x.. ip=0x..|symbol error_code=0x..`; a symbolised ip (kernel faults) goes to text. */
function pageFault(em: Emitter, L: Line, p: number, kind: Kind): string | null {
  if (!L.has(p, K_ADDRESS)) return 'page fault without address='
  let q = p + 8
  let address: U64 | null = null // stays null when %ps printed a symbol
  if (L.at(q) === Ch.DIGIT_0 && L.at(q + 1) === Ch.LOWER_X) {
    address = hexAt(L, q + 2)
    if (address === null) return 'bad address (not 64-bit hex)'
    q = scan.end
  } else q = tokenEnd(L, q)
  if (!L.has(q, K_IP)) return 'page fault without ip='
  q += 4
  let ip: U64 | null = null
  let sym: string | null = null
  if (L.at(q) === Ch.DIGIT_0 && L.at(q + 1) === Ch.LOWER_X) {
    ip = hexAt(L, q + 2)
    if (ip === null) return 'bad ip (not 64-bit hex)'
    q = scan.end
  } else {
    const e = tokenEnd(L, q)
    sym = L.str(q, e)
    q = e
  }
  if (!L.has(q, K_ERROR_CODE)) return 'page fault without error_code='
  const err = numAt(L, q + 12)
  if (err === null) return 'bad error_code'
  em.event(kind, address, ip, err, null, null, null, sym)
  return null
}

/** Index of the first space at or after p, or the line end. */
function tokenEnd(L: Line, p: number): number {
  const i = L.find(32, p)
  return i < 0 ? L.end : i
}

/** raw_syscalls:sys_enter `NR n (a0, a1, a2, a3, a4, a5)`: hex args without 0x; text keeps all six as printed. */
function rawSysEnter(em: Emitter, L: Line, p: number): string | null {
  if (!L.has(p, K_NR)) return 'sys_enter without NR'
  const nr = decAt(L, p + 3)
  if (nr === null) return 'bad syscall number'
  let q = scan.end
  if (L.at(q) !== Ch.SPACE || L.at(q + 1) !== Ch.LPAREN) return 'sys_enter without (args)'
  const open = q + 2
  const args = ARGS
  let n = 0
  q = open
  if (L.at(q) !== Ch.RPAREN) {
    for (;;) {
      const v = hexAt(L, q)
      if (v === null) return `bad syscall argument ${n}`
      if (n < 5) args[n] = v
      n++
      q = scan.end
      if (L.at(q) === Ch.RPAREN) break
      if (L.at(q) !== Ch.COMMA || L.at(q + 1) !== Ch.SPACE) return `bad separator after syscall argument ${n - 1}`
      q += 2
    }
  }
  for (let i = n; i < 5; i++) args[i] = null
  em.event(Kind.SysEnter, nr, args[0], args[1], args[2], args[3], args[4], L.str(open, q))
  return null
}

/** raw_syscalls:sys_exit `NR n = ret` (decimal, signed). */
function rawSysExit(em: Emitter, L: Line, p: number): string | null {
  if (!L.has(p, K_NR)) return 'sys_exit without NR'
  const nr = decAt(L, p + 3)
  if (nr === null) return 'bad syscall number'
  if (!L.has(scan.end, K_EQ)) return 'sys_exit without = ret'
  const ret = decAt(L, scan.end + 3)
  if (ret === null) return 'bad syscall return value'
  em.event(Kind.SysExit, nr, ret, null, null, null, null, null)
  return null
}

/** How the named syscall args of the current import were printed; see sysArgs. */
export interface ArgStyle {
  prefixed: boolean // a value printed with 0x
  bareHex: boolean // a value of 2+ digits printed without 0x
}

/**
 * Named syscall args `addr: 0, len: 0x2000, …` in [p, end), in declaration order into b..f; the syscall name is
 * bytes [nameStart, nameEnd).
 * Value rule, exact for every kernel: `0x…` is hex; a single digit is that digit; anything else without 0x is
 * bare hex. Why: ≤ 6.17 ftrace prints every value as bare `%lx` (`len: 2000`); 6.18 prints values < 10 in
 * decimal and all others as `0x%lx`; perf and trace-cmd use the format-file fmt `0x%08lx`. So a multi-digit
 * value without 0x only occurs in ≤ 6.17 output, where it is hex — and single digits read the same either way.
 * The style seen is recorded in `style` (used as a kernel-version hint for ftrace text).
 */
export function sysArgs(
  em: Emitter,
  L: Line,
  p: number,
  end: number,
  nameStart: number,
  nameEnd: number,
  style: ArgStyle,
): string | null {
  const args = ARGS
  let n = 0
  let q = p
  while (q < end) {
    while (q < end && L.at(q) === Ch.SPACE) q++
    if (q >= end) break
    const colon = L.find(58, q)
    if (colon < 0 || colon + 1 >= end || L.at(colon + 1) !== Ch.SPACE)
      return `syscall argument ${n} without "name: value"`
    const v = colon + 2
    let value: U64 | null
    if (L.at(v) === Ch.DIGIT_0 && L.at(v + 1) === Ch.LOWER_X) {
      value = hexAt(L, v + 2)
      style.prefixed = true
    } else {
      value = hexAt(L, v)
      if (scan.end - v > 1 || L.at(v) > 57) style.bareHex = true // `10`, `2000`, `a`: only <= 6.17 prints these
    }
    if (value === null) return `bad value for syscall argument ${L.str(q, colon)}`
    if (n < 5) args[n] = value
    n++
    q = scan.end
    if (L.at(q) === Ch.SPACE && L.at(q + 1) === Ch.QUOTE) q = skipQuoted(L, q + 1, end) // 6.18 prints some user strings
    if (q < end) {
      if (L.at(q) !== Ch.COMMA) return `unexpected text after syscall argument ${n - 1}`
      q++
    }
  }
  for (let i = n; i < 5; i++) args[i] = null
  const name = syscallName(L, nameStart, nameEnd)
  em.event(Kind.SysArgs, em.syscallNr(name, true), args[0], args[1], args[2], args[3], args[4], name)
  return null
}

/** Index after the closing quote of the C string whose opening quote is at q. */
function skipQuoted(L: Line, q: number, end: number): number {
  for (let i = q + 1; i < end; i++) {
    const c = L.at(i)
    if (c === Ch.BACKSLASH) i++
    else if (c === Ch.QUOTE) return i + 1
  }
  return end
}

/** Named syscall return `0x…` (sign-extended from 64 bits: 0xfffffffffffffff4 is -12) or a decimal. */
export function sysRet(em: Emitter, L: Line, p: number, nameStart: number, nameEnd: number): string | null {
  let ret = numAt(L, p)
  if (ret === null) return 'bad syscall return value'
  if (L.at(p + 1) === Ch.LOWER_X) ret = toSigned64(ret)
  const name = syscallName(L, nameStart, nameEnd)
  em.event(Kind.SysRet, em.syscallNr(name, false), ret, null, null, null, null, name)
  return null
}

/** mmap_lock_*: `mm=%p memcg_id=%llu write=%s [success=%s]`, or ≤ 6.13 `memcg_path=%s` (interned into d). */
function mmapLock(em: Emitter, L: Line, p: number, kind: Kind): string | null {
  if (!L.has(p, K_MM)) return 'mmap_lock event without mm='
  const me = tokenEnd(L, p + 3)
  const mm = L.str(p + 3, me)
  let memcg: U64 | null = null
  let pathId: U64 | null = null
  let q = me
  if (L.has(me, K_MEMCG_ID)) {
    memcg = decAt(L, me + 10)
    if (memcg === null) return 'bad memcg_id'
    q = scan.end
    em.memcgForm |= MEMCG_ID
  } else if (L.has(me, K_MEMCG_PATH)) {
    q = L.end - K_WRITE.length // the path may contain spaces: take the last ` write=`
    while (q > me && !L.has(q, K_WRITE)) q--
    pathId = em.memcgPathId(L.str(me + 12, Math.max(q, me + 12)))
    em.memcgForm |= MEMCG_PATH
  }
  if (!L.has(q, K_WRITE)) return 'mmap_lock event without write='
  const write = boolAt(L, q + 7)
  if (write === null) return 'bad write='
  let success: U64 | null = null
  if (kind === Kind.LockAcquire) {
    if (!L.has(scan.end, K_SUCCESS)) return 'acquire_returned without success='
    success = boolAt(L, scan.end + 9)
    if (success === null) return 'bad success='
  }
  em.event(kind, write, success, memcg, pathId, null, null, mm)
  return null
}

// ---- rare payloads, parsed from the payload as a string s

/** End of the token starting at p: the next space (or end of line). */
function tokEnd(s: string, p: number): number {
  const i = s.indexOf(' ', p)
  return i < 0 ? s.length : i
}

/** Start of the value after `key` (searched from p), or -1. */
function after(s: string, key: string, p: number): number {
  const i = s.indexOf(key, p)
  return i < 0 ? -1 : i + key.length
}

/** `0x` hex, else decimal with an optional minus (the %lx/%ld fields of TP_printk). */
function num(s: string, start: number, end: number): U64 | null {
  if (end - start > 2 && s.charCodeAt(start) === Ch.DIGIT_0 && s.charCodeAt(start + 1) === Ch.LOWER_X)
    return hexToU64(s, start + 2, end)
  return decToI64(s, start, end)
}

/** Hex with or without 0x (%lx fields such as clone_flags). */
function hexAny(s: string, start: number, end: number): U64 | null {
  if (end - start > 2 && s.charCodeAt(start) === Ch.DIGIT_0 && s.charCodeAt(start + 1) === Ch.LOWER_X) start += 2
  return hexToU64(s, start, end)
}

/** 1 for `true`, 0 for `false` at p, else null. */
function bool(s: string, p: number): U64 | null {
  if (s.startsWith('true', p)) return 1
  if (s.startsWith('false', p)) return 0
  return null
}

const UA_KEYS = [' err=', ' len=', ' flags=', ' lo=', ' hi='] as const

/** mmap:vm_unmapped_area `addr= err= total_vm= flags= len= lo= hi= mask= ofs=` → a..f = addr err len flags lo hi. */
function unmappedArea(em: Emitter, s: string): string | null {
  const av = after(s, 'addr=', 0)
  if (av < 0) return 'vm_unmapped_area without addr='
  const addr = num(s, av, tokEnd(s, av))
  if (addr === null) return 'bad addr'
  const v = ARGS
  for (let i = 0; i < 5; i++) {
    const k = UA_KEYS[i]!
    const at = after(s, k, av)
    if (at < 0) return `vm_unmapped_area without${k}`
    v[i] = num(s, at, tokEnd(s, at))
    if (v[i] === null) return `bad${k}`
  }
  em.event(Kind.UnmappedArea, addr, v[0]!, v[1]!, v[2]!, v[3]!, v[4]!, null)
  return null
}

/** mmap:exit_mmap `mt_mod %p, DESTROY` → text = the maple tree pointer as printed. */
function exitMmap(em: Emitter, s: string): string | null {
  if (!s.startsWith('mt_mod ')) return 'exit_mmap without mt_mod'
  let e = s.indexOf(',', 7)
  if (e < 0) e = tokEnd(s, 7)
  em.event(Kind.ExitMmap, null, null, null, null, null, null, s.slice(7, e))
  return null
}

/** sched_process_fork `comm= pid= child_comm= child_pid=`; comms may hold spaces, so fields are found from the right. */
function schedFork(em: Emitter, s: string): string | null {
  const cp = s.lastIndexOf(' child_pid=')
  const cc = cp < 0 ? -1 : s.lastIndexOf(' child_comm=', cp)
  const pp = cc < 0 ? -1 : s.lastIndexOf(' pid=', cc)
  if (pp < 0) return 'sched_process_fork without pid=/child_comm=/child_pid='
  const parent = decToInt(s, pp + 5, tokEnd(s, pp + 5))
  const child = decToInt(s, cp + 11, tokEnd(s, cp + 11))
  if (parent === null || child === null) return 'bad pid in sched_process_fork'
  em.event(Kind.Fork, parent, child, null, null, null, null, s.slice(cc + 12, cp))
  return null
}

/** sched_process_exec `filename= pid= old_pid=` (filename may hold spaces). */
function schedExec(em: Emitter, s: string): string | null {
  if (!s.startsWith('filename=')) return 'sched_process_exec without filename='
  const op = s.lastIndexOf(' old_pid=')
  const pp = op < 0 ? -1 : s.lastIndexOf(' pid=', op - 1)
  if (pp < 0) return 'sched_process_exec without pid=/old_pid='
  const pid = decToInt(s, pp + 5, tokEnd(s, pp + 5))
  const old = decToInt(s, op + 9, tokEnd(s, op + 9))
  if (pid === null || old === null) return 'bad pid in sched_process_exec'
  em.event(Kind.Exec, pid, old, null, null, null, null, s.slice(9, pp))
  return null
}

/** sched_process_exit `comm= pid= prio= [group_dead=]` (group_dead is absent on older kernels → null). */
function schedExit(em: Emitter, s: string): string | null {
  const pr = s.lastIndexOf(' prio=')
  const pp = pr < 0 ? -1 : s.lastIndexOf(' pid=', pr)
  if (pp < 0) return 'sched_process_exit without pid=/prio='
  const pid = decToInt(s, pp + 5, pr)
  if (pid === null) return 'bad pid in sched_process_exit'
  const gv = after(s, ' group_dead=', pr)
  let dead: U64 | null = null
  if (gv >= 0) {
    dead = bool(s, gv)
    if (dead === null) return 'bad group_dead='
  }
  em.event(Kind.Exit, pid, dead, null, null, null, null, null)
  return null
}

/** task:task_newtask `pid= comm= clone_flags=%lx oom_score_adj=` (comm may hold spaces). */
function newTask(em: Emitter, s: string): string | null {
  if (!s.startsWith('pid=')) return 'task_newtask without pid='
  const pe = tokEnd(s, 4)
  const pid = decToInt(s, 4, pe)
  if (pid === null) return 'bad pid in task_newtask'
  const fl = s.lastIndexOf(' clone_flags=')
  if (fl < pe || !s.startsWith(' comm=', pe)) return 'task_newtask without comm=/clone_flags='
  const flags = hexAny(s, fl + 13, tokEnd(s, fl + 13))
  if (flags === null) return 'bad clone_flags'
  em.event(Kind.NewTask, pid, flags, null, null, null, null, s.slice(pe + 6, fl))
  return null
}

/** maple_tree:ma_write `fn<TAB>Node %p (min max) range:%lu-%lu piv (%lu) val %p` → range into a, b; fn into text. */
function maWrite(em: Emitter, s: string): string | null {
  let fe = s.indexOf('\t')
  if (fe < 0) fe = tokEnd(s, 0)
  const rv = after(s, ' range:', fe)
  if (rv < 0) return 'ma_write without range:'
  const dash = s.indexOf('-', rv)
  if (dash < 0) return 'ma_write range without -'
  const lo = decToU64(s, rv, dash)
  const hi = decToU64(s, dash + 1, tokEnd(s, dash + 1))
  if (lo === null || hi === null) return 'bad ma_write range'
  em.event(Kind.MapleWrite, lo, hi, null, null, null, null, s.slice(0, fe))
  return null
}

/** trace_marker text (tracing_mark_write; trace-cmd's `print:` prefixes it with the writer's name). */
function marker(em: Emitter, s: string): string | null {
  em.event(Kind.Marker, null, null, null, null, null, null, s.startsWith('tracing_mark_write: ') ? s.slice(20) : s)
  return null
}

/**
 * readahead `dev=M:m ino=HEX index=N …` and mm_filemap_add_to_page_cache `dev M:m ino HEX pfn=0x… ofs=N …`:
 * only the file and position are kept; the replay needs to know that a fault waited for I/O.
 */
function fileIo(em: Emitter, kind: Kind, s: string): string | null {
  const ino = /\bino[= ]([0-9a-f]+)/.exec(s)
  const pos = /\b(?:index|ofs)=(\d+)/.exec(s)
  if (ino === null) return 'no ino= in page-cache event'
  em.event(kind, parseInteger('0x' + ino[1]), pos === null ? null : parseInteger(pos[1]!), null, null, null, null, null)
  return null
}

/**
 * mm_filemap_fault `dev=M:m ino=HEX ofs=N` and mm_filemap_map_pages `dev=M:m ino=HEX ofs=N-M`
 * (include/trace/events/filemap.h, 6.3+; unchanged through 6.18): byte offsets, index << PAGE_SHIFT, the range's
 * end inclusive.
 */
function filemapRange(em: Emitter, kind: Kind, s: string): string | null {
  const m = /\bino=([0-9a-f]+) ofs=(\d+)(?:-(\d+))?/.exec(s)
  if (m === null) return `no ino= ofs= in ${kind === Kind.FilemapFault ? 'mm_filemap_fault' : 'mm_filemap_map_pages'}`
  if (kind === Kind.FilemapMapPages && m[3] === undefined) return 'no ofs=START-END in mm_filemap_map_pages'
  const last = m[3] === undefined ? null : parseInteger(m[3])
  em.event(kind, parseInteger('0x' + m[1]), parseInteger(m[2]!), last, null, null, null, null)
  return null
}

/** Parses the payload of a tracepoint the model uses (by its Kind); SysArgs/SysRet are dispatched by name instead. */
export function payload(em: Emitter, kind: Kind, L: Line, p: number): string | null {
  switch (kind) {
    case Kind.FaultUser:
    case Kind.FaultKernel:
      return pageFault(em, L, p, kind)
    case Kind.SysEnter:
      return rawSysEnter(em, L, p)
    case Kind.SysExit:
      return rawSysExit(em, L, p)
    case Kind.LockStart:
    case Kind.LockAcquire:
    case Kind.LockRelease:
      return mmapLock(em, L, p, kind)
  }
  const s = L.str(p, L.end)
  switch (kind) {
    case Kind.UnmappedArea:
      return unmappedArea(em, s)
    case Kind.ExitMmap:
      return exitMmap(em, s)
    case Kind.Fork:
      return schedFork(em, s)
    case Kind.Exec:
      return schedExec(em, s)
    case Kind.Exit:
      return schedExit(em, s)
    case Kind.NewTask:
      return newTask(em, s)
    case Kind.MapleWrite:
      return maWrite(em, s)
    case Kind.Readahead:
    case Kind.PageCacheAdd:
      return fileIo(em, kind, s)
    case Kind.FilemapFault:
    case Kind.FilemapMapPages:
      return filemapRange(em, kind, s)
    case Kind.Marker:
      return marker(em, s)
    default:
      return `no payload parser for kind ${kind}`
  }
}
