// dup_mmap, exit_mm and mmput (kernel/fork.c, kernel/exit.c).
import type {Step} from '../sim/scheduler.js'
import type {Kernel} from './kernel.js'
import {mmapReadLock, mmapReadUnlock, mmapWriteLock, mmapWriteUnlock, TASK_SIZE, type Mm} from './mm.js'
import type {Task} from './task.js'
import {vmaMarkAttached, vmaStartWrite} from './vma-lock.js'
import {VM_DONTCOPY, VM_LOCKED, VM_LOCKONFAULT, VM_UFFD_ARMED, VM_WIPEONFORK, Vma} from './vma.js'
import {exitMmap} from './mmap.js'
import {type Traced, holdOf} from './syscall-common.js'

/**
 * dup_mmap (kernel/fork.c; mm/mmap.c since 6.16): parent write lock, child write lock (nested); every parent VMA
 * is write-locked as the copy reaches it (6.5+) and stays locked until the parent's unlock. VM_DONTCOPY VMAs are
 * skipped, VM_WIPEONFORK children start without anon_vma, others get their own anon_vma (anon_vma_fork);
 * VM_LOCKED and userfaultfd arming are not inherited. Returns the child's mm (give it to createTask).
 */
export function* dupMmap(k: Kernel, t: Task, a: Traced = {}): Step<Mm> {
  const old = t.mm!
  const mm = k.createMm()
  yield* mmapWriteLock(k, t, old)
  yield* mmapWriteLock(k, t, mm)
  const vmas = old.vmasIn(0, TASK_SIZE)
  // The critical section is the set-up plus a copy per VMA; a measured or bounding hold scales both parts alike.
  const copied = vmas.reduce((n, v) => n + ((v.flags & VM_DONTCOPY) === 0 ? 1 : 0), 0)
  const modelled = k.costs.forkNs + copied * k.costs.forkPerVmaNs
  const scale = modelled > 0 ? holdOf(a, modelled) / modelled : 0
  yield Math.round(k.costs.forkNs * scale)
  const perVmaNs = Math.round(k.costs.forkPerVmaNs * scale)
  const entries: Array<{start: number; end: number; value: Vma}> = []
  for (const vma of vmas) {
    if (k.gen.forkWriteLocksParent) yield* vmaStartWrite(t, vma)
    if ((vma.flags & VM_DONTCOPY) !== 0) continue
    yield perVmaNs
    const anonVma = (vma.flags & VM_WIPEONFORK) !== 0 || vma.anonVma === null ? null : k.newAnonVma(true)
    const flags = vma.flags & ~(VM_LOCKED | VM_LOCKONFAULT | (vma.uffdCtx !== 0 ? VM_UFFD_ARMED : 0))
    const nv = k.vmAreaAlloc(mm, vma.start, vma.end, {...vma.attrs(), flags, anonVma, uffdCtx: 0})
    entries.push({start: vma.start, end: vma.end, value: nv})
  }
  mm.tree.replaceAll(entries)
  for (const e of entries) vmaMarkAttached(e.value)
  mm.startBrk = old.startBrk
  mm.brk = old.brk
  mm.mmapBase = old.mmapBase
  mmapWriteUnlock(k, t, mm)
  mmapWriteUnlock(k, t, old)
  return mm
}

/**
 * do_exit's mm steps (kernel/exit.c, 6.1–6.18): acct_collect read-locks the mm to sum its VMA sizes when the thread
 * group dies (CONFIG_BSD_PROCESS_ACCT); exit_mm read-locks it around detaching the task, then mmput.
 */
export function* exitMm(k: Kernel, t: Task, a: {groupDead: boolean} = {groupDead: false}): Step<void> {
  const mm = t.mm
  if (mm === null) return
  if (a.groupDead && k.bsdProcessAcct) {
    yield* mmapReadLock(k, t, mm)
    mmapReadUnlock(k, t, mm)
  }
  yield* mmapReadLock(k, t, mm)
  mmapReadUnlock(k, t, mm)
  t.mm = null
  yield* mmput(k, t, mm)
}

/** mmput: the last user tears the address space down. */
export function* mmput(k: Kernel, t: Task, mm: Mm): Step<void> {
  if (--mm.users === 0) yield* exitMmap(k, t, mm)
}
