// One replay run as a Perfetto-loadable trace, streamed event by event, as protobuf TrackEvents (perfetto-proto.ts)
// or Chrome JSON (perfetto-json.ts); this layout decides what is written, the writers how:
//   - a process per thread group (mm owner), a thread track per thread (`M` process_name / thread_name);
//   - `X` slices for faults (name = path/reason) and for the syscalls that took or waited for mmap_lock, each
//     with a child `X` slice for the time blocked on a lock, and for operations that others waited on, a child
//     `X` slice for their mmap_lock hold;
//   - flow arrows (`s` → `f`) from the hold that blocked to the wait it caused;
//   - `C` counter tracks per process: mmap_lock readers holding, writer holding, waiting readers and writers,
//     faults and fallbacks per bucket.
// Times are the replay's: ns since the trace's first event (JSON: µs with the ns in the fraction, "ts": 1234.567).
import type {Db} from '../store/db.js'
import {UserError} from '../base/errors.js'
import {FAULT_EVENT_JOIN, FAULT_START_NS, lockOccupancy, type OccupancyCell, opFactsReader} from '../report/metrics.js'
import {hex} from '../report/units.js'
import {JsonTraceOut} from './perfetto-json.js'
import {ProtoTraceOut} from './perfetto-proto.js'
import type {Sink} from './sink.js'
import type {TraceOut} from './trace-out.js'

export {usTs} from './perfetto-json.js'

export interface PerfettoOptions {
  runId: number
  /** window on replay time, ns since the trace's first event */
  fromNs?: number
  toNs?: number
  /** all faults, only those that fell back / took mmap_lock / waited, or none */
  faults: 'all' | 'slow' | 'none'
  /** at most this many fault slices */
  limit?: number
  /** counter bucket, ns */
  bucketNs: number
  /** protobuf TrackEvent (`--format perfetto`) or Chrome JSON (`perfetto-json`, the default here) */
  encoding?: 'proto' | 'json'
}

export interface PerfettoStats {
  events: number
  faultSlices: number
  opSlices: number
  waitSlices: number
  /** `hold mmap_lock` child slices of the operations others waited on */
  holdSlices: number
  flows: number
  /** waits whose holder slice is outside the export (window, limit, fault filter) */
  flowsNoHolder: number
  /** waits too short (< 2 ns) or with a holder slice too short to hold an arrow end, or after the wait ended */
  flowsNoOverlap: number
  counters: number
  /** slices whose start was moved to the end of the previous slice of the thread to keep the track nested */
  clamped: number
  truncated: boolean
}

interface WaitRec {
  lock: string
  mode: string
  waitNs: number
  holderTid: number | null
  holderOp: string | null
  holderEvent: number | null
}

/** The lock_waits columns a wait slice shows. */
interface WaitRow {
  lock: string
  mode: string
  wait_ns: number
  holder_tid: number | null
  holder_op: string | null
  holder_event_id: number | null
}

function waitRec(w: WaitRow): WaitRec {
  return {
    lock: w.lock,
    mode: w.mode,
    waitNs: w.wait_ns,
    holderTid: w.holder_tid,
    holderOp: w.holder_op,
    holderEvent: w.holder_event_id,
  }
}

interface OpSlice {
  tid: number
  tgid: number
  op: string
  eventId: number | null
  start: number
  end: number
  holdNs: number
  holdMode: string | null
  detail: string
  traceLine: number | null
  waits: WaitRec[]
}

/** The waiting side of a flow: the wait slice. */
interface FlowEnd {
  tid: number
  start: number
  end: number
}

/**
 * Where a flow may start on a holder: [start, end) ranges of its slices in order of preference — its `hold`
 * child, its own `wait` child(ren), the part of the operation before any child. Perfetto binds a flow start to
 * the topmost slice open on the track and pops ended children only when the next slice begins, so a point in
 * the parent after a child has ended would bind to that stale child; these ranges never do.
 */
interface Anchors {
  tid: number
  ranges: [number, number][]
}

function runRow(
  db: Db,
  runId: number,
): {trace_id: number; policy: string; mode: string; sim_end_ns: number; path: string} {
  const r = db
    .prepare(
      'SELECT r.trace_id, r.policy, r.mode, r.sim_end_ns, t.path FROM runs r JOIN traces t USING (trace_id) WHERE r.run_id = ?',
    )
    .get(runId) as {trace_id: number; policy: string; mode: string; sim_end_ns: number; path: string} | undefined
  if (r === undefined) throw new UserError(`no run ${runId} in the database`)
  return r
}

/** Syscall-like operations of the run (everything that held or waited for a lock, faults aside), by start. */
function loadOps(db: Db, runId: number, from: number, to: number): OpSlice[] {
  const ops = new Map<string, OpSlice>()
  const key = (tid: number, ev: number | null, start: number): string => `${tid}:${ev ?? `t${start}`}`
  const facts = opFactsReader(db)
  const get = (tid: number, tgid: number, op: string, ev: number | null, start: number, end: number): OpSlice => {
    const k = key(tid, ev, start)
    let o = ops.get(k)
    if (o === undefined) {
      const f = ev !== null ? facts(ev, op) : undefined
      o = {
        tid,
        tgid,
        op,
        eventId: ev,
        start,
        end,
        holdNs: 0,
        holdMode: null,
        detail: f?.detail ?? op,
        traceLine: f?.trace_line ?? null,
        waits: [],
      }
      ops.set(k, o)
    }
    o.start = Math.min(o.start, start)
    o.end = Math.max(o.end, end)
    return o
  }
  const win = 'AND end_ns >= @from AND start_ns <= @to'
  const holds = db
    .prepare(
      `SELECT tid, tgid, op, event_id, start_ns, end_ns, hold_ns, mode FROM op_lock_holds WHERE run_id = @run ${win}`,
    )
    .all({run: runId, from, to}) as {
    tid: number
    tgid: number
    op: string
    event_id: number | null
    start_ns: number
    end_ns: number
    hold_ns: number
    mode: string
  }[]
  for (const h of holds) {
    const o = get(h.tid, h.tgid, h.op, h.event_id, h.start_ns, h.end_ns)
    o.holdNs += h.hold_ns
    o.holdMode = h.mode
  }
  const waits = db
    .prepare(
      `SELECT waiter_tid, tgid, waiter_op, waiter_event_id, start_ns, end_ns, wait_ns, lock, mode, holder_tid, holder_op, holder_event_id
       FROM lock_waits WHERE run_id = @run AND waiter_op <> 'fault' ${win} ORDER BY rowid`,
    )
    .all({run: runId, from, to}) as (WaitRow & {
    waiter_tid: number
    tgid: number
    waiter_op: string
    waiter_event_id: number | null
    start_ns: number
    end_ns: number
  })[]
  for (const w of waits)
    get(w.waiter_tid, w.tgid, w.waiter_op, w.waiter_event_id, w.start_ns, w.end_ns).waits.push(waitRec(w))
  return [...ops.values()].sort((a, b) => a.start - b.start || a.tid - b.tid)
}

type FaultRow = {
  event_id: number
  tid: number
  vma_lock: number
  took_mmap_lock: number
  reason: string
  wait_ns: number
  latency_ns: number
  start_ns: number
  hold_ns: number
  low_confidence: number
  inferred_vma: number
  vma_start: number | null
  vma_end: number | null
  address: number | null
  error_code: number | null
  kind: number
  line: number
}

const ZERO_CELL: OccupancyCell = {readers: 0, writer: 0, waitingReaders: 0, waitingWriters: 0, faults: 0, fallbacks: 0}

/** Tracks: one process per thread group, one thread per tid, named from the trace. Returns each tid's tgid. */
async function writeTracks(
  db: Db,
  out: TraceOut,
  stats: PerfettoStats,
  runId: number,
  run: {trace_id: number; policy: string},
): Promise<Map<number, number>> {
  const threads = db
    .prepare(
      `SELECT t.tid, t.tgid, coalesce(th.comm, '?') AS comm FROM thread_results t
       LEFT JOIN threads th ON th.trace_id = @trace AND th.tid = t.tid WHERE t.run_id = @run ORDER BY t.tgid, t.tid`,
    )
    .all({run: runId, trace: run.trace_id}) as {tid: number; tgid: number; comm: string}[]
  const procNames = new Map(
    (
      db.prepare('SELECT tgid, comm FROM processes WHERE trace_id = ?').all(run.trace_id) as {
        tgid: number
        comm: string
      }[]
    ).map((r) => [r.tgid, r.comm]),
  )
  const tgidOf = new Map<number, number>()
  const named = new Set<number>()
  for (const t of threads) {
    if (!named.has(t.tgid)) {
      named.add(t.tgid)
      const comm = procNames.get(t.tgid) ?? threads.find((x) => x.tid === t.tgid)?.comm ?? t.comm
      await out.process(t.tgid, `${comm} (pid ${t.tgid}) · ${run.policy}`)
      stats.events++
    }
    tgidOf.set(t.tid, t.tgid)
    await out.thread(t.tgid, t.tid, `${t.comm} ${t.tid}`)
    stats.events++
  }
  return tgidOf
}

/** Fault waits, by the waiting fault's event (the first one of each). */
function loadFaultWaits(db: Db, runId: number, from: number, to: number): Map<number, WaitRec> {
  const faultWaits = new Map<number, WaitRec>()
  const fw = db.prepare(
    `SELECT waiter_event_id, lock, mode, wait_ns, holder_tid, holder_op, holder_event_id FROM lock_waits
     WHERE run_id = @run AND waiter_op = 'fault' AND end_ns >= @from AND start_ns <= @to`,
  )
  for (const w of fw.iterate({run: runId, from, to}) as Iterable<WaitRow & {waiter_event_id: number}>)
    if (!faultWaits.has(w.waiter_event_id)) faultWaits.set(w.waiter_event_id, waitRec(w))
  return faultWaits
}

/** Slices of the faults and operations, with their wait/hold children and the flows between them. */
class SliceWriter {
  private readonly lastEnd = new Map<number, number>()
  private flowId = 0
  /** Holder slices already written, by event; flows whose holder is written later wait in `pending`. */
  private readonly written = new Map<number, Anchors>()
  readonly pending = new Map<number, FlowEnd[]>()

  constructor(
    private readonly out: TraceOut,
    private readonly stats: PerfettoStats,
    private readonly tgidOf: Map<number, number>,
    /** Operations someone waited on: they get a `hold` child slice for the arrows to start from. */
    private readonly holders: Set<number>,
  ) {}

  /** The latest end of a slice written so far. */
  lastSliceEnd(): number {
    return Math.max(0, ...this.lastEnd.values())
  }

  private async slice(
    tid: number,
    start: number,
    end: number,
    name: string,
    cat: string,
    args: Record<string, unknown>,
  ): Promise<{start: number; end: number}> {
    const prev = this.lastEnd.get(tid) ?? 0
    if (start < prev) {
      this.stats.clamped++
      args.clamped_from_ns = start
      start = prev
    }
    end = Math.max(start, end)
    this.lastEnd.set(tid, end)
    await this.out.slice({pid: this.tgidOf.get(tid) ?? tid, tid, name, cat, start, end, args})
    this.stats.events++
    return {start, end}
  }

  /** A flow arrow from one of the holder's anchors to the wait slice, never backwards in time. */
  private async flow(h: Anchors, w: FlowEnd): Promise<void> {
    if (h.tid !== w.tid)
      for (const [a, b] of h.ranges) {
        if (a + 1 > b - 1) continue
        const t = Math.min(b - 1, Math.max(a + 1, w.start))
        const tf = Math.max(t + 1, w.start + 1)
        if (tf >= w.end) continue
        await this.out.flow(
          ++this.flowId,
          {pid: this.tgidOf.get(h.tid) ?? h.tid, tid: h.tid, ts: t},
          {pid: this.tgidOf.get(w.tid) ?? w.tid, tid: w.tid, ts: tf},
        )
        this.stats.events += 2
        this.stats.flows++
        return
      }
    this.stats.flowsNoOverlap++
  }

  /** The hold of an operation others waited on, as a child slice [start, end) (null when there is none). */
  private async holdSlice(
    tid: number,
    eventId: number,
    start: number,
    end: number,
    mode: string,
  ): Promise<[number, number] | null> {
    if (!this.holders.has(eventId) || end - start < 1) return null
    await this.out.slice({
      pid: this.tgidOf.get(tid) ?? tid,
      tid,
      name: `hold mmap_lock ${mode}`,
      cat: 'hold',
      start,
      end,
      args: {hold_ns: end - start},
    })
    this.stats.events++
    this.stats.holdSlices++
    return [start, end]
  }

  /** Records a written slice that may have blocked others, and draws the flows that were waiting for it. */
  private async holderWritten(eventId: number | null, h: Anchors): Promise<void> {
    if (eventId === null) return
    this.written.set(eventId, h)
    const waiting = this.pending.get(eventId)
    if (waiting === undefined) return
    this.pending.delete(eventId)
    for (const w of waiting) await this.flow(h, w)
  }

  /** A wait as a child slice from `at` within its operation (ending by `parentEnd`), linked to its holder. */
  private async waitSlice(tid: number, at: number, parentEnd: number, w: WaitRec): Promise<number> {
    const s = Math.min(at, parentEnd)
    const e = Math.min(parentEnd, s + w.waitNs)
    const holderDesc = w.holderOp === null ? 'VMA readers' : `${w.holderOp} tid ${w.holderTid ?? '?'}`
    this.stats.waitSlices++
    await this.out.slice({
      pid: this.tgidOf.get(tid) ?? tid,
      tid,
      name: `wait ${w.lock} ${w.mode}`,
      cat: 'wait',
      start: s,
      end: e,
      args: {wait_ns: w.waitNs, holder: holderDesc, holder_event_id: w.holderEvent},
    })
    this.stats.events++
    if (w.holderEvent !== null) {
      const end: FlowEnd = {tid, start: s, end: e}
      const h = this.written.get(w.holderEvent)
      if (h !== undefined) await this.flow(h, end)
      else {
        const list = this.pending.get(w.holderEvent)
        if (list === undefined) this.pending.set(w.holderEvent, [end])
        else list.push(end)
      }
    }
    return e
  }

  async opSlice(o: OpSlice): Promise<void> {
    const {start, end} = await this.slice(o.tid, o.start, o.end, o.op, 'syscall', {
      detail: o.detail,
      event_id: o.eventId,
      trace_line: o.traceLine,
      hold_ns: o.holdNs,
      hold_mode: o.holdMode,
      wait_ns: o.waits.reduce((s, w) => s + w.waitNs, 0),
    })
    this.stats.opSlices++
    const ranges: [number, number][] = []
    let at = start
    for (const w of o.waits) {
      const from = at
      at = await this.waitSlice(o.tid, at, end, w)
      ranges.push([from, at])
    }
    // wait(s) from the start, the hold at the end ([end − hold, end]: the lock is taken after any wait)
    const hold =
      o.eventId === null || o.holdNs <= 0
        ? null
        : await this.holdSlice(o.tid, o.eventId, Math.max(at, end - o.holdNs), end, o.holdMode ?? 'write')
    if (hold !== null) ranges.unshift(hold)
    if (o.waits.length === 0) ranges.push([start, hold?.[0] ?? end])
    await this.holderWritten(o.eventId, {tid: o.tid, ranges})
  }

  async faultSlice(f: FaultRow, w: WaitRec | undefined): Promise<void> {
    const path = f.vma_lock === 1 ? 'vma_lock' : 'mmap_lock'
    const {start, end} = await this.slice(
      f.tid,
      f.start_ns,
      f.start_ns + f.latency_ns,
      `fault ${path}/${f.reason}`,
      'fault',
      {
        address: hex(f.address),
        error_code: `0x${(f.error_code ?? 0).toString(16)}`,
        path,
        reason: f.reason,
        took_mmap_lock: f.took_mmap_lock,
        wait_ns: f.wait_ns,
        latency_ns: f.latency_ns,
        vma: f.vma_start === null ? null : `${hex(f.vma_start)}-${hex(f.vma_end)}`,
        kernel_mode: f.kind === 2 ? 1 : 0,
        confidence: f.low_confidence ? 'low' : f.inferred_vma ? 'inferred' : 'high',
        event_id: f.event_id,
        trace_line: f.line,
      },
    )
    this.stats.faultSlices++
    // lookup, wait, then the read hold until the fault completes: the wait ends where the hold begins
    const ranges: [number, number][] = []
    let firstChild = end
    if (w !== undefined && f.wait_ns > 0) {
      const ws = Math.max(start, end - f.hold_ns - f.wait_ns)
      ranges.push([ws, await this.waitSlice(f.tid, ws, end, w)])
      firstChild = ws
    }
    const hold =
      f.hold_ns > 0
        ? await this.holdSlice(
            f.tid,
            f.event_id,
            Math.max(start, end - f.hold_ns, ranges[0]?.[1] ?? start),
            end,
            'read',
          )
        : null
    if (hold !== null) {
      ranges.unshift(hold)
      firstChild = Math.min(firstChild, hold[0])
    }
    ranges.push([start, firstChild])
    await this.holderWritten(f.event_id, {tid: f.tid, ranges})
  }
}

/** Faults, merged in time order with the syscalls; flows whose holder was never written are counted. */
async function writeSlices(
  db: Db,
  out: TraceOut,
  stats: PerfettoStats,
  tgidOf: Map<number, number>,
  opts: PerfettoOptions,
  from: number,
  to: number,
): Promise<void> {
  const ops = loadOps(db, opts.runId, from, to)
  const holders = new Set(
    db
      .prepare(
        'SELECT DISTINCT holder_event_id FROM lock_waits WHERE run_id = @run AND holder_event_id IS NOT NULL AND end_ns >= @from AND start_ns <= @to',
      )
      .pluck()
      .all({run: opts.runId, from, to}) as number[],
  )
  const faultWaits = loadFaultWaits(db, opts.runId, from, to)
  const w = new SliceWriter(out, stats, tgidOf, holders)

  const faultFilter =
    opts.faults === 'slow'
      ? 'AND (g.vma_lock = 0 OR g.took_mmap_lock = 1 OR f.wait_ns > 0)'
      : opts.faults === 'none'
        ? 'AND 0'
        : ''
  const faults = db.prepare(
    `SELECT f.event_id, e.tid, g.vma_lock, g.took_mmap_lock, r.reason, f.wait_ns, f.latency_ns, ${FAULT_START_NS} AS start_ns, f.hold_ns,
       g.low_confidence, g.inferred_vma, g.vma_start, g.vma_end, e.a AS address, e.c AS error_code, e.kind, e.line
     FROM fault_results f JOIN fault_groups g USING (run_id, group_id) ${FAULT_EVENT_JOIN} JOIN reasons r ON r.reason_id = g.reason_id
     WHERE f.run_id = @run AND start_ns + f.latency_ns >= @from AND start_ns <= @to ${faultFilter}
     ORDER BY start_ns, f.event_id`,
  )
  let oi = 0
  for (const f of faults.iterate({run: opts.runId, from, to}) as Iterable<FaultRow>) {
    while (oi < ops.length && ops[oi]!.start <= f.start_ns) await w.opSlice(ops[oi++]!)
    if (opts.limit !== undefined && stats.faultSlices >= opts.limit) {
      stats.truncated = true
      break
    }
    await w.faultSlice(f, faultWaits.get(f.event_id))
  }
  if (!stats.truncated) while (oi < ops.length) await w.opSlice(ops[oi++]!)
  else {
    // keep the syscalls that start before the last exported fault; later ones are cut with the faults
    const last = w.lastSliceEnd()
    while (oi < ops.length && ops[oi]!.start <= last) await w.opSlice(ops[oi++]!)
  }

  for (const list of w.pending.values()) stats.flowsNoHolder += list.length
}

/** Counters per process and bucket; a change is written at the bucket's start, zeros after a quiet gap. */
async function writeCounters(
  db: Db,
  out: TraceOut,
  stats: PerfettoStats,
  opts: PerfettoOptions,
  from: number,
  to: number,
): Promise<void> {
  const occ = lockOccupancy(db, opts.runId, opts.bucketNs, from, to)
  const b = Math.max(1, Math.round(opts.bucketNs))
  const bucketLabel = b % 1_000_000 === 0 ? `${b / 1_000_000} ms` : `${b / 1000} µs`
  const round = (x: number): number => Math.round(x * 1000) / 1000
  const counters = async (tgid: number, t: number, c: OccupancyCell): Promise<void> => {
    const ts = Math.max(t, from)
    await out.counter(tgid, ts, 'mmap_lock', {
      'readers holding': round(c.readers),
      'writer holding': round(c.writer),
      'waiting readers': round(c.waitingReaders),
      'waiting writers': round(c.waitingWriters),
    })
    await out.counter(tgid, ts, `faults per ${bucketLabel}`, {all: c.faults, fallbacks: c.fallbacks})
    stats.events += 2
    stats.counters += 2
  }
  for (const [tgid, cells] of [...occ].sort((x, y) => x[0] - y[0])) {
    const keys = [...cells.keys()].sort((x, y) => x - y)
    let prevK = -2
    let prev: OccupancyCell | null = null
    for (const k of keys) {
      const c = cells.get(k)!
      if (prev !== null && k !== prevK + 1) {
        await counters(tgid, (prevK + 1) * b, ZERO_CELL)
        prev = null
      }
      await counters(tgid, k * b, c)
      prev = c
      prevK = k
    }
    if (prev !== null) await counters(tgid, (prevK + 1) * b, ZERO_CELL)
  }
}

export async function exportPerfetto(db: Db, sink: Sink, opts: PerfettoOptions): Promise<PerfettoStats> {
  const run = runRow(db, opts.runId)
  const from = opts.fromNs ?? 0
  const to = opts.toNs ?? Number.MAX_SAFE_INTEGER
  if (to <= from) throw new UserError('the time window is empty: --to-ms must be after --from-ms')
  const stats: PerfettoStats = {
    events: 0,
    faultSlices: 0,
    opSlices: 0,
    waitSlices: 0,
    holdSlices: 0,
    flows: 0,
    flowsNoHolder: 0,
    flowsNoOverlap: 0,
    counters: 0,
    clamped: 0,
    truncated: false,
  }
  const out: TraceOut = opts.encoding === 'proto' ? new ProtoTraceOut(sink) : new JsonTraceOut(sink)

  const tgidOf = await writeTracks(db, out, stats, opts.runId, run)
  await writeSlices(db, out, stats, tgidOf, opts, from, to)
  await writeCounters(db, out, stats, opts, from, to)

  await out.finish({
    tool: 'vmareplay',
    run_id: opts.runId,
    policy: run.policy,
    mode: run.mode,
    trace: run.path,
    time_base:
      opts.encoding === 'proto'
        ? "replay time: ns since the trace's first event"
        : "replay time: µs since the trace's first event",
    ...stats,
  })
  return stats
}
