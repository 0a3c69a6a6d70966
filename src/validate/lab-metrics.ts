// The metrics of the cross-generation validation (docs/validation.md, "Cross-generation what-if"), measured the
// same way on a real trace (its own mmap_lock events) and on a replay run (its fault_groups, run_counters and
// lock_waits rows).
import type {Db} from '../store/db.js'
import {Kind} from '../model/events.js'
import {observeFaults} from './observed.js'

/** Reason families of the faults that took mmap_lock. */
export const FAMILIES = ['anon_vma', 'file', 'stack', 'policy_mmap_lock', 'other'] as const
export type Family = (typeof FAMILIES)[number]

// fault.ts FaultReason → family; anything else (vma_write_locked, kernel_mode, no_vma, a fault the model did not
// send to mmap_lock at all, …) is 'other'
const FAMILY_OF: Record<string, Family> = {
  anon_vma_trylock: 'anon_vma',
  anon_vma_trylock_failed: 'anon_vma',
  anon_vma_retry: 'anon_vma',
  file_fault: 'file',
  file_no_map_pages: 'file',
  io_retry: 'file',
  stack_growth: 'stack',
  policy_mmap_lock: 'policy_mmap_lock',
}

export function familyOf(reason: string): Family {
  return FAMILY_OF[reason] ?? 'other'
}

export interface WaitStats {
  /** contended acquisitions (real) or lock_waits rows (predicted) */
  contended: number
  totalNs: number
  p50Ns: number
  p99Ns: number
}

export interface TraceMetrics {
  userFaults: number
  tookMmapLock: number
  /** faults that took mmap_lock, by the family of their reason */
  byFamily: Record<Family, number>
  acquireRead: number
  acquireWrite: number
  waits: WaitStats
  /** seconds of trace (first to last event), the denominator of the wait total per second */
  traceSeconds: number
}

/** Nearest-rank percentile of sorted values (0 if none). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!
}

export function waitStats(waits: number[]): WaitStats {
  const sorted = [...waits].sort((a, b) => a - b)
  return {
    contended: sorted.length,
    totalNs: sorted.reduce((s, x) => s + x, 0),
    p50Ns: percentile(sorted, 0.5),
    p99Ns: percentile(sorted, 0.99),
  }
}

export interface ObservedLocks {
  acquireRead: number
  acquireWrite: number
  /** start_locking → acquire_returned(success) of the contended acquisitions, ns */
  contendedWaitsNs: number[]
  /** those of the contended reads that rwsem_down_read_slowpath's steal explains: no writer held the lock at their
   * start_locking and none took it before their acquire_returned (a writer was only queued) */
  readStealWaitsNs: number[]
  /** for each read that was queued when another thread released a write hold and got the lock next: the time from
   * that release to its acquire_returned (up_write → rwsem_wake grants queued readers, then wakes them: the gap is
   * their wake-up latency) */
  readerWakeNs: number[]
}

interface Pending {
  ts: number
  write: boolean
  contended: boolean
  /** a writer held the lock at start_locking */
  writerHeld: boolean
  /** the mm's write acquisitions so far */
  writes: number
}

/**
 * Acquisitions and contended waits as the trace's own mmap_lock events show them (include/linux/mmap_lock.h:
 * every lock and trylock traces start_locking then acquire_returned; a downgrade traces acquire_returned(read)
 * alone and is not an acquisition; released is traced before the unlock). An acquisition is contended when, at
 * its start_locking, another thread held that mm's lock in a conflicting mode (a writer; anyone, for a write), or
 * another thread's write acquisition was pending (rwsem queues readers behind a waiting writer), or the same
 * thread's previous attempt on that mm was a failed trylock (lock_mm_and_find_vma's trylock, then the sleeping
 * lock). Holds are known from acquire_returned to released, which lie inside the real hold.
 */
export function observeLocks(db: Db, traceId: number): ObservedLocks {
  const out: ObservedLocks = {
    acquireRead: 0,
    acquireWrite: 0,
    contendedWaitsNs: [],
    readStealWaitsNs: [],
    readerWakeNs: [],
  }
  interface MmLocks {
    holders: Map<number, boolean>
    pending: Map<number, Pending>
    failed: Set<number>
    writes: number
    /** the last release, if a write release no acquisition followed yet */
    writeRelease: {ts: number; tid: number} | null
  }
  const mms = new Map<string, MmLocks>()
  const stmt = db.prepare(
    `SELECT kind, tid, ts_ns, a, b, text FROM events WHERE trace_id = ? AND kind IN (${Kind.LockStart},${Kind.LockAcquire},${Kind.LockRelease}) ORDER BY event_id`,
  )
  for (const [kind, tid, ts, a, b, mmText] of stmt.raw(true).iterate(traceId) as Iterable<
    [number, number, number, number, number, string]
  >) {
    let mm = mms.get(mmText)
    if (mm === undefined)
      mms.set(mmText, (mm = {holders: new Map(), pending: new Map(), failed: new Set(), writes: 0, writeRelease: null}))
    const write = a === 1
    if (kind === Kind.LockStart) {
      let conflict = mm.failed.has(tid)
      let writerHeld = false
      for (const [h, w] of mm.holders) {
        if (h !== tid && (w || write)) conflict = true
        if (h !== tid && w) writerHeld = true
      }
      for (const [p, q] of mm.pending) if (p !== tid && q.write) conflict = true
      mm.pending.set(tid, {ts, write, contended: conflict, writerHeld, writes: mm.writes})
      continue
    }
    if (kind === Kind.LockRelease) {
      mm.holders.delete(tid)
      mm.writeRelease = write ? {ts, tid} : null
      continue
    }
    const p = mm.pending.get(tid)
    mm.pending.delete(tid)
    if (p === undefined) {
      // mmap_write_downgrade: the writer now holds for read
      if (b !== 0 && mm.holders.has(tid)) mm.holders.set(tid, false)
      continue
    }
    if (b === 0) {
      mm.failed.add(tid)
      continue
    }
    mm.failed.delete(tid)
    mm.holders.set(tid, write)
    if (write) out.acquireWrite++
    else out.acquireRead++
    if (p.contended) out.contendedWaitsNs.push(ts - p.ts)
    if (p.contended && !write && !p.writerHeld && p.writes === mm.writes) out.readStealWaitsNs.push(ts - p.ts)
    const wr = mm.writeRelease
    if (!write && wr !== null && wr.tid !== tid && p.ts < wr.ts) out.readerWakeNs.push(ts - wr.ts)
    if (write) mm.writes++
    if (write) mm.writeRelease = null // readers woken by one up_write share it
  }
  return out
}

function traceSeconds(db: Db, traceId: number): number {
  const r = db.prepare('SELECT first_ts_ns AS f, last_ts_ns AS l FROM traces WHERE trace_id = ?').get(traceId) as {
    f: number | null
    l: number | null
  }
  return r.f === null || r.l === null ? 0 : (r.l - r.f) / 1e9
}

const emptyFamilies = (): Record<Family, number> =>
  Object.fromEntries(FAMILIES.map((f) => [f, 0])) as Record<Family, number>

/** The user faults' reasons in a replay run, by event id. */
export function runReasons(db: Db, runId: number): Map<number, {took: boolean; reason: string; waitNs: number}> {
  const out = new Map<number, {took: boolean; reason: string; waitNs: number}>()
  const rows = db
    .prepare(
      `SELECT r.event_id, g.took_mmap_lock, reasons.reason, r.wait_ns FROM fault_results r JOIN fault_groups g USING (run_id, group_id)
       JOIN reasons ON reasons.reason_id = g.reason_id JOIN events e ON e.event_id = r.event_id WHERE r.run_id = ? AND e.kind = ?`,
    )
    .raw(true)
    .iterate(runId, Kind.FaultUser) as Iterable<[number, number, string, number]>
  for (const [id, took, reason, waitNs] of rows) out.set(id, {took: took === 1, reason, waitNs})
  return out
}

/**
 * The real side: user faults that took mmap_lock from the trace's own events (observeFaults), each attributed to
 * the family of the reason `attribution` (a faithful replay of this same trace) gives it; acquisitions and waits
 * from observeLocks.
 */
export function realMetrics(db: Db, traceId: number, attributionRunId: number): TraceMetrics {
  const reasons = runReasons(db, attributionRunId)
  const byFamily = emptyFamilies()
  let userFaults = 0
  let took = 0
  observeFaults(db, traceId, (f) => {
    userFaults++
    if (!f.took) return
    took++
    const r = reasons.get(f.eventId)
    byFamily[r === undefined || !r.took ? 'other' : familyOf(r.reason)]++
  })
  const locks = observeLocks(db, traceId)
  return {
    userFaults,
    tookMmapLock: took,
    byFamily,
    acquireRead: locks.acquireRead,
    acquireWrite: locks.acquireWrite,
    waits: waitStats(locks.contendedWaitsNs),
    traceSeconds: traceSeconds(db, traceId),
  }
}

/** The predicted side: a replay run's user faults (fault_groups), run_counters acquisitions, lock_waits on mmap_lock. */
export function predictedMetrics(db: Db, traceId: number, runId: number): TraceMetrics {
  const byFamily = emptyFamilies()
  let userFaults = 0
  let took = 0
  for (const r of runReasons(db, runId).values()) {
    userFaults++
    if (!r.took) continue
    took++
    byFamily[familyOf(r.reason)]++
  }
  const ctr = (name: string): number =>
    (db.prepare('SELECT value FROM run_counters WHERE run_id = ? AND name = ?').pluck().get(runId, name) as
      number | undefined) ?? 0
  const waits = db
    .prepare("SELECT wait_ns FROM lock_waits WHERE run_id = ? AND lock = 'mmap_lock' AND wait_ns > 0")
    .pluck()
    .all(runId) as number[]
  return {
    userFaults,
    tookMmapLock: took,
    byFamily,
    acquireRead: ctr('mmap_lock.acquire.read'),
    acquireWrite: ctr('mmap_lock.acquire.write'),
    waits: waitStats(waits),
    traceSeconds: traceSeconds(db, traceId),
  }
}

/** The metric values compared, per trace (shares as fractions, waits in ns). */
export function metricValues(m: TraceMetrics): Record<string, number> {
  const share = (n: number): number => (m.userFaults === 0 ? 0 : n / m.userFaults)
  const per1k = (n: number): number => (m.userFaults === 0 ? 0 : (1000 * n) / m.userFaults)
  const out: Record<string, number> = {took_mmap_lock: share(m.tookMmapLock)}
  for (const f of FAMILIES) out[`took.${f}`] = share(m.byFamily[f])
  out['acquire_read_per_1k'] = per1k(m.acquireRead)
  out['acquire_write_per_1k'] = per1k(m.acquireWrite)
  out['wait_ns_per_s'] = m.traceSeconds === 0 ? 0 : m.waits.totalNs / m.traceSeconds
  out['wait_p50_ns'] = m.waits.p50Ns
  out['wait_p99_ns'] = m.waits.p99Ns
  out['contended'] = m.waits.contended
  return out
}

/** Shares are compared in percentage points, everything else as a ratio. */
export const isShare = (metric: string): boolean => metric === 'took_mmap_lock' || metric.startsWith('took.')
