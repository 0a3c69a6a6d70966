// A simulated kernel thread (task_struct, reduced): a scheduler thread plus the kernel state the model needs —
// its mm, RCU nesting, the label of the operation it runs (so waiters can name who they waited for) and the
// lock accounting of that operation.
import {SimThread, type Scheduler} from '../sim/scheduler.js'
import type {RcuReader} from './rcu.js'
import type {Mm} from './mm.js'
import type {LockVmaResult} from './vma-lock.js'

/** Who a waiter waited for: the holder (or queued writer) it found, and what that thread was doing. */
export interface Blocker {
  tid: number
  op: string
  /** The engine's id of that operation (the trace event it replays), 0 if none. */
  ref: number
  /** The blocker held (or queued for) the lock for write. */
  write: boolean
}

/** Lock time charged to the operation a task is running. Reset by the kernel when an operation starts. */
export interface LockAcct {
  /** Time blocked on mmap_lock (sleeping in down_read/down_write). */
  waitNs: number
  /** Time holding mmap_lock (read or write), and the part of it held for write. */
  holdNs: number
  writeHoldNs: number
  /** When the first mmap_lock wait of this operation began (-1: it never waited). */
  waitStartNs: number
  /** Time blocked in vma_start_write / vma_mark_detached waiting for VMA readers. */
  vmaWaitNs: number
  /** The first thread this operation waited for on mmap_lock, if any. */
  waitedFor: Blocker | null
  /** mmap_lock acquisitions (including successful trylocks), of them for write, and failed trylocks. */
  acquisitions: number
  writeAcquisitions: number
  failedTrylocks: number
}

export function newAcct(): LockAcct {
  return {
    waitNs: 0,
    holdNs: 0,
    writeHoldNs: 0,
    waitStartNs: -1,
    vmaWaitNs: 0,
    waitedFor: null,
    acquisitions: 0,
    writeAcquisitions: 0,
    failedTrylocks: 0,
  }
}

export function resetAcct(a: LockAcct): LockAcct {
  a.waitNs = a.holdNs = a.writeHoldNs = a.vmaWaitNs = a.acquisitions = a.writeAcquisitions = a.failedTrylocks = 0
  a.waitStartNs = -1
  a.waitedFor = null
  return a
}

export class Task extends SimThread implements RcuReader {
  /** The operation label blockers report ('fault', 'munmap', 'fork', ...). */
  op = 'idle'
  /** The engine's id of the running operation (Blocker.ref). */
  opRef = 0
  acct: LockAcct = newAcct()
  /** Reused by every fault of this task (a fault copies what it reports into its outcome). */
  readonly faultAcct: LockAcct = newAcct()
  readonly lookup: LockVmaResult = {vma: null, reason: null, misses: 0, seq: 0}
  rcuDepth = 0
  rcuHoldsGp = 0
  rcuSlot = -1

  constructor(
    sched: Scheduler,
    readonly tid: number,
    public mm: Mm | null,
  ) {
    super(sched, tid)
  }
}
