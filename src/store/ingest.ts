// Ingest: an ImportSink that writes the normalised stream into SQLite in one transaction, and derives threads,
// processes, mms and paired syscalls in the same single pass (one handler per derived table).
import type {Db} from './db.js'
import {Kind, KIND_NAMES, type LostWindow, type MapsEntry, type ParseProblem, type TraceEvent, type U64, type ImportSink, type TraceFormat} from '../model/events.js'
import {syscallName} from '../model/syscalls.js'

/** SQLite INTEGER is signed 64-bit: bigints are stored as their two's complement, numbers as they are. */
export function toSql(v: U64 | null): number | bigint | null {
  return typeof v === 'bigint' ? BigInt.asIntN(64, v) : v
}

const EVENT_COLS = 14
const BATCH = 128

export interface IngestSummary {
  traceId: number
  events: number
  faults: number
  kernelFaults: number
  malformedLines: number
  firstMalformed: ParseProblem[]
  unknownEvents: Record<string, number>
  eventsByKind: Record<string, number>
  lostEvents: number
  lostWindows: number
  processes: number
  threads: number
  firstTsNs: string | null
  lastTsNs: string | null
  monotonic: boolean
  warnings: string[]
  kernelVersion: string | null
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

export class TraceWriter implements ImportSink {
  private nextId: number
  private readonly batch: (number | bigint | string | null)[] = []
  private readonly insertBatch
  private readonly insertOne
  private readonly insertSyscall
  private readonly insertProblem
  private readonly insertLost
  private readonly kindCounts = new Map<Kind, number>()
  private readonly unknownCounts = new Map<string, number>()
  private readonly threads = new Map<number, ThreadRow>()
  private readonly processes = new Map<number, ProcessRow>()
  private readonly mmLives = new Map<string, MmLife>() // current lifetime per mm pointer
  private readonly mmRows: MmLife[] = []
  private readonly pending = new Map<number, PendingSyscall>()
  private readonly openLost: {lost: LostWindow; start: U64}[] = []
  private readonly facts = new Map<string, string>()
  private readonly snapshots = new Map<number, U64>() // pid -> ts of its maps_snapshot_end marker
  private readonly warnings: string[] = []
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

  constructor(
    private readonly db: Db,
    readonly traceId: number,
    private readonly strict: boolean,
  ) {
    this.nextId = ((db.prepare('SELECT max(event_id) AS m FROM events').get() as {m: number | null}).m ?? 0) + 1
    const row = `(${Array(EVENT_COLS).fill('?').join(',')})`
    const sql = `INSERT INTO events (event_id, trace_id, line, ts_ns, tid, tgid, cpu, kind, a, b, c, d, e, f, text) VALUES `
    const rowWithId = row.replace('(', '(?,')
    this.insertBatch = db.prepare(sql + Array(BATCH).fill(rowWithId).join(','))
    this.insertOne = db.prepare(sql + rowWithId)
    this.insertSyscall = db.prepare(
      `INSERT INTO syscalls (trace_id, tid, tgid, nr, name, enter_event_id, exit_event_id, enter_ts_ns, exit_ts_ns,
         arg0, arg1, arg2, arg3, arg4, arg5, ret, clone_flags) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
    )
    this.insertProblem = db.prepare('INSERT INTO parse_problems (trace_id, line, reason, excerpt) VALUES (?,?,?,?)')
    this.insertLost = db.prepare(
      'INSERT INTO lost_windows (trace_id, line, cpu, lost_events, start_ts_ns, end_ts_ns) VALUES (?,?,?,?,?,?)',
    )
  }

  event(e: TraceEvent): void {
    const id = this.nextId++
    this.events++
    this.kindCounts.set(e.kind, (this.kindCounts.get(e.kind) ?? 0) + 1)
    this.trackTime(e)
    if (e.kind !== Kind.Marker) this.trackThread(e) // markers come from the capture tool, not the workload
    this.trackSyscall(e, id)
    this.trackProcess(e)
    if (e.kind === Kind.LockStart || e.kind === Kind.LockAcquire || e.kind === Kind.LockRelease) this.trackMm(e)
    const b = this.batch
    b.push(id, this.traceId, e.line, toSql(e.ts), e.tid, e.tgid, e.cpu, e.kind)
    b.push(toSql(e.a), toSql(e.b), toSql(e.c), toSql(e.d), toSql(e.e), toSql(e.f), e.text)
    if (b.length === BATCH * (EVENT_COLS + 1)) {
      this.insertBatch.run(b)
      b.length = 0
    }
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
    this.insertProblem.run(this.traceId, p.line, p.reason, p.excerpt)
  }

  unknown(name: string): void {
    this.unknownCounts.set(name, (this.unknownCounts.get(name) ?? 0) + 1)
  }

  meta(key: string, value: string): void {
    this.facts.set(key, value)
  }

  /** Snapshot VMAs a process had when tracing began (`--maps PID=FILE`). */
  addInitialMaps(tgid: number, entries: MapsEntry[], source: string, ts: U64 | null): void {
    const stmt = this.db.prepare(
      `INSERT INTO initial_maps (trace_id, tgid, source, ts_ns, vm_start, vm_end, perms, file_offset, dev, inode, path)
       VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
    )
    for (const m of entries)
      stmt.run(this.traceId, tgid, source, toSql(ts), toSql(m.start), toSql(m.end), m.perms, toSql(m.offset), m.dev, m.inode, m.path)
  }

  /** Pids whose maps snapshot the trace marks. */
  snapshotPids(): number[] {
    return [...this.snapshots.keys()]
  }

  /** When the maps snapshot of `pid` was taken, if the trace marks it. */
  snapshotTime(pid: number): U64 | null {
    return this.snapshots.get(pid) ?? null
  }

  warn(message: string): void {
    this.warnings.push(message)
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
      this.insertLost.run(this.traceId, lost.line, lost.cpu, lost.count, toSql(start), toSql(e.ts))
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
    const inFork = FORK_NRS.has(this.pending.get(e.tid)?.nr ?? -1)
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

  // Pairs syscall enter/exit per thread: raw sys_enter/sys_exit delimit, the named events add arguments and results.
  private trackSyscall(e: TraceEvent, id: number): void {
    switch (e.kind) {
      case Kind.SysEnter:
        this.openSyscall(e, id, [e.b, e.c, e.d, e.e, e.f, lastHexArg(e.text)])
        break
      case Kind.SysArgs: {
        const p = this.pending.get(e.tid)
        if (p !== undefined && p.nr === Number(e.a) && p.ret === null) p.args = [e.b, e.c, e.d, e.e, e.f, p.args[5] ?? null]
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
          this.insertSyscall.run(this.traceId, e.tid, e.tgid, Number(e.a), syscallName(Number(e.a)), null, id, null, toSql(e.ts), null, null, null, null, null, null, toSql(e.b), null)
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
    this.pending.set(e.tid, {nr: Number(e.a), enterId: id, enterTs: e.ts, args, ret: null, retId: null, retTs: null, cloneFlags: null})
  }

  /** An enter whose raw exit never came: complete from the named exit if there was one, else leave it open. */
  private flushUnclosed(tid: number, p: PendingSyscall): void {
    this.pending.delete(tid)
    if (p.retId === null) this.unclosedEnters++
    this.writeSyscall(tid, this.threads.get(tid)?.tgid ?? null, p, p.retId, p.retTs, p.ret)
  }

  private writeSyscall(tid: number, tgid: number | null, p: PendingSyscall, exitId: number | null, exitTs: U64 | null, ret: U64 | null): void {
    const a = p.args
    this.insertSyscall.run(
      this.traceId, tid, tgid, p.nr, syscallName(p.nr), p.enterId, exitId, toSql(p.enterTs), toSql(exitTs),
      toSql(a[0] ?? null), toSql(a[1] ?? null), toSql(a[2] ?? null), toSql(a[3] ?? null), toSql(a[4] ?? null), toSql(a[5] ?? null),
      toSql(p.ret ?? ret), toSql(p.cloneFlags),
    )
  }

  /** Flushes buffered rows and writes the derived tables; returns the summary the ingest command prints. */
  finish(format: TraceFormat, lines: number): IngestSummary {
    const b = this.batch
    for (let i = 0; i < b.length; i += EVENT_COLS + 1) this.insertOne.run(b.slice(i, i + EVENT_COLS + 1))
    b.length = 0
    for (const [tid, p] of [...this.pending]) this.flushUnclosed(tid, p)
    for (const {lost, start} of this.openLost)
      this.insertLost.run(this.traceId, lost.line, lost.cpu, lost.count, toSql(start), toSql(this.last ?? start))
    this.writeDerived()
    if (this.backwards > 0) this.warnings.push(`${this.backwards} events have a timestamp earlier than the one before (replay orders by time, then by line)`)
    if (this.orphanExits > 0) this.warnings.push(`${this.orphanExits} syscall exits without an enter (calls already running when tracing began)`)
    if (this.unclosedEnters > 0) this.warnings.push(`${this.unclosedEnters} syscall enters without an exit (still running when tracing stopped, or the thread exited)`)
    const faults = this.kindCounts.get(Kind.FaultUser) ?? 0
    const kernelFaults = this.kindCounts.get(Kind.FaultKernel) ?? 0
    const unknownEvents = Object.fromEntries([...this.unknownCounts].sort(([x], [y]) => (x < y ? -1 : 1)))
    const unknownTotal = [...this.unknownCounts.values()].reduce((s, n) => s + n, 0)
    const kernelVersion = this.facts.get('kernel_version') ?? minVersion(this.facts.get('kernel_hint'))
    this.db
      .prepare(
        `UPDATE traces SET format=?, kernel_version=?, clock=?, lines=?, events=?, faults=?, kernel_faults=?, malformed_lines=?,
         unknown_events=?, lost_events=?, lost_windows=?, first_ts_ns=?, last_ts_ns=?, monotonic=?, warnings=? WHERE trace_id=?`,
      )
      .run(format, kernelVersion, this.facts.get('trace_clock') ?? null, lines, this.events, faults, kernelFaults, this.problems,
        unknownTotal, this.lostEvents, this.lostWindows, toSql(this.first), toSql(this.last), this.monotonic ? 1 : 0,
        JSON.stringify(this.warnings), this.traceId)
    const eventsByKind: Record<string, number> = {}
    for (const [k, n] of [...this.kindCounts].sort(([x], [y]) => x - y)) eventsByKind[KIND_NAMES[k]] = n
    return {
      traceId: this.traceId,
      events: this.events,
      faults,
      kernelFaults,
      malformedLines: this.problems,
      firstMalformed: this.firstProblems,
      unknownEvents,
      eventsByKind,
      lostEvents: this.lostEvents,
      lostWindows: this.lostWindows,
      processes: this.processes.size,
      threads: this.threads.size,
      firstTsNs: this.first === null ? null : String(this.first),
      lastTsNs: this.last === null ? null : String(this.last),
      monotonic: this.monotonic,
      warnings: this.warnings,
      kernelVersion,
    }
  }

  private writeDerived(): void {
    const t = this.traceId
    const counts = this.db.prepare('INSERT INTO event_counts (trace_id, name, known, count) VALUES (?,?,?,?)')
    for (const [k, n] of this.kindCounts) counts.run(t, KIND_NAMES[k], 1, n)
    for (const [name, n] of this.unknownCounts) counts.run(t, name, 0, n)
    const threads = this.db.prepare('INSERT INTO threads VALUES (?,?,?,?,?,?,?)')
    const threadCount = new Map<number, number>()
    for (const [tid, r] of this.threads) {
      const tgid = r.tgid ?? tid
      threadCount.set(tgid, (threadCount.get(tgid) ?? 0) + 1)
      threads.run(t, tid, r.tgid, r.comm, toSql(r.first), toSql(r.last), r.events)
    }
    const procs = this.db.prepare('INSERT INTO processes VALUES (?,?,?,?,?,?,?,?)')
    for (const [tgid, p] of this.processes) {
      const n = threadCount.get(tgid) ?? 0
      if (n === 0) continue // a fork child that was a thread (sched_process_fork fires for threads too)
      procs.run(t, tgid, p.parent, p.comm, p.exec, toSql(p.start), toSql(p.exit), n)
    }
    const mms = this.db.prepare('INSERT INTO mms VALUES (?,?,?,?,?,?)')
    for (const m of this.mmRows) mms.run(t, m.mm, m.owner, toSql(m.first), toSql(m.last), m.count)
  }
}

export class MalformedLineError extends Error {
  constructor(readonly problem: ParseProblem) {
    super(`line ${problem.line}: ${problem.reason}: ${problem.excerpt}`)
  }
}

/** The newest lower bound among the importer's format hints (">= 6.14: …; >= 6.18: …" → ">=6.18"). */
function minVersion(hint: string | undefined): string | null {
  if (hint === undefined) return null
  const versions = [...hint.matchAll(/>= ?(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])] as const)
  const newest = versions.sort(([a, b], [c, d]) => c - a || d - b)[0]
  return newest === undefined ? null : `>=${newest[0]}.${newest[1]}`
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
