// The HTML report: one self-contained page (inline CSS and SVG, no script, no font or network fetch) rendering
// a PageData. Formatting only.
import {basename} from 'node:path'
import type {PageData} from './page.js'
import {betterWhen, type Comparison} from './compare.js'
import {blockerRows, vmaRows} from './sections.js'
import {changedOpRows, displayValue, headlines, RCU_FILE_TITLES, rcuFileRows, stallText} from './text.js'
import {replayKind} from './runs.js'
import {esc, groupedBarsSvg, timelineSvg, type TimelineLane} from './svg.js'
import type {Row} from './output.js'
import {count, dur, pct, signed} from './units.js'

export const RUN_COLORS = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#59a14f',
  '#b07aa1',
  '#76b7b2',
  '#edc948',
  '#9c755f',
  '#ff9da7',
  '#bab0ac',
]
const C = {writer: '#d62728', readers: '#6baed6', waitW: '#e6550d', waitR: '#fdae6b', fallbacks: '#8c6bb1'}

const CSS = `
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d2430;background:#f6f7f9;margin:0}
main{max-width:1380px;margin:0 auto;padding:20px 28px 40px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
.sub{color:#5a6472;margin:0 0 2px}.note{color:#5a6472;font-size:12.5px;margin:4px 0 10px;max-width:1100px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(255px,1fr));gap:12px}
.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:10px 14px;border-top:4px solid var(--c)}
.card h3{margin:0;font-size:15px}.card .mode{color:#6b7480;font-size:12px;font-weight:normal}
.big{font-size:26px;font-weight:600;margin:2px 0 0}.bigl{color:#5a6472;font-size:12px;margin-bottom:6px}
.card dl{display:grid;grid-template-columns:1fr auto;gap:1px 10px;margin:0;font-size:13px}.card dt{color:#5a6472}.card dd{margin:0;text-align:right;font-variant-numeric:tabular-nums}
.card p{font-size:12px;color:#3d4652;margin:8px 0 0}
.panel{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:10px 12px;overflow-x:auto}
table{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;border-bottom:1px solid #eceef2;text-align:right;white-space:nowrap}
th{background:#f0f2f5;position:sticky;top:0;font-weight:600}th:first-child,td:first-child{text-align:left}
td.l,th.l{text-align:left}tr.sub td:first-child{padding-left:22px;color:#4a5360}
.good{color:#1a7f37}.bad{color:#c62828}.d{font-size:11px;margin-left:4px}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}
.chart text{font-size:11px;fill:#3d4652}.chart .ct{font-size:13px;font-weight:600;fill:#1d2430}
.chart .yt{text-anchor:end;dominant-baseline:middle}.chart .xt{text-anchor:middle}.chart .xl{text-anchor:middle;fill:#5a6472}.chart .xr{text-anchor:end;fill:#5a6472}
.chart .lt{text-anchor:end;font-weight:600}.chart .lu{text-anchor:end;fill:#7a8390;font-size:10px}
.chart .grid{stroke:#e6e9ee}.chart .axis{stroke:#9aa3ad}.chart .lane{fill:#fafbfc;stroke:#e3e6eb}
.legend{display:flex;flex-wrap:wrap;gap:14px;font-size:12.5px;margin:6px 0}.legend span::before{content:"";display:inline-block;width:11px;height:11px;border-radius:2px;background:var(--c);margin-right:5px;vertical-align:-1px}
footer{color:#6b7480;font-size:12px;margin-top:30px}
code{font-size:12px;background:#eef0f3;padding:0 3px;border-radius:3px}
`

function htmlTable(rows: Row[], left: string[] = []): string {
  if (rows.length === 0) return '<p class="note">(none)</p>'
  const cols = Object.keys(rows[0]!)
  const head = cols.map((c) => `<th${left.includes(c) ? ' class="l"' : ''}>${esc(c)}</th>`).join('')
  const body = rows
    .map(
      (r) =>
        `<tr>${cols.map((c) => `<td${left.includes(c) ? ' class="l"' : ''}>${esc(String(r[c] ?? ''))}</td>`).join('')}</tr>`,
    )
    .join('')
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`
}

function card(d: PageData, i: number, summary: string): string {
  const r = d.runs[i]!
  const c = d.contention
  const paths = c.paths.filter((p) => p.run_id === r.runId)
  const vma = paths.filter((p) => p.path === 'vma_lock').reduce((s, p) => s + p.faults, 0)
  const fb = paths.filter((p) => p.path === 'mmap_lock')
  const nFb = fb.reduce((s, p) => s + p.faults, 0)
  const w = (g: string) => c.waits.find((x) => x.run_id === r.runId && x.group === g)
  const all = w('all faults')
  const waited = w('faults that waited')
  const writers = w('mmap_lock writers (waits)')
  const stall = d.comparison?.stalls[i] ?? null
  const items: [string, string][] = [
    ['fell back to mmap_lock', count(nFb)],
    ['faults that waited', count(all?.waited ?? 0)],
    ['fault wait, total', dur(all?.total_wait_ns ?? 0)],
    ['fault wait p99 (waiters)', dur(waited?.p99_ns ?? 0)],
    ['fault wait, longest', dur(all?.max_ns ?? 0)],
    ['writer wait, total', dur(writers?.total_wait_ns ?? 0)],
    ['worst stall, any lock', stall === null ? dur(0) : dur(stall.wait_ns)],
    ['simulated length', dur(r.simEndNs)],
  ]
  const topFb = fb
    .slice(0, 2)
    .map((p) => `${esc(p.reason)} ${count(p.faults)}`)
    .join(', ')
  return `<div class="card" style="--c:${RUN_COLORS[i % RUN_COLORS.length]}"><h3>${esc(r.label)} <span class="mode">run ${r.runId} · ${esc(replayKind(r))}</span></h3>
<div class="big">${pct(vma, r.faults) || '–'}</div><div class="bigl">of ${count(r.faults)} faults completed under the VMA lock${topFb === '' ? '' : `; fallbacks: ${topFb}`}</div>
<dl>${items.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl><p>${esc(summary)}</p></div>`
}

function timelines(d: PageData): string {
  const lanes: TimelineLane[] = []
  const maxOf = (f: (c: PageData['timelines'][number]['cells'][number]) => number): number =>
    Math.max(1e-9, ...d.timelines.flatMap((t) => t.cells.map(f)))
  const held = maxOf((c) => c.readers + c.writer)
  const waiting = maxOf((c) => c.waitingReaders + c.waitingWriters)
  d.runs.forEach((r, i) => {
    const t = d.timelines[i]!
    const col = (f: (c: (typeof t.cells)[number]) => number): number[] => t.cells.map(f)
    lanes.push({
      title: `${r.label} · held`,
      yMax: held,
      yUnit: 'threads',
      series: [
        {label: `${r.label}: writer holding (mean)`, color: C.writer, values: col((c) => c.writer)},
        {label: `${r.label}: readers holding (mean)`, color: C.readers, values: col((c) => c.readers)},
      ],
    })
    lanes.push({
      title: `${r.label} · waiting`,
      yMax: waiting,
      yUnit: 'threads',
      series: [
        {label: `${r.label}: writers waiting (mean)`, color: C.waitW, values: col((c) => c.waitingWriters)},
        {label: `${r.label}: readers waiting (mean)`, color: C.waitR, values: col((c) => c.waitingReaders)},
      ],
    })
    // fallbacks: each run on its own scale (a pre-6.4 run would flatten every other run's lane)
    lanes.push({
      title: `${r.label} · fallbacks`,
      yMax: Math.max(1, ...t.cells.map((c) => c.fallbacks)),
      yUnit: 'faults',
      series: [
        {
          label: `${r.label}: faults on the mmap_lock path per bucket`,
          color: C.fallbacks,
          values: col((c) => c.fallbacks),
        },
      ],
    })
  })
  const legend = `<div class="legend"><span style="--c:${C.writer}">writer holding</span><span style="--c:${C.readers}">readers holding</span><span style="--c:${C.waitW}">writers waiting</span><span style="--c:${C.waitR}">readers waiting</span><span style="--c:${C.fallbacks}">faults falling back to mmap_lock</span></div>`
  return (
    legend +
    timelineSvg({
      width: 1300,
      spanNs: d.spanNs,
      bucketNs: d.timelines[0]?.bucketNs ?? 1,
      lanes,
      title: 'mmap_lock occupancy per time bucket (mean number of threads; all processes together)',
      laneHeight: 34,
    })
  )
}

function histogram(d: PageData): string {
  const labels = [
    '<1 µs',
    '1–3 µs',
    '3–10 µs',
    '10–30 µs',
    '30–100 µs',
    '0.1–0.3 ms',
    '0.3–1 ms',
    '1–3 ms',
    '3–10 ms',
    '10–30 ms',
    '30–100 ms',
    '≥100 ms',
  ]
  const cats = labels.slice(0, d.edgesNs.length + 1)
  const series = d.runs.map((r, i) => ({
    label: r.label,
    color: RUN_COLORS[i % RUN_COLORS.length]!,
    values: d.histograms[i]!.buckets,
  }))
  const legend = `<div class="legend">${d.runs.map((r, i) => `<span style="--c:${RUN_COLORS[i % RUN_COLORS.length]}">${esc(r.label)}: ${count(d.histograms[i]!.buckets.reduce((s, x) => s + x, 0))} faults waited, ${count(d.histograms[i]!.zero)} did not</span>`).join('')}</div>`
  return (
    legend +
    groupedBarsSvg({
      width: 1300,
      height: 300,
      categories: cats,
      series,
      title: 'Faults by time blocked on a lock (log scale; faults that did not wait are left out)',
      xLabel: 'wait per fault',
      yLabel: 'faults (log)',
    })
  )
}

function comparisonTable(c: Comparison): string {
  const b = c.columns.findIndex((x) => x.label === c.baseline)
  const head = `<tr><th>metric</th>${c.columns.map((x, i) => `<th>${esc(x.label)}${i === b ? ' (baseline)' : ''}</th>`).join('')}</tr>`
  const body = c.rows
    .map((r) => {
      const better = betterWhen(r.key)
      const cells = r.values.map((v, i) => {
        const d = r.deltas[i]
        let delta = ''
        if (i !== b && d !== null && d !== 0) {
          const cls = better === null ? '' : d < 0 === (better === 'lower') ? 'good' : 'bad'
          delta = `<span class="d ${cls}">${esc(signed(d, (n) => displayValue(r, n)))}</span>`
        }
        return `<td>${esc(displayValue(r, v))}${delta}</td>`
      })
      return `<tr${r.indent ? ' class="sub"' : ''}><td>${esc(r.metric)}</td>${cells.join('')}</tr>`
    })
    .join('')
  return `<table><thead>${head}</thead><tbody>${body}</tbody></table>`
}

/** The rcuDeferredFput what-if: the text report's rows (text.ts rcuFileRows) as one section. */
function rcuFileSection(f: NonNullable<PageData['contention']['rcu_file']>): string {
  const r = rcuFileRows(f)
  const T = RCU_FILE_TITLES
  return (
    `<section id="rcu-file"><h2>RCU-deferred vm_file release</h2><p class="note">Each removed file VMA's fput waits for an RCU grace period (rcuDeferredFput, as in the 2021 SPF patch "mm: rcu safe vma->vm_file freeing"). A late release ran ->release after the point it would have without the deferral; for that long an umount of the file's filesystem would have failed with EBUSY. See docs/reports.md.</p>` +
    `<h3>${esc(T.runs)}</h3><div class="panel">${htmlTable(r.runs, ['run'])}</div><h3>${esc(T.trade)}</h3>${(r.trade.length > 0 ? r.trade : [T.noTrade]).map((t) => `<p>${esc(t)}</p>`).join('')}` +
    `<h3>${esc(T.paths)}</h3><div class="panel">${htmlTable(r.paths, ['run', 'file'])}</div><h3>${esc(T.callRcu)}</h3><div class="panel">${htmlTable(r.callRcu, ['run'])}</div></section>`
  )
}

export function renderHtml(d: PageData): string {
  const c = d.contention
  const summaries = headlines(c)
  const traceLines = c.traces
    .map(
      (t) =>
        `trace ${t.trace_id}: <code>${esc(basename(t.path))}</code> (${esc(t.format)}${t.kernel_version === null ? '' : `, kernel ${esc(t.kernel_version)}`}), ${count(t.events)} events, ${count(t.faults)} user faults over ${dur(t.span_ns)}${t.lost_events > 0 ? `, <b>${count(t.lost_events)} events lost</b>` : ''}`,
    )
    .join('<br>')
  const parts: string[] = []
  parts.push(
    `<header><h1>${esc(d.title)}</h1><p class="sub">${traceLines}</p><p class="sub">${d.runs.length} run${d.runs.length === 1 ? '' : 's'}: ${d.runs.map((r) => `${esc(r.label)} (run ${r.runId}, ${esc(replayKind(r))})`).join(', ')}</p></header>`,
  )
  parts.push(
    `<section id="headline"><h2>Headline</h2><div class="cards">${d.runs.map((_r, i) => card(d, i, summaries[i]!.split('\n').slice(2).join(' ').trim())).join('')}</div></section>`,
  )
  parts.push(
    `<section id="timeline"><h2>mmap_lock over time</h2><p class="note">Per run: how many threads held mmap_lock (a writer counts its share of the bucket), how many were blocked on it (both on one scale for every run), and how many faults fell back to it (each run on its own scale: see its max). A bucket is ${dur(d.timelines[0]?.bucketNs ?? 0)}; values are means over the bucket, so short spikes are flattened. Hover an area for its name.</p><div class="panel">${timelines(d)}</div></section>`,
  )
  parts.push(
    `<section id="waits"><h2>Fault waits</h2><p class="note">How long faults were blocked on mmap_lock or a VMA lock, per run. Buckets grow ×3 to ×3.3; the y axis is logarithmic.</p><div class="panel">${histogram(d)}</div></section>`,
  )
  if (d.comparison !== null) {
    const cmp = d.comparison
    parts.push(
      `<section id="comparison"><h2>Comparison</h2><p class="note">Deltas against ${esc(cmp.baseline)}; green is better, red worse. Times: µs or ms as in the metric name. ${cmp.notes.map((n) => esc(`${n[0]!.toUpperCase()}${n.slice(1)}.`)).join(' ')}</p><div class="panel">${comparisonTable(cmp)}</div>` +
        `<p class="note">Worst stall per run: ${cmp.columns.map((x, i) => `<b>${esc(x.label)}</b>: ${esc(stallText(cmp.stalls[i] ?? null))}`).join('; ')}.</p>` +
        (cmp.changedOps.length > 0
          ? `<h2>Operations whose effect changed most</h2><p class="note">Per operation (the lock holder): faults it delayed / total delay it caused (µs), under each run.</p><div class="panel">${htmlTable(changedOpRows(cmp, false), ['operation', 'thread'])}</div>`
          : '') +
        '</section>',
    )
  }
  parts.push(
    `<section id="blockers"><h2>Top blocking operations</h2><p class="note">Operations that held mmap_lock while other threads waited, by total delay caused. "trace line" is the operation's line in the trace file.</p>${d.runs
      .map(
        (r, i) =>
          `<details${i === 0 ? ' open' : ''}><summary>${esc(r.label)} (run ${r.runId})</summary><div class="panel">${htmlTable(blockerRows(c, r.runId), ['operation', 'thread'])}</div></details>`,
      )
      .join('')}</section>`,
  )
  parts.push(
    `<section id="vmas"><h2>Hottest VMAs</h2><p class="note">VMAs (range at fault time) by faults that fell back to mmap_lock, then by delay, then by faults.</p>${d.runs
      .map(
        (r, i) =>
          `<details${i === 0 ? ' open' : ''}><summary>${esc(r.label)} (run ${r.runId})</summary><div class="panel">${htmlTable(vmaRows(c, r.runId), ['range', 'maps', 'top fallback reason'])}</div></details>`,
      )
      .join('')}</section>`,
  )
  if (c.rcu_file !== undefined) parts.push(rcuFileSection(c.rcu_file))
  parts.push(
    `<footer>Generated by vmareplay ${esc(d.toolVersion)}. How to read this report: docs/reports.md in the vmareplay repository. Times are simulated (replay) times since the trace's first event.</footer>`,
  )
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(d.title)}</title><style>${CSS}</style></head>
<body><main>
${parts.join('\n')}
</main></body></html>
`
}
