// Deterministic discrete-event scheduler: one simulated clock (ns), a binary heap ordered by (time, seq), and
// simulated threads that run operations written as generators. An operation yields a number: `ns >= 0` consumes
// that much simulated time, `BLOCK` sleeps until some kernel code calls `wake()` (rwsem up_write, a VMA reader
// leaving, ...). Nothing here reads the wall clock or iterates hash order, so every run is identical.
//
// Inline stepping: while runUntil(T) drains events, a thread whose next step falls before every queued event
// (and not after T) runs it at once instead of going through the heap. That is exactly what the heap would do
// next — nothing can be injected from outside during runUntil — so results are identical with inlining on or off
// (a test checks this); it only saves heap traffic on the uncontended fast path. Work submitted from outside
// (between runUntil calls) never runs ahead of `now`, unless the caller promises with horizon(T) that it submits
// nothing before T (the replay engine knows its next operation's time): then it may run inline up to T too.

/** What an operation yields to sleep until woken. Any number >= 0 is a delay in ns. */
export const BLOCK = -1

/** One operation as the scheduler steps it: a generator that yields delays / BLOCK and returns its result. */
export type Step<T = void> = Generator<number, T, void>

const DONE_RESULT: IteratorReturnResult<void> = {done: true, value: undefined}
/**
 * An operation that has already finished: what a kernel function returns when it completed without waiting, so
 * that `yield*` costs no generator (most vma_start_write and mmap_write_lock calls; the waiting path returns one).
 */
export const DONE: Step<void> = {
  next: () => DONE_RESULT,
  return: () => DONE_RESULT,
  throw: (e: unknown) => {
    throw e
  },
  [Symbol.iterator]() {
    return this
  },
}

/** Consumed backlog entries a thread drops at once (when they are at least half of its backlog array). */
const COMPACT_AT = 1024

/** Anything that can sit in the event heap. */
export abstract class Schedulable {
  /** @internal */ time = 0
  /** @internal */ seq = 0
  /** @internal */ heapIndex = -1
  /** Called by the scheduler when the event comes due (sched.now === time). */
  abstract fire(): void
}

/** A one-shot or re-armable callback timer (RCU grace-period ends, wake-ups with latency). */
export class Timer extends Schedulable {
  constructor(private readonly fn: () => void) {
    super()
  }
  override fire(): void {
    this.fn()
  }
}

/** A simulated thread: runs one operation at a time; more operations queue behind it in FIFO order. */
export class SimThread extends Schedulable {
  private gen: Step<unknown> | null = null
  private done: ((v: unknown) => void) | null = null
  private readonly backlog: Array<{op: Step<unknown>; done: ((v: unknown) => void) | null; cuttable: boolean}> = []
  private backlogHead = 0
  /** True while the current operation sleeps on BLOCK (not in the heap). */
  blocked = false
  // The current operation may be cut short (submitted cuttable); hurry() did: its timed steps take no time.
  private cuttable = false
  private hurried = false

  constructor(
    readonly sched: Scheduler,
    readonly id: number,
  ) {
    super()
  }

  get busy(): boolean {
    return this.gen !== null
  }

  /** Operations waiting behind the current one. */
  get queued(): number {
    return this.backlog.length - this.backlogHead
  }

  /** Start `op` now if idle, else after the operations already submitted to this thread; `cuttable`: see hurry. */
  submit<T>(op: Step<T>, done?: (v: T) => void, cuttable = false): void {
    const d = (done ?? null) as ((v: unknown) => void) | null
    if (this.gen === null) this.start(op, d, cuttable)
    else this.backlog.push({op, done: d, cuttable})
  }

  /**
   * A cuttable current operation's remaining timed steps take no time from now on; its waits (BLOCK) still wait.
   * A faithful replay calls this when the recording shows the thread's next operation starting while the model
   * still runs a fault it submitted cuttable.
   */
  hurry(): void {
    if (this.gen === null || this.blocked || !this.cuttable) return
    this.hurried = true
    this.sched.cancel(this)
    this.step()
  }

  private start(op: Step<unknown>, done: ((v: unknown) => void) | null, cuttable: boolean): void {
    this.gen = op
    this.done = done
    this.cuttable = cuttable
    this.step()
  }

  override fire(): void {
    this.step()
  }

  /** Runs the generator until it blocks, needs future time that cannot be inlined, or finishes. */
  private step(): void {
    const s = this.sched
    let gen = this.gen!
    for (;;) {
      const r = gen.next()
      if (r.done === true) {
        const done = this.done
        this.gen = null
        this.done = null
        this.hurried = this.cuttable = false
        if (done !== null) done(r.value)
        // done() may have started a new operation itself; else the next queued one runs in this same loop
        // (not a nested start(): a thread with a long backlog of inlined operations would overflow the stack)
        if (this.gen !== null || this.backlogHead === this.backlog.length) return
        const next = this.backlog[this.backlogHead++]!
        if (this.backlogHead === this.backlog.length) {
          this.backlog.length = 0
          this.backlogHead = 0
        } else if (this.backlogHead >= COMPACT_AT && this.backlogHead * 2 >= this.backlog.length) {
          // a thread that is never idle (what-if: always behind its recording) would otherwise keep every
          // operation it ever ran: drop the consumed half, amortised O(1) per operation
          this.backlog.splice(0, this.backlogHead)
          this.backlogHead = 0
        }
        this.gen = gen = next.op
        this.done = next.done
        this.cuttable = next.cuttable
        continue
      }
      const d = r.value
      if (d === BLOCK) {
        this.blocked = true
        return
      }
      if (d === 0 || this.hurried) continue
      const t = s.now + d
      if (s.canInline(t)) {
        s.now = t
        s.inlined++
        continue
      }
      s.schedule(this, t)
      return
    }
  }

  /** Make a BLOCKed thread runnable at time `at` (default: now). Called by kernel wait queues. */
  wake(at = this.sched.now): void {
    if (!this.blocked) throw new Error(`wake of thread ${this.id} that is not blocked`)
    this.blocked = false
    this.sched.schedule(this, at)
  }
}

export interface SchedulerOptions {
  /** Disable inline stepping (for tests proving it changes nothing). */
  noInline?: boolean
}

export class Scheduler {
  /** Current simulated time, ns. */
  now = 0
  /** Events processed through the heap / steps run inline (statistics). */
  fired = 0
  inlined = 0
  private heap: Schedulable[] = []
  private seq = 0
  // Inline steps may not pass `limit`: the runUntil target while draining, else `now` (no inlining).
  private limit = 0
  private readonly noInline: boolean

  constructor(opts: SchedulerOptions = {}) {
    this.noInline = opts.noInline === true
  }

  /** May a thread's step ending at `t` run inline (before every queued event, within the limit)? */
  canInline(t: number): boolean {
    if (this.noInline || t > this.limit) return false
    const h = this.heap
    return h.length === 0 || t < h[0]!.time
  }

  /** A thread ran `steps` steps inline up to `t` itself (canInline(t) said it may): the clock moves there. */
  ranInline(t: number, steps: number): void {
    this.now = t
    this.inlined += steps
  }

  /** Queue `ev` at time `t` (>= now). Re-queuing an event already in the heap moves it. */
  schedule(ev: Schedulable, t: number): void {
    if (t < this.now) throw new Error(`schedule in the past: ${t} < ${this.now}`)
    if (ev.heapIndex >= 0) this.remove(ev)
    ev.time = t
    ev.seq = this.seq++
    const h = this.heap
    ev.heapIndex = h.length
    h.push(ev)
    this.up(ev.heapIndex)
  }

  /** Take `ev` off the queue if it is on it. */
  cancel(ev: Schedulable): void {
    if (ev.heapIndex >= 0) this.remove(ev)
  }

  /**
   * The caller submits nothing from outside before `t` (and calls runUntil(t) first): steps up to `t` may run
   * inline now, exactly as runUntil(t) would run them. Lasts until the next runUntil.
   */
  horizon(t: number): void {
    if (t > this.limit) this.limit = t
  }

  /** Time of the next queued event, or Infinity. */
  get nextTime(): number {
    return this.heap.length === 0 ? Infinity : this.heap[0]!.time
  }

  get pending(): number {
    return this.heap.length
  }

  /** Process every event due at or before `t`, then set now = t. */
  runUntil(t: number): void {
    if (t < this.now) throw new Error(`runUntil into the past: ${t} < ${this.now}`)
    this.limit = t
    const h = this.heap
    while (h.length > 0 && h[0]!.time <= t) {
      const ev = this.pop()
      this.now = ev.time
      this.fired++
      ev.fire()
    }
    this.now = t
    this.limit = t
  }

  /** Process every event until the heap is empty. */
  run(): void {
    const h = this.heap
    this.limit = Infinity // nothing is injected from outside while draining
    while (h.length > 0) {
      const ev = this.pop()
      this.now = ev.time
      this.fired++
      ev.fire()
    }
    this.limit = this.now
  }

  private pop(): Schedulable {
    const h = this.heap
    const top = h[0]!
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      last.heapIndex = 0
      this.down(0)
    }
    top.heapIndex = -1
    return top
  }

  private remove(ev: Schedulable): void {
    const h = this.heap
    const i = ev.heapIndex
    const last = h.pop()!
    ev.heapIndex = -1
    if (i < h.length) {
      h[i] = last
      last.heapIndex = i
      this.down(i)
      this.up(last.heapIndex)
    }
  }

  private static less(a: Schedulable, b: Schedulable): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq)
  }

  private up(i: number): void {
    const h = this.heap
    const ev = h[i]!
    while (i > 0) {
      const p = (i - 1) >> 1
      const pe = h[p]!
      if (!Scheduler.less(ev, pe)) break
      h[i] = pe
      pe.heapIndex = i
      i = p
    }
    h[i] = ev
    ev.heapIndex = i
  }

  private down(i: number): void {
    const h = this.heap
    const n = h.length
    const ev = h[i]!
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      let c = l
      if (r < n && Scheduler.less(h[r]!, h[l]!)) c = r
      const ce = h[c]!
      if (!Scheduler.less(ce, ev)) break
      h[i] = ce
      ce.heapIndex = i
      i = c
    }
    h[i] = ev
    ev.heapIndex = i
  }
}
