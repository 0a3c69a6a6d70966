// Tree-changing system calls and process events, each taking mmap_lock the way the kernel does (write; downgrade
// for munmap, brk shrink and mremap shrink; read where the kernel reads) and write-locking exactly the VMAs the
// kernel write-locks. A replay usually knows the outcome: pass what the trace says of the call (Traced): its return
// value as `result` (the mmap address, a negative errno for a failed call: the lock is still taken and nothing
// changes, unless the call failed the argument checks it makes before locking), its duration as `tookNs`, and, when calibrating, its measured critical section as `holdNs`.
// What every modelled mm syscall shares: page rounding, the traced call's cost (Traced: result, duration, measured
// hold), calc_vm_prot_bits and __mm_populate.
import type {Step} from '../sim/scheduler.js'
import type {Kernel} from './kernel.js'
import {mmapReadLock, mmapReadUnlock, type Mm} from './mm.js'
import type {Task} from './task.js'
import {anonVmaPrepare} from './vma-ops.js'
import {PAGE_SIZE, VM_EXEC, VM_LOCKONFAULT, VM_READ, VM_SHARED, VM_WRITE} from './vma.js'
import {PROT_EXEC, PROT_READ, PROT_WRITE} from './uapi.js'

export const pageAlign = (n: number): number => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE
export const offsetInPage = (n: number): boolean => n % PAGE_SIZE !== 0

export const failed = (result: number | undefined): result is number => result !== undefined && result < 0

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
export function holdOf(a: Traced, cost: number): number {
  return a.holdNs ?? (a.tookNs !== undefined && a.tookNs < cost ? a.tookNs : cost)
}

// The write-then-downgrade split of a critical section.
export function split(k: Kernel, holdNs: number): [number, number] {
  const w = Math.round(holdNs * k.costs.downgradeWriteFraction)
  return [w, holdNs - w]
}

// __mm_populate: fault the range in under mmap_read_lock; writable private mappings get their anon_vma, except
// VM_LOCKONFAULT ones, which populate_vma_page_range leaves to their faults (mm/gup.c, 6.1–6.18).
export function* populate(k: Kernel, t: Task, mm: Mm, start: number, end: number, write: boolean): Step<void> {
  yield* mmapReadLock(k, t, mm)
  for (const vma of mm.vmasIn(start, end)) {
    if (write && (vma.flags & (VM_WRITE | VM_SHARED | VM_LOCKONFAULT)) === VM_WRITE) anonVmaPrepare(k, vma)
  }
  yield k.costs.populateNs
  mmapReadUnlock(k, t, mm)
}
