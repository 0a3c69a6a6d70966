// Kernel generations as data (docs/kernel.md has the table and the sources of each field). The fault path, lock_vma_under_rcu, the VMA lock and
// the syscalls read these fields instead of comparing version numbers. A locking policy is a generation plus
// knobs: see FaultPolicy in policy.ts.
import {DEFAULT_RCU_GRACE_PERIOD_NS} from './rcu.js'

export type GenerationName = '6.1' | '6.4' | '6.5' | '6.6' | '6.7' | '6.10' | '6.14' | '6.15' | '6.17' | '6.18'

export interface Generation {
  readonly name: GenerationName
  /** CONFIG_PER_VMA_LOCK: user faults try lock_vma_under_rcu first (6.4+). */
  readonly perVmaLock: boolean
  /** Per-VMA lock form: an rw_semaphore + `detached` flag (6.4–6.14) or vm_refcnt (6.15+). */
  readonly vmaLock: 'none' | 'rwsem' | 'refcount'
  /** lock_vma_under_rcu rejects non-anonymous VMAs (6.4, 6.5). */
  readonly lookupRequiresAnon: boolean
  /** lock_vma_under_rcu rejects anonymous VMAs without anon_vma (6.4–6.9). */
  readonly lookupRequiresAnonVma: boolean
  /** lock_vma_under_rcu rejects userfaultfd-armed VMAs (6.4, 6.5); later uffd faults RETRY in the handler. */
  readonly lookupRejectsUffd: boolean
  /** A missing anon_vma under the VMA lock: RETRY (6.6 do_wp_page, 6.7–6.9 vmf_anon_prepare) or mmap_read_trylock (6.10+). */
  readonly anonVmaPrepare: 'retry' | 'trylock'
  /**
   * File faults under the VMA lock: 'fallback' = never (lookup rejects them, ≤6.5); 'map_pages' = only fault-around
   * of cached pages, every ->fault / COW / shared write RETRYs (6.6); 'fault' = ->fault allowed when the VMA has
   * ->map_pages, COW via vmf_anon_prepare, page_mkwrite (6.7+).
   */
  readonly fileFaults: 'fallback' | 'map_pages' | 'fault'
  /** do_swap_page under the VMA lock (6.6+; before: RETRY at once). */
  readonly swapUnderVmaLock: boolean
  /** hugetlb_fault under the VMA lock (6.10+; 6.6–6.9 RETRY). */
  readonly hugetlbUnderVmaLock: boolean
  /** x86 access errors signalled under the VMA lock (6.10+; before: fall back and signal under mmap_lock). */
  readonly accessErrorUnderVmaLock: boolean
  /**
   * Stack growth below VM_GROWSDOWN: under mmap read (6.4.0, 6.1.0–6.1.36) or drop read → write → expand → downgrade
   * (lock_mm_and_find_vma, the StackRot fix: 6.5+, backported to 6.1.37).
   */
  readonly stackGrowth: 'read' | 'write_downgrade'
  /** dup_mmap write-locks every parent VMA for the whole copy (6.4.3 / 6.5+). */
  readonly forkWriteLocksParent: boolean
  /** mm_lock_seq is a seqcount (odd while write-locked) (6.14+); before, an int bumped at write unlock. */
  readonly mmLockSeqcount: boolean
  /** vm_area_free defers the free by call_rcu (6.4–6.14, for lock_vma_under_rcu); 6.1 frees at once (kmem_cache_free). */
  readonly vmaFreeByRcu: boolean
  /**
   * rwsem-form lock_vma_under_rcu tests `vma->detached` (MISS, walk again) before the range (6.12's mm/memory.c);
   * the 6.4 form tested the range first, so a VMA resized then detached under it aborted.
   */
  readonly lookupDetachedBeforeRange: boolean
  /**
   * munmap (and brk/mremap shrinking) keeps the write lock instead of downgrading when the VMA after the range is
   * VM_GROWSDOWN, which could grow under a read lock into the range being unmapped (6.1's do_mas_align_munmap, 6.4);
   * from 6.5 stacks grow only under the write lock and the downgrade is unconditional ("mm: always downgrade
   * mmap_lock if requested", Matthew Wilcox, June 2023).
   */
  readonly munmapKeepsWriteBesideStack: boolean
  /** VMAs come from a SLAB_TYPESAFE_BY_RCU cache: a freed VMA is reusable at once, even by another mm (6.15+). */
  readonly typesafeByRcuReuse: boolean
  /** MADV_DONTNEED(_LOCKED) on a single-VMA range under the per-VMA read lock (6.17+). */
  readonly madviseDontneedVmaLock: boolean
  /** MADV_FREE likewise (6.18; the version it landed in is not verified). */
  readonly madviseFreeVmaLock: boolean
  /** MADV_GUARD_INSTALL/REMOVE exist (added in 6.13; 6.14 here, since the 6.10 generation stands for 6.12):
   * before, madvise_behavior_valid refuses them with EINVAL before any lock. */
  readonly madviseGuardRegions: boolean
  /** calc_vm_flag_bits maps MAP_STACK to VM_NOHUGEPAGE (6.7+, CONFIG_TRANSPARENT_HUGEPAGE), so a thread stack does not merge with its plain anonymous neighbours. */
  readonly mapStackNoHugepage: boolean
  /**
   * exit_mmap of an mm with no VMA still takes the write lock (`goto destroy`, read in 6.12's mm/mmap.c); 6.1 returns
   * after the read section. The release between them is not pinned down: the check sits beside the XA_ZERO_ENTRY
   * handling of "fork: use __mt_dup() to duplicate maple tree in dup_mmap()" (6.8), so the 6.10 generation has it.
   */
  readonly exitMmapEmptyWriteLocks: boolean
  /** Minimum RCU grace period, ns. */
  readonly rcuGracePeriodNs: number
}

const base: Generation = {
  name: '6.1',
  perVmaLock: false,
  vmaLock: 'none',
  lookupRequiresAnon: false,
  lookupRequiresAnonVma: false,
  lookupRejectsUffd: false,
  anonVmaPrepare: 'retry',
  fileFaults: 'fallback',
  swapUnderVmaLock: false,
  hugetlbUnderVmaLock: false,
  accessErrorUnderVmaLock: false,
  stackGrowth: 'write_downgrade',
  forkWriteLocksParent: false,
  vmaFreeByRcu: false,
  lookupDetachedBeforeRange: false,
  munmapKeepsWriteBesideStack: true,
  mmLockSeqcount: false,
  typesafeByRcuReuse: false,
  madviseDontneedVmaLock: false,
  madviseFreeVmaLock: false,
  madviseGuardRegions: false,
  mapStackNoHugepage: false,
  exitMmapEmptyWriteLocks: false,
  rcuGracePeriodNs: DEFAULT_RCU_GRACE_PERIOD_NS,
}

function derive(from: Generation, name: GenerationName, change: Partial<Generation>): Generation {
  return Object.freeze({...from, ...change, name})
}

// 6.4: the seed series (anon-only trylock lookup), before the fork fix and StackRot; VMAs freed by call_rcu.
const g64 = derive(base, '6.4', {
  stackGrowth: 'read',
  vmaFreeByRcu: true,
  perVmaLock: true,
  vmaLock: 'rwsem',
  lookupRequiresAnon: true,
  lookupRequiresAnonVma: true,
  lookupRejectsUffd: true,
})
// 6.5: lock_mm_and_find_vma (StackRot), fork write-locks the parent's VMAs, munmap downgrades even beside a stack.
const g65 = derive(g64, '6.5', {
  stackGrowth: 'write_downgrade',
  forkWriteLocksParent: true,
  munmapKeepsWriteBesideStack: false,
})
// 6.6: file VMAs pass the lookup (fault-around only), swap and uffd handled (RETRY on waits), hugetlb RETRYs.
const g66 = derive(g65, '6.6', {
  lookupRequiresAnon: false,
  lookupRejectsUffd: false,
  fileFaults: 'map_pages',
  swapUnderVmaLock: true,
})
// 6.7: ->fault / COW / shared / page_mkwrite under the VMA lock; vmf_anon_prepare RETRYs without anon_vma;
// MAP_STACK → VM_NOHUGEPAGE (c4608d1bf7c6).
const g67 = derive(g66, '6.7', {fileFaults: 'fault', mapStackNoHugepage: true})
// 6.10: lookup stops checking anon_vma; vmf_anon_prepare trylocks mmap_lock; hugetlb and access errors handled;
// exit_mmap write-locks an empty mm too (6.8).
// The detached-before-range order is the one read in 6.12's lock_vma_under_rcu (when it changed after 6.4 is not
// pinned down; 6.6–6.9 keep the 6.4 order here).
const g610 = derive(g67, '6.10', {
  lookupDetachedBeforeRange: true,
  lookupRequiresAnonVma: false,
  anonVmaPrepare: 'trylock',
  hugetlbUnderVmaLock: true,
  accessErrorUnderVmaLock: true,
  exitMmapEmptyWriteLocks: true,
})
const g614 = derive(g610, '6.14', {mmLockSeqcount: true, madviseGuardRegions: true})
// 6.15: vm_refcnt + SLAB_TYPESAFE_BY_RCU.
const g615 = derive(g614, '6.15', {vmaLock: 'refcount', typesafeByRcuReuse: true, vmaFreeByRcu: false})
const g617 = derive(g615, '6.17', {madviseDontneedVmaLock: true})
const g618 = derive(g617, '6.18', {madviseFreeVmaLock: true})

export const GENERATIONS: Readonly<Record<GenerationName, Generation>> = Object.freeze({
  '6.1': Object.freeze(base),
  '6.4': g64,
  '6.5': g65,
  '6.6': g66,
  '6.7': g67,
  '6.10': g610,
  '6.14': g614,
  '6.15': g615,
  '6.17': g617,
  '6.18': g618,
})

export const GENERATION_NAMES = Object.keys(GENERATIONS) as GenerationName[]

export function generation(name: string): Generation {
  const g = (GENERATIONS as Record<string, Generation>)[name]
  if (g === undefined) throw new Error(`unknown kernel generation '${name}' (known: ${GENERATION_NAMES.join(', ')})`)
  return g
}
