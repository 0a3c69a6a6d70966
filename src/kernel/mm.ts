// struct mm_struct (reduced) and the mmap_lock wrappers of include/linux/mmap_lock.h, which also emit the
// mmap_lock tracepoints (start_locking / acquire_returned / released) so a replay can be compared with a trace.
import {DONE, type Step} from '../sim/scheduler.js'
import {RwSem} from './rwsem.js'
import {NODE_BYTES, RangeTree} from './tree.js'
import {PAGE_SIZE, type Vma} from './vma.js'
import type {Kernel} from './kernel.js'
import type {Task} from './task.js'

/** TASK_SIZE_MAX on x86-64 with 4-level paging. */
export const TASK_SIZE = 2 ** 47 - 4096
/** /proc/sys/vm/mmap_min_addr: CONFIG_DEFAULT_MMAP_MIN_ADDR of Debian's and most distributions' x86-64 kernels. */
export const MMAP_MIN_ADDR = 0x10000
/** Default mmap_base (top-down allocation starts below the stack gap). */
export const DEFAULT_MMAP_BASE = 0x7f00_0000_0000

export class Mm {
  /** VMA tree (mm->mm_mt). */
  readonly tree = new RangeTree<Vma>()
  /** mm->mmap_lock */
  readonly lock: RwSem
  /** mm->mm_lock_seq: a VMA is write-locked iff vma.lockSeq === lockSeq while the write lock is held. */
  lockSeq = 0
  /** Seqcount of write sections, odd while write-locked (mmap_lock_speculate_*; used by the SPF policy). */
  writeEpoch = 0
  /** mm_users */
  users = 0
  /** Heap bounds (mm->start_brk, mm->brk); NaN until known. */
  startBrk = NaN
  brk = NaN
  mmapBase = DEFAULT_MMAP_BASE
  /** mm->def_flags (VM_LOCKED after mlockall(MCL_FUTURE)). */
  defFlags = 0
  dead = false
  /**
   * The file PTEs do_fault_around asked filemap_map_pages to install, by page number (address / PAGE_SIZE): the
   * part of the page tables a file read fault can tell from. Zapped with their range (zapPtes).
   */
  readonly faultAround = new Set<number>()

  constructor(
    readonly id: number,
    k: Kernel,
  ) {
    this.lock = new RwSem(k.costs, true) // CONFIG_RWSEM_SPIN_ON_OWNER: on in every x86 SMP kernel modelled
    this.tree.retire = (nodes) => k.rcu.callRcu(null, nodes * NODE_BYTES, nodes, true) // ma_free_rcu: call_rcu, lazy under RCU_LAZY
  }

  /** The VMA covering `addr` under mmap_lock (vma_lookup). */
  vmaLookup(addr: number): Vma | null {
    return this.tree.find(addr)
  }

  /** find_vma: the first VMA ending above `addr`. */
  findVma(addr: number): Vma | null {
    return this.tree.find(addr) ?? this.tree.findNext(addr)?.value ?? null // a VMA covering addr is the first ending above it
  }

  /** VMAs overlapping [start, end), in order. */
  vmasIn(start: number, end: number): Vma[] {
    const out: Vma[] = []
    this.tree.forEachIn(start, end, (v) => out.push(v))
    return out
  }

  /** zap_page_range_single / unmap_vmas for [start, end): the file PTEs there are gone. */
  zapPtes(start: number, end: number): void {
    const set = this.faultAround
    if (set.size === 0) return
    const first = Math.floor(start / PAGE_SIZE)
    const last = Math.ceil(end / PAGE_SIZE)
    if (last - first > set.size) {
      for (const p of set) if (p >= first && p < last) set.delete(p)
    } else for (let p = first; p < last; p++) set.delete(p)
  }

  get mapCount(): number {
    let n = 0
    this.tree.forEachIn(0, Infinity, () => n++)
    return n
  }
}

/** A tracepoint of include/trace/events/mmap_lock.h, as the simulated kernel emits it. */
export interface LockTraceEvent {
  kind: 'start_locking' | 'acquire_returned' | 'released'
  time: number
  tid: number
  mm: number
  write: boolean
  success: boolean
}

function trace(k: Kernel, t: Task, mm: Mm, kind: LockTraceEvent['kind'], write: boolean, success = true): void {
  const fn = k.onLockEvent
  if (fn !== null) fn({kind, time: k.sched.now, tid: t.tid, mm: mm.id, write, success})
}

/** mmap_read_trylock (include/linux/mmap_lock.h, 6.18: __mmap_lock_trace_start_locking before down_read_trylock). */
export function mmapReadTrylock(k: Kernel, t: Task, mm: Mm): boolean {
  trace(k, t, mm, 'start_locking', false)
  const ok = mm.lock.tryRead(t)
  if (!ok) t.acct.failedTrylocks++
  trace(k, t, mm, 'acquire_returned', false, ok)
  return ok
}

/** mmap_read_lock / mmap_read_lock_killable */
export function mmapReadLock(k: Kernel, t: Task, mm: Mm): Step<void> {
  trace(k, t, mm, 'start_locking', false)
  const wait = mm.lock.read(t)
  if (wait !== DONE) return readLockWait(k, t, mm, wait)
  trace(k, t, mm, 'acquire_returned', false)
  return DONE
}

function* readLockWait(k: Kernel, t: Task, mm: Mm, wait: Step<void>): Step<void> {
  yield* wait
  trace(k, t, mm, 'acquire_returned', false)
}

/** mmap_read_unlock */
export function mmapReadUnlock(k: Kernel, t: Task, mm: Mm): void {
  trace(k, t, mm, 'released', false)
  mm.lock.upRead(t)
}

/** mmap_write_lock / mmap_write_lock_killable: then mm_lock_seqcount_begin (6.14+). */
export function mmapWriteLock(k: Kernel, t: Task, mm: Mm): Step<void> {
  trace(k, t, mm, 'start_locking', true)
  const wait = mm.lock.write(t)
  if (wait !== DONE) return writeLockWait(k, t, mm, wait)
  writeLocked(k, t, mm)
  return DONE
}

function* writeLockWait(k: Kernel, t: Task, mm: Mm, wait: Step<void>): Step<void> {
  yield* wait
  writeLocked(k, t, mm)
}

// mmap_write_lock once down_write returned.
function writeLocked(k: Kernel, t: Task, mm: Mm): void {
  if (k.gen.mmLockSeqcount) mm.lockSeq++
  mm.writeEpoch++
  trace(k, t, mm, 'acquire_returned', true)
}

/** vma_end_write_all (include/linux/mmap_lock.h): every VMA write-locked in this epoch is unlocked at once. */
export function vmaEndWriteAll(mm: Mm): void {
  mm.lockSeq++
  mm.writeEpoch++
}

/** mmap_write_unlock: released(w), seqcount end (vma_end_write_all), up_write. */
export function mmapWriteUnlock(k: Kernel, t: Task, mm: Mm): void {
  trace(k, t, mm, 'released', true)
  vmaEndWriteAll(mm)
  mm.lock.upWrite(t)
}

/** mmap_write_downgrade: acquire_returned(r) with no start, vma_end_write_all, downgrade_write. */
export function mmapWriteDowngrade(k: Kernel, t: Task, mm: Mm): void {
  trace(k, t, mm, 'acquire_returned', false)
  vmaEndWriteAll(mm)
  mm.lock.downgrade(t)
}
