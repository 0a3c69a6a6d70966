// mmap, munmap and brk (mm/mmap.c, mm/vma.c), exit_mmap, and installing a VMA the trace never showed being mapped.
import type {Step} from '../sim/scheduler.js'
import type {Kernel} from './kernel.js'
import {
  MMAP_MIN_ADDR,
  mmapReadLock,
  mmapReadUnlock,
  mmapWriteDowngrade,
  mmapWriteLock,
  mmapWriteUnlock,
  TASK_SIZE,
  type Mm,
} from './mm.js'
import type {Task} from './task.js'
import {detachRange, freeVmas, insertRange} from './vma-ops.js'
import {vmaMarkAttached} from './vma-lock.js'
import {
  PAGE_SHIFT,
  PAGE_SIZE,
  VM_GROWSDOWN,
  VM_HUGETLB,
  VM_LOCKED,
  VM_NOHUGEPAGE,
  VM_NORESERVE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
  Vma,
  type FileRef,
  type VmaAttrs,
} from './vma.js'
import {type Traced, failed, holdOf, offsetInPage, pageAlign, populate, protToVmFlags, split} from './syscall-common.js'
import {
  EBADF,
  EINVAL,
  ENOMEM,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_HUGETLB,
  MAP_LOCKED,
  MAP_NORESERVE,
  MAP_NONBLOCK,
  MAP_POPULATE,
  MAP_SHARED,
  MAP_STACK,
  MAP_TYPE,
} from './uapi.js'

// The argument checks each call makes before mmap_write_lock_killable / mmap_read_lock (6.1, 6.12, 6.18): a call
// that fails them, or has nothing to do, returns without touching mmap_lock.
/** x86 sys_mmap: `off & ~PAGE_MASK`; ksys_mmap_pgoff: a bad fd (EBADF) for a file mapping. */
function mmapReturnsUnlocked(a: MmapArgs): boolean {
  return offsetInPage(a.offset ?? 0) || (a.result === -EBADF && (a.flags & MAP_ANONYMOUS) === 0)
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
  // do_mmap: populate when VM_LOCKED, or for MAP_POPULATE without MAP_NONBLOCK
  if ((a.flags & (MAP_POPULATE | MAP_NONBLOCK)) === MAP_POPULATE || (flags & VM_LOCKED) !== 0)
    yield* populate(k, t, mm, addr, addr + len, true)
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
function* unmapDowngrade(
  k: Kernel,
  t: Task,
  mm: Mm,
  start: number,
  end: number,
  holdNs: number,
  result?: number,
): Step<number> {
  yield* mmapWriteLock(k, t, mm)
  return yield* unmapLocked(k, t, mm, start, end, holdNs, result)
}

// With the write lock held: detach [start, end), downgrade if anything was unmapped (6.1/6.4: and no stack above
// could grow into the range, do_mas_align_munmap), finish and unlock.
export function* unmapLocked(
  k: Kernel,
  t: Task,
  mm: Mm,
  start: number,
  end: number,
  holdNs: number,
  result?: number,
): Step<number> {
  const removed = failed(result) ? [] : yield* detachRange(k, t, mm, start, end)
  const [w, r] = split(k, holdNs)
  yield w
  const next =
    removed.length === 0 || !k.gen.munmapKeepsWriteBesideStack ? null : (mm.tree.findNext(end)?.value ?? null)
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
      const attrs: VmaAttrs = {
        flags: VM_READ | VM_WRITE | mm.defFlags,
        file: null,
        pgoff: oldEnd >> PAGE_SHIFT,
        anonVma: null,
        uffdCtx: 0,
      }
      yield* insertRange(k, t, mm, oldEnd, newEnd, attrs)
    }
    mm.brk = newBrk
  }
  yield hold
  mmapWriteUnlock(k, t, mm)
  return mm.brk
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
  if (vmas.length === 0 && !k.gen.exitMmapEmptyWriteLocks) {
    mm.dead = true
    return
  }
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
