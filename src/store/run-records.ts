// A replay's outcomes on their way from the simulating thread (runs.ts) to the result writer thread
// (runs-worker.ts): records of numbers in shared Float64 slots handed over through a SlotRing. Every value is a JS
// number already, so a Float64 carries it exactly. A string is sent once, as a STRING record of its UTF-16 code
// units, and referred to afterwards by its index (the order strings were sent).
import type {MessagePort} from 'node:worker_threads'
import type {SerializedError} from '../base/worker-errors.js'

export const SLOTS = 4
/** Float64s per slot (512 KiB); the first holds how many of them are filled. */
export const SLOT_LEN = 1 << 16

/** Field offsets by name from a list in wire order: the writer (runs.ts) and the reader (run-rows.ts) both address
 * fields by these names, so the order is written once and a field cannot be swapped on one side only. Built one
 * property at a time: Object.fromEntries of more than ~17 entries gives a dictionary-mode object, whose every
 * field lookup is a hash probe (it cost the simulating thread ~0.5 s of node_gc_long's 2.4 M FAULT records). */
function layout<const N extends readonly string[]>(
  names: N,
): Readonly<Record<N[number], number>> & {readonly length: number} {
  const o: Record<string, number> = {}
  names.forEach((n, i) => (o[n] = i))
  o.length = names.length
  return Object.freeze(o) as Readonly<Record<N[number], number>> & {readonly length: number}
}

// Record kinds (the first Float64 of a record, then the run's index, then the fields of its layout):
export const FAULT = 0
export const FAULT_FIELDS = layout([
  'eventId',
  'tid',
  'tgid',
  't',
  'flags',
  'reason',
  'waitNs',
  'latencyNs',
  'startNs',
  'endNs',
  'vmaStart',
  'vmaEnd',
  'acquisitions',
  'writeAcquisitions',
  'waitStartNs',
  'holdNs',
  'waitedTid',
  'waitedOp',
  'waitedRef',
])
export const FAULT_LEN = 2 + FAULT_FIELDS.length
export const OP = 1
export const OP_FIELDS = layout([
  'eventId',
  'tid',
  'tgid',
  'label',
  'startNs',
  'endNs',
  'waitNs',
  'holdNs',
  'writeHoldNs',
  'vmaWaitNs',
  'waitStartNs',
  'acquisitions',
  'writeAcquisitions',
  'flags',
  'waitedTid',
  'waitedOp',
  'waitedRef',
])
export const OP_LEN = 2 + OP_FIELDS.length
/** The three fields a FAULT or OP record names the operation it waited for with (when its flags have WAITED). */
export interface WaitedFields {
  readonly waitedTid: number
  readonly waitedOp: number
  readonly waitedRef: number
}
/** length, then the code units */
export const STRING = 2
/** then `counters` × (name, value): the kernel's counters */
export const FINISH = 3
export const FINISH_FIELDS = layout(['ops', 'simEndNs', 'counters'])
/** (no fields) all runs finished: commit */
export const COMMIT = 4
/** One released file of a run whose policy defers VMA fputs (kernel/files.ts FileRelease); -1 = NULL. */
export const FILE_RELEASE = 5
export const FILE_RELEASE_FIELDS = layout([
  'id',
  'path',
  'tgid',
  'fd',
  'closedNs',
  'undeferredNs',
  'releasedNs',
  'deferredFputs',
])
export const FILE_RELEASE_LEN = 2 + FILE_RELEASE_FIELDS.length
/** FILE_RELEASE fd values, by index */
export const FD_ENDS = ['none', 'close', 'exit'] as const

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
  /** Whether faults may be stored as spans: only when each thread's faults complete in event-id order, which a
   * trace replayed in file order (monotonic timestamps) guarantees; otherwise every fault gets a row. */
  spans: boolean
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
  {type: 'ready'; runIds: number[]} | {type: 'done'; digests: string[]} | {type: 'error'; error: SerializedError}
