// Terminal and CSV renderings of the contention report and the comparison. Formatting only: every number comes
// from contention.ts / compare.ts; units are in the column headers.
import {basename} from 'node:path'
import {type ContentionReport, type CsvSection, SECTIONS} from './sections.js'
import type {ChangedOp, Comparison, CompareRow} from './compare.js'
import type {StallRow} from './metrics.js'
import {csv, csvLine, table, type Row} from './output.js'
import {bytes, count, dur, ms, pct, signed, us} from './units.js'
import {replayKind} from './runs.js'

const title = (s: string): string => `\n${s}\n`
const plural = (n: number, word: string): string => `${count(n)} ${word}${n === 1 ? '' : 's'}`

/** The value of a comparison row in its display unit. */
export function displayValue(row: Pick<CompareRow, 'display'>, v: number | null): string {
  if (v === null) return ''
  switch (row.display) {
    case 'us':
      return us(v)
    case 'ms':
      return ms(v)
    case 'KiB':
      return (v / 1024).toFixed(1)
    default:
      return count(v)
  }
}

export function stallText(s: StallRow | null): string {
  if (s === null) return 'no waits'
  const holder =
    s.holder_op === null ? 'VMA readers' : `${s.holder_op} (tid ${s.holder_tid}, event ${s.holder_event_id})`
  return `${s.waiter_op} (tid ${s.waiter_tid}) waited ${dur(s.wait_ns)} for ${s.lock} ${s.mode} on ${holder} at ${ms(s.start_ns)} ms`
}

// ---------------------------------------------------------------------------------------------------------------
// Contention

/** One paragraph per run a kernel engineer can act on: how many faults fell back and why, who made them wait. */
export function headlines(r: ContentionReport): string[] {
  return r.runs.map((run) => {
    const paths = r.paths.filter((p) => p.run_id === run.run_id)
    const fallbacks = paths.filter((p) => p.path === 'mmap_lock')
    const nFb = fallbacks.reduce((s, p) => s + p.faults, 0)
    const topFb = fallbacks
      .slice(0, 3)
      .map((p) => `${p.reason} ${count(p.faults)}`)
      .join(', ')
    const all = r.waits.find((w) => w.run_id === run.run_id && w.group === 'all faults')
    const writers = r.waits.find((w) => w.run_id === run.run_id && w.group === 'mmap_lock writers (waits)')
    const b = r.blockers.find((x) => x.run_id === run.run_id)
    const lines = [
      `${run.label} (run ${run.run_id}, ${replayKind({mode: run.mode, calibratedHolds: run.calibrated_holds})}): ${count(nFb)} of ${count(run.faults)} faults (${pct(nFb, run.faults) || '0%'}) fell back to mmap_lock${topFb === '' ? '' : ` — ${topFb}`}.`,
      '  ' +
        ((all?.waited ?? 0) === 0
          ? 'No fault waited for a lock'
          : `${count(all!.waited)} fault${all!.waited === 1 ? '' : 's'} waited for a lock, ${dur(all!.total_wait_ns)} in total, the longest ${dur(all!.max_ns)}`) +
        ((writers?.count ?? 0) === 0
          ? '; no mmap_lock writer waited.'
          : `; ${count(writers!.count)} mmap_lock writer wait${writers!.count === 1 ? '' : 's'}, ${dur(writers!.total_wait_ns)} in total.`),
    ]
    if (b !== undefined)
      lines.push(
        `  Worst blocker: ${b.detail} by ${b.comm ?? '?'}/${b.holder_tid ?? '?'} (trace line ${b.trace_line ?? '?'}) delayed ${plural(b.faults_delayed, 'fault')} and ${plural(b.ops_delayed, 'syscall')} by ${dur(b.total_wait_ns)} in total.`,
      )
    return lines.join('\n')
  })
}

/** What --pid/--tid/--read/--write kept, for the report's first line. */
export function filterText(r: ContentionReport): string | null {
  const f = r.filter
  const parts = [
    f.pid === undefined ? '' : `pid ${f.pid}`,
    f.tid === undefined ? '' : `tid ${f.tid}`,
    f.mode === undefined ? '' : `${f.mode} waits`,
  ].filter((x) => x !== '')
  return parts.length === 0
    ? null
    : `Filtered to ${parts.join(', ')} (the waiting task; holds by the holding task): lock tables, blockers, threads and processes. Fault paths, wait percentiles and VMAs cover the whole run.`
}

/** The perf lock contention rows with `sep` between fields (perf lock contention -x): a header line, raw ns. */
export function lockContentionSeparated(r: ContentionReport, sep: string): string {
  const cols = [
    'run_id',
    'policy',
    'contended',
    'wait_total_ns',
    'wait_max_ns',
    'avg_wait_ns',
    'type',
    'lock',
    'caller',
  ] as const
  const lines = [cols.join(sep)]
  for (const l of r.locks) lines.push(cols.map((c) => String(l[c])).join(sep))
  return lines.join('\n') + '\n'
}

export function renderContention(r: ContentionReport, top: number): string {
  const parts: string[] = []
  const filtered = filterText(r)
  if (filtered !== null) parts.push(filtered)
  for (const t of r.traces)
    parts.push(
      `Trace ${t.trace_id}: ${basename(t.path)} (${t.format}${t.kernel_version === null ? '' : `, kernel ${t.kernel_version}`}), ${count(t.events)} events, ${count(t.faults)} user faults, ${dur(t.span_ns)} traced` +
        (t.lost_events > 0
          ? `, ${count(t.lost_events)} events LOST (outcomes in those windows are low confidence)`
          : ''),
    )
  parts.push(title('Summary'), headlines(r).join('\n\n'))
  for (const s of Object.values(SECTIONS)) parts.push(...s.text(r, top))
  if (r.rcu_file !== undefined) parts.push(...rcuFileText(r.rcu_file))
  return parts.join('\n')
}

/** The rcuDeferredFput section's tables and trade sentences (text and HTML render the same rows). */
export function rcuFileRows(f: NonNullable<ContentionReport['rcu_file']>): {
  runs: Row[]
  trade: string[]
  paths: Row[]
  callRcu: Row[]
} {
  return {
    runs: f.runs.map((x) => ({
      run: `${x.policy} (${x.run_id})`,
      'deferred fputs': count(x.deferred_fputs),
      'delay p50 ms': ms(x.delay_p50_ns),
      'p99 ms': ms(x.delay_p99_ns),
      'max ms': ms(x.delay_max_ns),
      'peak files waiting': count(x.peak_files_waiting),
      'peak VMA bytes waiting': bytes(x.peak_bytes_waiting),
      'files released': count(x.files_released),
      'released late': count(x.late_releases),
      'last-ref late (fd closed)': count(x.last_ref_late),
      'longest umount-busy ms': ms(x.max_busy_ns),
    })),
    trade: f.trade.map(
      (t) =>
        `${t.policy} (run ${t.run_id}) vs v6.18 (run ${t.baseline_run_id}), ${t.mode}: buys ${count(t.faults_moved)} fewer faults under mmap_lock ` +
        `(${count(t.baseline_mmap_lock_faults)} → ${count(t.mmap_lock_faults)}; v6.18 had ${count(t.baseline_file_no_map_pages)} file_no_map_pages fallbacks); ` +
        `costs ${count(t.deferred_fputs)} deferred fputs, ${count(t.last_ref_late)} ->release calls run late on the last reference, umount busy up to ${ms(t.max_busy_ns)} ms longer.`,
    ),
    paths: f.paths.map((p) => ({
      run: `${p.policy} (${p.run_id})`,
      file: p.file,
      fd: p.fd,
      releases: count(p.releases),
      'late total ms': ms(p.late_total_ns),
      'late max ms': ms(p.late_max_ns),
    })),
    callRcu: f.call_rcu.map((c) => ({
      run: `${c.policy} (${c.run_id})`,
      callbacks: count(c.callbacks),
      'mean latency ms': ms(c.mean_latency_ns),
      'max ms': ms(c.max_latency_ns),
      'peak pending': bytes(c.peak_pending_bytes),
      'peak objects': count(c.peak_pending_objects),
    })),
  }
}

export const RCU_FILE_TITLES = {
  runs: 'RCU-deferred vm_file release (rcuDeferredFput): deferred fputs, late ->release, umount-busy windows',
  trade: 'The trade beside v6.18 (same trace and mode): faults moved off mmap_lock vs the deferral',
  noTrade: '(no v6.18 run of the same trace and mode in this report: replay --policy v6.18,spf-rcu-file for the trade)',
  paths: 'Last-reference releases run late, by file (fd closed or process exited before the deferred fput)',
  callRcu: 'call_rcu per run (VMA objects on 6.4–6.14, maple tree nodes, deferred fputs): 6.15+ reuses VMAs at once',
}

/** The rcuDeferredFput section: what deferring vm_file's fput by RCU cost, and beside v6.18 what it bought. */
export function rcuFileText(f: NonNullable<ContentionReport['rcu_file']>): string[] {
  const r = rcuFileRows(f)
  const T = RCU_FILE_TITLES
  return [
    title(T.runs),
    table(r.runs),
    title(T.trade),
    ...(r.trade.length > 0 ? r.trade : [T.noTrade]),
    title(T.paths),
    r.paths.length === 0 ? '(none)' : table(r.paths),
    title(T.callRcu),
    table(r.callRcu),
  ]
}

/** One section as RFC 4180 CSV, raw integers (ns, bytes). */
export function contentionCsv(r: ContentionReport, section: CsvSection): string {
  return csv(r[section] as unknown as Row[])
}

// ---------------------------------------------------------------------------------------------------------------
// Comparison

export function compareTableRows(c: Comparison): {rows: Row[]; columns: string[]} {
  const b = c.columns.findIndex((x) => x.label === c.baseline)
  const columns = ['metric', ...c.columns.map((x, i) => (i === b ? `${x.label} (baseline)` : `${x.label} (Δ)`))]
  const rows: Row[] = c.rows.map((row) => {
    const out: Row = {metric: (row.indent ? '  ' : '') + row.metric}
    row.values.forEach((v, i) => {
      const d = row.deltas[i]
      out[columns[i + 1]!] =
        i === b || d === null
          ? displayValue(row, v)
          : `${displayValue(row, v)} (${signed(d, (n) => displayValue(row, n))})`
    })
    return out
  })
  return {rows, columns}
}

export function changedOpRows(c: Comparison, longHeaders = true): Row[] {
  return c.changedOps.map((o: ChangedOp, i) => {
    const row: Row = {
      '#': i + 1,
      operation: o.detail,
      thread: `${o.comm ?? '?'}/${o.tid ?? '?'}`,
      'trace line': o.trace_line ?? '',
    }
    c.columns.forEach((col, j) => {
      const e = o.effects[j]!
      row[longHeaders ? `${col.label}: faults delayed / delay (µs)` : col.label] =
        `${count(e.faults_delayed)} / ${us(e.total_wait_ns)}`
    })
    return row
  })
}

export function renderComparison(c: Comparison): string {
  const {rows, columns} = compareTableRows(c)
  const parts = [
    `Runs: ${c.columns.map((x) => `${x.label} = run ${x.run_id} (trace ${x.trace_id}, ${x.policy}, ${replayKind({mode: x.mode, calibratedHolds: x.calibrated_holds})})`).join('; ')}. Deltas are against ${c.baseline}.`,
    table(rows, columns),
    title('Worst stall of each run'),
    c.columns.map((x, i) => `${x.label}: ${stallText(c.stalls[i] ?? null)}`).join('\n'),
  ]
  if (c.changedOps.length > 0) {
    parts.push(
      title('Operations whose effect changed most (faults they delayed and the delay they caused, per run)'),
      table(changedOpRows(c)),
    )
  } else if (c.notes.every((n) => !n.startsWith('runs replay different traces'))) {
    parts.push('\nNo operation delayed other threads differently between these runs.')
  }
  for (const n of c.notes) parts.push(`note: ${n}`)
  return parts.join('\n')
}

/** The comparison as CSV: one line per metric, value and delta columns per run, base units (count, ns, bytes). */
export function comparisonCsv(c: Comparison): string {
  const head = ['key', 'metric', 'unit', ...c.columns.flatMap((x) => [x.label, `${x.label} delta`])]
  let out = csvLine(head)
  for (const r of c.rows) out += csvLine([r.key, r.metric, r.unit, ...r.values.flatMap((v, i) => [v, r.deltas[i]])])
  return out
}

/** The comparison as JSON-ready data: values and deltas keyed by column label. */
export function comparisonJson(c: Comparison): unknown {
  return {
    baseline: c.baseline,
    columns: c.columns,
    rows: c.rows.map((r) => ({
      key: r.key,
      metric: r.metric,
      unit: r.unit,
      values: Object.fromEntries(c.columns.map((x, i) => [x.label, r.values[i]])),
      deltas: Object.fromEntries(c.columns.map((x, i) => [x.label, r.deltas[i]])),
    })),
    worstStalls: Object.fromEntries(c.columns.map((x, i) => [x.label, c.stalls[i]])),
    changedOperations: c.changedOps.map((o) => ({
      ...o,
      effects: Object.fromEntries(c.columns.map((x, i) => [x.label, o.effects[i]])),
    })),
    notes: c.notes,
  }
}
