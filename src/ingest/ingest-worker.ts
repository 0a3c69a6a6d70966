// The parse half of an ingest, on its own thread: reads and parses the trace, runs the EventTracker, and hands rows
// to the main thread (which holds the database transaction) through the shared slots of ingest-slots.ts. Also hashes the
// file when the main thread could not rule out a duplicate cheaply (see loadTrace).
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {parentPort, workerData} from 'node:worker_threads'
import type {TraceFormat} from '../model/events.js'
import {parseTrace, type ParseStats} from '../parse/detect.js'
import {SlotWriter, type BatchMessage, type SlotBuffers} from './ingest-slots.js'
import {EventTracker, type TrackedTrace} from './track.js'
import {serialize, type SerializedError} from '../base/worker-errors.js'

export interface WorkerInput {
  path: string
  format?: TraceFormat
  strict: boolean
  firstId: number
  hash: boolean
  progress: boolean
  slots: SlotBuffers[]
  ctl: SharedArrayBuffer
}

export type WorkerMessage =
  | BatchMessage
  | {type: 'progress'; done: number; total: number}
  | {type: 'done'; stats: ParseStats; tracked: TrackedTrace; sha256: string | null}
  | {type: 'error'; error: SerializedError}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, {highWaterMark: 1 << 20})) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

async function run(input: WorkerInput, port: NonNullable<typeof parentPort>): Promise<void> {
  const post = (m: WorkerMessage): void => port.postMessage(m)
  // the hash reads the file alongside the parse (its chunks interleave with the parser's on this thread)
  const hashing = input.hash ? sha256File(input.path) : Promise.resolve(null)
  hashing.catch(() => {}) // reported through the await below, if the parse itself succeeds
  const out = new SlotWriter(input.slots, input.ctl, post)
  const tracker = new EventTracker(out, input.firstId, input.strict)
  const stats = await parseTrace(input.path, tracker, {
    format: input.format,
    onProgress: input.progress ? (done, total) => post({type: 'progress', done, total}) : undefined,
  })
  const tracked = tracker.end()
  out.flush()
  post({type: 'done', stats, tracked, sha256: await hashing})
}

const port = parentPort
if (port !== null) {
  run(workerData as WorkerInput, port).catch((err: unknown) =>
    port.postMessage({type: 'error', error: serialize(err)} satisfies WorkerMessage),
  )
}
