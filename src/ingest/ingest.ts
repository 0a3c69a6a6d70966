// Ingest, database side: TraceWriter inserts the rows an EventTracker (track.ts) produces — directly as a RowSink
// when parsing runs on this thread, or from the shared slots the parse worker fills (ingest-slots.ts) — and at the end
// writes the derived tables and the traces row. Everything happens inside the caller's transaction (load.ts).
import type {Db} from '../store/db.js'
import {
  Kind,
  KIND_NAMES,
  type MapsEntry,
  type ParseProblem,
  type TraceEvent,
  type U64,
  type TraceFormat,
} from '../model/events.js'
import {EVENT_SLOT_COLUMNS, type BatchMessage, type Slot, type SlotRows} from './ingest-slots.js'
import {SYSCALL_COLUMNS, toSql, type RowSink, type SyscallRow, type TrackedTrace} from './track.js'

/** Columns bound per events row, the slot layout's (event_id is left to SQLite, the next rowid, checked in finish;
 * trace_id is a literal): its numeric columns, then text. */
const EVENT_COLUMNS = [...EVENT_SLOT_COLUMNS.map(([column]) => column), 'text']
const EVENT_PARAMS = EVENT_COLUMNS.length
const EVENT_BATCH = 128
/** Parameters per syscalls row: SYSCALL_COLUMNS, then name (trace_id is a literal). */
const SYSCALL_PARAMS = 1 + SYSCALL_COLUMNS.length
const SYSCALL_BATCH = 64

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

type Param = number | bigint | string | null

export class TraceWriter implements RowSink {
  /** The event_id the first event of this trace gets. */
  readonly firstId: number
  private readonly evParams: Param[] = new Array<Param>(EVENT_BATCH * EVENT_PARAMS).fill(null)
  private evFill = 0
  private readonly scParams: Param[] = new Array<Param>(SYSCALL_BATCH * SYSCALL_PARAMS).fill(null)
  private scFill = 0
  private events = 0
  private readonly insertEvents
  private readonly insertEvent
  private readonly insertSyscalls
  private readonly insertSyscall
  private readonly insertProblem
  private readonly insertLost
  private readonly insertPage
  private readonly warnings: string[] = []
  private readonly facts = new Map<string, string>()

  constructor(
    private readonly db: Db,
    readonly traceId: number,
  ) {
    this.firstId = ((db.prepare('SELECT max(event_id) AS m FROM events').get() as {m: number | null}).m ?? 0) + 1
    const t = Number(traceId)
    if (!Number.isSafeInteger(t)) throw new Error(`bad trace id ${traceId}`)
    const evRow = `(${t},${Array(EVENT_PARAMS).fill('?').join(',')})`
    const evSql = `INSERT INTO events (trace_id, ${EVENT_COLUMNS.join(', ')}) VALUES `
    this.insertEvents = db.prepare(evSql + Array(EVENT_BATCH).fill(evRow).join(','))
    this.insertEvent = db.prepare(evSql + evRow)
    const scRow = `(${t},${Array(SYSCALL_PARAMS).fill('?').join(',')})`
    const scSql = `INSERT INTO syscalls (trace_id, ${SYSCALL_COLUMNS.join(', ')}, name) VALUES `
    this.insertSyscalls = db.prepare(scSql + Array(SYSCALL_BATCH).fill(scRow).join(','))
    this.insertSyscall = db.prepare(scSql + scRow)
    this.insertProblem = db.prepare('INSERT INTO parse_problems (trace_id, line, reason, excerpt) VALUES (?,?,?,?)')
    this.insertLost = db.prepare(
      'INSERT INTO lost_windows (trace_id, line, cpu, lost_events, start_ts_ns, end_ts_ns) VALUES (?,?,?,?,?,?)',
    )
    this.insertPage = db.prepare('INSERT INTO fault_pages (trace_id, page_no, faults, data) VALUES (?,?,?,?)')
  }

  // RowSink, for an EventTracker on this thread.

  event(e: TraceEvent): void {
    const p = this.evParams
    let k = this.evFill
    p[k++] = e.line
    p[k++] = toSql(e.ts)
    p[k++] = e.tid
    p[k++] = e.tgid
    p[k++] = e.cpu
    p[k++] = e.kind
    p[k++] = toSql(e.a)
    p[k++] = toSql(e.b)
    p[k++] = toSql(e.c)
    p[k++] = toSql(e.d)
    p[k++] = toSql(e.e)
    p[k++] = toSql(e.f)
    p[k++] = e.text
    this.events++
    if (k === p.length) {
      this.insertEvents.run(...p)
      k = 0
    }
    this.evFill = k
  }

  syscall(row: SyscallRow): void {
    const p = this.scParams
    let k = this.scFill
    for (const c of SYSCALL_COLUMNS) p[k++] = toSql(row[c])
    p[k++] = row.name
    if (k === p.length) {
      this.insertSyscalls.run(...p)
      k = 0
    }
    this.scFill = k
  }

  problem(line: number, reason: string, excerpt: string): void {
    this.insertProblem.run(this.traceId, line, reason, excerpt)
  }

  lost(line: number, cpu: number | null, count: number | null, start: U64, end: U64): void {
    this.insertLost.run(this.traceId, line, cpu, count, toSql(start), toSql(end))
  }

  faultPage(pageNo: number, faults: number, data: Uint8Array): void {
    this.insertPage.run(this.traceId, pageNo, faults, data)
  }

  /** Inserts one slot the parse worker filled (see ingest-slots.ts): the same rows the RowSink calls would insert. */
  insertSlot(s: Slot, m: BatchMessage): void {
    this.evFill = insertRows(s.events, m.events, m.strings, this.evParams, this.evFill, this.insertEvents)
    this.events += m.events
    this.scFill = insertRows(s.syscalls, m.syscalls, m.strings, this.scParams, this.scFill, this.insertSyscalls)
    for (const [line, reason, excerpt] of m.problems) this.problem(line, reason, excerpt)
    for (const [line, cpu, count, start, end] of m.lost) this.insertLost.run(this.traceId, line, cpu, count, start, end)
    for (const [pageNo, faults, data] of m.pages) this.faultPage(pageNo, faults, data)
  }

  meta(key: string, value: string): void {
    this.facts.set(key, value)
  }

  warn(message: string): void {
    this.warnings.push(message)
  }

  /** Snapshot VMAs a process had when tracing began (`--maps PID=FILE`). */
  addInitialMaps(tgid: number, entries: MapsEntry[], source: string, ts: U64 | null): void {
    const stmt = this.db.prepare(
      `INSERT INTO initial_maps (trace_id, tgid, source, ts_ns, vm_start, vm_end, perms, file_offset, dev, inode, path)
       VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
    )
    for (const m of entries)
      stmt.run(
        this.traceId,
        tgid,
        source,
        toSql(ts),
        toSql(m.start),
        toSql(m.end),
        m.perms,
        toSql(m.offset),
        m.dev,
        m.inode,
        m.path,
      )
  }

  /** Inserts the rows still buffered here (the tracker must have ended), checking every event got its id. */
  private flushRows(): void {
    const ep = this.evParams
    for (let i = 0; i < this.evFill; i += EVENT_PARAMS) this.insertEvent.run(ep.slice(i, i + EVENT_PARAMS))
    this.evFill = 0
    const sp = this.scParams
    for (let i = 0; i < this.scFill; i += SYSCALL_PARAMS) this.insertSyscall.run(sp.slice(i, i + SYSCALL_PARAMS))
    this.scFill = 0
    if (this.events > 0) {
      // SQLite numbers rows max(event_id) + 1 onwards inside this write transaction, as the tracker did
      const last = (this.db.prepare('SELECT max(event_id) AS m FROM events').get() as {m: number}).m
      if (last !== this.firstId + this.events - 1)
        throw new Error(
          `internal error: events got ids up to ${last}, expected ${this.firstId}..${this.firstId + this.events - 1}`,
        )
    }
  }

  /** Flushes buffered rows and writes the derived tables; returns the summary the ingest command prints. */
  finish(tracked: TrackedTrace, format: TraceFormat, lines: number): IngestSummary {
    this.flushRows()
    if (tracked.events !== this.events)
      throw new Error(`internal error: ${tracked.events} events tracked, ${this.events} inserted`)
    const facts = new Map([...tracked.facts, ...this.facts])
    const warnings = [...this.warnings, ...tracked.warnings]
    this.writeDerived(tracked)
    const kindCounts = new Map(tracked.kindCounts)
    const faults = kindCounts.get(Kind.FaultUser) ?? 0
    const kernelFaults = kindCounts.get(Kind.FaultKernel) ?? 0
    this.checkPages(tracked.faultPages, faults + kernelFaults)
    const unknownEvents = Object.fromEntries([...tracked.unknownCounts].sort(([x], [y]) => (x < y ? -1 : 1)))
    const unknownTotal = tracked.unknownCounts.reduce((s, [, n]) => s + n, 0)
    const kernelVersion = facts.get('kernel_version') ?? minVersion(facts.get('kernel_hint'))
    this.db
      .prepare(
        `UPDATE traces SET format=?, kernel_version=?, format_variant=?, environment=?, clock=?, lines=?, events=?, faults=?, kernel_faults=?, malformed_lines=?,
         unknown_events=?, lost_events=?, lost_windows=?, first_ts_ns=?, last_ts_ns=?, monotonic=?, warnings=? WHERE trace_id=?`,
      )
      .run(
        format,
        kernelVersion,
        facts.get('kernel_hint') ?? null,
        facts.get('environment') ?? null,
        facts.get('trace_clock') ?? null,
        lines,
        tracked.events,
        faults,
        kernelFaults,
        tracked.problems,
        unknownTotal,
        tracked.lostEvents,
        tracked.lostWindows,
        toSql(tracked.first),
        toSql(tracked.last),
        tracked.monotonic ? 1 : 0,
        JSON.stringify(warnings),
        this.traceId,
      )
    const eventsByKind: Record<string, number> = {}
    for (const [k, n] of [...tracked.kindCounts].sort(([x], [y]) => x - y)) eventsByKind[KIND_NAMES[k]] = n
    return {
      traceId: this.traceId,
      events: tracked.events,
      faults,
      kernelFaults,
      malformedLines: tracked.problems,
      firstMalformed: tracked.firstProblems,
      unknownEvents,
      eventsByKind,
      lostEvents: tracked.lostEvents,
      lostWindows: tracked.lostWindows,
      processes: tracked.processes.length,
      threads: tracked.threads.length,
      firstTsNs: tracked.first === null ? null : String(tracked.first),
      lastTsNs: tracked.last === null ? null : String(tracked.last),
      monotonic: tracked.monotonic,
      warnings,
      kernelVersion,
    }
  }

  /**
   * The replay reads a trace's faults from its pages only when they hold them all (stream.ts), so a trace that cannot
   * have pages (not in time order, or a value the encoding cannot hold) loses those written before that was known;
   * any other mismatch is a bug.
   */
  private checkPages(pages: number | null, faults: number): void {
    if (pages === null) {
      this.db.prepare('DELETE FROM fault_pages WHERE trace_id = ?').run(this.traceId)
      return
    }
    const got = this.db
      .prepare('SELECT count(*) AS n, total(faults) AS f FROM fault_pages WHERE trace_id = ?')
      .get(this.traceId) as {n: number; f: number}
    if (got.n !== pages || got.f !== faults)
      throw new Error(
        `internal error: ${got.n} fault pages holding ${got.f} faults, expected ${pages} holding ${faults}`,
      )
  }

  private writeDerived(tracked: TrackedTrace): void {
    const t = this.traceId
    const counts = this.db.prepare('INSERT INTO event_counts (trace_id, name, known, count) VALUES (?,?,?,?)')
    for (const [k, n] of tracked.kindCounts) counts.run(t, KIND_NAMES[k], 1, n)
    for (const [name, n] of tracked.unknownCounts) counts.run(t, name, 0, n)
    const threads = this.db.prepare('INSERT INTO threads VALUES (?,?,?,?,?,?,?)')
    const threadCount = new Map<number, number>()
    for (const [tid, tgid, comm, first, last, events] of tracked.threads) {
      const group = tgid ?? tid
      threadCount.set(group, (threadCount.get(group) ?? 0) + 1)
      threads.run(t, tid, tgid, comm, toSql(first), toSql(last), events)
    }
    const procs = this.db.prepare('INSERT INTO processes VALUES (?,?,?,?,?,?,?,?)')
    for (const [tgid, parent, comm, exec, start, exit] of tracked.processes) {
      const n = threadCount.get(tgid) ?? 0
      if (n === 0) continue // a fork child that was a thread (sched_process_fork fires for threads too)
      procs.run(t, tgid, parent, comm, exec, toSql(start), toSql(exit), n)
    }
    const mms = this.db.prepare('INSERT INTO mms VALUES (?,?,?,?,?,?)')
    for (const [mm, owner, first, last, count] of tracked.mms) mms.run(t, mm, owner, toSql(first), toSql(last), count)
  }
}

/**
 * The version range the importer's format hints allow: the newest lower bound and the oldest upper bound
 * (">= 6.14: …; >= 6.18: …" → ">=6.18"; "<= 6.13: …; <= 6.17: …" → "<=6.13"; both → ">=6.14 <=6.17").
 */
function minVersion(hint: string | undefined): string | null {
  if (hint === undefined) return null
  const bounds = (op: string): (readonly [number, number])[] =>
    [...hint.matchAll(new RegExp(`${op} ?(\\d+)\\.(\\d+)`, 'g'))].map((m) => [Number(m[1]), Number(m[2])] as const)
  const lower = bounds('>=').sort(([a, b], [c, d]) => c - a || d - b)[0]
  const upper = bounds('<=').sort(([a, b], [c, d]) => a - c || b - d)[0]
  const parts = [
    lower === undefined ? '' : `>=${lower[0]}.${lower[1]}`,
    upper === undefined ? '' : `<=${upper[0]}.${upper[1]}`,
  ]
  const range = parts.filter((p) => p !== '').join(' ')
  return range === '' ? null : range
}

/**
 * Binds `n` rows of a slot (each: its numeric columns, then its string) into the batch parameters `p`, already
 * filled up to `k`, running `full` whenever the batch is; returns the new fill.
 */
function insertRows(
  rows: SlotRows,
  n: number,
  strings: string[],
  p: Param[],
  k: number,
  full: {run(...params: Param[]): unknown},
): number {
  const width = rows.width
  const len = p.length
  for (let r = 0, o = 0; r < n; r++) {
    for (const end = o + width; o < end; o++) p[k++] = rows.get(o)
    const i = rows.txt[r]!
    p[k++] = i < 0 ? null : strings[i]!
    if (k === len) {
      full.run(...p)
      k = 0
    }
  }
  return k
}
