// Simulated time each kernel step consumes, ns. Logic never hard-codes a duration: it reads this table, which
// the engine may override wholesale or per field (and per call, with a traced syscall duration). Defaults are
// order-of-magnitude figures for a 2-vCPU x86 guest, meant to be calibrated against traces.

export interface CostTable {
  /** Exception entry to do_user_addr_fault's first lookup. */
  faultEntryNs: number
  /** lock_vma_under_rcu: the window between the maple walk and vma_start_read. */
  vmaLookupNs: number
  /** find_vma under mmap_lock. */
  findVmaNs: number
  /** Handling a fault once locked, by kind. */
  anonFaultNs: number // do_anonymous_page: allocate + zero a page
  zeroPageFaultNs: number // read fault mapping the zero page
  fileFaultNs: number // page-cache hit: fault-around / ->fault
  cowFaultNs: number // wp_page_copy / do_cow_fault
  thpFaultNs: number // do_huge_pmd_anonymous_page: a 2 MiB page
  /** __anon_vma_prepare under mmap_read_trylock: the mmap_lock hold of the anon_vma trylock path. */
  anonVmaPrepareNs: number
  /** A major fault's I/O (page-cache miss, swap-in), spent without locks before the RETRY. */
  ioNs: number
  /** A userfaultfd round trip to the handler thread. */
  uffdNs: number
  /** expand_stack_locked. */
  stackExpandNs: number
  /** A woken sleeper starts running (rwsem writer wake-up; the window in which others may steal the lock). */
  wakeLatencyNs: number
  /** rwsem_down_read_slowpath's steal: a reader whose fast path failed (a writer queued) takes the free lock anyway. */
  readSlowpathNs: number
  /** rwsem handoff: the head waiter forbids stealing after waiting this long (DIV_ROUND_UP(HZ,250) jiffies = 4 ms at HZ=250). */
  rwsemHandoffNs: number
  /** Critical sections of the tree-changing syscalls (total lock hold when no traced duration is given). */
  mmapNs: number
  munmapNs: number
  mprotectNs: number
  mremapNs: number
  brkNs: number
  madviseNs: number
  mlockNs: number
  /** Fraction of a downgrading syscall's hold spent before the downgrade (munmap, brk/mremap shrink). */
  downgradeWriteFraction: number
  /** Populate after mmap(MAP_POPULATE)/mlock, under mmap read. */
  populateNs: number
  /** dup_mmap: fixed part and per copied VMA (page-table copy). */
  forkNs: number
  forkPerVmaNs: number
  /** exit_mmap: read-locked unmap per VMA, then the write-locked teardown. */
  exitPerVmaNs: number
  exitWriteNs: number
  /** exec: old mm read section and new mm setup. */
  execNs: number
}

export const DEFAULT_COSTS: Readonly<CostTable> = Object.freeze({
  faultEntryNs: 300,
  vmaLookupNs: 100,
  findVmaNs: 100,
  anonFaultNs: 1_000,
  zeroPageFaultNs: 300,
  fileFaultNs: 600,
  cowFaultNs: 1_200,
  thpFaultNs: 40_000,
  anonVmaPrepareNs: 1_000,
  ioNs: 100_000,
  uffdNs: 20_000,
  stackExpandNs: 500,
  wakeLatencyNs: 3_000,
  readSlowpathNs: 200,
  rwsemHandoffNs: 4_000_000,
  mmapNs: 3_000,
  munmapNs: 6_000,
  mprotectNs: 3_000,
  mremapNs: 5_000,
  brkNs: 2_000,
  madviseNs: 3_000,
  mlockNs: 3_000,
  downgradeWriteFraction: 0.3,
  populateNs: 20_000,
  forkNs: 20_000,
  forkPerVmaNs: 1_000,
  exitPerVmaNs: 1_000,
  exitWriteNs: 10_000,
  execNs: 50_000,
})

export function costTable(over: Partial<CostTable> = {}): CostTable {
  return {...DEFAULT_COSTS, ...over}
}
