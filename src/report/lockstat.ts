// The lock tables kernel engineers know from `perf lock contention` and /proc/lock_stat, over one run's replayed
// waits (lock_waits) and holds (op_lock_holds, fault_results.hold_ns). A waiter or holder is named by its class:
// the syscall (mmap, munmap, fork, exit, ...) or, for a fault, its kind from the x86 error code (X86_PF_WRITE)
// and mode (a kernel-mode fault is page_fault_kernel): `fault read`, `fault write`, `kernel fault read`, ...
import type {Db} from '../store/db.js'

/** perf lock contention's sort keys (-k) this report supports, and the column each sorts by (descending). */
export const SORT_KEYS = ['contended', 'wait_total', 'wait_max', 'avg_wait'] as const
export type SortKey = (typeof SORT_KEYS)[number]

/** Which waits (and holds) count: the waiting task's process or thread, the mode it asked for. */
export interface WaitFilter {
  pid?: number
  tid?: number
  mode?: 'read' | 'write'
}

const WAIT_COLS = {tgid: 'w.tgid', tid: 'w.waiter_tid', mode: 'w.mode'}

/** The SQL condition (`AND …`) and parameters of a filter, by default on lock_waits aliased `w`. */
export function waitFilterSql(f: WaitFilter, cols = WAIT_COLS): {sql: string; params: Record<string, unknown>} {
  const conds: string[] = []
  const params: Record<string, unknown> = {}
  if (f.pid !== undefined) {
    conds.push(`${cols.tgid} = @fpid`)
    params.fpid = f.pid
  }
  if (f.tid !== undefined) {
    conds.push(`${cols.tid} = @ftid`)
    params.ftid = f.tid
  }
  if (f.mode !== undefined) {
    conds.push(`${cols.mode} = @fmode`)
    params.fmode = f.mode
  }
  return {sql: conds.map((c) => ` AND ${c}`).join(''), params}
}

/** A fault event `e`'s class; `op` is the operation name stored with the wait. */
const opClass = (op: string, e: string): string =>
  `CASE WHEN ${op} = 'fault' THEN (CASE WHEN ${e}.kind = 2 THEN 'kernel fault' ELSE 'fault' END) || (CASE WHEN (coalesce(${e}.c, 0) & 2) <> 0 THEN ' write' ELSE ' read' END)
    ELSE coalesce(${op}, '(VMA readers)') END`

/** lock_waits of run @run with waiter and holder classes. */
const CLASSED_WAITS = (
  filter: string,
): string => `SELECT w.lock, w.mode, w.wait_ns, ${opClass('w.waiter_op', 'we')} AS waiter_class, ${opClass('w.holder_op', 'he')} AS holder_class
  FROM lock_waits w LEFT JOIN events we ON we.event_id = w.waiter_event_id LEFT JOIN events he ON he.event_id = w.holder_event_id
  WHERE w.run_id = @run${filter}`

/** perf's lock type name for a mode: both locks are rw semaphores (mm->mmap_lock, the VMA lock). */
export function lockType(mode: string): string {
  return `rwsem:${mode === 'read' ? 'R' : 'W'}`
}

export interface LockRow {
  contended: number
  wait_total_ns: number
  wait_max_ns: number
  wait_min_ns: number
  avg_wait_ns: number
  type: string
  lock: string
  caller: string
}

const ORDER: Record<SortKey, string> = {
  contended: 'contended DESC',
  wait_total: 'wait_total_ns DESC',
  wait_max: 'wait_max_ns DESC',
  avg_wait: 'avg_wait_ns DESC',
}

/** SQL ORDER BY terms for a sort key, then the others as tie-breaks (deterministic). */
export function orderBy(key: SortKey, cols: Record<SortKey, string> = ORDER): string {
  return [cols[key], ...SORT_KEYS.filter((k) => k !== key).map((k) => cols[k])].join(', ')
}

/** `perf lock contention`: waits per lock, mode and waiting class (perf's caller), sorted by `key`. */
export function lockContention(db: Db, runId: number, key: SortKey, limit: number, filter: WaitFilter = {}): LockRow[] {
  const f = waitFilterSql(filter)
  const rows = db
    .prepare(
      `SELECT count(*) AS contended, sum(wait_ns) AS wait_total_ns, max(wait_ns) AS wait_max_ns, min(wait_ns) AS wait_min_ns,
         sum(wait_ns) / count(*) AS avg_wait_ns, lock, mode, waiter_class AS caller
       FROM (${CLASSED_WAITS(f.sql)}) GROUP BY lock, mode, waiter_class
       ORDER BY ${orderBy(key)}, lock, mode, caller LIMIT @limit`,
    )
    .all({run: runId, limit, ...f.params}) as (Omit<LockRow, 'type'> & {mode: string})[]
  return rows.map(({mode, ...r}) => ({...r, type: lockType(mode)}))
}

/** One /proc/lock_stat class: a lock in one mode, its contentions (waits) and acquisitions (holds). */
export interface LockStatRow {
  class: string // mmap_lock-R, mmap_lock-W, vma-W (lock_stat's -R suffix for read acquisitions)
  lock: string
  mode: string
  contentions: number
  waittime_min_ns: number
  waittime_max_ns: number
  waittime_total_ns: number
  waittime_avg_ns: number
  acquisitions: number | null // null: holds of this lock are not recorded (VMA locks)
  holdtime_min_ns: number | null
  holdtime_max_ns: number | null
  holdtime_total_ns: number | null
  holdtime_avg_ns: number | null
}

const statClass = (lock: string, mode: string): string => `${lock}-${mode === 'read' ? 'R' : 'W'}`

/** Holds of run @run as (lock, mode, tgid, tid, hold_ns): syscalls' from op_lock_holds, faults' read holds. */
const HOLDS = `SELECT lock, mode, tgid, tid, hold_ns FROM op_lock_holds WHERE run_id = @run
  UNION ALL SELECT 'mmap_lock', 'read', g.tgid, e.tid, f.hold_ns FROM fault_results f JOIN fault_groups g USING (run_id, group_id)
    JOIN events e ON e.event_id = f.event_id WHERE f.run_id = @run AND f.hold_ns > 0`

/** /proc/lock_stat: per lock and mode, contentions with their wait times and acquisitions with their hold times. */
export function lockStat(db: Db, runId: number, filter: WaitFilter = {}): LockStatRow[] {
  const f = waitFilterSql(filter)
  const waits = db
    .prepare(
      `SELECT lock, mode, count(*) AS n, min(wait_ns) AS mn, max(wait_ns) AS mx, sum(wait_ns) AS tot
       FROM lock_waits w WHERE w.run_id = @run${f.sql} GROUP BY lock, mode`,
    )
    .all({run: runId, ...f.params}) as {lock: string; mode: string; n: number; mn: number; mx: number; tot: number}[]
  // holds are filtered by the holder's process/thread and mode, as the waits by the waiter's
  const hf = waitFilterSql(filter, {tgid: 'h.tgid', tid: 'h.tid', mode: 'h.mode'}).sql
  const holds = db
    .prepare(
      `SELECT lock, mode, count(*) AS n, min(hold_ns) AS mn, max(hold_ns) AS mx, sum(hold_ns) AS tot FROM (${HOLDS}) h WHERE 1${hf} GROUP BY lock, mode`,
    )
    .all({run: runId, ...f.params}) as {lock: string; mode: string; n: number; mn: number; mx: number; tot: number}[]
  const keys = new Map<string, {lock: string; mode: string}>()
  for (const r of [...waits, ...holds]) keys.set(statClass(r.lock, r.mode), {lock: r.lock, mode: r.mode})
  return [...keys]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([cls, {lock, mode}]) => {
      const w = waits.find((x) => x.lock === lock && x.mode === mode)
      const h = holds.find((x) => x.lock === lock && x.mode === mode)
      return {
        class: cls,
        lock,
        mode,
        contentions: w?.n ?? 0,
        waittime_min_ns: w?.mn ?? 0,
        waittime_max_ns: w?.mx ?? 0,
        waittime_total_ns: w?.tot ?? 0,
        waittime_avg_ns: w === undefined ? 0 : Math.floor(w.tot / w.n),
        acquisitions: h?.n ?? (lock === 'mmap_lock' ? 0 : null),
        holdtime_min_ns: h?.mn ?? (lock === 'mmap_lock' ? 0 : null),
        holdtime_max_ns: h?.mx ?? (lock === 'mmap_lock' ? 0 : null),
        holdtime_total_ns: h?.tot ?? (lock === 'mmap_lock' ? 0 : null),
        holdtime_avg_ns: h === undefined ? (lock === 'mmap_lock' ? 0 : null) : Math.floor(h.tot / h.n),
      }
    })
}

/** lock_stat's contention points, waiters and holders side by side: rank i of each, per lock class. */
export interface LockStatClassRow {
  class: string
  rank: number
  waiter_class: string | null
  waiter_waits: number | null
  waiter_wait_ns: number | null
  holder_class: string | null
  holder_waits: number | null // waits it caused
  holder_wait_ns: number | null
}

export function lockStatClasses(
  db: Db,
  runId: number,
  key: SortKey,
  limit: number,
  filter: WaitFilter = {},
): LockStatClassRow[] {
  const f = waitFilterSql(filter)
  const side = (
    col: 'waiter_class' | 'holder_class',
  ): {lock: string; mode: string; cls: string; n: number; tot: number}[] =>
    db
      .prepare(
        `SELECT lock, mode, ${col} AS cls, count(*) AS contended, sum(wait_ns) AS wait_total_ns, max(wait_ns) AS wait_max_ns,
           sum(wait_ns) / count(*) AS avg_wait_ns
         FROM (${CLASSED_WAITS(f.sql)}) GROUP BY lock, mode, ${col} ORDER BY lock, mode, ${orderBy(key)}, cls`,
      )
      .all({run: runId, ...f.params})
      .map((r) => {
        const x = r as {lock: string; mode: string; cls: string; contended: number; wait_total_ns: number}
        return {lock: x.lock, mode: x.mode, cls: x.cls, n: x.contended, tot: x.wait_total_ns}
      })
  const waiters = side('waiter_class')
  const holders = side('holder_class')
  const classes = [...new Set([...waiters, ...holders].map((r) => statClass(r.lock, r.mode)))].sort()
  const out: LockStatClassRow[] = []
  for (const cls of classes) {
    const ws = waiters.filter((r) => statClass(r.lock, r.mode) === cls).slice(0, limit)
    const hs = holders.filter((r) => statClass(r.lock, r.mode) === cls).slice(0, limit)
    for (let i = 0; i < Math.max(ws.length, hs.length); i++) {
      const w = ws[i]
      const h = hs[i]
      out.push({
        class: cls,
        rank: i + 1,
        waiter_class: w?.cls ?? null,
        waiter_waits: w?.n ?? null,
        waiter_wait_ns: w?.tot ?? null,
        holder_class: h?.cls ?? null,
        holder_waits: h?.n ?? null,
        holder_wait_ns: h?.tot ?? null,
      })
    }
  }
  return out
}
