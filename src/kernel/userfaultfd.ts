// UFFDIO_REGISTER / UNREGISTER (fs/userfaultfd.c).
import type {Step} from '../sim/scheduler.js'
import type {Kernel} from './kernel.js'
import {mmapWriteLock, mmapWriteUnlock} from './mm.js'
import type {Task} from './task.js'
import {modifyRange} from './vma-ops.js'
import {VM_UFFD_ARMED, VM_UFFD_MISSING} from './vma.js'
import {type Traced, holdOf, pageAlign} from './syscall-common.js'

/** Arm (or disarm, ctx 0) userfaultfd on a range: UFFDIO_REGISTER / UNREGISTER under the mmap write lock. */
export function* uffdRegister(k: Kernel, t: Task, a: {addr: number; len: number; ctx: number} & Traced): Step<void> {
  const mm = t.mm!
  yield* mmapWriteLock(k, t, mm)
  const armed = a.ctx !== 0 ? VM_UFFD_MISSING : 0
  yield* modifyRange(k, t, mm, a.addr, a.addr + pageAlign(a.len), (x) => ({
    ...x,
    uffdCtx: a.ctx,
    flags: (x.flags & ~VM_UFFD_ARMED) | armed,
  }))
  yield holdOf(a, k.costs.mprotectNs)
  mmapWriteUnlock(k, t, mm)
}
