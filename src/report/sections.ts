// The sections of the contention report, each defined once: the rows it collects for one run (--json, --csv
// SECTION) and how the text report shows them. A new section is its row type in SectionRows and one entry in
// SECTIONS; the report builder (contention.ts), the text renderer and the --csv choices all read them from here.
import type {Db} from '../store/db.js'
import {
  lockContention,
  lockStat,
  lockStatClasses,
  type LockRow,
  type LockStatClassRow,
  type LockStatRow,
  type SortKey,
  type WaitFilter,
} from './lockstat.js'
import {
  hotVmas,
  pathReasons,
  processRows,
  threadRows,
  topBlockers,
  waitRows,
  type BlockerRow,
  type PathReasonRow,
  type ProcessRow,
  type ThreadRow,
  type VmaRow,
  type WaitRow,
} from './metrics.js'
import {table, type Row} from './output.js'
import type {RcuFileReport} from './rcu-file.js'
import type {RunRef} from './runs.js'
import {bytes, count, hex, ms, us} from './units.js'

export interface TraceFacts {
  trace_id: number
  path: string
  format: string
  kernel_version: string | null
  events: number
  faults: number
  span_ns: number
  lost_events: number
}

type Tagged<T> = {run_id: number; policy: string} & T

/** Every section's rows, each row naming its run. */
export interface SectionRows {
  paths: Tagged<PathReasonRow & {share: number}>[]
  waits: Tagged<WaitRow>[]
  /** perf lock contention: waits by lock, mode and waiting class, sorted by `sort_key` */
  locks: Tagged<LockRow & {rank: number}>[]
  /** /proc/lock_stat: contentions and acquisitions per lock and mode */
  lockstat: Tagged<LockStatRow>[]
  /** lock_stat's contention points: waiter and holder classes side by side */
  lockstat_classes: Tagged<LockStatClassRow>[]
  blockers: Tagged<BlockerRow & {rank: number}>[]
  vmas: Tagged<VmaRow & {rank: number}>[]
  threads: Tagged<ThreadRow>[]
  processes: Tagged<ProcessRow>[]
}

export type ContentionReport = {
  traces: TraceFacts[]
  runs: {
    run_id: number
    trace_id: number
    policy: string
    label: string
    mode: string
    calibrated_holds: boolean
    faults: number
    ops: number
    sim_end_ns: number
  }[]
} & SectionRows & {
    sort_key: SortKey
    /** --pid/--tid/--read/--write: they filter locks, lockstat, lockstat_classes, blockers, threads and processes */
    filter: WaitFilter
    /** Only when a run defers VMA fputs (rcuDeferredFput): the deferred vm_file releases and their trade (rcu-file.ts) */
    rcu_file?: RcuFileReport
  }

export interface CollectContext {
  db: Db
  run: RunRef
  top: number
  key: SortKey
  filter: WaitFilter
  /** the sections collected so far for this run (a section may derive from an earlier one) */
  collected: Partial<{[K in keyof SectionRows]: Untagged<K>[]}>
}

type Untagged<K extends keyof SectionRows> = Omit<SectionRows[K][number], 'run_id' | 'policy'>

interface SectionDef<K extends keyof SectionRows> {
  /** this run's rows, in report order */
  collect(c: CollectContext): Untagged<K>[]
  /** the text report's title and body lines */
  text(r: ContentionReport, top: number): string[]
}

const title = (s: string): string => `\n${s}\n`
const ranked = <T>(rows: T[]): ({rank: number} & T)[] => rows.map((x, i) => ({rank: i + 1, ...x}))

/** The sections, in the order the text report and --json show them. */
export const SECTIONS: {[K in keyof SectionRows]: SectionDef<K>} = {
  paths: {
    collect: ({db, run}) =>
      pathReasons(db, run.runId).map((p) => ({...p, share: run.faults === 0 ? 0 : p.faults / run.faults})),
    text: (r) => [title("Faults by completion path and reason (count, share of the run's faults)"), pathMatrix(r)],
  },
  waits: {
    collect: ({db, run}) => waitRows(db, run.runId),
    text: (r) => [
      title('Lock waits (exact percentiles, nearest rank; "all faults" counts faults that did not wait as 0)'),
      waitTable(r),
    ],
  },
  locks: {
    collect: ({db, run, key, top, filter}) => ranked(lockContention(db, run.runId, key, top, filter)),
    text: (r, top) => [
      title(`Lock contention (as perf lock contention; by ${r.sort_key}, top ${top} per run)`),
      r.locks.length === 0 ? '(no waits)' : table(lockRows(r)),
    ],
  },
  lockstat: {
    collect: ({db, run, filter}) => lockStat(db, run.runId, filter),
    text: (r) => [
      title('lock_stat (as /proc/lock_stat: -R read, -W write; waits and holds of the replay)'),
      r.lockstat.length === 0 ? '(no locks taken)' : table(lockStatRows(r)),
    ],
  },
  lockstat_classes: {
    collect: ({db, run, key, top, filter}) => lockStatClasses(db, run.runId, key, top, filter),
    text: (r, top) =>
      r.lockstat_classes.length === 0
        ? []
        : [
            title(`lock_stat contention points (top ${top} per class): who waited, and who held the lock meanwhile`),
            table(lockStatClassRows(r)),
          ],
  },
  blockers: {
    collect: ({db, run, top, key, filter}) => ranked(topBlockers(db, run.runId, top, key, filter)),
    text: (r) =>
      r.runs.flatMap((run) => {
        const rows = blockerRows(r, run.run_id)
        return [
          title(`Top blocking operations — ${run.label} (run ${run.run_id}): who held mmap_lock while others waited`),
          rows.length === 0 ? '(no thread waited on another)' : table(rows),
        ]
      }),
  },
  vmas: {
    collect: ({db, run, top}) => ranked(hotVmas(db, run.runId, run.traceId, top)),
    text: (r) =>
      r.runs.flatMap((run) => [
        title(`Hottest VMAs — ${run.label} (run ${run.run_id}): by fallbacks, then delay, then faults`),
        table(vmaRows(r, run.run_id)),
      ]),
  },
  threads: {
    collect: ({db, run, filter}) =>
      threadRows(db, run.runId, run.traceId).filter(
        (t) =>
          (filter.pid === undefined || t.tgid === filter.pid) && (filter.tid === undefined || t.tid === filter.tid),
      ),
    text: (r, top) => [title(`Threads (top ${top} per run by time spent waiting)`), threadTable(r, top, 'threads')],
  },
  processes: {
    // per process: the threads the filter kept
    collect: ({db, run, collected}) => processRows(db, run.traceId, collected.threads ?? []),
    text: (r, top) => [title(`Processes (top ${top} per run)`), threadTable(r, top, 'processes')],
  },
}

/** --csv choices: the run list, then every section. */
export const CSV_SECTIONS = ['runs', ...(Object.keys(SECTIONS) as (keyof SectionRows)[])] as const
export type CsvSection = (typeof CSV_SECTIONS)[number]

function pathMatrix(r: ContentionReport): string {
  const keys: string[] = []
  const cells = new Map<string, string>()
  for (const p of r.paths) {
    const k = `${p.path}\u0000${p.reason}`
    if (!keys.includes(k)) keys.push(k)
    cells.set(`${k}\u0000${p.run_id}`, `${count(p.faults)} (${(100 * p.share).toFixed(1)}%)`)
  }
  keys.sort((a, b) => (a.startsWith('vma_lock') === b.startsWith('vma_lock') ? 0 : a.startsWith('vma_lock') ? -1 : 1))
  const cols = ['path', 'reason', ...r.runs.map((x) => `${x.label} faults (%)`)]
  const rows = keys.map((k) => {
    const [path, reason] = k.split('\u0000') as [string, string]
    const row: Row = {path: path === 'mmap_lock' ? 'mmap_lock (fallback)' : path, reason}
    r.runs.forEach((x, i) => (row[cols[i + 2]!] = cells.get(`${k}\u0000${x.run_id}`) ?? '0'))
    return row
  })
  return table(rows, cols)
}

function waitTable(r: ContentionReport): string {
  const rows = r.waits
    .filter((w) => w.count > 0 || w.group === 'all faults')
    .map((w) => ({
      policy: w.policy,
      population: w.group,
      count: count(w.count),
      waited: count(w.waited),
      'total (ms)': ms(w.total_wait_ns),
      'p50 (µs)': us(w.p50_ns),
      'p90 (µs)': us(w.p90_ns),
      'p99 (µs)': us(w.p99_ns),
      'max (µs)': us(w.max_ns),
    }))
  return table(rows)
}

export function blockerRows(r: ContentionReport, runId: number): Row[] {
  return r.blockers
    .filter((b) => b.run_id === runId)
    .map((b) => ({
      '#': b.rank,
      operation: b.detail,
      thread: `${b.comm ?? '?'}/${b.holder_tid ?? '?'}`,
      'trace line': b.trace_line ?? '',
      'at (ms)': ms(b.start_ns),
      'hold (µs)': b.hold_ns === null ? '' : us(b.hold_ns),
      'faults delayed': count(b.faults_delayed),
      'syscalls delayed': count(b.ops_delayed),
      'total delay (µs)': us(b.total_wait_ns),
      'max delay (µs)': us(b.max_wait_ns),
    }))
}

export function vmaRows(r: ContentionReport, runId: number): Row[] {
  return r.vmas
    .filter((v) => v.run_id === runId)
    .map((v) => ({
      '#': v.rank,
      pid: v.tgid,
      range: `${hex(v.vma_start)}-${hex(v.vma_end)}`,
      size: bytes(v.vma_end - v.vma_start),
      maps: v.kind,
      faults: count(v.faults),
      fallbacks: count(v.fallbacks),
      'top fallback reason': v.top_reason,
      'took mmap_lock': count(v.took_mmap_lock),
      waited: count(v.waited),
      'total wait (µs)': us(v.total_wait_ns),
      'max wait (µs)': us(v.max_wait_ns),
    }))
}

function threadTable(r: ContentionReport, top: number, which: 'threads' | 'processes'): string {
  const out: Row[] = []
  let hidden = 0
  for (const run of r.runs) {
    const rows = (r[which] as (ContentionReport['threads'][number] | ContentionReport['processes'][number])[]).filter(
      (t) => t.run_id === run.run_id,
    )
    hidden += Math.max(0, rows.length - top)
    for (const t of rows.slice(0, top)) {
      out.push({
        policy: run.label,
        ...('tid' in t ? {tid: t.tid, pid: t.tgid} : {pid: t.tgid, threads: t.threads}),
        comm: t.comm,
        faults: count(t.faults),
        fallbacks: count(t.fallbacks),
        'faults waited': count(t.waited_faults),
        'fault wait (µs)': us(t.fault_wait_ns),
        'max fault wait (µs)': us(t.max_fault_wait_ns),
        'all waits (µs)': us(t.wait_ns),
        syscalls: count(t.ops),
      })
    }
  }
  return (
    table(out) + (hidden > 0 ? `\n(${hidden} more ${which} with less waiting; --json or --csv ${which} for all)` : '')
  )
}

/** `perf lock contention`'s table: waits by lock, mode and the class that waited, in `sort_key` order. */
function lockRows(r: ContentionReport): Row[] {
  return r.locks.map((l) => ({
    policy: l.policy,
    contended: count(l.contended),
    'total wait (µs)': us(l.wait_total_ns),
    'max wait (µs)': us(l.wait_max_ns),
    'avg wait (µs)': us(l.avg_wait_ns),
    type: l.type,
    lock: l.lock,
    caller: l.caller,
  }))
}

const opt = (v: number | null, f: (n: number) => string): string => (v === null ? '' : f(v))

/** /proc/lock_stat's columns per lock class (`-R`: read acquisitions and waits). */
function lockStatRows(r: ContentionReport): Row[] {
  return r.lockstat.map((l) => ({
    policy: l.policy,
    class: l.class,
    contentions: count(l.contentions),
    'waittime-min (µs)': us(l.waittime_min_ns),
    'waittime-max (µs)': us(l.waittime_max_ns),
    'waittime-total (µs)': us(l.waittime_total_ns),
    'waittime-avg (µs)': us(l.waittime_avg_ns),
    acquisitions: opt(l.acquisitions, count),
    'holdtime-min (µs)': opt(l.holdtime_min_ns, us),
    'holdtime-max (µs)': opt(l.holdtime_max_ns, us),
    'holdtime-total (µs)': opt(l.holdtime_total_ns, us),
    'holdtime-avg (µs)': opt(l.holdtime_avg_ns, us),
  }))
}

function lockStatClassRows(r: ContentionReport): Row[] {
  return r.lockstat_classes.map((c) => ({
    policy: c.policy,
    class: c.class,
    '#': c.rank,
    'waiting class': c.waiter_class ?? '',
    waits: opt(c.waiter_waits, count),
    'waited (µs)': opt(c.waiter_wait_ns, us),
    'holding class': c.holder_class ?? '',
    'waits caused': opt(c.holder_waits, count),
    'delay caused (µs)': opt(c.holder_wait_ns, us),
  }))
}
