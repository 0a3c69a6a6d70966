// mlock, mlock2, munlock, mlockall, munlockall (mm/mlock.c).
import type {Step} from '../sim/scheduler.js'
import type {Kernel} from './kernel.js'
import {mmapWriteLock, mmapWriteUnlock, TASK_SIZE} from './mm.js'
import type {Task} from './task.js'
import {modifyRange} from './vma-ops.js'
import {VM_LOCKED, VM_LOCKONFAULT} from './vma.js'
import {type Traced, failed, holdOf, pageAlign, populate} from './syscall-common.js'
import {MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT} from './uapi.js'

export interface MlockArgs extends Traced {
  addr: number
  len: number
  /** mlock2(MLOCK_ONFAULT): no populate. */
  onFault?: boolean
}

/** mlock / mlock2: write lock, mlock_fixup (split/merge, write-lock), unlock, then __mm_populate under read. */
export function* sysMlock(k: Kernel, t: Task, a: MlockArgs): Step<number> {
  const set = VM_LOCKED | (a.onFault === true ? VM_LOCKONFAULT : 0)
  const end = a.addr + pageAlign(a.len)
  yield* lockFlags(k, t, a.addr, end, set, 0, a)
  if (a.onFault !== true && !failed(a.result)) yield* populate(k, t, t.mm!, a.addr, end, true)
  return a.result ?? 0
}

/** munlock: write lock, clear VM_LOCKED over the range. */
export function* sysMunlock(k: Kernel, t: Task, a: MlockArgs): Step<number> {
  yield* lockFlags(k, t, a.addr, a.addr + pageAlign(a.len), 0, VM_LOCKED | VM_LOCKONFAULT, a)
  return a.result ?? 0
}

/** mlockall(MCL_*): lock every VMA (MCL_CURRENT) and/or future mappings (mm->def_flags, MCL_FUTURE). */
export function* sysMlockall(k: Kernel, t: Task, a: {flags: number} & Traced): Step<number> {
  const onFault = (a.flags & MCL_ONFAULT) !== 0
  const bits = VM_LOCKED | (onFault ? VM_LOCKONFAULT : 0)
  if ((a.flags & MCL_FUTURE) !== 0) t.mm!.defFlags |= bits
  const current = (a.flags & MCL_CURRENT) !== 0
  yield* lockFlags(k, t, 0, TASK_SIZE, current ? bits : 0, 0, a)
  if (current && !onFault && !failed(a.result)) yield* populate(k, t, t.mm!, 0, TASK_SIZE, true)
  return a.result ?? 0
}

/** munlockall */
export function* sysMunlockall(k: Kernel, t: Task, a: Traced = {}): Step<number> {
  t.mm!.defFlags &= ~(VM_LOCKED | VM_LOCKONFAULT)
  yield* lockFlags(k, t, 0, TASK_SIZE, 0, VM_LOCKED | VM_LOCKONFAULT, a)
  return a.result ?? 0
}

function* lockFlags(k: Kernel, t: Task, start: number, end: number, set: number, clear: number, a: Traced): Step<void> {
  const mm = t.mm!
  yield* mmapWriteLock(k, t, mm)
  if (!failed(a.result) && (set | clear) !== 0) {
    yield* modifyRange(k, t, mm, start, end, (x) => ({...x, flags: (x.flags & ~clear) | set}))
  }
  yield holdOf(a, k.costs.mlockNs)
  mmapWriteUnlock(k, t, mm)
}
