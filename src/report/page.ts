// Everything the HTML report shows, gathered from the query layer: contention sections, the comparison, wait
// histograms and mmap_lock timelines per run. html.ts renders it.
import type {Db} from '../store/db.js'
import type {RunRef} from './runs.js'
import {contentionReport} from './contention.js'
import type {ContentionReport} from './sections.js'
import {compareRuns, type Comparison} from './compare.js'
import {faultWaitHistogram, lockTimeline, WAIT_EDGES_NS, type Histogram, type LockTimeline} from './metrics.js'

export interface PageData {
  title: string
  toolVersion: string
  runs: RunRef[]
  contention: ContentionReport
  comparison: Comparison | null
  edgesNs: readonly number[]
  histograms: Histogram[]
  spanNs: number
  timelines: LockTimeline[]
}

export interface PageOptions {
  top: number
  /** timeline buckets across the longest run */
  buckets: number
  title?: string
  baseline?: string
  toolVersion: string
}

export function buildPage(db: Db, runs: RunRef[], o: PageOptions): PageData {
  const spanNs = Math.max(1, ...runs.map((r) => r.simEndNs))
  const contention = contentionReport(db, runs, o.top)
  const t = contention.traces
  return {
    title: o.title ?? `vmareplay: ${t.map((x) => x.path.split('/').pop()).join(', ')}`,
    toolVersion: o.toolVersion,
    runs,
    contention,
    comparison: runs.length >= 2 ? compareRuns(db, runs, {baseline: o.baseline, top: o.top, pre: contention}) : null,
    edgesNs: WAIT_EDGES_NS,
    histograms: runs.map((r) => faultWaitHistogram(db, r.runId)),
    spanNs,
    timelines: runs.map((r) => lockTimeline(db, r.runId, spanNs, o.buckets)),
  }
}
