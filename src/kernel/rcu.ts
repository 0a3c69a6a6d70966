// The RCU clock (kernel/rcu/tree.c, reduced to what the mm model needs): read-side critical sections per
// simulated thread, call_rcu() callbacks, and grace periods. A grace period starts when callbacks wait and none
// is running; it ends once (a) every reader that was inside when it began has left and (b) at least
// `minGracePeriodNs` has passed. Callbacks queued during a grace period wait for the next one, as with the
// kernel's segmented callback list. Default length: 10 ms, after Joel Fernandes' "rcu: Reduce synchronize_rcu() latency by
// reporting GP kthread's CPU QS early" (2026-01-01): synchronize_rcu mean 9.75 ms, min ~6 ms on an idle 32-CPU box; the suggested clock is 6-30 ms).
// Optional CONFIG_RCU_LAZY batching (kernel/rcu/tree_nocb.h, 6.2+): a lazy call_rcu() does not start a grace period;
// lazy callbacks wait until the oldest has waited `lazyNs` (jiffies_lazy_flush, 10 s by default) or a non-lazy
// call_rcu() (call_rcu_hurry) arrives, and then go through a normal grace period.
import {Timer, type Scheduler} from '../sim/scheduler.js'

/** Default minimum grace period, ns. */
export const DEFAULT_RCU_GRACE_PERIOD_NS = 10_000_000

/** A participant in RCU read-side sections (a simulated thread). */
export interface RcuReader {
  readonly tid: number
  /** @internal nesting depth of rcu_read_lock() */
  rcuDepth: number
  /** @internal grace period this reader holds up (0 = none) */
  rcuHoldsGp: number
  /** @internal index in the active-reader list */
  rcuSlot: number
}

export interface RcuStats {
  gracePeriods: number
  callbacks: number
  /** Sum / max of call_rcu → invocation latency, ns. */
  cbLatencySumNs: number
  cbLatencyMaxNs: number
  /** Bytes / objects currently waiting for a grace period, and their peaks. */
  pendingBytes: number
  pendingObjects: number
  peakPendingBytes: number
  peakPendingObjects: number
  /** Longest grace period observed (held up by readers), ns. */
  maxGracePeriodNs: number
}

export class RcuClock {
  readonly stats: RcuStats = {
    gracePeriods: 0,
    callbacks: 0,
    cbLatencySumNs: 0,
    cbLatencyMaxNs: 0,
    pendingBytes: 0,
    pendingObjects: 0,
    peakPendingBytes: 0,
    peakPendingObjects: 0,
    maxGracePeriodNs: 0,
  }
  private readonly readers: RcuReader[] = []
  // Callbacks as parallel arrays (no per-callback object): `next` waits for a GP to start, `cur` for the running one.
  private next = newBatch()
  private cur = newBatch()
  private gpId = 0 // id of the running grace period, 0 = idle
  private gpStart = 0
  private holdouts = 0 // readers that were inside when the running GP began and have not left
  private minElapsed = false
  private readonly timer = new Timer(() => this.minTimeReached())
  private lazy = newBatch() // lazy callbacks not yet handed to a grace period (RCU_LAZY)
  private readonly lazyTimer = new Timer(() => this.flushLazy())

  constructor(
    private readonly sched: Scheduler,
    readonly minGracePeriodNs = DEFAULT_RCU_GRACE_PERIOD_NS,
    /** RCU_LAZY flush delay, ns (0: off, every callback is non-lazy). */
    readonly lazyNs = 0,
  ) {}

  /** rcu_read_lock() */
  readLock(r: RcuReader): void {
    if (r.rcuDepth++ === 0) {
      r.rcuSlot = this.readers.length
      this.readers.push(r)
    }
  }

  /** rcu_read_unlock() */
  readUnlock(r: RcuReader): void {
    if (r.rcuDepth <= 0) throw new Error(`rcu_read_unlock without lock (tid ${r.tid})`)
    if (--r.rcuDepth > 0) return
    const rs = this.readers
    const last = rs.pop()!
    if (last !== r) {
      rs[r.rcuSlot] = last
      last.rcuSlot = r.rcuSlot
    }
    r.rcuSlot = -1
    if (r.rcuHoldsGp !== 0) {
      r.rcuHoldsGp = 0
      if (--this.holdouts === 0 && this.minElapsed) this.endGracePeriod()
    }
  }

  /** Readers currently inside a read-side critical section. */
  get activeReaders(): number {
    return this.readers.length
  }

  /**
   * call_rcu(): run `fn` (may be null: pure memory accounting) after a grace period; `bytes`/`objects` count as
   * pending. `lazy` (with lazyNs set): batched as RCU_LAZY does; otherwise it also flushes the lazy batch
   * (call_rcu_hurry → rcu_nocb_flush_bypass).
   */
  callRcu(fn: (() => void) | null, bytes: number, objects: number, lazy = false): void {
    const isLazy = lazy && this.lazyNs > 0
    const b = isLazy ? this.lazy : this.next
    if (isLazy && b.fns.length === 0) this.sched.schedule(this.lazyTimer, this.sched.now + this.lazyNs)
    b.fns.push(fn)
    b.times.push(this.sched.now)
    b.bytes.push(bytes)
    b.objects.push(objects)
    const s = this.stats
    s.pendingBytes += bytes
    s.pendingObjects += objects
    if (s.pendingBytes > s.peakPendingBytes) s.peakPendingBytes = s.pendingBytes
    if (s.pendingObjects > s.peakPendingObjects) s.peakPendingObjects = s.pendingObjects
    if (isLazy) return
    if (this.lazy.fns.length > 0) this.flushLazy()
    else if (this.gpId === 0) this.startGracePeriod()
  }

  /** Lazy callbacks now waiting (RCU_LAZY bypass list). */
  get lazyPending(): number {
    return this.lazy.fns.length
  }

  /** The lazy batch joins the callbacks waiting for the next grace period (rcu_nocb_flush_bypass). */
  private flushLazy(): void {
    const l = this.lazy
    if (l.fns.length === 0) return
    this.sched.cancel(this.lazyTimer)
    const n = this.next
    n.fns.push(...l.fns)
    n.times.push(...l.times)
    n.bytes.push(...l.bytes)
    n.objects.push(...l.objects)
    this.lazy = newBatch()
    if (this.gpId === 0) this.startGracePeriod()
  }

  /** Is a grace period running (or callbacks pending)? */
  get busy(): boolean {
    return this.gpId !== 0
  }

  private startGracePeriod(): void {
    const tmp = this.cur
    this.cur = this.next
    this.next = tmp
    this.gpId++
    if (this.gpId === 0) this.gpId = 1
    this.gpStart = this.sched.now
    this.minElapsed = false
    this.holdouts = this.readers.length
    for (const r of this.readers) r.rcuHoldsGp = this.gpId
    this.sched.schedule(this.timer, this.sched.now + this.minGracePeriodNs)
  }

  private minTimeReached(): void {
    this.minElapsed = true
    if (this.holdouts === 0) this.endGracePeriod()
  }

  private endGracePeriod(): void {
    const s = this.stats
    const now = this.sched.now
    s.gracePeriods++
    if (now - this.gpStart > s.maxGracePeriodNs) s.maxGracePeriodNs = now - this.gpStart
    const b = this.cur
    this.gpId = 0
    this.cur = newBatch()
    for (let i = 0; i < b.fns.length; i++) {
      const lat = now - b.times[i]!
      s.callbacks++
      s.cbLatencySumNs += lat
      if (lat > s.cbLatencyMaxNs) s.cbLatencyMaxNs = lat
      s.pendingBytes -= b.bytes[i]!
      s.pendingObjects -= b.objects[i]!
      const fn = b.fns[i]!
      if (fn !== null) fn()
    }
    if (this.next.fns.length > 0 && this.gpId === 0) this.startGracePeriod()
  }
}

interface Batch {
  fns: Array<(() => void) | null>
  times: number[]
  bytes: number[]
  objects: number[]
}

function newBatch(): Batch {
  return {fns: [], times: [], bytes: [], objects: []}
}
