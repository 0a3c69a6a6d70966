// VMA tree surgery as mm/vma.c does it, under the mmap write lock: split, gather-and-detach a range, merge with
// neighbours (vma_merge_new_range / vma_merge_existing_range / vma_expand), insert, and anon_vma preparation and
// inheritance. Every function write-locks exactly the VMAs the kernel write-locks.
import type {Step} from '../sim/scheduler.js'
import type {Kernel} from './kernel.js'
import type {Mm} from './mm.js'
import type {Task} from './task.js'
import {vmaMarkAttached, vmaMarkDetached, vmaStartWrite} from './vma-lock.js'
import {mergeable, PAGE_SHIFT, VM_ACCESS_FLAGS, Vma, type AnonVma, type VmaAttrs} from './vma.js'

/** __split_vma: the original keeps the part at/above `addr` (newBelow) or below it; the other part is a new VMA. */
export function* splitVma(k: Kernel, t: Task, vma: Vma, addr: number, newBelow: boolean): Step<Vma> {
  const mm = vma.mm!
  yield* vmaStartWrite(t, vma)
  const a = vma.attrs() // anon_vma_clone: both halves share the anon_vma
  let nv: Vma
  if (newBelow) {
    nv = k.vmAreaAlloc(mm, vma.start, addr, a)
    vma.pgoff += (addr - vma.start) >> PAGE_SHIFT
    vma.start = addr
  } else {
    nv = k.vmAreaAlloc(mm, addr, vma.end, {...a, pgoff: a.pgoff + ((addr - vma.start) >> PAGE_SHIFT)})
    vma.end = addr
  }
  yield* vmaStartWrite(t, nv)
  mm.tree.store(nv.start, nv.end, nv)
  vmaMarkAttached(nv)
  return nv
}

/**
 * vms_gather_munmap_vmas + the detach half of vms_complete_munmap_vmas: split at the edges, write-lock every VMA
 * in [start, end), clear the range in the tree and mark them detached. The caller frees them (remove_vma) when
 * the kernel does: after the unmap work, still under the (possibly downgraded) lock.
 */
export function* detachRange(k: Kernel, t: Task, mm: Mm, start: number, end: number): Step<Vma[]> {
  const vmas = mm.vmasIn(start, end)
  if (vmas.length === 0) return vmas
  const first = vmas[0]!
  if (first.start < start) yield* splitVma(k, t, first, start, true)
  const last = vmas[vmas.length - 1]!
  if (last.end > end) yield* splitVma(k, t, last, end, false)
  for (const v of vmas) yield* vmaStartWrite(t, v)
  mm.tree.store(start, end, null)
  mm.zapPtes(start, end) // unmap_vmas in vms_clear_ptes
  for (const v of vmas) yield* vmaMarkDetached(t, v)
  return vmas
}

/** remove_vma for a list of detached VMAs. */
export function freeVmas(k: Kernel, vmas: Vma[], unreachable = false): void {
  for (const v of vmas) k.vmAreaFree(v, unreachable)
}

/**
 * __mmap_region's VMA step for an empty range [start, end): merge with compatible neighbours (vma_merge_new_range
 * → vma_expand, which write-locks the VMA it expands and the one it swallows) or insert a new, write-locked VMA.
 * A merged VMA keeps its anon_vma, so faults in the new range no longer need one.
 */
export function* insertRange(k: Kernel, t: Task, mm: Mm, start: number, end: number, a: VmaAttrs): Step<Vma> {
  const prev = start > 0 ? mm.tree.find(start - 1) : null
  const next = mm.tree.find(end)
  const pages = (end - start) >> PAGE_SHIFT
  const left = prev !== null && prev.end === start && mergeable(prev.attrs(), prev.pages, a)
  let right = next !== null && next.start === end && mergeable(a, pages, next.attrs())
  if (left && right && prev.anonVma !== null && next!.anonVma !== null && prev.anonVma !== next!.anonVma) right = false
  if (left) {
    yield* vmaStartWrite(t, prev)
    let newEnd = end
    if (right) {
      yield* vmaStartWrite(t, next!)
      prev.anonVma ??= next!.anonVma
      newEnd = next!.end
      yield* vmaMarkDetached(t, next!)
      k.vmAreaFree(next!)
    }
    prev.end = newEnd
    mm.tree.store(start, newEnd, prev)
    return prev
  }
  if (right) {
    yield* vmaStartWrite(t, next!)
    next!.start = start
    next!.pgoff = a.pgoff
    mm.tree.store(start, end, next!)
    return next!
  }
  const vma = k.vmAreaAlloc(mm, start, end, a)
  yield* vmaStartWrite(t, vma)
  mm.tree.store(start, end, vma)
  vmaMarkAttached(vma)
  return vma
}

/**
 * vma_modify over [start, end) (mprotect_fixup, mlock_fixup, madvise_update_vma, uffd register): for each VMA
 * whose attributes change, split at the range edges, write-lock it, apply, and merge it with the previous VMA;
 * the last one may merge with its next. Returns the number of VMAs changed.
 */
export function* modifyRange(
  k: Kernel,
  t: Task,
  mm: Mm,
  start: number,
  end: number,
  change: (a: VmaAttrs) => VmaAttrs,
): Step<number> {
  let changed = 0
  let last: Vma | null = null
  for (const vma of mm.vmasIn(start, end)) {
    if (sameAttrs(change(vma.attrs()), vma)) continue
    if (vma.start < start) yield* splitVma(k, t, vma, start, true)
    if (vma.end > end) yield* splitVma(k, t, vma, end, false)
    yield* vmaStartWrite(t, vma)
    vma.setAttrs(change(vma.attrs())) // after the split: pgoff moved with the start
    last = yield* mergePrev(k, t, mm, vma)
    changed++
  }
  if (last !== null) yield* mergeNext(k, t, mm, last)
  return changed
}

function sameAttrs(a: VmaAttrs, b: VmaAttrs): boolean {
  return (
    a.flags === b.flags &&
    a.file === b.file &&
    a.pgoff === b.pgoff &&
    a.anonVma === b.anonVma &&
    a.uffdCtx === b.uffdCtx
  )
}

// vma_merge_existing_range, left side: prev swallows vma.
function* mergePrev(k: Kernel, t: Task, mm: Mm, vma: Vma): Step<Vma> {
  const prev = vma.start > 0 ? mm.tree.find(vma.start - 1) : null
  if (prev === null || prev.end !== vma.start || !mergeable(prev.attrs(), prev.pages, vma.attrs())) return vma
  yield* vmaStartWrite(t, prev)
  yield* vmaStartWrite(t, vma)
  prev.anonVma ??= vma.anonVma
  prev.end = vma.end
  mm.tree.store(vma.start, vma.end, prev)
  yield* vmaMarkDetached(t, vma)
  k.vmAreaFree(vma)
  return prev
}

// vma_merge_existing_range, right side: vma swallows next.
function* mergeNext(k: Kernel, t: Task, mm: Mm, vma: Vma): Step<void> {
  const next = mm.tree.find(vma.end)
  if (next === null || next.start !== vma.end || !mergeable(vma.attrs(), vma.pages, next.attrs())) return
  yield* vmaStartWrite(t, vma)
  yield* vmaStartWrite(t, next)
  vma.anonVma ??= next.anonVma
  vma.end = next.end
  mm.tree.store(next.start, next.end, vma)
  yield* vmaMarkDetached(t, next)
  k.vmAreaFree(next)
}

/** vma_expand / expand_downwards in place: write-lock and store the new bounds. */
export function* expandVma(t: Task, vma: Vma, start: number, end: number): Step<void> {
  yield* vmaStartWrite(t, vma)
  const mm = vma.mm!
  if (start < vma.start) vma.pgoff -= (vma.start - start) >> PAGE_SHIFT
  vma.start = start
  vma.end = end
  mm.tree.store(start, end, vma)
}

/**
 * __anon_vma_prepare → find_mergeable_anon_vma: reuse a neighbour's anon_vma when the neighbour is
 * anon_vma_compatible (same file, flags equal but for access bits, contiguous pgoff) and its chain is singular
 * (not forked); else allocate one. Needs mmap_lock (it reads the neighbours), never the VMA write lock.
 */
export function anonVmaPrepare(k: Kernel, vma: Vma): AnonVma {
  if (vma.anonVma !== null) return vma.anonVma
  const mm = vma.mm!
  const prev = vma.start > 0 ? mm.tree.find(vma.start - 1) : null
  const next = mm.tree.find(vma.end)
  const reuse = (a: Vma | null, b: Vma | null, old: Vma | null): AnonVma | null =>
    a !== null && b !== null && old !== null && old.anonVma !== null && !old.anonVma.forked && anonVmaCompatible(a, b)
      ? old.anonVma
      : null
  vma.anonVma = reuse(vma, next, next) ?? reuse(prev, vma, prev) ?? k.newAnonVma(false)
  return vma.anonVma
}

function anonVmaCompatible(a: Vma, b: Vma): boolean {
  return (
    a.end === b.start &&
    a.file === b.file &&
    ((a.flags ^ b.flags) & ~VM_ACCESS_FLAGS) === 0 &&
    b.pgoff === a.pgoff + ((b.start - a.start) >> PAGE_SHIFT)
  )
}
