// Replay throughput per policy on an ingested trace: ops/s (trace events/s) for each policy run alone, peak RSS.
import {openDb} from '../src/store/db.js'
import {policyByName} from '../src/replay/policies.js'
import {replayTrace} from '../src/replay/run.js'
import {PeakRss} from './rss.js'

export interface ReplayBench {
  policy: string
  events: number
  ops: number
  seconds: number
  eventsPerSec: number
  peakRssMb: number
}

export function benchReplay(dbPath: string, traceId: number, events: number, policies: string[]): ReplayBench[] {
  return policies.map((name) => {
    const db = openDb(dbPath)
    const rss = new PeakRss()
    const start = process.hrtime.bigint()
    const [run] = replayTrace(dbPath, db, traceId, [policyByName(name)], {mode: 'faithful', costs: {}, toolVersion: 'bench', onProgress: () => rss.sample()})
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    db.close()
    return {policy: name, events, ops: run!.ops, seconds, eventsPerSec: events / seconds, peakRssMb: rss.stop()}
  })
}
