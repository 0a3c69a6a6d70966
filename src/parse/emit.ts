// What every importer shares once a line is understood: building the TraceEvent, resolving the TGID when the
// format does not print it, pairing syscall-specific events with raw ones, and reporting problems/hints.

import {Kind, type ImportSink, type LineImporter, type TraceEvent, type U64} from '../model/events.js'
import {syscallNr} from '../model/syscalls.js'

const CLONE_THREAD = 0x10000
/** Bits of Emitter.memcgForm: how mmap_lock events named the memcg (a kernel-version hint). */
export const MEMCG_ID = 1
export const MEMCG_PATH = 2
const EXCERPT_CHARS = 200

/** An importer that also takes lines as bytes (see ByteLineHandler in lines.ts): the ftrace and perf ones. */
export interface ByteLineImporter extends LineImporter {
  feedBytes(buf: Buffer, start: number, end: number, text: string, base: number, lineNo: number): void
}

/** A line cut to EXCERPT_CHARS with control characters (NUL, ESC, ...) made visible, safe to store and print. */
export function excerpt(line: string): string {
  const s = line.length > EXCERPT_CHARS ? line.slice(0, EXCERPT_CHARS) + '…' : line
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return s.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'))
}

/**
 * Per-line context (set by the importer before it calls event()) plus the cross-line state of one import.
 * TGIDs: a printed one (ftrace TGID column, perf pid/tid) is taken as is and remembered per TID; otherwise the
 * TID's remembered TGID is used, learnt from task_newtask (CLONE_THREAD: the parent's TGID, else its own PID),
 * perf side-band records (pid/tid pairs) and sched_process_exec; a TID nothing is known about is its own TGID.
 */
export class Emitter {
  line = 0
  ts: U64 = 0
  tid = 0
  tgid = 0
  cpu: number | null = null
  comm = ''
  memcgForm = 0

  private readonly tgids = new Map<number, number>()
  private described = -1 // last child TID a task_newtask / PERF_RECORD_FORK told us about
  private rawSyscalls = false
  private readonly openRaw = new Map<number, TraceEvent>() // TID -> its raw sys_enter not yet exited
  private readonly hints = new Set<string>()
  private readonly memcgPaths = new Map<string, number>()
  private printedTgid = 0
  private lastTid = -1 // TID/TGID pair last stored from a printed TGID, to skip re-storing it every line
  private lastPrinted = -1
  private inferredTgid = 0

  constructor(readonly sink: ImportSink) {}

  /** Sets tid/tgid for the current line; `printed` is the TGID the line shows, or null. */
  task(tid: number, printed: number | null): void {
    this.tid = tid
    if (printed !== null && printed >= 0) {
      this.printedTgid++
      this.tgid = printed
      if (tid !== this.lastTid || printed !== this.lastPrinted) {
        this.tgids.set(tid, printed)
        this.lastTid = tid
        this.lastPrinted = printed
      }
    } else {
      this.lastTid = -1
      this.inferredTgid++
      this.tgid = this.tgids.get(tid) ?? tid
    }
  }

  /** A pid/tid pair from a perf side-band record. */
  noteTask(tid: number, tgid: number, isNewChild = false): void {
    if (tgid > 0) this.tgids.set(tid, tgid)
    if (isNewChild) this.described = tid
  }

  event(
    kind: Kind,
    a: U64 | null,
    b: U64 | null,
    c: U64 | null,
    d: U64 | null,
    e: U64 | null,
    f: U64 | null,
    text: string | null,
  ): void {
    const ev: TraceEvent = {
      kind,
      line: this.line,
      ts: this.ts,
      tid: this.tid,
      tgid: this.tgid,
      cpu: this.cpu,
      comm: this.comm,
      a,
      b,
      c,
      d,
      e,
      f,
      text,
    }
    switch (kind) {
      case Kind.SysEnter:
        this.rawSyscalls = true
        this.openRaw.set(this.tid, ev)
        break
      case Kind.SysExit:
        this.rawSyscalls = true
        this.openRaw.delete(this.tid)
        break
      case Kind.SysArgs:
        // Without raw_syscalls events the named enter also opens the syscall (see Kind.SysEnter).
        if (!this.rawSyscalls) this.sink.event({...ev, kind: Kind.SysEnter, text: null})
        break
      case Kind.NewTask: {
        const child = Number(a)
        this.tgids.set(child, (Number(b) & CLONE_THREAD) !== 0 ? this.tgid : child)
        this.described = child
        break
      }
      case Kind.Fork: {
        // A child no task_newtask/PERF_RECORD_FORK described may reuse an old TID: forget what that TID was.
        const child = Number(b)
        if (child !== this.described) this.tgids.delete(child)
        break
      }
      case Kind.Exec:
        this.tgids.set(Number(a), Number(a))
        break
    }
    this.sink.event(ev)
    if (kind === Kind.SysRet && !this.rawSyscalls) this.sink.event({...ev, kind: Kind.SysExit, text: null})
  }

  /**
   * The syscall number for a named syscall event: the TID's open raw sys_enter when there is one (it names the
   * real number on any arch; for the enter it must carry the same timestamp, as ftrace and perf print them), else
   * the x86-64 table.
   */
  syscallNr(name: string, isEnter: boolean): U64 | null {
    const raw = this.openRaw.get(this.tid)
    if (raw !== undefined && (!isEnter || raw.ts === this.ts)) return raw.a
    return syscallNr(name) ?? null
  }

  /** A small per-trace id for a memcg path (kernels ≤ 6.13 print memcg_path=, not memcg_id=); meta maps it back. */
  memcgPathId(path: string): number {
    let id = this.memcgPaths.get(path)
    if (id === undefined) {
      id = this.memcgPaths.size + 1
      this.memcgPaths.set(path, id)
      this.sink.meta(`memcg_path.${id}`, path)
    }
    return id
  }

  lost(line: number, cpu: number | null, count: number | null): void {
    this.sink.lost({line, cpu, count, ts: this.ts})
  }

  problem(line: number, reason: string, text: string): void {
    this.sink.problem({line, reason, excerpt: excerpt(text)})
  }

  hint(h: string): void {
    this.hints.add(h)
  }

  finish(): void {
    if (this.memcgForm & MEMCG_ID) this.hint('>= 6.14: mmap_lock events print memcg_id')
    if (this.memcgForm & MEMCG_PATH) this.hint('<= 6.13: mmap_lock events print memcg_path')
    if (this.hints.size > 0) this.sink.meta('kernel_hint', [...this.hints].join('; '))
    if (this.printedTgid + this.inferredTgid > 0)
      this.sink.meta(
        'tgid_source',
        this.inferredTgid === 0
          ? 'printed'
          : this.printedTgid === 0
            ? 'inferred'
            : `printed on ${this.printedTgid} lines, inferred on ${this.inferredTgid}`,
      )
  }
}
