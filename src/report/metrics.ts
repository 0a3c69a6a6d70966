// The query layer of every report: derives the contention metrics of a replay run from the run tables with SQL
// (docs/schema.md). Aggregation, sorting and percentiles happen in SQLite; only result rows reach JavaScript.
// Times are ns: `*_ns` columns of run tables are ns since the trace's first event; durations are ns.
import type {Db} from '../store/db.js'
import {exactPercentiles, type Distribution} from '../store/percentiles.js'
import {describeOp, type EventFacts} from './describe.js'
import {waitFilterSql, type SortKey, type WaitFilter} from './lockstat.js'

/** Joins a `fault_results` row `f` to its event `e` and trace `tr`, for FAULT_START_NS. */
export const FAULT_EVENT_JOIN = 'JOIN events e ON e.event_id = f.event_id JOIN traces tr ON tr.trace_id = e.trace_id'
/** A fault's replayed start, ns since the trace's first event: its recorded time plus the stored delay. */
export const FAULT_START_NS = '(e.ts_ns - tr.first_ts_ns + f.start_delay_ns)'

export const PERCENTILES = [50, 90, 99] as const

/** The wait populations a report distinguishes, each as SQL over one run (`@run`). */
export const WAIT_GROUPS = {
  'all faults': 'SELECT wait_ns AS v FROM fault_results WHERE run_id = @run',
  'faults on mmap_lock path':
    'SELECT wait_ns AS v FROM fault_results WHERE run_id = @run AND group_id IN (SELECT group_id FROM fault_groups WHERE run_id = @run AND vma_lock = 0)',
  'faults that waited': 'SELECT wait_ns AS v FROM fault_results WHERE run_id = @run AND wait_ns > 0',
  'mmap_lock readers (waits)': `SELECT wait_ns AS v FROM lock_waits WHERE run_id = @run AND lock = 'mmap_lock' AND mode = 'read'`,
  'mmap_lock writers (waits)': `SELECT wait_ns AS v FROM lock_waits WHERE run_id = @run AND lock = 'mmap_lock' AND mode = 'write'`,
  'VMA write lock (waits)': `SELECT wait_ns AS v FROM lock_waits WHERE run_id = @run AND lock = 'vma'`,
} as const
export type WaitGroup = keyof typeof WAIT_GROUPS

export interface WaitRow {
  group: WaitGroup
  count: number
  waited: number
  total_wait_ns: number
  p50_ns: number
  p90_ns: number
  p99_ns: number
  max_ns: number
}

export function waitDistribution(
  db: Db,
  runId: number,
  group: WaitGroup,
  ps: readonly number[] = PERCENTILES,
): Distribution {
  return exactPercentiles(db, WAIT_GROUPS[group], {run: runId}, ps)
}

export function waitRows(db: Db, runId: number): WaitRow[] {
  return (Object.keys(WAIT_GROUPS) as WaitGroup[]).map((group) => {
    const d = waitDistribution(db, runId, group)
    return {
      group,
      count: d.n,
      waited: d.nonzero,
      total_wait_ns: d.totalNs,
      p50_ns: d.values[0]!,
      p90_ns: d.values[1]!,
      p99_ns: d.values[2]!,
      max_ns: d.maxNs,
    }
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Counters, paths and reasons

export function counters(db: Db, runId: number): Map<string, number> {
  const rows = db.prepare('SELECT name, value FROM run_counters WHERE run_id = ?').all(runId) as {
    name: string
    value: number
  }[]
  return new Map(rows.map((r) => [r.name, r.value]))
}

export interface PathReasonRow {
  path: 'vma_lock' | 'mmap_lock'
  reason: string
  faults: number
  took_mmap_lock: number
  waited: number
  total_wait_ns: number
  max_wait_ns: number
}

/**
 * Per fault group of run `@run`: faults, how many waited, their total and longest wait. Read from the two halves of
 * fault_results (docs/schema.md) rather than the view: a span's faults did not wait, so its count is all it adds,
 * and the view would read every event of each span's range to list them.
 */
const FAULTS_BY_GROUP = `SELECT group_id, sum(faults) AS faults, sum(waited) AS waited, sum(total_wait_ns) AS total_wait_ns, max(max_wait_ns) AS max_wait_ns
  FROM (SELECT group_id, count(*) AS faults, sum(wait_ns > 0) AS waited, sum(wait_ns) AS total_wait_ns, max(wait_ns) AS max_wait_ns
        FROM fault_rows WHERE run_id = @run GROUP BY group_id
        UNION ALL SELECT group_id, sum(faults), 0, 0, 0 FROM fault_spans WHERE run_id = @run GROUP BY group_id)
  GROUP BY group_id`

/** Faults per (completion path, reason): for mmap_lock faults the reason is why the per-VMA path was left. */
export function pathReasons(db: Db, runId: number): PathReasonRow[] {
  return db
    .prepare(
      `SELECT CASE g.vma_lock WHEN 1 THEN 'vma_lock' ELSE 'mmap_lock' END AS path, r.reason, sum(f.faults) AS faults,
         sum(g.took_mmap_lock * f.faults) AS took_mmap_lock, sum(f.waited) AS waited, sum(f.total_wait_ns) AS total_wait_ns,
         max(f.max_wait_ns) AS max_wait_ns
       FROM (${FAULTS_BY_GROUP}) f JOIN fault_groups g ON g.run_id = @run AND g.group_id = f.group_id JOIN reasons r USING (reason_id)
       GROUP BY g.vma_lock, g.reason_id ORDER BY g.vma_lock DESC, faults DESC, r.reason`,
    )
    .all({run: runId}) as PathReasonRow[]
}

export interface HoldCounts {
  read_holds: number
  write_holds: number
  read_hold_ns: number
  write_hold_ns: number
  max_write_hold_ns: number
}

/** mmap_lock holds stored for the run: every fault's read hold and every syscall's hold (`lock_holds.mode`). */
export function holdCounts(db: Db, runId: number): HoldCounts {
  // the holds' modes and lengths only: lock_holds would join every fault to its event for times not needed here
  return db
    .prepare(
      `WITH h AS (
         SELECT mode, hold_ns FROM op_lock_holds WHERE run_id = @run AND lock = 'mmap_lock'
         UNION ALL SELECT 'read', hold_ns FROM fault_results WHERE run_id = @run AND hold_ns > 0)
       SELECT coalesce(sum(mode = 'read'), 0) AS read_holds, coalesce(sum(mode = 'write'), 0) AS write_holds,
         coalesce(sum(CASE mode WHEN 'read' THEN hold_ns END), 0) AS read_hold_ns,
         coalesce(sum(CASE mode WHEN 'write' THEN hold_ns END), 0) AS write_hold_ns,
         coalesce(max(CASE mode WHEN 'write' THEN hold_ns END), 0) AS max_write_hold_ns
       FROM h`,
    )
    .get({run: runId}) as HoldCounts
}

// ---------------------------------------------------------------------------------------------------------------
// Operations: what an event id was

export interface OpFacts {
  event_id: number
  tid: number
  comm: string | null
  trace_line: number
  /** ns since the trace's first event (the traced time, not the replayed one) */
  trace_ns: number
  detail: string
}

interface OpFactsRow {
  kind: number
  tid: number
  line: number
  trace_ns: number
  a: number | null
  b: number | null
  text: string | null
  name: string | null
  arg0: number | null
  arg1: number | null
  arg2: number | null
  arg3: number | null
  arg4: number | null
  arg5: number | null
  ret: number | null
  comm: string | null
}

/**
 * A reader of traced facts (syscall name and arguments, thread name, line) by event id; `opName` names the
 * operation when the event is not a syscall's own (default: the syscall's name).
 */
export function opFactsReader(db: Db): (eventId: number, opName?: string) => OpFacts | undefined {
  const stmt = db.prepare(
    `SELECT e.kind, e.tid, e.line, e.ts_ns - coalesce(t.first_ts_ns, 0) AS trace_ns, e.a, e.b, e.text,
       s.name, s.arg0, s.arg1, s.arg2, s.arg3, s.arg4, s.arg5, s.ret, th.comm
     FROM events e JOIN traces t USING (trace_id)
     LEFT JOIN syscalls s ON s.enter_event_id = e.event_id
     LEFT JOIN threads th ON th.trace_id = e.trace_id AND th.tid = e.tid
     WHERE e.event_id = ?`,
  )
  return (id, opName) => {
    const r = stmt.get(id) as OpFactsRow | undefined
    if (r === undefined) return undefined
    const facts: EventFacts = {
      kind: r.kind,
      a: r.a,
      b: r.b,
      text: r.text,
      name: r.name,
      args: [r.arg0, r.arg1, r.arg2, r.arg3, r.arg4, r.arg5],
      ret: r.ret,
    }
    return {
      event_id: id,
      tid: r.tid,
      comm: r.comm,
      trace_line: r.line,
      trace_ns: r.trace_ns,
      detail: describeOp(opName ?? r.name ?? '', facts),
    }
  }
}

/** Traced facts for a few event ids (see opFactsReader). */
export function opFacts(db: Db, eventIds: number[], opNames: Map<number, string> = new Map()): Map<number, OpFacts> {
  const read = opFactsReader(db)
  const out = new Map<number, OpFacts>()
  for (const id of eventIds) {
    const f = read(id, opNames.get(id))
    if (f !== undefined) out.set(id, f)
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Top blocking operations

export interface BlockerRow {
  holder_event_id: number
  holder_tid: number | null
  comm: string | null
  op: string
  detail: string
  trace_line: number | null
  trace_ns: number | null
  /** the holder's operation in the replay: start, end, and mmap_lock hold time */
  start_ns: number | null
  end_ns: number | null
  hold_ns: number | null
  hold_mode: string | null
  waits: number
  faults_delayed: number
  ops_delayed: number
  total_wait_ns: number
  max_wait_ns: number
}

/** The blockers' order for each of perf's sort keys (lockstat.ts); ties fall to the event id. */
const BLOCKER_ORDER: Record<SortKey, string> = {
  contended: 'waits DESC, total_wait_ns DESC',
  wait_total: 'total_wait_ns DESC, waits DESC',
  wait_max: 'max_wait_ns DESC, total_wait_ns DESC',
  avg_wait: 'total_wait_ns / waits DESC, total_wait_ns DESC',
}

/**
 * The operations other threads waited on most (lock_waits.holder_event_id), by total delay they caused (or by
 * another of perf's sort keys); `filter` keeps the waits of one waiting process, thread or mode.
 */
export function topBlockers(
  db: Db,
  runId: number,
  limit: number,
  key: SortKey = 'wait_total',
  filter: WaitFilter = {},
): BlockerRow[] {
  const f = waitFilterSql(filter)
  const order = BLOCKER_ORDER[key]
  const rows = db
    .prepare(
      `WITH b AS (
         SELECT holder_event_id, max(holder_tid) AS holder_tid, max(holder_op) AS op, count(*) AS waits,
           sum(waiter_op = 'fault') AS faults_delayed, sum(waiter_op <> 'fault') AS ops_delayed,
           sum(wait_ns) AS total_wait_ns, max(wait_ns) AS max_wait_ns
         FROM lock_waits w WHERE run_id = @run AND holder_event_id IS NOT NULL${f.sql}
         GROUP BY holder_event_id ORDER BY ${order}, holder_event_id LIMIT @limit)
       SELECT b.*, h.start_ns, h.end_ns, h.hold_ns, h.hold_mode FROM b LEFT JOIN (
         SELECT event_id, min(start_ns) AS start_ns, max(end_ns) AS end_ns, sum(hold_ns) AS hold_ns, max(mode) AS hold_mode
         FROM lock_holds WHERE run_id = @run AND event_id IN (SELECT holder_event_id FROM b) GROUP BY event_id
       ) h ON h.event_id = b.holder_event_id
       ORDER BY ${order}, b.holder_event_id`,
    )
    .all({run: runId, limit, ...f.params}) as Omit<BlockerRow, 'comm' | 'detail' | 'trace_line' | 'trace_ns'>[]
  const facts = opFacts(
    db,
    rows.map((r) => r.holder_event_id),
    new Map(rows.map((r) => [r.holder_event_id, r.op])),
  )
  return rows.map((r) => {
    const f = facts.get(r.holder_event_id)
    return {
      ...r,
      comm: f?.comm ?? null,
      detail: f?.detail ?? r.op,
      trace_line: f?.trace_line ?? null,
      trace_ns: f?.trace_ns ?? null,
    }
  })
}

/** The single longest wait of the run, with who waited and on whom. */
export interface StallRow {
  wait_ns: number
  lock: string
  mode: string
  waiter_tid: number
  waiter_op: string
  waiter_event_id: number | null
  holder_tid: number | null
  holder_op: string | null
  holder_event_id: number | null
  start_ns: number
}

export function worstStall(db: Db, runId: number): StallRow | null {
  return (
    (db
      .prepare(
        `SELECT wait_ns, lock, mode, waiter_tid, waiter_op, waiter_event_id, holder_tid, holder_op, holder_event_id, start_ns
         FROM lock_waits WHERE run_id = ? ORDER BY wait_ns DESC, start_ns LIMIT 1`,
      )
      .get(runId) as StallRow | undefined) ?? null
  )
}

/** Per holder operation and run: faults delayed, waits and total delay, for the runs given (same trace). */
export interface OpEffect {
  faults_delayed: number
  waits: number
  total_wait_ns: number
}

export function opEffects(db: Db, runIds: number[]): Map<number, {op: string; byRun: Map<number, OpEffect>}> {
  const out = new Map<number, {op: string; byRun: Map<number, OpEffect>}>()
  if (runIds.length === 0) return out
  const rows = db
    .prepare(
      `SELECT holder_event_id AS ev, run_id, max(holder_op) AS op, sum(waiter_op = 'fault') AS faults_delayed, count(*) AS waits,
         sum(wait_ns) AS total_wait_ns
       FROM lock_waits WHERE run_id IN (${runIds.map(() => '?').join(',')}) AND holder_event_id IS NOT NULL
       GROUP BY holder_event_id, run_id`,
    )
    .all(...runIds) as ({ev: number; run_id: number; op: string} & OpEffect)[]
  for (const r of rows) {
    let e = out.get(r.ev)
    if (e === undefined) out.set(r.ev, (e = {op: r.op, byRun: new Map()}))
    e.byRun.set(r.run_id, {faults_delayed: r.faults_delayed, waits: r.waits, total_wait_ns: r.total_wait_ns})
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Hottest VMAs

export interface VmaRow {
  tgid: number
  vma_start: number
  vma_end: number
  kind: string
  faults: number
  fallbacks: number
  took_mmap_lock: number
  waited: number
  total_wait_ns: number
  max_wait_ns: number
  inferred: number
  /** the most frequent fallback reason (empty when none fell back) */
  top_reason: string
}

/** VMAs (as seen by each fault: start/end at fault time) by fallbacks, then delay, then faults. */
export function hotVmas(db: Db, runId: number, traceId: number, limit: number): VmaRow[] {
  const rows = db
    .prepare(
      `SELECT g.tgid, g.vma_start, g.vma_end, sum(f.faults) AS faults, sum((g.vma_lock = 0) * f.faults) AS fallbacks,
         sum(g.took_mmap_lock * f.faults) AS took_mmap_lock, sum(f.waited) AS waited, sum(f.total_wait_ns) AS total_wait_ns,
         max(f.max_wait_ns) AS max_wait_ns, sum(g.inferred_vma * f.faults) AS inferred
       FROM (${FAULTS_BY_GROUP}) f JOIN fault_groups g ON g.run_id = @run AND g.group_id = f.group_id WHERE g.vma_start IS NOT NULL
       GROUP BY g.tgid, g.vma_start, g.vma_end ORDER BY fallbacks DESC, total_wait_ns DESC, faults DESC, g.tgid, g.vma_start LIMIT @limit`,
    )
    .all({run: runId, limit}) as Omit<VmaRow, 'kind' | 'top_reason'>[]
  const reasons = db
    .prepare(
      `SELECT g.tgid, g.vma_start, g.vma_end, r.reason, sum(f.faults) AS n
       FROM (${FAULTS_BY_GROUP}) f JOIN fault_groups g ON g.run_id = @run AND g.group_id = f.group_id JOIN reasons r USING (reason_id)
       WHERE g.vma_lock = 0 AND g.vma_start IS NOT NULL GROUP BY 1, 2, 3, 4 ORDER BY n DESC, r.reason`,
    )
    .all({run: runId}) as {tgid: number; vma_start: number; vma_end: number; reason: string; n: number}[]
  const top = new Map<string, string>()
  for (const r of reasons) {
    const k = `${r.tgid}:${r.vma_start}:${r.vma_end}`
    if (!top.has(k)) top.set(k, r.reason)
  }
  return rows.map((r) => ({
    ...r,
    kind: vmaKind(db, traceId, r.tgid, r.vma_start, r.vma_end),
    top_reason: top.get(`${r.tgid}:${r.vma_start}:${r.vma_end}`) ?? '',
  }))
}

/**
 * What a VMA maps, from what the trace shows about that range: a /proc/PID/maps snapshot, perf MMAP2 records, the
 * mmap call that created an overlapping range (anon / shmem / file), or brk. '?' when the trace never says.
 */
export function vmaKind(db: Db, traceId: number, tgid: number, start: number, end: number): string {
  const map = db
    .prepare(
      'SELECT path, perms FROM initial_maps WHERE trace_id = ? AND tgid = ? AND vm_start < ? AND vm_end > ? ORDER BY vm_start LIMIT 1',
    )
    .get(traceId, tgid, end, start) as {path: string; perms: string} | undefined
  if (map !== undefined) return `${map.path === '' ? 'anon' : map.path} ${map.perms}`
  const m2 = db
    .prepare(
      `SELECT text FROM events WHERE trace_id = ? AND kind = 16 AND coalesce(tgid, tid) = ? AND a < ? AND a + b > ? ORDER BY event_id DESC LIMIT 1`,
    )
    .pluck()
    .get(traceId, tgid, end, start) as string | undefined
  if (m2 !== undefined) return m2
  const mm = db
    .prepare(
      `SELECT arg3 AS flags, arg4 AS fd FROM syscalls WHERE trace_id = ? AND name = 'mmap' AND coalesce(tgid, tid) = ?
       AND ret >= 0 AND ret < ? AND ret + arg1 > ? ORDER BY enter_ts_ns DESC LIMIT 1`,
    )
    .get(traceId, tgid, end, start) as {flags: number | null; fd: number | null} | undefined
  if (mm !== undefined) {
    const anon = ((mm.flags ?? 0) & 0x20) !== 0
    const shared = ((mm.flags ?? 0) & 0x3) === 1
    return anon ? (shared ? 'shmem (mmap)' : 'anon (mmap)') : `file (mmap fd ${mm.fd})`
  }
  const brk = db
    .prepare(
      `SELECT min(ret) AS lo, max(ret) AS hi FROM syscalls WHERE trace_id = ? AND name = 'brk' AND coalesce(tgid, tid) = ? AND ret > 0`,
    )
    .get(traceId, tgid) as {lo: number | null; hi: number | null}
  if (brk.lo !== null && brk.hi !== null && start < brk.hi && end > brk.lo) return '[heap] (brk)'
  return '?'
}

// ---------------------------------------------------------------------------------------------------------------
// Threads and processes

export interface ThreadRow {
  tid: number
  tgid: number
  comm: string
  ops: number
  faults: number
  fallbacks: number
  waited_faults: number
  fault_wait_ns: number
  max_fault_wait_ns: number
  /** every wait of the thread: faults and syscalls */
  wait_ns: number
  end_ns: number
}

export function threadRows(db: Db, runId: number, traceId: number): ThreadRow[] {
  return db
    .prepare(
      `SELECT t.tid, t.tgid, coalesce(th.comm, '?') AS comm, t.ops - t.faults AS ops, t.faults,
         coalesce(f.fallbacks, 0) AS fallbacks, coalesce(f.waited, 0) AS waited_faults, coalesce(f.wait_ns, 0) AS fault_wait_ns,
         coalesce(f.max_wait_ns, 0) AS max_fault_wait_ns, t.wait_ns, t.end_ns
       FROM thread_results t
       LEFT JOIN (SELECT e.tid, sum(g.vma_lock = 0) AS fallbacks, sum(f.wait_ns > 0) AS waited, sum(f.wait_ns) AS wait_ns, max(f.wait_ns) AS max_wait_ns
                  FROM fault_results f JOIN fault_groups g USING (run_id, group_id) JOIN events e ON e.event_id = f.event_id
                  WHERE f.run_id = @run GROUP BY e.tid) f ON f.tid = t.tid
       LEFT JOIN threads th ON th.trace_id = @trace AND th.tid = t.tid
       WHERE t.run_id = @run ORDER BY t.wait_ns DESC, fallbacks DESC, t.faults DESC, t.tid`,
    )
    .all({run: runId, trace: traceId}) as ThreadRow[]
}

/** A thread's totals summed over a process's threads. */
export type ProcessRow = Omit<ThreadRow, 'tid' | 'end_ns'> & {threads: number}

export function processRows(db: Db, traceId: number, threads: ThreadRow[]): ProcessRow[] {
  const names = new Map(
    (
      db.prepare('SELECT tgid, comm FROM processes WHERE trace_id = ?').all(traceId) as {tgid: number; comm: string}[]
    ).map((r) => [r.tgid, r.comm]),
  )
  const by = new Map<number, ProcessRow>()
  for (const t of threads) {
    let p = by.get(t.tgid)
    if (p === undefined) {
      p = {
        tgid: t.tgid,
        comm: names.get(t.tgid) ?? (t.tid === t.tgid ? t.comm : '?'),
        threads: 0,
        ops: 0,
        faults: 0,
        fallbacks: 0,
        waited_faults: 0,
        fault_wait_ns: 0,
        max_fault_wait_ns: 0,
        wait_ns: 0,
      }
      by.set(t.tgid, p)
    }
    if (t.tid === t.tgid && p.comm === '?') p.comm = t.comm
    p.threads++
    p.ops += t.ops
    p.faults += t.faults
    p.fallbacks += t.fallbacks
    p.waited_faults += t.waited_faults
    p.fault_wait_ns += t.fault_wait_ns
    p.max_fault_wait_ns = Math.max(p.max_fault_wait_ns, t.max_fault_wait_ns)
    p.wait_ns += t.wait_ns
  }
  return [...by.values()].sort(
    (a, b) => b.wait_ns - a.wait_ns || b.fallbacks - a.fallbacks || b.faults - a.faults || a.tgid - b.tgid,
  )
}

// ---------------------------------------------------------------------------------------------------------------
// Histograms and timelines (charts)

/** Upper edges (ns, exclusive) of the log-scale wait buckets: 1 µs, 3 µs, 10 µs, … 100 ms; the last is open. */
export const WAIT_EDGES_NS = [1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6, 3e6, 1e7, 3e7, 1e8] as const

export interface Histogram {
  zero: number
  /** counts per bucket: [0] < edges[0], [i] in [edges[i-1], edges[i]), [edges.length] ≥ the last edge */
  buckets: number[]
}

export function faultWaitHistogram(db: Db, runId: number, edges: readonly number[] = WAIT_EDGES_NS): Histogram {
  const cases = edges.map((e, i) => `WHEN wait_ns < ${Math.round(e)} THEN ${i}`).join(' ')
  const rows = db
    .prepare(
      `SELECT CASE WHEN wait_ns = 0 THEN -1 ${cases} ELSE ${edges.length} END AS b, count(*) AS n FROM fault_results WHERE run_id = ? GROUP BY b`,
    )
    .all(runId) as {b: number; n: number}[]
  const h: Histogram = {zero: 0, buckets: new Array<number>(edges.length + 1).fill(0)}
  for (const r of rows) {
    if (r.b < 0) h.zero = r.n
    else h.buckets[r.b] = r.n
  }
  return h
}

/** mmap_lock occupancy of one process (mm) in one time bucket. */
export interface OccupancyCell {
  /** mean number of threads holding mmap_lock for read */
  readers: number
  /** fraction of the bucket mmap_lock was held for write */
  writer: number
  /** mean number of readers / writers blocked on mmap_lock */
  waitingReaders: number
  waitingWriters: number
  faults: number
  /** faults that completed on the mmap_lock path (started in the bucket) */
  fallbacks: number
}

const emptyCell = (): OccupancyCell => ({
  readers: 0,
  writer: 0,
  waitingReaders: 0,
  waitingWriters: 0,
  faults: 0,
  fallbacks: 0,
})

/**
 * mmap_lock occupancy per process and time bucket (sparse: buckets with nothing are absent). A hold is placed at
 * the end of its operation ([end − hold, end]: the lock is taken after any wait), a wait at its start
 * ([start, start + wait]). Holds no longer than a bucket are summed in SQL into the bucket where they start;
 * longer ones are spread exactly. `fromNs`/`toNs` restrict to a window (bucket numbers stay absolute).
 */
export function lockOccupancy(
  db: Db,
  runId: number,
  bucketNs: number,
  fromNs = 0,
  toNs = Number.MAX_SAFE_INTEGER,
): Map<number, Map<number, OccupancyCell>> {
  const b = Math.max(1, Math.round(bucketNs))
  const out = new Map<number, Map<number, OccupancyCell>>()
  const cell = (tgid: number, k: number): OccupancyCell => {
    let m = out.get(tgid)
    if (m === undefined) out.set(tgid, (m = new Map()))
    let c = m.get(k)
    if (c === undefined) m.set(k, (c = emptyCell()))
    return c
  }
  const spread = (
    tgid: number,
    field: 'readers' | 'writer' | 'waitingReaders' | 'waitingWriters',
    start: number,
    end: number,
  ): void => {
    const s = Math.max(start, fromNs)
    const e = Math.min(end, toNs)
    for (let k = Math.floor(s / b); k * b < e; k++) {
      const o = Math.min(e, (k + 1) * b) - Math.max(s, k * b)
      if (o > 0) cell(tgid, k)[field] += o / b
    }
  }
  const p = {run: runId, b, from: fromNs, to: toNs}
  const short = db
    .prepare(
      `SELECT tgid, mode, (end_ns - hold_ns) / CAST(@b AS INTEGER) AS k, sum(hold_ns) AS ns FROM lock_holds
       WHERE run_id = @run AND lock = 'mmap_lock' AND hold_ns <= @b AND end_ns - hold_ns >= @from AND end_ns - hold_ns < @to GROUP BY 1, 2, 3`,
    )
    .all(p) as {tgid: number; mode: string; k: number; ns: number}[]
  for (const r of short) cell(r.tgid, r.k)[r.mode === 'read' ? 'readers' : 'writer'] += r.ns / b
  const long = db.prepare(
    `SELECT tgid, mode, end_ns - hold_ns AS s, end_ns AS e FROM lock_holds
     WHERE run_id = @run AND lock = 'mmap_lock' AND hold_ns > @b AND end_ns > @from AND end_ns - hold_ns < @to`,
  )
  for (const r of long.iterate(p) as Iterable<{tgid: number; mode: string; s: number; e: number}>)
    spread(r.tgid, r.mode === 'read' ? 'readers' : 'writer', r.s, r.e)
  const waits = db.prepare(
    `SELECT tgid, mode, start_ns AS s, start_ns + wait_ns AS e FROM lock_waits
     WHERE run_id = @run AND lock = 'mmap_lock' AND start_ns + wait_ns > @from AND start_ns < @to`,
  )
  for (const r of waits.iterate(p) as Iterable<{tgid: number; mode: string; s: number; e: number}>)
    spread(r.tgid, r.mode === 'read' ? 'waitingReaders' : 'waitingWriters', r.s, r.e)
  const faults = db
    .prepare(
      `SELECT g.tgid, s / CAST(@b AS INTEGER) AS k, count(*) AS n, sum(g.vma_lock = 0) AS fb
       FROM (SELECT f.run_id, f.group_id, ${FAULT_START_NS} AS s FROM fault_results f ${FAULT_EVENT_JOIN} WHERE f.run_id = @run) f
       JOIN fault_groups g USING (run_id, group_id) WHERE s >= @from AND s < @to GROUP BY 1, 2`,
    )
    .all(p) as {tgid: number; k: number; n: number; fb: number}[]
  for (const r of faults) {
    const c = cell(r.tgid, r.k)
    c.faults += r.n
    c.fallbacks += r.fb
  }
  return out
}

export interface LockTimeline {
  bucketNs: number
  buckets: number
  /** every process of the run added up */
  cells: OccupancyCell[]
}

/** lockOccupancy of all processes together, dense, in `buckets` buckets over [0, spanNs). */
export function lockTimeline(db: Db, runId: number, spanNs: number, buckets: number): LockTimeline {
  const bucketNs = Math.max(1, Math.ceil(Math.max(1, spanNs) / buckets))
  const cells = Array.from({length: buckets}, emptyCell)
  for (const m of lockOccupancy(db, runId, bucketNs).values())
    for (const [k, c] of m) {
      const t = cells[Math.min(buckets - 1, Math.max(0, k))]!
      t.readers += c.readers
      t.writer += c.writer
      t.waitingReaders += c.waitingReaders
      t.waitingWriters += c.waitingWriters
      t.faults += c.faults
      t.fallbacks += c.fallbacks
    }
  return {bucketNs, buckets, cells}
}
