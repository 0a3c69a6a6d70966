// rw_semaphore as kernel/locking/rwsem.c behaves (6.x): readers share, a writer excludes; the read fast path and
// down_read_trylock fail whenever anyone waits (RWSEM_FLAG_WAITERS); a slow-path reader steals a free lock unless
// a handoff is pending; a woken writer must take the lock itself after its wake-up latency, and others (readers,
// spinning writers) may steal the free lock in that window until the head waiter, having waited
// DIV_ROUND_UP(HZ,250) jiffies, sets RWSEM_FLAG_HANDOFF. Waking readers grants every queued reader (up to 256)
// at once, skipping writers (rwsem_mark_wake); writers are FIFO. A reader whose fast path failed and that steals
// the lock in rwsem_down_read_slowpath spends readSlowpathNs getting it, a wait that the lock's tracepoints show
// (start_locking → acquire_returned) though it never sleeps. A writer that finds the lock taken first spins on its
// owner (rwsem_optimistic_spin, CONFIG_RWSEM_SPIN_ON_OWNER): while a writer owns it, until it is released; while
// readers do, for rwsem_rspin_threshold, after which the lock is marked RWSEM_NONSPINNABLE until a writer takes it;
// a spinner does not queue (readers' fast path still succeeds) and takes the lock the moment it is released.
import {BLOCK, DONE, Timer, type Step} from '../sim/scheduler.js'
import type {Blocker, Task} from './task.js'

const MAX_READERS_WAKEUP = 256

/** rwsem_rspin_threshold (6.1–6.18): how long a writer spins on a reader-owned lock, (20 + readers) / 2 µs. */
export function rwsemRspinThresholdNs(readers: number): number {
  return ((20 + Math.min(readers, 30)) * 1000) / 2
}

interface Spinner {
  task: Task
  /** the reader-owned spin's end (rwsem_rspin_threshold), or null while a writer owns the lock */
  timer: Timer | null
  granted: boolean
}

interface Waiter {
  task: Task
  write: boolean
  since: number
}

export interface RwsemTimes {
  wakeLatencyNs: number
  rwsemHandoffNs: number
  /** rwsem_down_read_slowpath's reader optimistic steal, from the failed fast path to owning the lock */
  readSlowpathNs: number
}

export class RwSem {
  /** Writer owner, or null. */
  owner: Task | null = null
  private ownerSince = 0
  /** Read holders and when each got the lock. */
  private readonly readerTasks: Task[] = []
  private readonly readerSince: number[] = []
  private readonly queue: Waiter[] = []
  private head = 0
  /** RWSEM_FLAG_HANDOFF */
  handoff = false
  /** A writer woken and not yet running (the steal window). */
  private wokenWriter: Task | null = null
  /** Writers in rwsem_optimistic_spin, in osq_lock order. */
  private readonly spinners: Spinner[] = []
  /** RWSEM_NONSPINNABLE: a writer's reader-owned spin timed out; cleared when a writer takes the lock. */
  private nonspinnable = false
  /** Statistics. */
  steals = 0
  handoffs = 0
  contended = 0

  constructor(
    private readonly times: RwsemTimes,
    /** CONFIG_RWSEM_SPIN_ON_OWNER (x86 SMP kernels: on) */
    private readonly spinOnOwner = false,
  ) {}

  get readers(): number {
    return this.readerTasks.length
  }

  get waiters(): number {
    return this.queue.length - this.head
  }

  /** Would down_read_trylock succeed: not writer-owned, nobody queued, no handoff (RWSEM_READ_FAILED_MASK)? */
  readTrylockable(): boolean {
    return this.owner === null && this.waiters === 0 && !this.handoff
  }

  /** down_read_trylock: fails if writer-owned or anyone is queued (RWSEM_READ_FAILED_MASK). */
  tryRead(t: Task): boolean {
    if (!this.readTrylockable()) return false
    this.grantRead(t)
    return true
  }

  /** down_read / down_read_killable (DONE when it did not wait). */
  read(t: Task): Step<void> {
    if (this.tryRead(t)) return DONE
    // rwsem_down_read_slowpath (6.1–6.18): optimistic steal unless writer-locked, a handoff is set, or other readers
    // own it (rcnt > 1); the reader's count is in sem->count from rwsem_read_trylock on, so it owns the lock at once
    if (this.owner === null && this.readers === 0 && !this.handoff) {
      this.steals++
      const blocker = this.blocker()
      this.grantRead(t)
      if (this.waiters > 0 && !this.queue[this.head]!.write) this.wakeReaders()
      return this.times.readSlowpathNs > 0 ? this.readSlowpathSteal(t, blocker) : DONE
    }
    return this.sleep(t, false)
  }

  // The steal's time in the slow path: a wait (behind whoever made the fast path fail) that is not part of the hold.
  private *readSlowpathSteal(t: Task, blocker: Blocker | null): Step<void> {
    const ns = this.times.readSlowpathNs
    const i = this.readerTasks.lastIndexOf(t)
    this.readerSince[i] = t.sched.now + ns
    if (t.acct.waitedFor === null) t.acct.waitedFor = blocker
    if (t.acct.waitStartNs < 0) t.acct.waitStartNs = t.sched.now
    t.acct.waitNs += ns
    yield ns
  }

  /** down_write / down_write_killable (DONE when it did not sleep). */
  write(t: Task): Step<void> {
    if (this.owner === null && this.readers === 0 && !this.handoff) {
      if (this.waiters > 0) this.steals++ // took it in a woken writer's window (rwsem_try_write_lock_unqueued)
      this.grantWrite(t)
      return DONE
    }
    if (this.canSpinOnOwner()) return this.optimisticSpin(t)
    return this.sleep(t, true)
  }

  // rwsem_can_spin_on_owner: a running writer owner, or readers not marked RWSEM_NONSPINNABLE; no handoff pending
  private canSpinOnOwner(): boolean {
    if (!this.spinOnOwner || this.handoff) return false
    return this.owner !== null ? !this.owner.blocked : !this.nonspinnable
  }

  // rwsem_optimistic_spin, then rwsem_down_write_slowpath's queue if the spin gave up
  private *optimisticSpin(t: Task): Step<void> {
    const since = t.sched.now
    const s: Spinner = {task: t, timer: null, granted: false}
    this.spinners.push(s)
    if (this.owner === null) this.armReaderSpin(s)
    if (t.acct.waitedFor === null) t.acct.waitedFor = this.blocker()
    if (t.acct.waitStartNs < 0) t.acct.waitStartNs = since
    yield BLOCK
    t.acct.waitNs += t.sched.now - since
    if (!s.granted) yield* this.sleep(t, true)
  }

  // the spin on a reader-owned lock ends at rwsem_rspin_threshold: RWSEM_NONSPINNABLE, and the writer queues
  private armReaderSpin(s: Spinner): void {
    const sched = s.task.sched
    s.timer = new Timer(() => {
      this.spinners.splice(this.spinners.indexOf(s), 1)
      this.nonspinnable = true
      s.task.wake()
    })
    sched.schedule(s.timer, sched.now + rwsemRspinThresholdNs(this.readers))
  }

  // rwsem_try_write_lock_unqueued: the first spinner takes the lock just released (true if one did)
  private spinnerTakes(): boolean {
    const s = this.spinners.shift()
    if (s === undefined) return false
    if (s.timer !== null) s.task.sched.cancel(s.timer)
    if (this.waiters > 0) this.steals++
    s.granted = true
    this.grantWrite(s.task)
    s.task.wake()
    return true
  }

  private *sleep(t: Task, write: boolean): Step<void> {
    this.contended++
    const blocker = this.blocker()
    const w: Waiter = {task: t, write, since: t.sched.now}
    this.queue.push(w)
    if (t.acct.waitedFor === null) t.acct.waitedFor = blocker
    if (t.acct.waitStartNs < 0) t.acct.waitStartNs = w.since
    for (;;) {
      yield BLOCK
      if (!write) break // readers are granted by the waker before being woken
      // A woken writer: take the lock if it is free, else sleep again (maybe setting the handoff bit).
      if (this.wokenWriter === t) this.wokenWriter = null
      if (this.owner === null && this.readers === 0) {
        this.dequeue(w)
        if (this.handoff) this.handoff = false
        this.grantWrite(t)
        break
      }
      if (this.queue[this.head] === w && !this.handoff && t.sched.now - w.since >= this.times.rwsemHandoffNs) {
        this.handoff = true
        this.handoffs++
      }
    }
    t.acct.waitNs += t.sched.now - w.since
  }

  /** up_read */
  upRead(t: Task): void {
    const i = this.readerTasks.indexOf(t)
    if (i < 0) throw new Error(`up_read by non-holder ${t.tid}`)
    t.acct.holdNs += t.sched.now - this.readerSince[i]!
    const last = this.readerTasks.length - 1
    this.readerTasks[i] = this.readerTasks[last]!
    this.readerSince[i] = this.readerSince[last]!
    this.readerTasks.pop()
    this.readerSince.pop()
    if (this.readerTasks.length === 0 && !this.spinnerTakes() && this.waiters > 0) this.wake()
  }

  /** up_write */
  upWrite(t: Task): void {
    if (this.owner !== t) throw new Error(`up_write by non-owner ${t.tid}`)
    t.acct.holdNs += t.sched.now - this.ownerSince
    t.acct.writeHoldNs += t.sched.now - this.ownerSince
    this.owner = null
    if (!this.spinnerTakes() && this.waiters > 0) this.wake()
  }

  /** downgrade_write: the writer becomes a reader; queued readers at the head are granted with it. */
  downgrade(t: Task): void {
    if (this.owner !== t) throw new Error(`downgrade by non-owner ${t.tid}`)
    t.acct.holdNs += t.sched.now - this.ownerSince
    t.acct.writeHoldNs += t.sched.now - this.ownerSince
    this.owner = null
    this.grantRead(t)
    t.acct.acquisitions-- // a downgrade is not a new acquisition
    for (const s of this.spinners) if (s.timer === null) this.armReaderSpin(s) // now OWNER_READER
    if (this.waiters > 0 && !this.queue[this.head]!.write) this.wakeReaders()
  }

  private grantRead(t: Task): void {
    this.readerTasks.push(t)
    this.readerSince.push(t.sched.now)
    t.acct.acquisitions++
  }

  private grantWrite(t: Task): void {
    this.nonspinnable = false
    this.owner = t
    this.ownerSince = t.sched.now
    t.acct.acquisitions++
    t.acct.writeAcquisitions++
  }

  // rwsem_wake → rwsem_mark_wake(RWSEM_WAKE_ANY): the lock just became free.
  private wake(): void {
    const first = this.queue[this.head]!
    if (first.write) {
      if (this.wokenWriter === null && first.task.blocked) {
        this.wokenWriter = first.task
        first.task.wake(first.task.sched.now + this.times.wakeLatencyNs)
      }
      return
    }
    this.wakeReaders()
  }

  // Grant every queued reader (up to MAX_READERS_WAKEUP), skipping writers, then wake them.
  private wakeReaders(): void {
    let woken = 0
    let keep = this.head
    const q = this.queue
    for (let i = this.head; i < q.length; i++) {
      const w = q[i]!
      if (!w.write && woken < MAX_READERS_WAKEUP) {
        woken++
        this.grantRead(w.task)
        w.task.wake(w.task.sched.now + this.times.wakeLatencyNs)
      } else q[keep++] = w
    }
    q.length = keep
    this.compact()
  }

  private dequeue(w: Waiter): void {
    const q = this.queue
    const i = q.indexOf(w, this.head)
    if (i === this.head) this.head++
    else q.splice(i, 1)
    this.compact()
  }

  private compact(): void {
    if (this.head > 0 && (this.head === this.queue.length || this.head > 64)) {
      this.queue.splice(0, this.head)
      this.head = 0
    }
  }

  // Whom a newcomer waits for: the writer owner, else the queue head it lines up behind, else a read holder.
  private blocker(): Blocker | null {
    if (this.owner !== null) return {tid: this.owner.tid, op: this.owner.op, ref: this.owner.opRef, write: true}
    if (this.waiters > 0) {
      const w = this.queue[this.head]!
      return {tid: w.task.tid, op: w.task.op, ref: w.task.opRef, write: w.write}
    }
    const r = this.readerTasks[0]
    return r === undefined ? null : {tid: r.tid, op: r.op, ref: r.opRef, write: false}
  }
}
