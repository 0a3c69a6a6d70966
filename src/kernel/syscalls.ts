// Tree-changing system calls and process events, each taking mmap_lock the way the kernel does (write; downgrade
// for munmap, brk shrink and mremap shrink; read where the kernel reads) and write-locking exactly the VMAs the
// kernel write-locks. A replay usually knows the outcome: pass what the trace says of the call (Traced): its return
// value as `result` (the mmap address, a negative errno for a failed call: the lock is still taken and nothing
// changes, unless the call failed the argument checks it makes before locking), its duration as `tookNs`, and, when calibrating, its measured critical section as `holdNs`.
import type {Step} from '../sim/scheduler.js'
import type {Kernel} from './kernel.js'
import {MMAP_MIN_ADDR, mmapReadLock, mmapReadUnlock, mmapWriteDowngrade, mmapWriteLock, mmapWriteUnlock, TASK_SIZE, type Mm} from './mm.js'
import type {Task} from './task.js'
import {anonVmaPrepare, detachRange, expandVma, freeVmas, insertRange, modifyRange, splitVma} from './vma-ops.js'
import {lockVmaUnderRcu, vmaEndRead, vmaMarkAttached, vmaStartWrite, type LockVmaResult} from './vma-lock.js'
import {
  PAGE_SHIFT,
  PAGE_SIZE,
  VM_DONTCOPY,
  VM_DONTDUMP,
  VM_MERGEABLE,
  VM_EXEC,
  VM_GROWSDOWN,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_LOCKED,
  VM_LOCKONFAULT,
  VM_NOHUGEPAGE,
  VM_NORESERVE,
  VM_RAND_READ,
  VM_READ,
  VM_SEQ_READ,
  VM_SHARED,
  VM_UFFD_ARMED,
  VM_UFFD_MISSING,
  VM_WIPEONFORK,
  VM_WRITE,
  Vma,
  type FileRef,
  type VmaAttrs,
} from './vma.js'

export const PROT_READ = 0x1
export const PROT_WRITE = 0x2
export const PROT_EXEC = 0x4
export const PROT_SEM = 0x8
export const PROT_GROWSDOWN = 0x01000000
export const PROT_GROWSUP = 0x02000000
/** arch_validate_prot's generic form (x86 has no override): the bits mprotect accepts. */
const PROT_VALID = PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM
/** errno values (include/uapi/asm-generic/errno-base.h) the model returns; calls return them negated. */
export const EBADF = 9
export const ENOMEM = 12
export const EFAULT = 14
export const EINVAL = 22
export const MAP_SHARED = 0x01
export const MAP_PRIVATE = 0x02
export const MAP_TYPE = 0x0f
export const MAP_FIXED = 0x10
export const MAP_ANONYMOUS = 0x20
export const MAP_GROWSDOWN = 0x100
export const MAP_LOCKED = 0x2000
export const MAP_NORESERVE = 0x4000
export const MAP_POPULATE = 0x8000
export const MAP_STACK = 0x20000
export const MAP_HUGETLB = 0x40000
export const MAP_FIXED_NOREPLACE = 0x100000
export const MREMAP_MAYMOVE = 1
export const MREMAP_FIXED = 2
export const MREMAP_DONTUNMAP = 4
export const MCL_CURRENT = 1
export const MCL_FUTURE = 2
export const MCL_ONFAULT = 4

export const MADV = Object.freeze({
  NORMAL: 0,
  RANDOM: 1,
  SEQUENTIAL: 2,
  WILLNEED: 3,
  DONTNEED: 4,
  FREE: 8,
  REMOVE: 9,
  DONTFORK: 10,
  DOFORK: 11,
  MERGEABLE: 12,
  UNMERGEABLE: 13,
  HUGEPAGE: 14,
  NOHUGEPAGE: 15,
  DONTDUMP: 16,
  DODUMP: 17,
  WIPEONFORK: 18,
  KEEPONFORK: 19,
  COLD: 20,
  PAGEOUT: 21,
  POPULATE_READ: 22,
  POPULATE_WRITE: 23,
  DONTNEED_LOCKED: 24,
  COLLAPSE: 25,
  HWPOISON: 100,
  SOFT_OFFLINE: 101,
  GUARD_INSTALL: 102,
  GUARD_REMOVE: 103,
})

const pageAlign = (n: number): number => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE
const offsetInPage = (n: number): boolean => n % PAGE_SIZE !== 0

// The argument checks each call makes before mmap_write_lock_killable / mmap_read_lock (6.1, 6.12, 6.18): a call
// that fails them, or has nothing to do, returns without touching mmap_lock.
/** x86 sys_mmap: `off & ~PAGE_MASK`; ksys_mmap_pgoff: a bad fd (EBADF) for a file mapping. */
function mmapReturnsUnlocked(a: MmapArgs): boolean {
  return offsetInPage(a.offset ?? 0) || (a.result === -EBADF && (a.flags & MAP_ANONYMOUS) === 0)
}
/** do_mprotect_pkey: PROT_GROWSDOWN|PROT_GROWSUP together, an unaligned start, len 0, bad prot bits. */
function mprotectReturnsUnlocked(a: MprotectArgs): boolean {
  const grows = a.prot & (PROT_GROWSDOWN | PROT_GROWSUP)
  const prot = a.prot & ~grows
  return grows === (PROT_GROWSDOWN | PROT_GROWSUP) || offsetInPage(a.addr) || a.len === 0 || (prot & ~PROT_VALID) !== 0
}
/** SYSCALL_DEFINE5(mremap): unknown flags, FIXED without MAYMOVE, DONTUNMAP without MAYMOVE or with a resize, an
 * unaligned address, new_len 0. */
function mremapReturnsUnlocked(a: MremapArgs): boolean {
  const f = a.flags
  return (
    (f & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP)) !== 0 ||
    ((f & MREMAP_FIXED) !== 0 && (f & MREMAP_MAYMOVE) === 0) ||
    ((f & MREMAP_DONTUNMAP) !== 0 && ((f & MREMAP_MAYMOVE) === 0 || a.oldLen !== a.newLen)) ||
    offsetInPage(a.addr) ||
    pageAlign(a.newLen) === 0
  )
}
/** do_madvise: madvise_behavior_valid, PAGE_ALIGNED(start), an empty range. */
function madviseReturnsUnlocked(k: Kernel, a: MadviseArgs): boolean {
  return !madviseBehaviorValid(k, a.advice) || offsetInPage(a.addr) || pageAlign(a.len) === 0
}
const failed = (result: number | undefined): result is number => result !== undefined && result < 0

/** calc_vm_prot_bits */
export function protToVmFlags(prot: number): number {
  return (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0)
}

/** What a replay knows of a traced call besides its arguments. */
export interface Traced {
  /** The traced return value (an address, a count, or -errno). */
  result?: number
  /** Its mmap_lock critical section as the trace's own mmap_lock events measured it (calibrating). */
  holdNs?: number
  /**
   * Enter to exit in the trace: bounds the cost table's critical section, and is not one itself, since it also
   * counts the time the call waited for the lock, which the simulation models (docs/replay.md, Costs).
   */
  tookNs?: number
}

/** A traced call's critical section: measured if given, else the cost table's, never longer than the call took. */
function holdOf(a: Traced, cost: number): number {
  return a.holdNs ?? (a.tookNs !== undefined && a.tookNs < cost ? a.tookNs : cost)
}

// The write-then-downgrade split of a critical section.
function split(k: Kernel, holdNs: number): [number, number] {
  const w = Math.round(holdNs * k.costs.downgradeWriteFraction)
  return [w, holdNs - w]
}

export interface MmapArgs extends Traced {
  /** Hint or MAP_FIXED address. */
  addr?: number
  len: number
  prot: number
  flags: number
  /** The mapped file; null/absent for anonymous. MAP_SHARED|MAP_ANONYMOUS gets a fresh shmem file. */
  file?: FileRef | null
  /** File offset in bytes. */
  offset?: number
}

/** mmap → vm_mmap_pgoff → do_mmap → mmap_region under mmap_write_lock_killable; populate under read afterwards. */
export function* sysMmap(k: Kernel, t: Task, a: MmapArgs): Step<number> {
  if (mmapReturnsUnlocked(a)) return a.result ?? -EINVAL
  const mm = t.mm!
  const len = pageAlign(a.len)
  yield* mmapWriteLock(k, t, mm)
  let addr = a.result ?? -1
  if (a.result === undefined) {
    if ((a.flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0 && a.addr !== undefined) addr = a.addr
    else addr = getUnmappedArea(mm, len, a.addr)
  }
  if (addr < 0 || failed(a.result)) {
    yield holdOf(a, k.costs.mmapNs)
    mmapWriteUnlock(k, t, mm)
    return addr < 0 ? addr : a.result!
  }
  const shared = (a.flags & MAP_TYPE) === MAP_SHARED || (a.flags & MAP_TYPE) === 0x03
  let file = a.file ?? null
  let flags = protToVmFlags(a.prot) | mm.defFlags
  if (shared) flags |= VM_SHARED
  if (a.flags & MAP_GROWSDOWN) flags |= VM_GROWSDOWN
  if (a.flags & MAP_LOCKED) flags |= VM_LOCKED
  if (a.flags & MAP_NORESERVE) flags |= VM_NORESERVE
  // calc_vm_flag_bits (include/linux/mman.h, 6.7+): MAP_STACK → VM_NOHUGEPAGE
  if ((a.flags & MAP_STACK) !== 0 && k.gen.mapStackNoHugepage) flags |= VM_NOHUGEPAGE
  if (a.flags & MAP_HUGETLB) {
    flags |= VM_HUGETLB
    file ??= k.internalFile('hugetlb')
  }
  if (file === null && shared) file = k.internalFile('shmem')
  const attrs: VmaAttrs = {
    flags,
    file,
    pgoff: file !== null ? Math.floor((a.offset ?? 0) / PAGE_SIZE) : addr >> PAGE_SHIFT,
    anonVma: null,
    uffdCtx: 0,
  }
  // MAP_FIXED over existing VMAs: gather, split and detach them first (vms_gather_munmap_vmas).
  const removed = yield* detachRange(k, t, mm, addr, addr + len)
  yield* insertRange(k, t, mm, addr, addr + len, attrs)
  freeVmas(k, removed)
  yield holdOf(a, k.costs.mmapNs)
  mmapWriteUnlock(k, t, mm)
  if ((a.flags & MAP_POPULATE) !== 0 || (flags & VM_LOCKED) !== 0) yield* populate(k, t, mm, addr, addr + len, true)
  return addr
}

/** get_unmapped_area → vm_unmapped_area, top-down below mmap_base (the hint is used if it fits). */
export function getUnmappedArea(mm: Mm, len: number, hint?: number): number {
  if (hint !== undefined && hint >= MMAP_MIN_ADDR && hint + len <= TASK_SIZE) {
    const h = Math.floor(hint / PAGE_SIZE) * PAGE_SIZE
    if (mm.vmasIn(h, h + len).length === 0) return h
  }
  const addr = mm.tree.findGapTopDown(len, MMAP_MIN_ADDR, mm.mmapBase, PAGE_SIZE)
  return addr >= 0 ? addr : -ENOMEM
}

// __mm_populate: fault the range in under mmap_read_lock; writable private mappings get their anon_vma.
function* populate(k: Kernel, t: Task, mm: Mm, start: number, end: number, write: boolean): Step<void> {
  yield* mmapReadLock(k, t, mm)
  for (const vma of mm.vmasIn(start, end)) {
    if (write && (vma.flags & (VM_WRITE | VM_SHARED)) === VM_WRITE) anonVmaPrepare(k, vma)
  }
  yield k.costs.populateNs
  mmapReadUnlock(k, t, mm)
}

export interface MunmapArgs extends Traced {
  addr: number
  len: number
}

/** munmap → do_vmi_munmap: write lock, gather + detach, downgrade, unmap, free the VMAs, read unlock. */
export function* sysMunmap(k: Kernel, t: Task, a: MunmapArgs): Step<number> {
  const mm = t.mm!
  return yield* unmapDowngrade(k, t, mm, a.addr, a.addr + pageAlign(a.len), holdOf(a, k.costs.munmapNs), a.result)
}

// munmap's lock sequence: write lock, then unmapLocked.
function* unmapDowngrade(k: Kernel, t: Task, mm: Mm, start: number, end: number, holdNs: number, result?: number): Step<number> {
  yield* mmapWriteLock(k, t, mm)
  return yield* unmapLocked(k, t, mm, start, end, holdNs, result)
}

// With the write lock held: detach [start, end), downgrade if anything was unmapped (6.1/6.4: and no stack above
// could grow into the range, do_mas_align_munmap), finish and unlock.
function* unmapLocked(k: Kernel, t: Task, mm: Mm, start: number, end: number, holdNs: number, result?: number): Step<number> {
  const removed = failed(result) ? [] : yield* detachRange(k, t, mm, start, end)
  const [w, r] = split(k, holdNs)
  yield w
  const next = removed.length === 0 || !k.gen.munmapKeepsWriteBesideStack ? null : (mm.tree.findNext(end)?.value ?? null)
  if (next !== null && (next.flags & VM_GROWSDOWN) !== 0) {
    yield r
    freeVmas(k, removed)
    mmapWriteUnlock(k, t, mm)
    return result ?? 0
  }
  if (removed.length === 0) {
    yield r
    mmapWriteUnlock(k, t, mm)
    return result ?? 0
  }
  mmapWriteDowngrade(k, t, mm)
  yield r
  freeVmas(k, removed)
  mmapReadUnlock(k, t, mm)
  return result ?? 0
}

export interface MprotectArgs extends Traced {
  addr: number
  len: number
  prot: number
}

/** mprotect / pkey_mprotect → do_mprotect_pkey: write lock, mprotect_fixup per VMA (split, write-lock, merge). */
export function* sysMprotect(k: Kernel, t: Task, a: MprotectArgs): Step<number> {
  if (mprotectReturnsUnlocked(a)) return a.result ?? (a.len === 0 ? 0 : -EINVAL)
  const mm = t.mm!
  yield* mmapWriteLock(k, t, mm)
  if (!failed(a.result)) {
    const bits = protToVmFlags(a.prot)
    yield* modifyRange(k, t, mm, a.addr, a.addr + pageAlign(a.len), (x) => ({...x, flags: (x.flags & ~(VM_READ | VM_WRITE | VM_EXEC)) | bits}))
  }
  yield holdOf(a, k.costs.mprotectNs)
  mmapWriteUnlock(k, t, mm)
  return a.result ?? 0
}

export interface MremapArgs extends Traced {
  addr: number
  oldLen: number
  newLen: number
  flags: number
  newAddr?: number
}

/** mremap: shrink (munmap the tail, downgrade), grow in place (vma_expand), or move (copy_vma + unmap the old range). */
export function* sysMremap(k: Kernel, t: Task, a: MremapArgs): Step<number> {
  if (mremapReturnsUnlocked(a)) return a.result ?? -EINVAL
  const mm = t.mm!
  const hold = holdOf(a, k.costs.mremapNs)
  const oldLen = pageAlign(a.oldLen)
  const newLen = pageAlign(a.newLen)
  yield* mmapWriteLock(k, t, mm)
  const vma = mm.vmaLookup(a.addr)
  const fixed = (a.flags & MREMAP_FIXED) !== 0
  let target = a.result ?? (fixed ? (a.newAddr ?? -EINVAL) : a.addr)
  if (!failed(a.result) && vma !== null && !fixed && target === a.addr && newLen > oldLen && !canGrowInPlace(mm, vma, a.addr, oldLen, newLen)) {
    target = (a.flags & MREMAP_MAYMOVE) !== 0 ? getUnmappedArea(mm, newLen) : -ENOMEM
  }
  // vma_to_resize: the old range must lie in one VMA (-EFAULT); a move must not overlap it (-EINVAL).
  const err = failed(a.result)
    ? a.result
    : vma === null || a.addr + oldLen > vma.end
      ? -EFAULT
      : target < 0
        ? target
        : (fixed || target !== a.addr) && target < a.addr + oldLen && a.addr < target + newLen
          ? -EINVAL
          : 0
  if (err < 0) {
    yield hold
    mmapWriteUnlock(k, t, mm)
    return err
  }
  if (target === a.addr && !fixed) {
    if (newLen < oldLen) {
      yield* unmapLocked(k, t, mm, a.addr + newLen, a.addr + oldLen, hold)
      return a.addr
    }
    if (newLen > oldLen) yield* expandVma(t, vma!, vma!.start, a.addr + newLen)
    yield hold
    mmapWriteUnlock(k, t, mm)
    return a.addr
  }
  // move_vma: unmap the destination (MREMAP_FIXED), copy_vma to the new place keeping the anon_vma, unmap the source.
  yield* moveVma(k, t, mm, a.addr, oldLen, newLen, target, (a.flags & MREMAP_DONTUNMAP) !== 0)
  yield hold
  mmapWriteUnlock(k, t, mm)
  return target
}

function canGrowInPlace(mm: Mm, vma: Vma, addr: number, oldLen: number, newLen: number): boolean {
  return vma.end === addr + oldLen && addr + newLen <= TASK_SIZE && mm.vmasIn(addr + oldLen, addr + newLen).length === 0
}

// move_vma: clear the destination, trim a shrinking source, copy_vma (same anon_vma: the moved VMA keeps it, and
// may merge at the destination), then unmap the old range — or, with MREMAP_DONTUNMAP, leave it mapped but
// emptied (VM_LOCKED cleared, anon_vma unlinked when the whole VMA moved).
function* moveVma(k: Kernel, t: Task, mm: Mm, addr: number, oldLen: number, newLen: number, target: number, dontUnmap: boolean): Step<void> {
  freeVmas(k, yield* detachRange(k, t, mm, target, target + newLen))
  if (newLen < oldLen) freeVmas(k, yield* detachRange(k, t, mm, addr + newLen, addr + oldLen))
  const moveLen = Math.min(oldLen, newLen)
  let src = mm.vmaLookup(addr)!
  if (src.start < addr) yield* splitVma(k, t, src, addr, true)
  if (src.end > addr + moveLen) yield* splitVma(k, t, src, addr + moveLen, false)
  src = mm.vmaLookup(addr)!
  yield* vmaStartWrite(t, src)
  yield* insertRange(k, t, mm, target, target + newLen, src.attrs())
  if (dontUnmap) {
    src.anonVma = null
    src.flags &= ~(VM_LOCKED | VM_LOCKONFAULT)
  } else freeVmas(k, yield* detachRange(k, t, mm, addr, addr + moveLen))
}

export interface BrkArgs extends Traced {
  /** The requested break. */
  brk: number
}

/**
 * brk: write lock; grow through do_brk_flags (expands the heap VMA in place, write-locking it, or maps a new
 * one), shrink through do_vmi_align_munmap with downgrade. The first call with an unknown break (brk(0)) only
 * records it.
 */
export function* sysBrk(k: Kernel, t: Task, a: BrkArgs): Step<number> {
  const mm = t.mm!
  const hold = holdOf(a, k.costs.brkNs)
  yield* mmapWriteLock(k, t, mm)
  const newBrk = a.result ?? a.brk
  if (Number.isNaN(mm.brk)) {
    mm.startBrk = mm.brk = newBrk
  } else if (a.brk >= mm.startBrk && newBrk >= mm.startBrk) {
    // (brk(0) and other requests below start_brk only query the break.)
    const oldEnd = pageAlign(mm.brk)
    const newEnd = pageAlign(newBrk)
    if (newEnd < oldEnd) {
      mm.brk = newBrk
      yield* unmapLocked(k, t, mm, newEnd, oldEnd, hold)
      return newBrk
    }
    if (newEnd > oldEnd) {
      const attrs: VmaAttrs = {flags: VM_READ | VM_WRITE | mm.defFlags, file: null, pgoff: oldEnd >> PAGE_SHIFT, anonVma: null, uffdCtx: 0}
      yield* insertRange(k, t, mm, oldEnd, newEnd, attrs)
    }
    mm.brk = newBrk
  }
  yield hold
  mmapWriteUnlock(k, t, mm)
  return mm.brk
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

const ZAPPING_ADVICE: ReadonlySet<number> = new Set([MADV.DONTNEED, MADV.DONTNEED_LOCKED, MADV.FREE, MADV.REMOVE, MADV.PAGEOUT])

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
  if (madviseReturnsUnlocked(k, a)) return a.result ?? (madviseBehaviorValid(k, a.advice) && !offsetInPage(a.addr) ? 0 : -EINVAL) // else: empty range
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
      for (const vma of mm.vmasIn(a.addr, end)) if ((vma.flags & (VM_WRITE | VM_SHARED)) === VM_WRITE) anonVmaPrepare(k, vma)
    }
    yield hold
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

export interface ExecArgs extends Traced {
  /** Top of the new stack VMA (default: just below TASK_SIZE). */
  stackTop?: number
  /** Initial stack VMA size (default 128 KiB, setup_arg_pages' stack_expand). */
  stackSize?: number
}

/**
 * execve's mm switch: bprm_mm_init builds the new mm with its stack VMA under the new mm's write lock;
 * exec_mmap read-locks the old mm, switches, and mmput()s it (exit_mmap if it was the last user). ELF mappings
 * are left to the caller (replay them as mmaps, or install them).
 */
export function* execMmap(k: Kernel, t: Task, a: ExecArgs = {}): Step<Mm> {
  const mm = k.createMm()
  const top = a.stackTop ?? TASK_SIZE - PAGE_SIZE
  const size = a.stackSize ?? 128 * 1024
  yield* mmapWriteLock(k, t, mm)
  const stack = yield* insertRange(k, t, mm, top - size, top, {
    flags: VM_READ | VM_WRITE | VM_GROWSDOWN,
    file: null,
    pgoff: (top - size) >> PAGE_SHIFT,
    anonVma: null,
    uffdCtx: 0,
  })
  anonVmaPrepare(k, stack) // argv/envp are copied into it
  mmapWriteUnlock(k, t, mm)
  const old = t.mm
  if (old !== null) {
    yield* mmapReadLock(k, t, old)
    mmapReadUnlock(k, t, old)
  }
  t.mm = mm
  mm.users++
  if (old !== null) yield* mmput(k, t, old)
  yield* loadElfLocks(k, t, mm)
  yield holdOf(a, k.costs.execNs)
  return mm
}

/**
 * The write-lock sections load_elf_binary (fs/binfmt_elf.c, 6.1–6.18) takes on the new mm after the switch, each an
 * mmap_write_lock_killable: setup_arg_pages; for the binary and for its interpreter, one vm_mmap per PT_LOAD (4 in
 * a dynamically linked x86-64 PIE and in ld.so) plus the vm_munmap of the tail of the first one, mapped at
 * total_mapping_size; the bss brk (vm_brk_flags); map_vdso. Real 6.1 and 6.12 execs of /bin/true and /bin/sh take
 * 14–15 write locks, bprm_mm_init's included. Their time is part of execNs; the mappings themselves come from the
 * trace (exec's vm_unmapped_area events) or are inferred.
 */
export const ELF_LOAD_WRITE_LOCKS = 1 + 2 * (4 + 1) + 1 + 1

function* loadElfLocks(k: Kernel, t: Task, mm: Mm): Step<void> {
  for (let i = 0; i < ELF_LOAD_WRITE_LOCKS; i++) {
    yield* mmapWriteLock(k, t, mm)
    mmapWriteUnlock(k, t, mm)
  }
}

/** exit_mm: read lock/unlock around detaching the task from its mm, then mmput. */
export function* exitMm(k: Kernel, t: Task): Step<void> {
  const mm = t.mm
  if (mm === null) return
  yield* mmapReadLock(k, t, mm)
  mmapReadUnlock(k, t, mm)
  t.mm = null
  yield* mmput(k, t, mm)
}

/** mmput: the last user tears the address space down. */
export function* mmput(k: Kernel, t: Task, mm: Mm): Step<void> {
  if (--mm.users === 0) yield* exitMmap(k, t, mm)
}

/**
 * exit_mmap: unmap everything under mmap_read_lock, then free page tables and VMAs under mmap_write_lock. VMAs
 * are freed without RCU (unreachable); on 6.15+ they return to the typesafe cache for reuse by any mm.
 */
export function* exitMmap(k: Kernel, t: Task, mm: Mm): Step<void> {
  yield* mmapReadLock(k, t, mm)
  const vmas = mm.vmasIn(0, TASK_SIZE)
  yield k.costs.exitPerVmaNs * vmas.length
  mmapReadUnlock(k, t, mm)
  yield* mmapWriteLock(k, t, mm)
  yield k.costs.exitWriteNs
  mm.tree.replaceAll([])
  for (const v of vmas) {
    v.state = 'detached' // nobody can reach them any more: no write lock needed
    k.vmAreaFree(v, true)
  }
  mm.dead = true
  mmapWriteUnlock(k, t, mm)
}

export interface InstallVmaArgs {
  start: number
  end: number
  prot: number
  shared?: boolean
  /** Extra VM_* flags (VM_GROWSDOWN for [stack], VM_HUGEPAGE, ...). */
  flags?: number
  file?: FileRef | null
  /** pgoff in pages (default: file 0, anonymous start >> PAGE_SHIFT). */
  pgoff?: number
  /** Give it an anon_vma (a VMA that has been written: heap, stack, touched anonymous memory). */
  anonVma?: boolean
}

/**
 * Install a VMA as found (a /proc/PID/maps snapshot line, an ELF segment the trace never showed being mapped):
 * no locking, no merging, no time. Replaces whatever overlapped.
 */
export function installVma(k: Kernel, mm: Mm, a: InstallVmaArgs): Vma {
  for (const v of mm.vmasIn(a.start, a.end)) {
    if (v.start < a.start || v.end > a.end) throw new Error(`installVma [${a.start}, ${a.end}) cuts ${v}`)
    v.state = 'detached'
    k.vmAreaFree(v, true)
  }
  const file = a.file ?? null
  const flags = protToVmFlags(a.prot) | (a.shared === true ? VM_SHARED : 0) | (a.flags ?? 0)
  const vma = k.vmAreaAlloc(mm, a.start, a.end, {
    flags,
    file,
    pgoff: a.pgoff ?? (file !== null ? 0 : a.start >> PAGE_SHIFT),
    anonVma: a.anonVma === true ? k.newAnonVma(false) : null,
    uffdCtx: 0,
  })
  mm.tree.store(a.start, a.end, vma)
  vmaMarkAttached(vma)
  return vma
}

/** Arm (or disarm, ctx 0) userfaultfd on a range: UFFDIO_REGISTER / UNREGISTER under the mmap write lock. */
export function* uffdRegister(k: Kernel, t: Task, a: {addr: number; len: number; ctx: number} & Traced): Step<void> {
  const mm = t.mm!
  yield* mmapWriteLock(k, t, mm)
  const armed = a.ctx !== 0 ? VM_UFFD_MISSING : 0
  yield* modifyRange(k, t, mm, a.addr, a.addr + pageAlign(a.len), (x) => ({...x, uffdCtx: a.ctx, flags: (x.flags & ~VM_UFFD_ARMED) | armed}))
  yield holdOf(a, k.costs.mprotectNs)
  mmapWriteUnlock(k, t, mm)
}
