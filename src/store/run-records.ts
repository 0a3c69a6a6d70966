// A replay's outcomes on their way from the simulating thread (runs.ts) to the result writer thread
// (runs-worker.ts): records of numbers in shared Float64 slots handed over through a SlotRing. Every value is a JS
// number already, so a Float64 carries it exactly. A string is sent once, as a STRING record of its UTF-16 code
// units, and referred to afterwards by its index (the order strings were sent).
import type {MessagePort} from 'node:worker_threads'
import type {SerializedError} from '../base/worker-errors.js'

export const SLOTS = 4
/** Float64s per slot (512 KiB); the first holds how many of them are filled. */
export const SLOT_LEN = 1 << 16

// Record kinds (the first Float64 of a record), each followed by its fields in this order:
/** run, eventId, tid, tgid, t, flags, reason, waitNs, latencyNs, startNs, endNs, vma start, vma end,
 * acquisitions, writeAcquisitions, waitStartNs, holdNs, waitedFor tid, op, ref */
export const FAULT = 0
export const FAULT_LEN = 21
/** run, eventId, tid, tgid, label, startNs, endNs, waitNs, holdNs, writeHoldNs, vmaWaitNs, waitStartNs,
 * acquisitions, writeAcquisitions, flags, waitedFor tid, op, ref */
export const OP = 1
export const OP_LEN = 19
/** length, then the code units */
export const STRING = 2
/** run, ops, simEndNs, n, then n × (name, value): the kernel's counters */
export const FINISH = 3
/** (no fields) all runs finished: commit */
export const COMMIT = 4

// FAULT and OP flags
export const VMA_LOCK = 1
export const TOOK_MMAP_LOCK = 2
export const INFERRED_VMA = 4
export const TRYLOCK_FAILED = 8
export const SEGV = 16
export const HAS_VMA = 32
export const WAITED = 64

/** What a run stores besides its rows. */
export interface RunMeta {
  traceId: number
  policy: string
  policyJson: string
  mode: string
  optionsJson: string
  toolVersion: string
}

export interface WriterInput {
  dbPath: string
  runs: RunMeta[]
  /** Lost-event windows, relative ns, sorted. */
  lost: [number, number][]
  slots: SharedArrayBuffer[]
  ctl: SharedArrayBuffer
  /** One Int32: STARTING, then READY once the transaction is open and the runs rows are in, CLOSED at the end. */
  state: SharedArrayBuffer
  port: MessagePort
}

export const STARTING = 0
export const READY = 1
export const CLOSED = 2

export type WriterMessage =
  | {type: 'ready'; runIds: number[]}
  | {type: 'done'; digests: string[]}
  | {type: 'error'; error: SerializedError}
