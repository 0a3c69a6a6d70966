// Reads an ingested trace back as the operations the simulated threads replay, in time order, streaming.
// mmap_lock events are never read here: they are what validation checks the prediction against.
import type {Db} from '../store/db.js'
import {Kind, KIND_NAMES} from '../model/events.js'

/** One thing a traced thread did, with times relative to the trace's first event (exact: spans < 104 days). */
export type Op =
  | {type: 'fault'; eventId: number; t: number; tid: number; tgid: number; address: number; errorCode: number; user: boolean; ip: number | null; ipSymbol: string | null; io: boolean; line: number}
  | {type: 'syscall'; eventId: number; t: number; tEnd: number | null; tid: number; tgid: number; nr: number; name: string; args: number[]; ret: number | null; cloneFlags: number | null; line: number}
  | {type: 'fork'; eventId: number; t: number; tid: number; tgid: number; childPid: number; line: number}
  | {type: 'newtask'; eventId: number; t: number; tid: number; tgid: number; childPid: number; cloneFlags: number; line: number}
  | {type: 'exec'; eventId: number; t: number; tid: number; tgid: number; filename: string; line: number}
  | {type: 'exit'; eventId: number; t: number; tid: number; tgid: number; line: number}
  | {type: 'unmapped_area'; eventId: number; t: number; tid: number; tgid: number; addr: number; len: number; err: number; line: number}
  | {type: 'mmap2'; eventId: number; t: number; tid: number; tgid: number; start: number; len: number; pgoff: number; inode: number; perms: string; path: string; line: number}

const KINDS = [Kind.FaultUser, Kind.FaultKernel, Kind.Fork, Kind.NewTask, Kind.Exec, Kind.Exit, Kind.Mmap2, Kind.UnmappedArea]

export interface TraceInfo {
  traceId: number
  path: string
  format: string
  kernelVersion: string | null
  firstTsNs: bigint
  lastTsNs: bigint
  monotonic: boolean
  events: number
  faults: number
}

export function traceInfo(db: Db, traceId: number): TraceInfo {
  const stmt = db.prepare('SELECT trace_id, path, format, kernel_version, first_ts_ns, last_ts_ns, monotonic, events, faults FROM traces WHERE trace_id = ?')
  const r = stmt.safeIntegers(true).get(traceId) as Record<string, bigint | string | null> | undefined
  if (r === undefined) throw new Error(`no trace ${traceId}`)
  return {
    traceId,
    path: String(r.path),
    format: String(r.format),
    kernelVersion: r.kernel_version === null ? null : String(r.kernel_version),
    firstTsNs: (r.first_ts_ns as bigint | null) ?? 0n,
    lastTsNs: (r.last_ts_ns as bigint | null) ?? 0n,
    monotonic: r.monotonic === 1n,
    events: Number(r.events),
    faults: Number(r.faults),
  }
}

type EventRow = [number, Kind, number, number, number, number | null, number | null, number | null, number | null, string | null, number]
type SyscallRow = [number, number, number, number, number, string, number | null, number | null, number | null, number | null, number | null, number | null, number | null, number | null, number | null, number]

/**
 * Streams the trace's operations in time order (file order breaks ties): a merge of the non-syscall events and
 * the paired syscalls, each keyed by its entry event, so a simulated thread knows a call's traced duration and
 * result when it starts it. Two plain ordered scans; no per-row join.
 */
/** Time order needs an index when timestamps went backwards; the caller builds it on a writable connection. */
export const TIME_INDEX_SQL = 'CREATE INDEX IF NOT EXISTS events_time ON events(trace_id, ts_ns, event_id)'

export function* readOps(db: Db, info: TraceInfo): Generator<Op> {
  const order = info.monotonic ? 'event_id' : 'ts_ns, event_id'
  const events = db
    .prepare(
      `SELECT event_id, kind, ts_ns - @base, tid, coalesce(tgid, tid), a, b, c, d, text, line FROM events
       WHERE trace_id = @trace AND kind IN (${KINDS.join(',')}) ORDER BY ${order}`,
    )
    .raw(true)
    .iterate({base: info.firstTsNs, trace: info.traceId}) as IterableIterator<EventRow>
  const syscalls = db
    .prepare(
      `SELECT s.enter_event_id, s.enter_ts_ns - @base, s.tid, coalesce(s.tgid, s.tid), s.nr, s.name, s.exit_ts_ns - @base,
         s.arg0, s.arg1, s.arg2, s.arg3, s.arg4, s.arg5, s.ret, s.clone_flags, e.line
       FROM syscalls s JOIN events e ON e.event_id = s.enter_event_id
       WHERE s.trace_id = @trace AND s.enter_event_id IS NOT NULL ORDER BY ${info.monotonic ? 's.enter_event_id' : 's.enter_ts_ns, s.enter_event_id'}`,
    )
    .raw(true)
    .iterate({base: info.firstTsNs, trace: info.traceId}) as IterableIterator<SyscallRow>
  const io = faultsWithIo(db, info)
  let ev = events.next()
  let sc = syscalls.next()
  while (!ev.done || !sc.done) {
    const takeSyscall =
      !sc.done && (ev.done || sc.value[1] < ev.value[2] || (sc.value[1] === ev.value[2] && sc.value[0] < ev.value[0]))
    if (takeSyscall) {
      const r = sc.value
      yield {type: 'syscall', eventId: r[0], t: r[1], tEnd: r[6], tid: r[2], tgid: r[3], nr: r[4], name: r[5], args: [r[7] ?? 0, r[8] ?? 0, r[9] ?? 0, r[10] ?? 0, r[11] ?? 0, r[12] ?? 0], ret: r[13], cloneFlags: r[14], line: r[15]}
      sc = syscalls.next()
      continue
    }
    const op = toOp(ev.value, io)
    ev = events.next()
    if (op !== null) yield op
  }
}

const WINDOW_END = [Kind.FaultUser, Kind.FaultKernel, Kind.SysEnter, Kind.SysArgs, Kind.Exit]

/**
 * Faults that waited for file I/O, when the trace has the page-cache tracepoints: a readahead or a page-cache
 * fill by the faulting thread before its next fault or syscall. filemap_fault drops the fault's lock to start
 * readahead (maybe_unlock_mmap_for_io) and returns VM_FAULT_RETRY. One ordered scan; the set holds only those
 * faults. This reads what the kernel did to the page cache, not how it locked, so validation stays honest.
 */
function faultsWithIo(db: Db, info: TraceInfo): Set<number> {
  const out = new Set<number>()
  const has = db.prepare('SELECT 1 FROM event_counts WHERE trace_id = ? AND name IN (?, ?)').get(info.traceId, KIND_NAMES[Kind.Readahead], KIND_NAMES[Kind.PageCacheAdd])
  if (has === undefined) return out
  const open = new Map<number, number>() // tid → its latest fault still in its window
  const rows = db
    .prepare(`SELECT event_id, kind, tid FROM events WHERE trace_id = ? AND kind IN (${[...WINDOW_END, Kind.Readahead, Kind.PageCacheAdd].join(',')}) ORDER BY event_id`)
    .raw(true)
    .iterate(info.traceId) as Iterable<[number, Kind, number]>
  for (const [id, kind, tid] of rows) {
    if (kind === Kind.Readahead || kind === Kind.PageCacheAdd) {
      const f = open.get(tid)
      if (f !== undefined) out.add(f)
    } else if (kind === Kind.FaultUser || kind === Kind.FaultKernel) open.set(tid, id)
    else open.delete(tid)
  }
  return out
}

function toOp(r: EventRow, io: Set<number>): Op | null {
  const [eventId, kind, t, tid, tgid, a, b, c, d, text, line] = r
  switch (kind) {
    case Kind.FaultUser:
    case Kind.FaultKernel:
      return {type: 'fault', eventId, t, tid, tgid, address: a ?? -1, errorCode: c ?? 0, user: kind === Kind.FaultUser, ip: b, ipSymbol: text, io: io.has(eventId), line}
    case Kind.Fork:
      return {type: 'fork', eventId, t, tid, tgid, childPid: b ?? 0, line}
    case Kind.NewTask:
      return {type: 'newtask', eventId, t, tid, tgid, childPid: a ?? 0, cloneFlags: b ?? 0, line}
    case Kind.Exec:
      return {type: 'exec', eventId, t, tid, tgid, filename: text ?? '', line}
    case Kind.Exit:
      return {type: 'exit', eventId, t, tid, tgid, line}
    case Kind.UnmappedArea:
      return {type: 'unmapped_area', eventId, t, tid, tgid, addr: a ?? 0, len: c ?? 0, err: b ?? 0, line}
    case Kind.Mmap2: {
      const sp = (text ?? '').indexOf(' ')
      return {type: 'mmap2', eventId, t, tid, tgid, start: a ?? 0, len: b ?? 0, pgoff: c ?? 0, inode: d ?? 0, perms: sp < 0 ? (text ?? '') : text!.slice(0, sp), path: sp < 0 ? '' : text!.slice(sp + 1), line}
    }
  }
  return null
}
