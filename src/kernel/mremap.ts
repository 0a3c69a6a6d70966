// mremap (mm/mremap.c): shrink, grow in place, or move.
import type {Step} from '../sim/scheduler.js'
import type {Kernel} from './kernel.js'
import {mmapWriteLock, mmapWriteUnlock, TASK_SIZE, type Mm} from './mm.js'
import type {Task} from './task.js'
import {detachRange, expandVma, freeVmas, insertRange, splitVma} from './vma-ops.js'
import {vmaStartWrite} from './vma-lock.js'
import {VM_LOCKED, VM_LOCKONFAULT, Vma} from './vma.js'
import {getUnmappedArea, unmapLocked} from './mmap.js'
import {type Traced, failed, holdOf, offsetInPage, pageAlign} from './syscall-common.js'
import {EFAULT, EINVAL, ENOMEM, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE} from './uapi.js'

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
  if (
    !failed(a.result) &&
    vma !== null &&
    !fixed &&
    target === a.addr &&
    newLen > oldLen &&
    !canGrowInPlace(mm, vma, a.addr, oldLen, newLen)
  ) {
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
function* moveVma(
  k: Kernel,
  t: Task,
  mm: Mm,
  addr: number,
  oldLen: number,
  newLen: number,
  target: number,
  dontUnmap: boolean,
): Step<void> {
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
