// struct vm_area_struct, reduced to what decides locking: range, vm_flags, file identity + pgoff, anon_vma, the
// userfaultfd context and the per-VMA lock state. Lifecycle: new (detached) → attached → (write-locked in an
// epoch) → detached → freed: after an RCU grace period up to 6.14 (vm_area_free → call_rcu), or straight back
// into a SLAB_TYPESAFE_BY_RCU cache on 6.15+, from which the next vm_area_alloc of ANY mm may take it at once.
import type {Mm} from './mm.js'
import type {Task} from './task.js'

export const PAGE_SIZE = 4096
export const PAGE_SHIFT = 12
export const PMD_SIZE = 2 * 1024 * 1024

// vm_flags bits (include/linux/mm.h values).
export const VM_READ = 0x1
export const VM_WRITE = 0x2
export const VM_EXEC = 0x4
export const VM_SHARED = 0x8
export const VM_GROWSDOWN = 0x100
export const VM_UFFD_MISSING = 0x200
export const VM_PFNMAP = 0x400
export const VM_UFFD_WP = 0x1000
export const VM_LOCKED = 0x2000
export const VM_IO = 0x4000
export const VM_SEQ_READ = 0x8000
export const VM_RAND_READ = 0x10000
export const VM_DONTCOPY = 0x20000
export const VM_DONTEXPAND = 0x40000
export const VM_LOCKONFAULT = 0x80000
export const VM_NORESERVE = 0x200000
export const VM_HUGETLB = 0x400000
export const VM_WIPEONFORK = 0x2000000
export const VM_DONTDUMP = 0x4000000
export const VM_MIXEDMAP = 0x10000000
export const VM_HUGEPAGE = 0x20000000
export const VM_NOHUGEPAGE = 0x40000000
// The kernel's VM_MERGEABLE is bit 31; the model keeps flags positive int32s, so it uses a bit free here (VM_ARCH_1).
export const VM_MERGEABLE = 0x1000000
/** Never merged (VM_SPECIAL). */
export const VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP
export const VM_UFFD_ARMED = VM_UFFD_MISSING | VM_UFFD_WP
export const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC

/** A mapped file (struct file + its vm_operations, as far as locking cares). */
export interface FileRef {
  /** Identity: two VMAs map the same file iff ids are equal. */
  readonly id: string | number
  /** vm_ops->map_pages exists (page-cache filesystems, shmem: yes; most drivers: no). */
  readonly mapPages: boolean
  /** vm_ops->close exists (prevents merging). */
  readonly hasClose?: boolean
  /**
   * A stand-in for a mapping the trace did not show (a replay's inference): its VMA bounds are a guess, so the
   * PTEs do_fault_around installed (a window clamped to the real VMA) are not tracked for it.
   */
  readonly approximate?: boolean
  /** Path where the trace names it (maps snapshot, perf MMAP2, exec): reports only, never identity. */
  readonly path?: string
  /** shmem_mapping(): the shmem file behind MAP_SHARED|MAP_ANONYMOUS (a tmpfs file the trace cannot tell). */
  readonly shmem?: boolean
}

/** struct anon_vma. `forked`: created by anon_vma_fork (its VMA's anon_vma_chain is not singular). */
export interface AnonVma {
  readonly id: number
  readonly forked: boolean
}

export type VmaState = 'new' | 'attached' | 'detached' | 'freeing' | 'freed'

/** The fields that decide merging and faulting; copied by split, dup and mremap. */
export interface VmaAttrs {
  flags: number
  file: FileRef | null
  /** Offset in pages: file offset, or (anonymous) the address >> PAGE_SHIFT at creation. */
  pgoff: number
  anonVma: AnonVma | null
  /** userfaultfd context id (0 = none). */
  uffdCtx: number
}

export class Vma implements VmaAttrs {
  /** Slab object identity (kept across reuse on 6.15+). */
  readonly id: number
  /** Incremented each time a 6.15+ cache hands the object out again. */
  incarnation = 0
  /** vm_mm */
  mm: Mm | null
  start: number
  end: number
  flags = 0
  file: FileRef | null = null
  pgoff = 0
  anonVma: AnonVma | null = null
  uffdCtx = 0
  state: VmaState = 'new'
  /** vm_lock_seq (UINT_MAX = -1 here when never locked). */
  lockSeq = -1
  /** Per-VMA read holders (rwsem readers ≤6.14; vm_refcnt − 1 on 6.15+). */
  readers = 0
  /** A writer excludes readers: rwsem writer held/queued (≤6.14) or VMA_LOCK_OFFSET added (6.15+). */
  excluding = false
  /** The writer sleeping in vma_start_write / vma_mark_detached until readers drain. */
  writerWaiting: Task | null = null

  constructor(id: number, mm: Mm, start: number, end: number) {
    this.id = id
    this.mm = mm
    this.start = start
    this.end = end
  }

  get attached(): boolean {
    return this.state === 'attached'
  }

  /** vm_refcnt as 6.15+ defines it: 0 detached, 1 attached, +1 per reader, + VMA_LOCK_OFFSET while a writer excludes. */
  get refcnt(): number {
    return (this.attached ? 1 : 0) + this.readers + (this.excluding ? VMA_LOCK_OFFSET : 0)
  }

  get anonymous(): boolean {
    return this.file === null
  }

  get pages(): number {
    return (this.end - this.start) / PAGE_SIZE
  }

  get uffdArmed(): boolean {
    return (this.flags & VM_UFFD_ARMED) !== 0
  }

  attrs(): VmaAttrs {
    return {flags: this.flags, file: this.file, pgoff: this.pgoff, anonVma: this.anonVma, uffdCtx: this.uffdCtx}
  }

  setAttrs(a: VmaAttrs): void {
    this.flags = a.flags
    this.file = a.file
    this.pgoff = a.pgoff
    this.anonVma = a.anonVma
    this.uffdCtx = a.uffdCtx
  }

  toString(): string {
    const h = (n: number): string => n.toString(16)
    return `vma#${this.id}[${h(this.start)}-${h(this.end)} ${this.state}${this.anonVma ? ' av' : ''}]`
  }
}

export const VMA_LOCK_OFFSET = 0x40000000
/** sizeof(struct vm_area_struct) (+ struct vma_lock before 6.15): the memory an RCU-deferred free holds. */
export const VMA_BYTES = 200
export const VMA_LOCK_BYTES = 48

/** is_mergeable_vma + is_mergeable_anon_vma + pgoff contiguity: may `a` (left) and `b` (right, adjacent) merge? */
export function mergeable(a: VmaAttrs, aPages: number, b: VmaAttrs): boolean {
  if (a.flags !== b.flags || (a.flags & VM_SPECIAL) !== 0) return false
  if (a.uffdCtx !== b.uffdCtx) return false
  if (a.file !== b.file && (a.file === null || b.file === null || a.file.id !== b.file.id)) return false
  if (a.file !== null && a.file.hasClose === true) return false
  if (a.pgoff + aPages !== b.pgoff) return false
  return a.anonVma === null || b.anonVma === null || a.anonVma === b.anonVma
}
