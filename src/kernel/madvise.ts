// madvise (mm/madvise.c): which lock each advice takes, the flag-changing advice, the per-VMA lock of 6.17+.
import type {Step} from '../sim/scheduler.js'
import type {Kernel} from './kernel.js'
import {type Mm, mmapReadLock, mmapReadUnlock, mmapWriteLock, mmapWriteUnlock} from './mm.js'
import type {Task} from './task.js'
import {anonVmaPrepare, modifyRange} from './vma-ops.js'
import {lockVmaUnderRcu, vmaEndRead, type LockVmaResult} from './vma-lock.js'
import {
  VM_DONTCOPY,
  VM_DONTDUMP,
  VM_MERGEABLE,
  VM_HUGEPAGE,
  VM_NOHUGEPAGE,
  VM_RAND_READ,
  VM_SEQ_READ,
  VM_SHARED,
  VM_WIPEONFORK,
  VM_WRITE,
} from './vma.js'
import {type Traced, failed, holdOf, offsetInPage, pageAlign} from './syscall-common.js'
import {EINVAL, MADV} from './uapi.js'

/** do_madvise: madvise_behavior_valid, PAGE_ALIGNED(start), an empty range. */
function madviseReturnsUnlocked(k: Kernel, a: MadviseArgs): boolean {
  return !madviseBehaviorValid(k, a.advice) || offsetInPage(a.addr) || pageAlign(a.len) === 0
}

export interface MadviseArgs extends Traced {
  addr: number
  len: number
  advice: number
}

const MADV_READ_LOCKED: ReadonlySet<number> = new Set([
  MADV.WILLNEED,
  MADV.DONTNEED,
  MADV.DONTNEED_LOCKED,
  MADV.FREE,
  MADV.REMOVE,
  MADV.COLD,
  MADV.PAGEOUT,
  MADV.POPULATE_READ,
  MADV.POPULATE_WRITE,
  MADV.COLLAPSE,
  MADV.GUARD_INSTALL,
  MADV.GUARD_REMOVE,
])

const ZAPPING_ADVICE: ReadonlySet<number> = new Set([
  MADV.DONTNEED,
  MADV.DONTNEED_LOCKED,
  MADV.FREE,
  MADV.REMOVE,
  MADV.PAGEOUT,
])

// Flag-changing advice: [set, clear] (madvise_update_vma under the write lock).
const MADV_FLAGS: Readonly<Record<number, readonly [number, number]>> = {
  [MADV.NORMAL]: [0, VM_SEQ_READ | VM_RAND_READ],
  [MADV.RANDOM]: [VM_RAND_READ, VM_SEQ_READ],
  [MADV.SEQUENTIAL]: [VM_SEQ_READ, VM_RAND_READ],
  [MADV.DONTFORK]: [VM_DONTCOPY, 0],
  [MADV.DOFORK]: [0, VM_DONTCOPY],
  [MADV.WIPEONFORK]: [VM_WIPEONFORK, 0],
  [MADV.KEEPONFORK]: [0, VM_WIPEONFORK],
  [MADV.HUGEPAGE]: [VM_HUGEPAGE, VM_NOHUGEPAGE],
  [MADV.NOHUGEPAGE]: [VM_NOHUGEPAGE, VM_HUGEPAGE],
  [MADV.DONTDUMP]: [VM_DONTDUMP, 0],
  [MADV.DODUMP]: [0, VM_DONTDUMP],
  // ksm_madvise sets/clears VM_MERGEABLE, then madvise_update_vma write-locks the VMAs (mm/madvise.c, 6.12)
  [MADV.MERGEABLE]: [VM_MERGEABLE, 0],
  [MADV.UNMERGEABLE]: [0, VM_MERGEABLE],
}

const MADV_VALUES: ReadonlySet<number> = new Set(Object.values(MADV))

/** madvise_behavior_valid (mm/madvise.c), with THP, KSM and MEMORY_FAILURE configured as distributions do;
 * MADV_GUARD_INSTALL/REMOVE exist from 6.13. */
function madviseBehaviorValid(k: Kernel, advice: number): boolean {
  if (advice === MADV.GUARD_INSTALL || advice === MADV.GUARD_REMOVE) return k.gen.madviseGuardRegions
  return MADV_VALUES.has(advice)
}

/** Which lock madvise takes for `advice` (madvise_lock / madvise_need_mmap_write, mm/madvise.c). */
export function madviseLockMode(k: Kernel, advice: number): 'vma' | 'read' | 'write' | 'none' {
  if (advice === MADV.HWPOISON || advice === MADV.SOFT_OFFLINE) return 'none'
  if ((advice === MADV.DONTNEED || advice === MADV.DONTNEED_LOCKED) && k.gen.madviseDontneedVmaLock) return 'vma'
  if (advice === MADV.FREE && k.gen.madviseFreeVmaLock) return 'vma'
  return MADV_READ_LOCKED.has(advice) ? 'read' : 'write'
}

/** madvise: per-VMA read lock for a single-VMA DONTNEED/FREE (6.17+/6.18), else mmap read or write per advice. */
export function* sysMadvise(k: Kernel, t: Task, a: MadviseArgs): Step<number> {
  if (madviseReturnsUnlocked(k, a))
    return a.result ?? (madviseBehaviorValid(k, a.advice) && !offsetInPage(a.addr) ? 0 : -EINVAL) // else: empty range
  const mm = t.mm!
  const hold = holdOf(a, k.costs.madviseNs)
  const end = a.addr + pageAlign(a.len)
  let mode = madviseLockMode(k, a.advice)
  // madvise_dontneed_free / madvise_remove / madvise_pageout: the range's PTEs are zapped (or reclaimed)
  if (ZAPPING_ADVICE.has(a.advice) && !failed(a.result)) mm.zapPtes(a.addr, end)
  if (mode === 'vma') {
    // try_vma_read_lock: lock_vma_under_rcu(start); the range must lie in that one VMA, not uffd-armed.
    const lk: LockVmaResult = {vma: null, reason: null, misses: 0, seq: 0}
    const vma = yield* lockVmaUnderRcu(k, t, mm, a.addr, lk)
    if (vma !== null && end <= vma.end && !vma.uffdArmed) {
      yield hold
      vmaEndRead(vma)
      return a.result ?? 0
    }
    if (vma !== null) vmaEndRead(vma)
    mode = 'read'
  }
  if (mode === 'none') {
    yield hold
  } else if (mode === 'read') {
    yield* mmapReadLock(k, t, mm)
    if (a.advice === MADV.POPULATE_WRITE && !failed(a.result)) {
      for (const vma of mm.vmasIn(a.addr, end))
        if ((vma.flags & (VM_WRITE | VM_SHARED)) === VM_WRITE) anonVmaPrepare(k, vma)
    }
    yield hold
    if (a.advice === MADV.WILLNEED && !failed(a.result)) yield* madviseWillneedFiles(k, t, mm, a.addr, end)
    mmapReadUnlock(k, t, mm)
  } else {
    yield* mmapWriteLock(k, t, mm)
    const change = MADV_FLAGS[a.advice]
    if (change !== undefined && !failed(a.result)) {
      const [set, clear] = change
      yield* modifyRange(k, t, mm, a.addr, end, (x) => ({...x, flags: (x.flags & ~clear) | set}))
    }
    yield hold
    mmapWriteUnlock(k, t, mm)
  }
  return a.result ?? 0
}

/**
 * madvise_willneed (mm/madvise.c, 6.1–6.18) on a file VMA drops mmap_lock for vfs_fadvise(POSIX_FADV_WILLNEED),
 * since the filesystem may take its own locks, and read-locks again to walk on: one more read section per file VMA
 * of the range (anonymous and shmem ones start swap-in reads under the lock). Seen in a 6.18 capture of
 * madvise(MADV_WILLNEED) on a file mapping: released, then start_locking/acquire_returned again inside the call.
 */
function* madviseWillneedFiles(k: Kernel, t: Task, mm: Mm, start: number, end: number): Step<void> {
  for (const vma of mm.vmasIn(start, end)) {
    if (vma.file === null || vma.file.shmem === true) continue // shmem_swapin_range, under the lock
    mmapReadUnlock(k, t, mm)
    yield* mmapReadLock(k, t, mm)
  }
}
