// Small inline-SVG charts for the HTML report: a grouped bar chart with a log-scale axis (wait histograms) and
// a bucketed timeline of step areas. Pure string building, no dependencies; tooltips are SVG <title> elements.

export function esc(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')
}

const f1 = (n: number): string => (Math.round(n * 10) / 10).toString()

/** "Nice" tick step (1, 2, 5 × 10^k) giving about `target` ticks over `span`. */
export function niceStep(span: number, target: number): number {
  if (!(span > 0)) return 1
  const raw = span / Math.max(1, target)
  const p = 10 ** Math.floor(Math.log10(raw))
  const m = raw / p
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p
}

export interface BarSeries {
  label: string
  color: string
  values: number[]
}

/** Grouped vertical bars: one group per category, one bar per series; y on a log10 scale of (count) with 0 at base. */
export function groupedBarsSvg(o: {
  width: number
  height: number
  categories: string[]
  series: BarSeries[]
  yLabel: string
  xLabel: string
  title: string
}): string {
  const m = {l: 62, r: 12, t: 26, b: 46}
  const w = o.width - m.l - m.r
  const h = o.height - m.t - m.b
  const max = Math.max(1, ...o.series.flatMap((s) => s.values))
  const decades = Math.max(1, Math.ceil(Math.log10(max + 1)))
  // log10 axis with half a decade below 1, so a bar of one fault is still visible
  const pos = (v: number): number => (v <= 0 ? 0 : (Math.log10(v) + 0.5) / (decades + 0.5))
  const y = (v: number): number => m.t + h - pos(v) * h
  const out: string[] = [
    `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="${o.width}" height="${o.height}" viewBox="0 0 ${o.width} ${o.height}" role="img" aria-label="${esc(o.title)}">`,
  ]
  out.push(`<text x="${m.l}" y="16" class="ct">${esc(o.title)}</text>`)
  for (let d = 0; d <= decades; d++) {
    const yy = f1(y(10 ** d))
    out.push(
      `<line x1="${m.l}" x2="${m.l + w}" y1="${yy}" y2="${yy}" class="grid"/><text x="${m.l - 6}" y="${yy}" class="yt">${d === 0 ? '1' : `10${d === 1 ? '' : sup(d)}`}</text>`,
    )
  }
  const gw = w / Math.max(1, o.categories.length)
  const bw = Math.max(1, (gw * 0.8) / Math.max(1, o.series.length))
  o.categories.forEach((c, i) => {
    const gx = m.l + i * gw + gw * 0.1
    o.series.forEach((s, j) => {
      const v = s.values[i] ?? 0
      if (v <= 0) return
      const top = y(v)
      out.push(
        `<rect x="${f1(gx + j * bw)}" y="${f1(top)}" width="${f1(bw)}" height="${f1(m.t + h - top)}" fill="${s.color}"><title>${esc(`${s.label}, ${c}: ${v.toLocaleString('en-US')} faults`)}</title></rect>`,
      )
    })
    out.push(`<text x="${f1(m.l + i * gw + gw / 2)}" y="${m.t + h + 14}" class="xt">${esc(c)}</text>`)
  })
  out.push(`<line x1="${m.l}" x2="${m.l + w}" y1="${m.t + h}" y2="${m.t + h}" class="axis"/>`)
  out.push(`<text x="${m.l + w / 2}" y="${o.height - 6}" class="xl">${esc(o.xLabel)}</text>`)
  out.push(`<text transform="translate(14 ${m.t + h / 2}) rotate(-90)" class="xl">${esc(o.yLabel)}</text>`)
  out.push('</svg>')
  return out.join('')
}

function sup(n: number): string {
  const d = '⁰¹²³⁴⁵⁶⁷⁸⁹'
  return String(n)
    .split('')
    .map((c) => d[Number(c)])
    .join('')
}

export interface StepSeries {
  label: string
  color: string
  values: ArrayLike<number>
}

export interface TimelineLane {
  title: string
  /** stacked step areas, bottom first */
  series: StepSeries[]
  /** top of the y axis (shared between runs so lanes compare) */
  yMax: number
  yUnit: string
}

/** Step path of a series over `n` buckets, stacked on `base` (values already in data units). */
function stepPath(
  values: ArrayLike<number>,
  base: ArrayLike<number>,
  x0: number,
  bw: number,
  y: (v: number) => number,
): string {
  const n = values.length
  const pts: string[] = []
  let any = false
  for (let i = 0; i < n; i++) {
    const top = (base[i] ?? 0) + (values[i] ?? 0)
    if ((values[i] ?? 0) > 0) any = true
    pts.push(`${f1(x0 + i * bw)},${f1(y(top))}`, `${f1(x0 + (i + 1) * bw)},${f1(y(top))}`)
  }
  if (!any) return ''
  const back: string[] = []
  for (let i = n - 1; i >= 0; i--)
    back.push(`${f1(x0 + (i + 1) * bw)},${f1(y(base[i] ?? 0))}`, `${f1(x0 + i * bw)},${f1(y(base[i] ?? 0))}`)
  return `M${pts.join('L')}L${back.join('L')}Z`
}

/** A time axis (ms) with one band of lanes; each lane stacks its series as step areas. */
export function timelineSvg(o: {
  width: number
  spanNs: number
  bucketNs: number
  lanes: TimelineLane[]
  title: string
  laneHeight?: number
}): string {
  const m = {l: 150, r: 12, t: 22, b: 30}
  const lh = o.laneHeight ?? 46
  const gap = 8
  const w = o.width - m.l - m.r
  const height = m.t + o.lanes.length * (lh + gap) + m.b
  const n = Math.max(1, ...o.lanes.flatMap((l) => l.series.map((s) => s.values.length)))
  const span = Math.max(o.spanNs, n * o.bucketNs)
  const bw = (w * o.bucketNs) / span
  const out: string[] = [
    `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="${o.width}" height="${height}" viewBox="0 0 ${o.width} ${height}" role="img" aria-label="${esc(o.title)}">`,
  ]
  out.push(`<text x="${m.l}" y="14" class="ct">${esc(o.title)}</text>`)
  const spanMs = span / 1e6
  const step = niceStep(spanMs, 8)
  const bottom = m.t + o.lanes.length * (lh + gap)
  for (let t = 0; t <= spanMs + 1e-9; t += step) {
    const x = f1(m.l + (t / spanMs) * w)
    out.push(
      `<line x1="${x}" x2="${x}" y1="${m.t}" y2="${bottom}" class="grid"/><text x="${x}" y="${bottom + 13}" class="xt">${Number(t.toPrecision(6))}</text>`,
    )
  }
  out.push(
    `<text x="${m.l + w}" y="${height - 3}" class="xr">ms since the trace's first event (bucket ${fmtNs(o.bucketNs)})</text>`,
  )
  o.lanes.forEach((lane, i) => {
    const top = m.t + i * (lh + gap)
    const y = (v: number): number => top + lh - (Math.min(v, lane.yMax) / (lane.yMax || 1)) * lh
    out.push(`<rect x="${m.l}" y="${top}" width="${w}" height="${lh}" class="lane"/>`)
    out.push(
      `<text x="${m.l - 6}" y="${top + lh / 2 - 2}" class="lt">${esc(lane.title)}</text><text x="${m.l - 6}" y="${top + lh / 2 + 10}" class="lu">max ${esc(fmtNum(lane.yMax))} ${esc(lane.yUnit)}</text>`,
    )
    const base = new Float64Array(n)
    for (const s of lane.series) {
      const d = stepPath(s.values, base, m.l, bw, y)
      if (d !== '') out.push(`<path d="${d}" fill="${s.color}" class="area"><title>${esc(s.label)}</title></path>`)
      for (let k = 0; k < n; k++) base[k]! += s.values[k] ?? 0
    }
  })
  out.push('</svg>')
  return out.join('')
}

function fmtNum(v: number): string {
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : Number(v.toPrecision(3)).toString()
}

function fmtNs(ns: number): string {
  return ns >= 1e6
    ? `${Number((ns / 1e6).toPrecision(3))} ms`
    : ns >= 1e3
      ? `${Number((ns / 1e3).toPrecision(3))} µs`
      : `${ns} ns`
}
