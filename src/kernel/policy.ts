// The fault-path decisions as one object. `policyFromGeneration` gives the kernel's own behaviour for a
// generation; other policies (ideal, SPF, user knob files) are the same shape with fields overridden, so the
// fault path never asks "which version is this".
import type {Generation} from './generations.js'

/** Why a fault ended where it did (the first reason it left the per-VMA path, or how it completed there). */
export type FaultReason =
  | 'ok' // completed under the VMA lock, mmap_lock untouched
  | 'anon_vma_trylock' // completed under the VMA lock; __vmf_anon_prepare took mmap_lock by trylock
  | 'anon_vma_trylock_failed' // that trylock failed → RETRY → fallback
  | 'anon_vma_retry' // anon_vma needed under the VMA lock → RETRY (6.6 do_wp_page, 6.7–6.9 vmf_anon_prepare)
  | 'vma_write_locked' // lookup: VMA write-locked in this epoch, or a writer is draining its readers
  | 'vma_detached' // lookup: detached (a MISS; normally retried, final only for policies that do not retry)
  | 'vma_reused' // lookup (6.15+): the object now belongs to another mm
  | 'range_changed' // lookup: the locked VMA no longer covers the address
  | 'no_vma' // no VMA at the address (SIGSEGV unless the stack grows)
  | 'not_anonymous' // lookup (6.4, 6.5): file-backed VMA
  | 'no_anon_vma' // lookup (6.4–6.9): anonymous VMA without anon_vma
  | 'uffd' // userfaultfd: rejected at lookup (≤6.5) or the handler wait dropped the lock (RETRY)
  | 'file_fault' // 6.6: ->fault / COW / shared write needed, not allowed under the VMA lock yet
  | 'file_no_map_pages' // 6.7+: ->fault on a VMA without ->map_pages (vmf_can_call_fault)
  | 'io_retry' // page-cache / swap I/O dropped the lock → RETRY
  | 'swap' // ≤6.5: do_swap_page RETRYs under the VMA lock
  | 'hugetlb' // 6.6–6.9: hugetlb_fault RETRYs under the VMA lock
  | 'stack_growth' // below a VM_GROWSDOWN VMA: expand under mmap_lock
  | 'kernel_mode' // uaccess fault from kernel mode: always mmap_lock on x86
  | 'access_error' // x86 access_error(): SIGSEGV (under the VMA lock 6.10+, else after falling back)
  | 'policy_mmap_lock' // the policy has no per-VMA path (6.1)
  | 'mm_changed' // speculative policy: the mm was written during the fault
  | 'bad_address' // not a user address (kernel half, vsyscall page): handled before any lock (fault_in_kernel_space)

/** What kind of fault handle_mm_fault would take (handle_pte_fault's dispatch). */
export type FaultKind =
  | 'anon_read' // do_anonymous_page read: zero page, no anon_vma
  | 'anon_write' // do_anonymous_page write: needs anon_vma
  | 'anon_thp' // do_huge_pmd_anonymous_page: needs anon_vma even on read (6.10+ vmf_anon_prepare first)
  | 'file_read' // do_read_fault: fault-around (->map_pages) or ->fault
  | 'file_cow' // do_cow_fault: write to a not-present page of a private file mapping
  | 'file_shared' // do_shared_fault: write to a not-present page of a shared mapping
  | 'wp_copy' // do_wp_page → wp_page_copy: write to a present read-only page of a private mapping (COW)
  | 'wp_shared' // do_wp_page → wp_page_shared / page_mkwrite
  | 'swap' // do_swap_page
  | 'hugetlb' // hugetlb_fault

export interface FaultPolicy {
  readonly name: string
  /** 'vma_lock': lock_vma_under_rcu first; 'speculative': lockless, validated by the mm write seqcount; 'none': mmap_lock only. */
  readonly fastPath: 'vma_lock' | 'speculative' | 'none'
  /** Kernel-mode (uaccess) faults try the fast path too (x86: never). */
  readonly kernelFaultsFast: boolean
  readonly lookupRequiresAnon: boolean
  readonly lookupRequiresAnonVma: boolean
  readonly lookupRejectsUffd: boolean
  /** Missing anon_vma under the VMA lock: RETRY, mmap_read_trylock, or 'unlocked' (attach without mmap_lock: a what-if). */
  readonly anonVmaPrepare: 'retry' | 'trylock' | 'unlocked'
  /** As Generation.fileFaults, plus 'any' (->fault even without ->map_pages: a what-if). */
  readonly fileFaults: 'fallback' | 'map_pages' | 'fault' | 'any'
  readonly swapUnderVmaLock: boolean
  readonly hugetlbUnderVmaLock: boolean
  readonly accessErrorUnderVmaLock: boolean
  /** I/O and uffd waits drop the VMA lock and RETRY (kernel) or wait holding it (what-if). */
  readonly waitsDropVmaLock: boolean
  /** After an I/O RETRY, retry through lock_vma_under_rcu before mmap_lock (VM_FAULT_RETRY_VMA proposal). */
  readonly retryUnderVmaLock: boolean
  readonly stackGrowth: 'read' | 'write_downgrade'
  /**
   * A removed VMA drops its file reference (fput) in an RCU callback after a grace period instead of at once, so a
   * fault may use vma->vm_file without mmap_lock (Michel Lespinasse, "mm: rcu safe vma->vm_file freeing", 2021, never
   * merged): a what-if.
   */
  readonly rcuDeferredFput: boolean
  /** CONFIG_RCU_LAZY: call_rcu callbacks wait until the oldest has waited this long (ns) before a grace period
   * starts for them, unless a non-lazy call_rcu comes first (0: off). */
  readonly rcuLazyNs: number
}

/** The kernel's own fault policy for a generation; `over` adjusts knobs. */
export function policyFromGeneration(g: Generation, over: Partial<FaultPolicy> = {}): FaultPolicy {
  return Object.freeze({
    name: g.name,
    fastPath: g.perVmaLock ? 'vma_lock' : 'none',
    kernelFaultsFast: false,
    lookupRequiresAnon: g.lookupRequiresAnon,
    lookupRequiresAnonVma: g.lookupRequiresAnonVma,
    lookupRejectsUffd: g.lookupRejectsUffd,
    anonVmaPrepare: g.anonVmaPrepare,
    fileFaults: g.fileFaults,
    swapUnderVmaLock: g.swapUnderVmaLock,
    hugetlbUnderVmaLock: g.hugetlbUnderVmaLock,
    accessErrorUnderVmaLock: g.accessErrorUnderVmaLock,
    waitsDropVmaLock: true,
    retryUnderVmaLock: false,
    stackGrowth: g.stackGrowth,
    rcuDeferredFput: false,
    rcuLazyNs: 0,
    ...over,
  })
}
