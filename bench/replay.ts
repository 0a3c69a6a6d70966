// Replay throughput per policy on an ingested trace: ops/s (trace events/s) for each policy run alone, peak RSS,
// beside the floor: reading the same operations back from SQLite without simulating or storing anything.
import {openDb, openDbReadOnly} from '../src/store/db.js'
import {policyByName} from '../src/replay/policies.js'
import {replayTrace} from '../src/replay/run.js'
import {readOps, traceInfo} from '../src/replay/stream.js'
import {PeakRss} from './rss.js'

export interface ReplayBench {
  policy: string
  events: number
  ops: number
  seconds: number
  /** CPU seconds of the whole process (simulating thread + result writer), to read beside the wall time */
  cpuSeconds: number
  eventsPerSec: number
  peakRssMb: number
}

export function benchReplay(dbPath: string, traceId: number, events: number, policies: string[]): ReplayBench[] {
  return policies.map((name) => {
    const db = openDb(dbPath)
    const rss = new PeakRss()
    const start = process.hrtime.bigint()
    const cpu = process.cpuUsage()
    const [run] = replayTrace(dbPath, db, traceId, [policyByName(name)], {
      mode: 'faithful',
      costs: {},
      toolVersion: 'bench',
      onProgress: () => rss.sample(),
    })
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    const used = process.cpuUsage(cpu)
    db.close()
    return {
      policy: name,
      events,
      ops: run!.ops,
      seconds,
      cpuSeconds: (used.user + used.system) / 1e6,
      eventsPerSec: events / seconds,
      peakRssMb: rss.stop(),
    }
  })
}

/** The replay's read alone: every operation streamed in time order, nothing simulated or stored. */
export function benchReadOps(
  dbPath: string,
  traceId: number,
  events: number,
): {ops: number; seconds: number; eventsPerSec: number} {
  const db = openDbReadOnly(dbPath)
  const start = process.hrtime.bigint()
  let ops = 0
  readOps(db, traceInfo(db, traceId), () => ops++)
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  db.close()
  return {ops, seconds, eventsPerSec: events / seconds}
}
