// The result writer thread of a replay (started by runs.ts's ResultWriter): opens its own write connection, begins
// the one transaction every run of the replay goes into, inserts the runs rows, then turns the records the
// simulating thread sends (run-records.ts) into rows and digests (run-rows.ts) until COMMIT. On any error, or when
// the simulating thread stops the ring, it rolls back, so a failed replay leaves the database as it was.
import {workerData} from 'node:worker_threads'
import {openDb, type Db} from './db.js'
import {
  CLOSED,
  COMMIT,
  FAULT,
  FAULT_LEN,
  FILE_RELEASE,
  FILE_RELEASE_LEN,
  FINISH,
  FINISH_FIELDS,
  OP,
  OP_LEN,
  READY,
  SLOTS,
  STRING,
  type WriterInput,
  type WriterMessage,
} from './run-records.js'
import {LostWindows, RunRows} from './run-rows.js'
import {SlotRing, StoppedError} from './slots.js'
import {serialize} from '../base/worker-errors.js'

/** Consumes slots until the COMMIT record; returns each run's digest. */
function consume(ring: SlotRing, bufs: Float64Array[], runs: RunRows[]): string[] {
  const strings: string[] = []
  const digests: string[] = []
  for (let i = 0; ; i = (i + 1) % SLOTS) {
    ring.take(i)
    const b = bufs[i]!
    const end = b[0]!
    let o = 1
    while (o < end) {
      const kind = b[o]!
      switch (kind) {
        case FAULT:
          runs[b[o + 1]!]!.fault(b, o + 2, strings)
          o += FAULT_LEN
          break
        case OP:
          runs[b[o + 1]!]!.op(b, o + 2, strings)
          o += OP_LEN
          break
        case FILE_RELEASE:
          runs[b[o + 1]!]!.fileRelease(b, o + 2, strings)
          o += FILE_RELEASE_LEN
          break
        case STRING: {
          const len = b[o + 1]!
          strings.push(String.fromCharCode(...b.subarray(o + 2, o + 2 + len)))
          o += 2 + len
          break
        }
        case FINISH: {
          const run = b[o + 1]!
          const f = o + 2
          const n = b[f + FINISH_FIELDS.counters]!
          const first = f + FINISH_FIELDS.length
          const counters: [string, number][] = []
          for (let j = first; j < first + 2 * n; j += 2) counters.push([strings[b[j]!]!, b[j + 1]!])
          digests[run] = runs[run]!.finish(b[f + FINISH_FIELDS.ops]!, b[f + FINISH_FIELDS.simEndNs]!, counters, strings)
          o = first + 2 * n
          break
        }
        case COMMIT:
          ring.release(i)
          return digests
        default:
          throw new Error(`internal error: result record kind ${kind} at ${o}`)
      }
    }
    ring.release(i)
  }
}

function main(input: WriterInput): void {
  const post = (m: WriterMessage): void => input.port.postMessage(m)
  const state = new Int32Array(input.state)
  const setState = (s: number): void => {
    Atomics.store(state, 0, s)
    Atomics.notify(state, 0)
  }
  const ring = new SlotRing(input.ctl)
  let db: Db | undefined
  try {
    db = openDb(input.dbPath)
    // Every row written references the runs rows this transaction inserts first, or a reason id it looked up or
    // inserted itself: per-row foreign-key lookups would prove nothing (this connection is the thread's own).
    db.pragma('foreign_keys = OFF')
    db.exec('BEGIN IMMEDIATE')
    const runs = input.runs.map((m) => new RunRows(db!, m, new LostWindows(input.lost), input.spans))
    post({type: 'ready', runIds: runs.map((r) => r.runId)})
    setState(READY)
    const digests = consume(
      ring,
      input.slots.map((s) => new Float64Array(s)),
      runs,
    )
    db.exec('COMMIT')
    post({type: 'done', digests})
  } catch (error) {
    try {
      if (db?.inTransaction) db.exec('ROLLBACK')
    } finally {
      if (!(error instanceof StoppedError)) {
        post({type: 'error', error: serialize(error)})
        ring.stop()
      }
    }
  } finally {
    try {
      db?.close()
    } finally {
      setState(CLOSED)
    }
  }
}

main(workerData as WriterInput)
