// The per-event half of ingest, free of SQLite so it can run in the parse worker (ingest-worker.ts): numbers the
// events, pairs syscalls, closes lost windows, and derives threads, processes and mms in the same single pass.
// Rows go to a RowSink in the order the tables get them; TraceWriter (ingest.ts) inserts them on the main thread.
import {Kind, type LostWindow, type ParseProblem, type TraceEvent, type U64, type ImportSink} from '../model/events.js'
import {syscallName} from '../model/syscalls.js'
import {MalformedLineError} from '../base/errors.js'
import {FaultPageEncoder} from '../store/fault-pages.js'

/** SQLite INTEGER is signed 64-bit: bigints are stored as their two's complement, numbers as they are. */
export function toSql(v: U64 | null): number | bigint | null {
  return typeof v === 'bigint' ? BigInt.asIntN(64, v) : v
}

/** One `syscalls` row (docs/schema.md); SYSCALL_COLUMNS gives its numeric columns' order wherever rows are packed. */
export interface SyscallRow {
  tid: number
  tgid: number | null
  nr: number
  name: string
  enter_event_id: number | null
  exit_event_id: number | null
  enter_ts_ns: U64 | null
  exit_ts_ns: U64 | null
  arg0: U64 | null
  arg1: U64 | null
  arg2: U64 | null
  arg3: U64 | null
  arg4: U64 | null
  arg5: U64 | null
  ret: U64 | null
  clone_flags: U64 | null
  lock_wait_ns: number | null
  lock_hold_ns: number | null
}

/** The numeric columns of a syscalls row in the order the parse worker's slots and the INSERT use (`name` apart). */
export const SYSCALL_COLUMNS = [
  'tid',
  'tgid',
  'nr',
  'enter_event_id',
  'exit_event_id',
  'enter_ts_ns',
  'exit_ts_ns',
  'arg0',
  'arg1',
  'arg2',
  'arg3',
  'arg4',
  'arg5',
  'ret',
  'clone_flags',
  'lock_wait_ns',
  'lock_hold_ns',
] as const satisfies readonly (keyof SyscallRow)[]

/** Where the tracker's rows go, each table's rows in insertion order (values already as SQL stores them). */
export interface RowSink {
  /** One `events` row; its event_id is the next one (the tracker numbers events consecutively from firstId). */
  event(e: TraceEvent): void
  syscall(row: SyscallRow): void
  problem(line: number, reason: string, excerpt: string): void
  lost(line: number, cpu: number | null, count: number | null, start: U64, end: U64): void
  /** One `fault_pages` row (fault-pages.ts). */
  faultPage(pageNo: number, faults: number, data: Uint8Array): void
}

/** Everything the tracker learnt, once the last row is out: plain data, so it crosses from the worker intact. */
export interface TrackedTrace {
  events: number
  kindCounts: [Kind, number][] // in first-seen order
  unknownCounts: [string, number][]
  threads: [tid: number, tgid: number | null, comm: string, first: U64, last: U64, events: number][]
  processes: [
    tgid: number,
    parent: number | null,
    comm: string,
    exec: string | null,
    start: U64 | null,
    exit: U64 | null,
  ][]
  mms: [mm: string, owner: number | null, first: U64, last: U64, count: number][]
  facts: [string, string][]
  snapshots: [pid: number, ts: U64][]
  problems: number
  firstProblems: ParseProblem[]
  lostEvents: number
  lostWindows: number
  first: U64 | null
  last: U64 | null
  monotonic: boolean
  warnings: string[] // after any the caller adds (maps problems)
  /** `fault_pages` rows written, or null when the trace cannot have them (its pages so far are to be deleted). */
  faultPages: number | null
}

interface PendingSyscall {
  nr: number
  enterId: number | null
  enterTs: U64 | null
  args: (U64 | null)[]
  ret: U64 | null
  retId: number | null
  retTs: U64 | null
  cloneFlags: U64 | null
  /** mmap_lock time of the call (null until one of its thread's lock events is seen): waits, closed holds */
  lockWaitNs: number | null
  lockHoldNs: number | null
  /** when the pending start_locking began, and when the thread went from holding no lock to holding one */
  lockStart: U64 | null
  lockSince: U64 | null
  /** the mm pointers it holds (dup_mmap holds the child's inside the parent's) */
  held: string[]
}

interface MmLife {
  mm: string
  owner: number | null
  first: U64
  last: U64
  count: number
}

const FORK_NRS = new Set([56, 57, 58, 435]) // clone, fork, vfork, clone3

interface ThreadRow {
  tgid: number | null
  comm: string
  first: U64
  last: U64
  events: number
}

interface ProcessRow {
  parent: number | null
  comm: string
  exec: string | null
  start: U64 | null
  exit: U64 | null
}

const KIND_SLOTS = 64

export class EventTracker implements ImportSink {
  private nextId: number
  private readonly kindCounts = new Float64Array(KIND_SLOTS)
  private readonly kindOrder: Kind[] = []
  private readonly otherKinds = new Map<Kind, number>() // kinds outside [0, KIND_SLOTS), should any appear
  private readonly unknownCounts = new Map<string, number>()
  private readonly threads = new Map<number, ThreadRow>()
  private readonly processes = new Map<number, ProcessRow>()
  private readonly mmLives = new Map<string, MmLife>() // current lifetime per mm pointer
  private readonly mmRows: MmLife[] = []
  private readonly pending = new Map<number, PendingSyscall>()
  private readonly openLost: {lost: LostWindow; start: U64}[] = []
  private readonly facts = new Map<string, string>()
  private readonly snapshots = new Map<number, U64>() // pid -> ts of its maps_snapshot_end marker
  private readonly firstProblems: ParseProblem[] = []
  private problems = 0
  private lostEvents = 0
  private lostWindows = 0
  private events = 0
  private first: U64 | null = null
  private last: U64 | null = null
  private monotonic = true
  private backwards = 0
  private orphanExits = 0
  private unclosedEnters = 0
  private readonly pages: FaultPageEncoder

  constructor(
    private readonly out: RowSink,
    firstId: number,
    private readonly strict: boolean,
  ) {
    this.nextId = firstId
    this.pages = new FaultPageEncoder((pageNo, faults, data) => out.faultPage(pageNo, faults, data))
  }

  event(e: TraceEvent): void {
    const id = this.nextId++
    this.events++
    const kind = e.kind
    if (kind >= 0 && kind < KIND_SLOTS) {
      if (this.kindCounts[kind]++ === 0) this.kindOrder.push(kind)
    } else {
      if (!this.otherKinds.has(kind)) this.kindOrder.push(kind)
      this.otherKinds.set(kind, (this.otherKinds.get(kind) ?? 0) + 1)
    }
    this.trackTime(e)
    // the pages are in file order: of no use once the trace is not in time order
    if ((kind === Kind.FaultUser || kind === Kind.FaultKernel) && this.monotonic) this.pages.fault(id, e, this.first!)
    if (kind !== Kind.Marker) this.trackThread(e) // markers come from the capture tool, not the workload
    if (kind >= Kind.SysEnter && kind <= Kind.SysRet) this.trackSyscall(e, id)
    else if (kind === Kind.Exit || kind === Kind.NewTask) this.trackSyscall(e, id)
    this.trackProcess(e)
    if (kind === Kind.LockStart || kind === Kind.LockAcquire || kind === Kind.LockRelease) {
      this.trackMm(e)
      this.trackLock(e)
    }
    this.out.event(e)
  }

  lost(l: LostWindow): void {
    this.lostWindows++
    if (l.count !== null) this.lostEvents += l.count
    this.openLost.push({lost: l, start: this.last ?? l.ts})
  }

  problem(p: ParseProblem): void {
    if (this.strict) throw new MalformedLineError(p)
    this.problems++
    if (this.firstProblems.length < 10) this.firstProblems.push(p)
    this.out.problem(p.line, p.reason, p.excerpt)
  }

  unknown(name: string): void {
    this.unknownCounts.set(name, (this.unknownCounts.get(name) ?? 0) + 1)
  }

  meta(key: string, value: string): void {
    this.facts.set(key, value)
  }

  private count(kind: Kind): number {
    return kind >= 0 && kind < KIND_SLOTS ? this.kindCounts[kind]! : (this.otherKinds.get(kind) ?? 0)
  }

  private trackTime(e: TraceEvent): void {
    if (this.first === null) this.first = e.ts
    if (this.last !== null && e.ts < this.last) {
      this.monotonic = false
      this.backwards++
    }
    if (this.last === null || e.ts > this.last) this.last = e.ts
    if (this.openLost.length > 0) this.closeLostWindows(e)
  }

  private closeLostWindows(e: TraceEvent): void {
    for (let i = this.openLost.length - 1; i >= 0; i--) {
      const {lost, start} = this.openLost[i]!
      if (lost.cpu !== null && e.cpu !== null && lost.cpu !== e.cpu) continue
      this.out.lost(lost.line, lost.cpu, lost.count, start, e.ts)
      this.openLost.splice(i, 1)
    }
  }

  private trackThread(e: TraceEvent): void {
    const t = this.threads.get(e.tid)
    if (t === undefined) {
      this.threads.set(e.tid, {tgid: e.tgid, comm: e.comm, first: e.ts, last: e.ts, events: 1})
      return
    }
    t.events++
    t.last = e.ts
    if (e.tgid !== null) t.tgid = e.tgid
    if (e.comm !== '<...>') t.comm = e.comm
  }

  private trackProcess(e: TraceEvent): void {
    const tgid = e.tgid ?? e.tid
    let p = this.processes.get(tgid)
    if (p === undefined) {
      p = {parent: null, comm: e.comm, exec: null, start: null, exit: null}
      this.processes.set(tgid, p)
    }
    switch (e.kind) {
      case Kind.Fork: {
        const child = Number(e.b)
        // sched_process_fork fires for threads too; a thread's tid never becomes a tgid, so this stays harmless.
        if (!this.processes.has(child))
          this.processes.set(child, {parent: tgid, comm: e.text ?? e.comm, exec: null, start: e.ts, exit: null})
        break
      }
      case Kind.Marker: {
        // attach-mode captures bracket the /proc/PID/maps read with these markers (vmareplay capture, attach.py)
        const m = /maps_snapshot_end pid=(\d+)/.exec(e.text ?? '')
        if (m !== null) this.snapshots.set(Number(m[1]), e.ts)
        break
      }
      case Kind.Exec:
        p.exec = e.text
        p.comm = e.comm
        break
      case Kind.Exit:
        if (e.tid === tgid) p.exit = e.ts
        break
    }
  }

  // An mm's owner is the thread group that locks it outside fork: dup_mmap locks the child's mm from the parent.
  // mm_structs are reused after exit, so another owner locking the same pointer starts a new lifetime.
  private trackMm(e: TraceEvent): void {
    const mm = e.text ?? ''
    const inFork = this.pending.size > 0 && FORK_NRS.has(this.pending.get(e.tid)?.nr ?? -1)
    const tgid = inFork ? null : (e.tgid ?? e.tid)
    let life = this.mmLives.get(mm)
    if (life !== undefined && tgid !== null && life.owner !== null && life.owner !== tgid) life = undefined
    if (life === undefined) {
      life = {mm, owner: tgid, first: e.ts, last: e.ts, count: 0}
      this.mmLives.set(mm, life)
      this.mmRows.push(life)
    }
    if (life.owner === null) life.owner = tgid
    life.last = e.ts
    life.count++
  }

  // The calling thread's mmap_lock waits (start_locking → acquire_returned) and holds (a successful acquire → the
  // release that leaves it holding none) inside its syscall: syscalls.lock_wait_ns / lock_hold_ns. A downgrade
  // reports an acquire of the lock already held (mmap_write_downgrade), so the hold goes on through it.
  private trackLock(e: TraceEvent): void {
    const p = this.pending.get(e.tid)
    if (p === undefined) return
    p.lockWaitNs ??= 0
    p.lockHoldNs ??= 0
    const mm = e.text ?? ''
    if (e.kind === Kind.LockStart) p.lockStart = e.ts
    else if (e.kind === Kind.LockAcquire) {
      if (p.lockStart !== null) p.lockWaitNs += span(p.lockStart, e.ts)
      p.lockStart = null
      if (e.b === 1 && !p.held.includes(mm)) {
        if (p.held.length === 0) p.lockSince = e.ts
        p.held.push(mm)
      }
    } else {
      const i = p.held.indexOf(mm)
      if (i < 0) return
      p.held.splice(i, 1)
      if (p.held.length === 0) p.lockHoldNs += span(p.lockSince!, e.ts)
    }
  }

  // Pairs syscall enter/exit per thread: raw sys_enter/sys_exit delimit, the named events add arguments and results.
  private trackSyscall(e: TraceEvent, id: number): void {
    switch (e.kind) {
      case Kind.SysEnter:
        this.openSyscall(e, id, [e.b, e.c, e.d, e.e, e.f, lastHexArg(e.text)])
        break
      case Kind.SysArgs: {
        const p = this.pending.get(e.tid)
        if (p !== undefined && p.nr === Number(e.a) && p.ret === null)
          p.args = [e.b, e.c, e.d, e.e, e.f, p.args[5] ?? null]
        else this.openSyscall(e, id, [e.b, e.c, e.d, e.e, e.f, null])
        break
      }
      case Kind.SysRet: {
        const p = this.pending.get(e.tid)
        if (p !== undefined && p.nr === Number(e.a)) {
          p.ret = e.b
          p.retId = id
          p.retTs = e.ts
        }
        break
      }
      case Kind.SysExit: {
        const p = this.pending.get(e.tid)
        if (p !== undefined && p.nr === Number(e.a)) {
          this.pending.delete(e.tid)
          this.writeSyscall(e.tid, e.tgid, p, id, e.ts, e.b)
        } else {
          if (p !== undefined) this.flushUnclosed(e.tid, p)
          this.orphanExits++
          const nr = Number(e.a)
          this.out.syscall({
            tid: e.tid,
            tgid: e.tgid,
            nr,
            name: syscallName(nr),
            enter_event_id: null,
            exit_event_id: id,
            enter_ts_ns: null,
            exit_ts_ns: e.ts,
            arg0: null,
            arg1: null,
            arg2: null,
            arg3: null,
            arg4: null,
            arg5: null,
            ret: e.b,
            clone_flags: null,
            lock_wait_ns: null,
            lock_hold_ns: null,
          })
        }
        break
      }
      case Kind.Exit: {
        const p = this.pending.get(e.tid)
        if (p !== undefined) this.flushUnclosed(e.tid, p)
        break
      }
      case Kind.NewTask: {
        // copy_process traces the clone flags; clone3 passes them in memory, so this is where the replay learns them
        const p = this.pending.get(e.tid)
        if (p !== undefined) p.cloneFlags = e.b
        break
      }
    }
  }

  private openSyscall(e: TraceEvent, id: number, args: (U64 | null)[]): void {
    const prev = this.pending.get(e.tid)
    if (prev !== undefined) this.flushUnclosed(e.tid, prev)
    this.pending.set(e.tid, {
      nr: Number(e.a),
      enterId: id,
      enterTs: e.ts,
      args,
      ret: null,
      retId: null,
      retTs: null,
      cloneFlags: null,
      lockWaitNs: null,
      lockHoldNs: null,
      lockStart: null,
      lockSince: null,
      held: [],
    })
  }

  /** An enter whose raw exit never came: complete from the named exit if there was one, else leave it open. */
  private flushUnclosed(tid: number, p: PendingSyscall): void {
    this.pending.delete(tid)
    if (p.retId === null) this.unclosedEnters++
    this.writeSyscall(tid, this.threads.get(tid)?.tgid ?? null, p, p.retId, p.retTs, p.ret)
  }

  private writeSyscall(
    tid: number,
    tgid: number | null,
    p: PendingSyscall,
    exitId: number | null,
    exitTs: U64 | null,
    ret: U64 | null,
  ): void {
    const a = p.args
    this.out.syscall({
      tid,
      tgid,
      nr: p.nr,
      name: syscallName(p.nr),
      enter_event_id: p.enterId,
      exit_event_id: exitId,
      enter_ts_ns: p.enterTs,
      exit_ts_ns: exitTs,
      arg0: a[0] ?? null,
      arg1: a[1] ?? null,
      arg2: a[2] ?? null,
      arg3: a[3] ?? null,
      arg4: a[4] ?? null,
      arg5: a[5] ?? null,
      ret: p.ret ?? ret,
      clone_flags: p.cloneFlags,
      lock_wait_ns: p.lockWaitNs,
      lock_hold_ns: p.lockHoldNs,
    })
  }

  /** Pids whose maps snapshot the trace marks. */
  snapshotPids(): number[] {
    return [...this.snapshots.keys()]
  }

  /**
   * Writes the rows still open (syscalls without an exit, lost windows no event closed) and returns the rest.
   * Nothing may be fed afterwards.
   */
  end(): TrackedTrace {
    for (const [tid, p] of [...this.pending]) this.flushUnclosed(tid, p)
    for (const {lost, start} of this.openLost) this.out.lost(lost.line, lost.cpu, lost.count, start, this.last ?? start)
    this.openLost.length = 0
    const warnings: string[] = []
    if (this.backwards > 0)
      warnings.push(
        `${this.backwards} events have a timestamp earlier than the one before (replay orders by time, then by line)`,
      )
    if (this.orphanExits > 0)
      warnings.push(`${this.orphanExits} syscall exits without an enter (calls already running when tracing began)`)
    if (this.unclosedEnters > 0)
      warnings.push(
        `${this.unclosedEnters} syscall enters without an exit (still running when tracing stopped, or the thread exited)`,
      )
    return {
      events: this.events,
      kindCounts: this.kindOrder.map((k) => [k, this.count(k)]),
      unknownCounts: [...this.unknownCounts],
      threads: [...this.threads].map(([tid, r]) => [tid, r.tgid, r.comm, r.first, r.last, r.events]),
      processes: [...this.processes].map(([tgid, p]) => [tgid, p.parent, p.comm, p.exec, p.start, p.exit]),
      mms: this.mmRows.map((m) => [m.mm, m.owner, m.first, m.last, m.count]),
      facts: [...this.facts],
      snapshots: [...this.snapshots],
      problems: this.problems,
      firstProblems: this.firstProblems,
      lostEvents: this.lostEvents,
      lostWindows: this.lostWindows,
      first: this.first,
      last: this.last,
      monotonic: this.monotonic,
      warnings,
      faultPages: this.monotonic ? this.pages.end() : null,
    }
  }
}

/** b − a in ns, 0 if the clock went backwards (timestamps are bigints only past 2^53 ns; spans in a call are small). */
function span(a: U64, b: U64): number {
  const d = typeof a === 'number' && typeof b === 'number' ? b - a : Number(BigInt(b) - BigInt(a))
  return d > 0 ? d : 0
}

/** The sixth raw argument, kept only in the args text (a..f hold nr and the first five). */
function lastHexArg(text: string | null): U64 | null {
  if (text === null) return null
  const i = text.lastIndexOf(',')
  const s = text.slice(i + 1).trim()
  if (s === '') return null
  const v = BigInt('0x' + s)
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
}
