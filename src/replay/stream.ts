// Reads an ingested trace back as the operations the simulated threads replay, in time order, streaming.
// mmap_lock events are never read here: they are what validation checks the prediction against.
import type {Db} from '../store/db.js'
import {Kind} from '../model/events.js'

/** One thing a traced thread did, with times relative to the trace's first event (exact: spans < 104 days). */
export type Op =
  | {type: 'fault'; eventId: number; t: number; tid: number; tgid: number; address: number; errorCode: number; user: boolean; ip: number | null; ipSymbol: string | null; line: number}
  | {type: 'syscall'; eventId: number; t: number; tEnd: number | null; tid: number; tgid: number; nr: number; name: string; args: number[]; ret: number | null; cloneFlags: number | null; line: number}
  | {type: 'fork'; eventId: number; t: number; tid: number; tgid: number; childPid: number; line: number}
  | {type: 'newtask'; eventId: number; t: number; tid: number; tgid: number; childPid: number; cloneFlags: number; line: number}
  | {type: 'exec'; eventId: number; t: number; tid: number; tgid: number; filename: string; line: number}
  | {type: 'exit'; eventId: number; t: number; tid: number; tgid: number; line: number}
  | {type: 'unmapped_area'; eventId: number; t: number; tid: number; tgid: number; addr: number; len: number; err: number; line: number}
  | {type: 'mmap2'; eventId: number; t: number; tid: number; tgid: number; start: number; len: number; pgoff: number; inode: number; perms: string; path: string; line: number}

const KINDS = [Kind.FaultUser, Kind.FaultKernel, Kind.SysEnter, Kind.SysArgs, Kind.Fork, Kind.NewTask, Kind.Exec, Kind.Exit, Kind.Mmap2, Kind.UnmappedArea]

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

/**
 * Streams the trace's operations in time order (file order breaks ties). Syscalls come at their entry with their
 * exit already joined in, so a simulated thread knows the traced duration and result when it starts the call.
 */
export function* readOps(db: Db, info: TraceInfo): Generator<Op> {
  if (!info.monotonic) db.exec('CREATE INDEX IF NOT EXISTS events_time ON events(trace_id, ts_ns, event_id)')
  const order = info.monotonic ? 'e.event_id' : 'e.ts_ns, e.event_id'
  const stmt = db.prepare(
    `SELECT e.event_id, e.kind, e.ts_ns - @base AS t, e.tid, coalesce(e.tgid, e.tid), e.a, e.b, e.c, e.d, e.e, e.f, e.text, e.line,
       s.nr, s.name, s.exit_ts_ns - @base, s.arg0, s.arg1, s.arg2, s.arg3, s.arg4, s.arg5, s.ret, s.clone_flags
     FROM events e LEFT JOIN syscalls s ON s.enter_event_id = e.event_id
     WHERE e.trace_id = @trace AND e.kind IN (${KINDS.join(',')}) ORDER BY ${order}`,
  )
  type Row = [number, Kind, number, number, number, number | null, number | null, number | null, number | null, number | null, number | null, string | null, number,
    number | null, string | null, number | null, number | null, number | null, number | null, number | null, number | null, number | null, number | null, number | null]
  for (const r of stmt.raw(true).iterate({base: info.firstTsNs, trace: info.traceId}) as Iterable<Row>) {
    const [eventId, kind, t, tid, tgid, a, b, c, d, , , text, line] = r
    switch (kind) {
      case Kind.FaultUser:
      case Kind.FaultKernel:
        yield {type: 'fault', eventId, t, tid, tgid, address: a ?? -1, errorCode: c ?? 0, user: kind === Kind.FaultUser, ip: b, ipSymbol: text, line}
        break
      case Kind.SysEnter:
      case Kind.SysArgs:
        if (r[13] === null) break // the other half of a syscall whose row is keyed on its raw or named entry
        yield {type: 'syscall', eventId, t, tEnd: r[15], tid, tgid, nr: r[13], name: r[14]!, args: [r[16] ?? 0, r[17] ?? 0, r[18] ?? 0, r[19] ?? 0, r[20] ?? 0, r[21] ?? 0], ret: r[22], cloneFlags: r[23], line}
        break
      case Kind.Fork:
        yield {type: 'fork', eventId, t, tid, tgid, childPid: b ?? 0, line}
        break
      case Kind.NewTask:
        yield {type: 'newtask', eventId, t, tid, tgid, childPid: a ?? 0, cloneFlags: b ?? 0, line}
        break
      case Kind.Exec:
        yield {type: 'exec', eventId, t, tid, tgid, filename: text ?? '', line}
        break
      case Kind.Exit:
        yield {type: 'exit', eventId, t, tid, tgid, line}
        break
      case Kind.UnmappedArea:
        yield {type: 'unmapped_area', eventId, t, tid, tgid, addr: a ?? 0, len: c ?? 0, err: b ?? 0, line}
        break
      case Kind.Mmap2: {
        const sp = (text ?? '').indexOf(' ')
        yield {type: 'mmap2', eventId, t, tid, tgid, start: a ?? 0, len: b ?? 0, pgoff: c ?? 0, inode: d ?? 0, perms: sp < 0 ? (text ?? '') : text!.slice(0, sp), path: sp < 0 ? '' : text!.slice(sp + 1), line}
        break
      }
    }
  }
}
