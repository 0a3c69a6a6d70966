// Reads an ingested trace back as the operations the simulated threads replay, in time order, streaming.
// mmap_lock events are never read here: they are what validation checks the prediction against.
import type {ThpMode} from '../kernel/index.js'
import type {Statement} from 'better-sqlite3'
import type {Db} from '../store/db.js'
import {Kind, KIND_NAMES} from '../model/events.js'
import {syscallName} from '../model/syscalls.js'
import {FaultPageReader} from '../store/fault-pages.js'
import type {FaultOp, Op} from '../model/ops.js'

const KINDS = [
  Kind.FaultUser,
  Kind.FaultKernel,
  Kind.Fork,
  Kind.NewTask,
  Kind.Exec,
  Kind.Exit,
  Kind.Mmap2,
  Kind.UnmappedArea,
]

export interface TraceInfo {
  traceId: number
  path: string
  format: string
  kernelVersion: string | null
  /** THP mode of the recording machine (traces.environment), null when the capture did not say. */
  thp: ThpMode | null
  /** CONFIG_BSD_PROCESS_ACCT of the recording kernel (traces.environment), null when the capture did not say. */
  bsdProcessAcct: boolean | null
  firstTsNs: bigint
  lastTsNs: bigint
  monotonic: boolean
  events: number
  faults: number
}

export function traceInfo(db: Db, traceId: number): TraceInfo {
  const stmt = db.prepare(
    'SELECT trace_id, path, format, kernel_version, environment, first_ts_ns, last_ts_ns, monotonic, events, faults FROM traces WHERE trace_id = ?',
  )
  const r = stmt.safeIntegers(true).get(traceId) as Record<string, bigint | string | null> | undefined
  if (r === undefined) throw new Error(`no trace ${traceId}`)
  const env =
    r.environment === null ? {} : (JSON.parse(String(r.environment)) as {thp?: ThpMode; bsdProcessAcct?: boolean})
  return {
    traceId,
    path: String(r.path),
    format: String(r.format),
    kernelVersion: r.kernel_version === null ? null : String(r.kernel_version),
    thp: env.thp ?? null,
    bsdProcessAcct: env.bsdProcessAcct ?? null,
    firstTsNs: (r.first_ts_ns as bigint | null) ?? 0n,
    lastTsNs: (r.last_ts_ns as bigint | null) ?? 0n,
    monotonic: r.monotonic === 1n,
    events: Number(r.events),
    faults: Number(r.faults),
  }
}

type FaultRow = [number, number, number, number, number | null, number | null, Kind]
type EventRow = [
  number,
  number,
  number,
  number,
  number | null,
  number | null,
  Kind,
  number | null,
  string | null,
  number | null,
]
type SyscallRow = [
  number,
  number,
  number,
  number,
  number,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
]

/** Whether any syscall of the trace has its mmap_lock hold measured from the trace's lock events (ingest, track.ts). */
export function hasTracedHolds(db: Db, traceId: number): boolean {
  return (
    db.prepare('SELECT 1 FROM syscalls WHERE trace_id = ? AND lock_hold_ns IS NOT NULL LIMIT 1').get(traceId) !==
    undefined
  )
}

/** Time order needs an index when timestamps went backwards; the caller builds it on a writable connection. */
export const TIME_INDEX_SQL = 'CREATE INDEX IF NOT EXISTS events_time ON events(trace_id, ts_ns, event_id)'

const FAULTS = [Kind.FaultUser, Kind.FaultKernel]
const OTHERS = KINDS.filter((k) => !FAULTS.includes(k))
/** `kind = <literal>` terms, so the partial index events_rare (schema.ts: these are all rare kinds) finds the few
 * rows; `kind IN (…)` cannot use it and scans every event of the trace. */
const OTHERS_WHERE = OTHERS.map((k) => `kind = ${k}`).join(' OR ')
/** Rows per read of the SQL fault scan: one native call per chunk instead of one per row. */
const CHUNK = 4096

/**
 * Feeds the trace's operations to `onOp` in time order (file order breaks ties): a merge of three ordered scans —
 * the faults (most of a trace: from its `fault_pages` when it has them, else read in chunks with only the columns a
 * fault needs), the other replayed events (few), and the paired syscalls, each keyed by its entry event so a
 * simulated thread knows a call's traced duration and result when it starts it. No per-row join, and no iterator
 * protocol per fault (a callback, not a generator).
 */
export function readOps(db: Db, info: TraceInfo, onOp: (op: Op) => void): void {
  const byTime = !info.monotonic
  const params = {base: info.firstTsNs, trace: info.traceId}
  const io = faultsWithIo(db, info)
  // the pages are in file order, which is time order only in a monotonic trace
  const faults =
    !byTime && hasPages(db, info.traceId)
      ? new PagedFaults(db, info.traceId, io)
      : new ChunkedFaults(db, params, byTime, io)
  const events = db
    .prepare(
      `SELECT event_id, ts_ns - @base, tid, coalesce(tgid, tid), a, b, kind, c, text, d FROM events
       WHERE trace_id = @trace AND (${OTHERS_WHERE}) ORDER BY ${byTime ? 'ts_ns, event_id' : 'event_id'}`,
    )
    .raw(true)
    .iterate(params) as IterableIterator<EventRow>
  const syscalls: RowSource<SyscallRow> = byTime
    ? new IteratedRows(db, params, SYSCALLS_BY_TIME)
    : new SyscallChunks(db, params)
  try {
    let f = faults.next()
    let ev = events.next().value as EventRow | undefined
    let sc = syscalls.next()
    while (f !== undefined || ev !== undefined || sc !== undefined) {
      if (f !== undefined && faultFirst(f, ev) && faultFirst(f, sc)) {
        onOp(f)
        f = faults.next()
      } else if (earlier(sc, ev)) {
        const r = sc!
        // the stored name is syscallName(nr) (track.ts): derived here, one string column less per row
        onOp({
          type: 'syscall',
          eventId: r[0],
          t: r[1],
          tEnd: r[5],
          tid: r[2],
          tgid: r[3],
          nr: r[4],
          name: syscallName(r[4]),
          args: [r[6] ?? 0, r[7] ?? 0, r[8] ?? 0, r[9] ?? 0, r[10] ?? 0, r[11] ?? 0],
          ret: r[12],
          cloneFlags: r[13],
          lockHoldNs: r[14],
        })
        sc = syscalls.next()
      } else {
        const op = toOp(ev!)
        ev = events.next().value as EventRow | undefined
        if (op !== null) onOp(op)
      }
    }
  } finally {
    // a replay that stops early must not leave the scans open: the connection could not be closed
    faults.close()
    events.return?.()
    syscalls.close()
  }
}

/** Rows in order, one at a time; undefined at the end. */
interface RowSource<R> {
  next(): R | undefined
  close(): void
}

const SYSCALL_COLUMNS = `enter_event_id, enter_ts_ns - @base, tid, coalesce(tgid, tid), nr, exit_ts_ns - @base,
  arg0, arg1, arg2, arg3, arg4, arg5, ret, clone_flags, lock_hold_ns`
const SYSCALLS_BY_TIME = `SELECT ${SYSCALL_COLUMNS} FROM syscalls WHERE trace_id = @trace AND enter_event_id IS NOT NULL
  ORDER BY enter_ts_ns, enter_event_id`

/** A query's rows through better-sqlite3's iterator, one native call per row. */
class IteratedRows<R> implements RowSource<R> {
  private readonly it: IterableIterator<R>

  constructor(db: Db, params: Record<string, unknown>, sql: string) {
    this.it = db.prepare(sql).raw(true).iterate(params) as IterableIterator<R>
  }

  next(): R | undefined {
    return this.it.next().value as R | undefined
  }

  close(): void {
    this.it.return?.()
  }
}

/**
 * The paired syscalls in entry order (a monotonic trace), CHUNK rows per SQL call as one JSON array that SQLite
 * builds and JSON.parse reads: better-sqlite3 building a row array per syscall was most of the read after the
 * fault pages (node_gc_long: 228,524 rows of 15 columns). Numbers are the same doubles either way: SQLite prints
 * each INTEGER exactly and JSON.parse rounds it as the C conversion does.
 */
class SyscallChunks implements RowSource<SyscallRow> {
  private rows: SyscallRow[] = []
  private i = 0
  private after = -1
  private readonly chunk: Statement

  constructor(
    db: Db,
    private readonly params: Record<string, unknown>,
  ) {
    // a range of the index syscalls_trace_enter per chunk: no sort, and no other trace's rows read
    this.chunk = db
      .prepare(
        `SELECT json_group_array(json_array(${SYSCALL_COLUMNS})) FROM (
           SELECT * FROM syscalls WHERE trace_id = @trace AND enter_event_id > @after ORDER BY enter_event_id LIMIT ${CHUNK})`,
      )
      .pluck()
  }

  next(): SyscallRow | undefined {
    if (this.i === this.rows.length) {
      if (this.after !== -1 && this.rows.length < CHUNK) return undefined
      const rows = (this.rows = JSON.parse(
        this.chunk.get({...this.params, after: this.after}) as string,
      ) as SyscallRow[])
      this.i = 0
      if (rows.length === 0) return undefined
      // SQLite aggregates the subquery's rows in its order, but does not promise to (an ORDER BY inside
      // json_group_array sorts each chunk again): check it, which costs a pass
      for (let i = 1; i < rows.length; i++) {
        if (rows[i]![0] < rows[i - 1]![0]) {
          rows.sort((x, y) => x[0] - y[0])
          break
        }
      }
      this.after = rows[rows.length - 1]![0]
    }
    return this.rows[this.i++]
  }

  close(): void {}
}

/** Row x comes before row y (either may be exhausted): by (t, event id), [1] and [0] in every row shape. */
function earlier(
  x: readonly [number, number, ...unknown[]] | undefined,
  y: readonly [number, number, ...unknown[]] | undefined,
): boolean {
  return y === undefined || (x !== undefined && (x[1] < y[1] || (x[1] === y[1] && x[0] < y[0])))
}

/** Fault f comes before row y (which may be exhausted), by (t, event id). */
function faultFirst(f: FaultOp, y: readonly [number, number, ...unknown[]] | undefined): boolean {
  return y === undefined || f.t < y[1] || (f.t === y[1] && f.eventId < y[0])
}

/** The faults in (t, event id) order, one op at a time; undefined at the end. */
interface FaultSource {
  next(): FaultOp | undefined
  close(): void
}

/**
 * Whether the trace's `fault_pages` hold all its faults: a trace ingested before the table existed has none, and
 * one not in time order none either (ingest.ts); the count check keeps any other gap on the SQL path.
 */
function hasPages(db: Db, traceId: number): boolean {
  const r = db
    .prepare(
      'SELECT faults + kernel_faults = (SELECT total(faults) FROM fault_pages WHERE trace_id = @t) AS ok FROM traces WHERE trace_id = @t',
    )
    .get({t: traceId}) as {ok: number} | undefined
  return r?.ok === 1
}

/** The faults from the trace's pages (fault-pages.ts): one row per PAGE_FAULTS faults, decoded without SQL per fault. */
class PagedFaults implements FaultSource {
  private readonly pages: IterableIterator<[number, Uint8Array]>
  private readonly page = new FaultPageReader()

  constructor(
    db: Db,
    traceId: number,
    private readonly io: Set<number>,
  ) {
    this.pages = db
      .prepare('SELECT faults, data FROM fault_pages WHERE trace_id = ? ORDER BY page_no')
      .raw(true)
      .iterate(traceId) as IterableIterator<[number, Uint8Array]>
  }

  next(): FaultOp | undefined {
    const p = this.page
    while (!p.next()) {
      const r = this.pages.next()
      if (r.done === true) return undefined
      p.load(r.value[1], r.value[0])
    }
    const eventId = p.eventId
    return {
      type: 'fault',
      eventId,
      t: p.t,
      tid: p.tid,
      tgid: p.tgid,
      address: p.address,
      errorCode: p.errorCode,
      user: !p.kernel,
      io: this.io.has(eventId),
    }
  }

  close(): void {
    this.pages.return?.()
  }
}

/** The faults from the events table, a chunk of rows per native call, each after the (t, event id) of the one before. */
class ChunkedFaults implements FaultSource {
  private rows: FaultRow[]
  private i = 0
  private readonly after: Statement

  constructor(
    db: Db,
    private readonly params: Record<string, unknown>,
    byTime: boolean,
    private readonly io: Set<number>,
  ) {
    const chunk = (after: string): Statement =>
      db.prepare(
        `SELECT event_id, ts_ns - @base, tid, coalesce(tgid, tid), a, c, kind FROM events
         WHERE trace_id = @trace AND kind IN (${FAULTS.join(',')}) ${after} ORDER BY ${byTime ? 'ts_ns, event_id' : 'event_id'} LIMIT ${CHUNK}`,
      )
    // the first chunk has no lower bound: with timestamps going backwards, events before the first line's are negative
    this.rows = chunk('').raw(true).all(params) as FaultRow[]
    this.after = chunk(byTime ? 'AND (ts_ns, event_id) > (@base + @t, @after)' : 'AND event_id > @after').raw(true)
  }

  next(): FaultOp | undefined {
    if (this.i === this.rows.length) {
      if (this.rows.length < CHUNK) return undefined
      const last = this.rows[this.rows.length - 1]!
      // t as a BigInt: SQLite then adds it to @base in 64-bit integers (a double sum rounds ns past 2^53)
      this.rows = this.after.all({...this.params, t: BigInt(last[1]), after: last[0]}) as FaultRow[]
      this.i = 0
      if (this.rows.length === 0) return undefined
    }
    const [eventId, t, tid, tgid, a, c, kind] = this.rows[this.i++]!
    return {
      type: 'fault',
      eventId,
      t,
      tid,
      tgid,
      address: a ?? -1,
      errorCode: c ?? 0,
      user: kind === Kind.FaultUser,
      io: this.io.has(eventId),
    }
  }

  close(): void {}
}

const WINDOW_END = [Kind.FaultUser, Kind.FaultKernel, Kind.SysEnter, Kind.SysArgs, Kind.Exit]

const IO_KINDS = [Kind.Readahead, Kind.PageCacheAdd, Kind.FilemapFault, Kind.FilemapMapPages]

/**
 * Faults that waited for file I/O, when the trace has the page-cache tracepoints, by what the faulting thread did
 * before its next fault or syscall: a readahead or a page-cache fill; or, with the filemap tracepoints of 6.3+,
 * a second pass of the fault handler after filemap_fault (mm_filemap_fault, then mm_filemap_map_pages or
 * mm_filemap_fault again: do_read_fault ran again). filemap_fault drops the fault's lock to start or wait for the
 * read (maybe_unlock_mmap_for_io, lock_folio_maybe_drop_mmap) and returns VM_FAULT_RETRY, and the retry (under
 * mmap_lock) faults around again; page_fault_user is traced once per fault, so no new window opens. One ordered
 * scan; the set holds only those faults. This reads what the kernel did to the page cache, not how it locked, so
 * validation stays honest.
 */
function faultsWithIo(db: Db, info: TraceInfo): Set<number> {
  const out = new Set<number>()
  const has = db
    .prepare(`SELECT 1 FROM event_counts WHERE trace_id = ? AND name IN (${IO_KINDS.map(() => '?').join(', ')})`)
    .get(info.traceId, ...IO_KINDS.map((k) => KIND_NAMES[k]))
  if (has === undefined) return out
  const open = new Map<number, number>() // tid → its latest fault still in its window
  const calledFault = new Set<number>() // tids whose open fault has called filemap_fault
  const rows = db
    .prepare(
      `SELECT event_id, kind, tid FROM events WHERE trace_id = ? AND kind IN (${[...WINDOW_END, ...IO_KINDS].join(',')}) ORDER BY event_id`,
    )
    .raw(true)
    .iterate(info.traceId) as Iterable<[number, Kind, number]>
  for (const [id, kind, tid] of rows) {
    if (kind === Kind.Readahead || kind === Kind.PageCacheAdd) {
      const f = open.get(tid)
      if (f !== undefined) out.add(f)
    } else if (kind === Kind.FilemapFault || kind === Kind.FilemapMapPages) {
      const f = open.get(tid)
      if (f === undefined) continue
      if (calledFault.has(tid)) out.add(f)
      else if (kind === Kind.FilemapFault) calledFault.add(tid)
    } else {
      calledFault.delete(tid)
      if (kind === Kind.FaultUser || kind === Kind.FaultKernel) open.set(tid, id)
      else open.delete(tid)
    }
  }
  return out
}

function toOp(r: EventRow): Op | null {
  const [eventId, t, tid, tgid, a, b, kind, c, text, d] = r
  switch (kind) {
    case Kind.Fork:
      return {type: 'fork', eventId, t, tid, tgid, childPid: b ?? 0}
    case Kind.NewTask:
      return {type: 'newtask', eventId, t, tid, tgid, childPid: a ?? 0, cloneFlags: b ?? 0}
    case Kind.Exec:
      return {type: 'exec', eventId, t, tid, tgid, filename: text ?? ''}
    case Kind.Exit:
      return {type: 'exit', eventId, t, tid, tgid, groupDead: b === null ? null : b !== 0}
    case Kind.UnmappedArea:
      return {type: 'unmapped_area', eventId, t, tid, tgid, addr: a ?? 0, len: c ?? 0, err: b ?? 0}
    case Kind.Mmap2: {
      const sp = (text ?? '').indexOf(' ')
      return {
        type: 'mmap2',
        eventId,
        t,
        tid,
        tgid,
        start: a ?? 0,
        len: b ?? 0,
        pgoff: c ?? 0,
        inode: d ?? 0,
        perms: sp < 0 ? (text ?? '') : text!.slice(0, sp),
        path: sp < 0 ? '' : text!.slice(sp + 1),
      }
    }
  }
  return null
}
