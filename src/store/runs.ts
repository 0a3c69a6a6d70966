// Storing a replay's runs from the simulating thread: ResultWriter starts the result writer thread
// (runs-worker.ts), which owns the write connection and the one transaction all runs go into, and each run's
// RunWriter encodes what the engine reports as numbers into shared slots (run-records.ts) for it. That thread builds
// the rows and the digests (run-rows.ts), so this one only simulates; it blocks only when the writer is SLOTS slots
// behind.
import {MessageChannel, receiveMessageOnPort, Worker, type MessagePort} from 'node:worker_threads'
import {nearestRank, type FaultOutcome, type FileTable, type OpRecord, type Kernel} from '../kernel/index.js'
import type {FaultOp, Op} from '../model/ops.js'
import type {Recorder} from '../results/recorder.js'
import {
  COMMIT,
  FAULT,
  FAULT_FIELDS as F,
  FAULT_LEN,
  FD_ENDS,
  FILE_RELEASE,
  FILE_RELEASE_FIELDS as R,
  FILE_RELEASE_LEN,
  FINISH,
  FINISH_FIELDS,
  HAS_VMA,
  INFERRED_VMA,
  OP,
  OP_FIELDS as P,
  OP_LEN,
  READY,
  SEGV,
  SLOT_LEN,
  SLOTS,
  STARTING,
  STRING,
  TOOK_MMAP_LOCK,
  TRYLOCK_FAILED,
  VMA_LOCK,
  WAITED,
  type RunMeta,
  type WriterInput,
  type WriterMessage,
} from './run-records.js'
import {SlotRing, StoppedError} from './slots.js'
import {revive} from '../base/worker-errors.js'

export type {RunMeta} from './run-records.js'

/** How long the writer thread may take to open the database and begin (it waits up to the busy timeout for the lock). */
const START_MS = 30_000
/** How long an abandoned writer gets to roll back before it is terminated. */
const ROLLBACK_MS = 10_000

export class ResultWriter {
  /** One per RunMeta given, in order. */
  readonly runs: RunWriter[]
  /** The slot being filled, and how many of its Float64s are (RunWriter writes records straight into it). */
  buf: Float64Array
  n = 1
  private cur = 0
  private readonly bufs: Float64Array[]
  private readonly ring: SlotRing
  private readonly state: Int32Array
  private readonly port: MessagePort
  private readonly worker: Worker
  private readonly strings = new Map<string, number>()

  /** Starts the writer thread and waits until its transaction is open and the runs rows are in (or it failed). */
  constructor(dbPath: string, metas: RunMeta[], lost: [number, number][], spans: boolean) {
    const slots = Array.from({length: SLOTS}, () => new SharedArrayBuffer(SLOT_LEN * 8))
    this.bufs = slots.map((s) => new Float64Array(s))
    this.buf = this.bufs[0]!
    const ctl = SlotRing.allocate(SLOTS)
    this.ring = new SlotRing(ctl)
    const state = new SharedArrayBuffer(4)
    this.state = new Int32Array(state)
    const {port1, port2} = new MessageChannel()
    this.port = port1
    const input: WriterInput = {dbPath, runs: metas, lost, spans, slots, ctl, state, port: port2}
    // The writer's garbage is short-lived (digest lines, bind arrays): a small young generation keeps peak RSS ~40 MB
    // lower (node_gc_long, 3 policies: 260–280 → 228 MB) at no CPU cost that measured.
    const resourceLimits = {maxYoungGenerationSizeMb: 8}
    this.worker = new Worker(new URL('./runs-worker.js', import.meta.url), {
      workerData: input,
      transferList: [port2],
      stdout: false,
      stderr: false,
      resourceLimits,
    })
    // Its failures come through the port, read while this thread waits; the 'error' event can only fire later.
    this.worker.on('error', () => {})
    if (!this.waitState(STARTING, START_MS)) {
      void this.worker.terminate()
      throw new Error(`the result writer thread did not start within ${START_MS / 1000} s`)
    }
    const m = this.message()
    if (m.type !== 'ready') throw new Error(`internal error: result writer sent ${m.type} before ready`)
    this.runs = metas.map((_, i) => new RunWriter(this, i, m.runIds[i]!))
  }

  /** Index of `s` in the writer's string table, sending it first if new. */
  str(s: string): number {
    let id = this.strings.get(s)
    if (id === undefined) {
      if (s.length + 2 >= SLOT_LEN)
        throw new Error(`internal error: string of ${s.length} characters for the result writer`)
      id = this.strings.size
      this.strings.set(s, id)
      let o = this.reserve(s.length + 2)
      const b = this.buf
      b[o++] = STRING
      b[o++] = s.length
      for (let i = 0; i < s.length; i++) b[o++] = s.charCodeAt(i)
    }
    return id
  }

  /** Makes room for `len` Float64s in `buf` (handing the current slot over if it is full); returns where they go. */
  reserve(len: number): number {
    if (this.n + len > SLOT_LEN) {
      this.hand()
      try {
        this.ring.claim(this.cur)
      } catch (error) {
        throw error instanceof StoppedError ? this.failure() : error
      }
    }
    const o = this.n
    this.n += len
    return o
  }

  private hand(): void {
    this.buf[0] = this.n
    this.ring.publish(this.cur)
    this.cur = (this.cur + 1) % SLOTS
    this.buf = this.bufs[this.cur]!
    this.n = 1
  }

  /** Commits every run; returns their digests in order. Call once all runs have finished. */
  commit(): string[] {
    const o = this.reserve(1)
    this.buf[o] = COMMIT
    this.hand()
    this.waitState(READY, Infinity)
    const m = this.message()
    if (m.type !== 'done') throw new Error(`internal error: result writer sent ${m.type} at commit`)
    return m.digests
  }

  /** Stops the writer, which rolls the transaction back; waits until it has (or gives up on it). */
  abort(): void {
    this.ring.stop()
    if (!this.waitState(READY, ROLLBACK_MS)) void this.worker.terminate()
  }

  /** The writer stopped the ring: it failed, and has rolled back. */
  private failure(): Error {
    this.waitState(READY, ROLLBACK_MS)
    const m = receiveMessageOnPort(this.port)?.message as WriterMessage | undefined
    return m?.type === 'error' ? revive(m.error) : new Error('the result writer thread stopped without reporting why')
  }

  /** The writer's next message, or its error thrown. */
  private message(): WriterMessage {
    const m = receiveMessageOnPort(this.port)?.message as WriterMessage | undefined
    if (m === undefined) throw new Error('internal error: the result writer changed state without a message')
    if (m.type === 'error') throw revive(m.error)
    return m
  }

  /** Waits while the writer's state is `from`; false if it still is after `ms`. */
  private waitState(from: number, ms: number): boolean {
    const end = Date.now() + ms
    for (;;) {
      const s = Atomics.load(this.state, 0)
      if (s !== from) return true
      const left = end - Date.now()
      if (left <= 0) return false
      Atomics.wait(this.state, 0, s, Math.min(left, 1000))
    }
  }
}

/** The engine's Recorder for one run: what it reports, as numbers for the writer thread. */
export class RunWriter implements Recorder {
  constructor(
    private readonly out: ResultWriter,
    private readonly index: number,
    readonly runId: number,
  ) {}

  /** Reserves a record of `len` Float64s, writes its kind and run; returns where its fields start. */
  private begin(kind: number, len: number): number {
    const w = this.out
    const o = w.reserve(len)
    w.buf[o] = kind
    w.buf[o + 1] = this.index
    return o + 2
  }

  fault(op: FaultOp, out: FaultOutcome, inferredVma: boolean): void {
    const w = this.out
    const reason = w.str(out.reason)
    const by = out.waitedFor
    const byOp = by === null ? 0 : w.str(by.op)
    const vma = out.vma
    let flags =
      (out.path === 'vma_lock' ? VMA_LOCK : 0) |
      (out.tookMmapLock ? TOOK_MMAP_LOCK : 0) |
      (inferredVma ? INFERRED_VMA : 0)
    flags |=
      (out.trylockFailed ? TRYLOCK_FAILED : 0) |
      (out.segv ? SEGV : 0) |
      (vma !== null ? HAS_VMA : 0) |
      (by !== null ? WAITED : 0)
    const f = this.begin(FAULT, FAULT_LEN)
    const b = w.buf
    b[f + F.eventId] = op.eventId
    b[f + F.tid] = op.tid
    b[f + F.tgid] = op.tgid
    b[f + F.t] = op.t
    b[f + F.flags] = flags
    b[f + F.reason] = reason
    b[f + F.waitNs] = out.waitNs
    b[f + F.latencyNs] = out.latencyNs
    b[f + F.startNs] = out.startNs
    b[f + F.endNs] = out.endNs
    b[f + F.vmaStart] = vma === null ? 0 : vma.start
    b[f + F.vmaEnd] = vma === null ? 0 : vma.end
    b[f + F.acquisitions] = out.acquisitions
    b[f + F.writeAcquisitions] = out.writeAcquisitions
    b[f + F.waitStartNs] = out.waitStartNs
    b[f + F.holdNs] = out.holdNs
    b[f + F.waitedTid] = by === null ? 0 : by.tid
    b[f + F.waitedOp] = byOp
    b[f + F.waitedRef] = by === null ? 0 : by.ref
  }

  op(op: Op, label: string, rec: OpRecord<unknown>): void {
    const w = this.out
    const a = rec.acct
    const lab = w.str(label)
    const by = a.waitedFor
    const byOp = by === null ? 0 : w.str(by.op)
    const f = this.begin(OP, OP_LEN)
    const b = w.buf
    b[f + P.eventId] = op.eventId
    b[f + P.tid] = op.tid
    b[f + P.tgid] = op.tgid
    b[f + P.label] = lab
    b[f + P.startNs] = rec.startNs
    b[f + P.endNs] = rec.endNs
    b[f + P.waitNs] = a.waitNs
    b[f + P.holdNs] = a.holdNs
    b[f + P.writeHoldNs] = a.writeHoldNs
    b[f + P.vmaWaitNs] = a.vmaWaitNs
    b[f + P.waitStartNs] = a.waitStartNs
    b[f + P.acquisitions] = a.acquisitions
    b[f + P.writeAcquisitions] = a.writeAcquisitions
    b[f + P.flags] = by === null ? 0 : WAITED
    b[f + P.waitedTid] = by === null ? 0 : by.tid
    b[f + P.waitedOp] = byOp
    b[f + P.waitedRef] = by === null ? 0 : by.ref
  }

  /** Sends the file table's releases (rows of file_releases); returns its counters (only such runs have them). */
  private fileReleases(files: FileTable): [string, number][] {
    const w = this.out
    let late = 0
    let lastRefLate = 0
    let maxBusy = 0
    for (const r of files.releases) {
      const id = w.str(r.id)
      const path = r.path === null ? -1 : w.str(r.path)
      const f = this.begin(FILE_RELEASE, FILE_RELEASE_LEN)
      const b = w.buf
      b[f + R.id] = id
      b[f + R.path] = path
      b[f + R.tgid] = r.tgid ?? -1
      b[f + R.fd] = FD_ENDS.indexOf(r.fd)
      b[f + R.closedNs] = r.closedNs ?? -1
      b[f + R.undeferredNs] = r.undeferredNs
      b[f + R.releasedNs] = r.releasedNs
      b[f + R.deferredFputs] = r.deferredFputs
      const busy = r.releasedNs - r.undeferredNs
      if (busy > 0) {
        late++
        if (r.fd !== 'none') lastRefLate++
        if (busy > maxBusy) maxBusy = busy
      }
    }
    const d = Float64Array.from(files.delays).sort()
    const s = files.stats
    return [
      ['fput.deferred', s.deferred],
      ['fput.completed', s.completed],
      ['fput.delay_p50_ns', nearestRank(d, 50)],
      ['fput.delay_p99_ns', nearestRank(d, 99)],
      ['fput.delay_max_ns', d.length === 0 ? 0 : d[d.length - 1]!],
      ['fput.peak_files_waiting', s.peakFilesWaiting],
      ['fput.peak_bytes_waiting', s.peakBytesWaiting],
      ['files.released', files.releases.length],
      ['files.late', late],
      ['files.last_ref_late', lastRefLate],
      ['files.max_busy_ns', maxBusy],
    ]
  }

  /** Sends the run's end with the kernel's counters (vma_lock_*, VMA objects, RCU); the digest comes from commit. */
  finish(k: Kernel, ops: number, simEndNs: number): void {
    const v = k.stats.vmaLock
    const counters: [string, number][] = [
      ['vma_lock_success', v.success],
      ['vma_lock_abort', v.abort],
      ['vma_lock_retry', v.retry],
      ['vma_lock_miss', v.miss],
      ['vmas_allocated', k.stats.vmasAllocated],
      ['vmas_reused', k.stats.vmasReused],
      ['anon_vmas', k.stats.anonVmas],
      ...Object.entries(k.rcu.stats).map(([name, value]): [string, number] => [`rcu.${name}`, value]),
    ]
    if (k.files !== null) counters.push(...this.fileReleases(k.files))
    const w = this.out
    const names = counters.map(([name]) => w.str(name))
    const f = this.begin(FINISH, 2 + FINISH_FIELDS.length + 2 * counters.length)
    const b = w.buf
    b[f + FINISH_FIELDS.ops] = ops
    b[f + FINISH_FIELDS.simEndNs] = simEndNs
    b[f + FINISH_FIELDS.counters] = counters.length
    counters.forEach(([, value], i) => {
      b[f + FINISH_FIELDS.length + 2 * i] = names[i]!
      b[f + FINISH_FIELDS.length + 2 * i + 1] = value
    })
  }
}
