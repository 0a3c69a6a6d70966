// The x86 user page fault (arch/x86/mm/fault.c do_user_addr_fault) over handle_mm_fault's lock-relevant
// decisions (mm/memory.c), per the policy: per-VMA attempt, RETRY reasons, the lock_mm_and_find_vma fallback
// (trylock, then the sleeping read lock; stack growth), kernel-mode faults under mmap_lock.
import type {Step} from '../sim/scheduler.js'
import type {Kernel} from './kernel.js'
import {
  MMAP_MIN_ADDR,
  TASK_SIZE,
  mmapReadLock,
  mmapReadTrylock,
  mmapReadUnlock,
  mmapWriteDowngrade,
  mmapWriteLock,
  mmapWriteUnlock,
  type Mm,
} from './mm.js'
import type {FaultKind, FaultReason} from './policy.js'
import {resetAcct, type Blocker, type Task} from './task.js'
import {anonVmaPrepare, expandVma} from './vma-ops.js'
import {lockVmaUnderRcu, vmaEndRead, vmaReadLockable, vmaStartWrite, type LockVmaResult} from './vma-lock.js'
import {
  PAGE_SIZE,
  PMD_SIZE,
  VM_ACCESS_FLAGS,
  VM_GROWSDOWN,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_NOHUGEPAGE,
  VM_SHARED,
  VM_WRITE,
  type Vma,
} from './vma.js'

// x86 error_code bits (arch/x86/include/asm/trap_pf.h).
export const X86_PF_PROT = 0x1
export const X86_PF_WRITE = 0x2
export const X86_PF_USER = 0x4
export const X86_PF_INSTR = 0x10
export const X86_PF_PK = 0x20

export interface FaultRequest {
  address: number
  /** Raw x86 error_code. */
  errorCode: number
  /** page_fault_kernel: a uaccess fault on a user address from kernel mode. */
  kernelMode?: boolean
  /** The fault needs I/O (page-cache miss, swap-in): a major fault. Not in the trace; an engine's guess. */
  io?: boolean
  /** The PTE holds a swap entry (do_swap_page). */
  swap?: boolean
  /** Override the handler's time once the fault is locked, ns. */
  handleNs?: number
  /** The engine's id for this fault (reported to threads that wait for it). */
  ref?: number
}

export interface FaultOutcome {
  tid: number
  address: number
  errorCode: number
  startNs: number
  endNs: number
  latencyNs: number
  /** Where the fault completed: under the per-VMA lock or under mmap_lock. */
  path: 'vma_lock' | 'mmap_lock'
  /** The thread acquired or tried mmap_lock during the fault (any trylock counts, incl. the anon_vma trylock). */
  tookMmapLock: boolean
  /** Why (see FaultReason). For mmap_lock faults: the first reason the per-VMA path was left or skipped. */
  reason: FaultReason
  /** handle_mm_fault's dispatch, or null if the fault never got a VMA. */
  kind: FaultKind | null
  /** A trylock (anon_vma or lock_mm_and_find_vma) failed. */
  trylockFailed: boolean
  /** SIGSEGV (no VMA, access error). */
  segv: boolean
  /** VMA_LOCK_MISS lookups and VM_FAULT_RETRY loops. */
  misses: number
  retries: number
  waitNs: number
  /** When the first mmap_lock wait began (-1: none). */
  waitStartNs: number
  holdNs: number
  /** mmap_lock acquisitions, including trylocks and the stack-growth write lock. */
  acquisitions: number
  writeAcquisitions: number
  waitedFor: Blocker | null
  /** The VMA the fault was handled in (valid in the completion callback; objects are reused on 6.15+). */
  vma: Vma | null
}

/** access_error (arch/x86/mm/fault.c): may this access touch this VMA? */
export function accessError(errorCode: number, vma: Vma): boolean {
  if (errorCode & X86_PF_PK) return true
  if (errorCode & X86_PF_WRITE) return (vma.flags & VM_WRITE) === 0
  if (errorCode & X86_PF_PROT) return true // read, present
  // read or fetch, not present: no VM_EXEC test on x86 (arch_vma_access_permitted lets fetches through); the
  // kernel maps the page NX and the retried fetch faults again, present, and fails above
  return (vma.flags & VM_ACCESS_FLAGS) === 0
}

/** handle_pte_fault's dispatch for this fault. */
export function classifyFault(k: Kernel, vma: Vma, req: FaultRequest): FaultKind {
  if ((vma.flags & VM_HUGETLB) !== 0) return 'hugetlb'
  const write = (req.errorCode & X86_PF_WRITE) !== 0
  const shared = (vma.flags & VM_SHARED) !== 0
  if ((req.errorCode & X86_PF_PROT) !== 0) return shared ? 'wp_shared' : 'wp_copy'
  if (req.swap === true) return 'swap'
  if (vma.anonymous) {
    if (thpEligible(k, vma, req.address)) return 'anon_thp'
    return write ? 'anon_write' : 'anon_read'
  }
  if (!write) return 'file_read'
  return shared ? 'file_shared' : 'file_cow'
}

// THP=madvise: VM_HUGEPAGE and a PMD-aligned 2 MiB range inside the VMA (thp_vma_suitable_order).
function thpEligible(k: Kernel, vma: Vma, addr: number): boolean {
  if (k.thp === 'never' || (vma.flags & VM_NOHUGEPAGE) !== 0) return false
  if (k.thp === 'madvise' && (vma.flags & VM_HUGEPAGE) === 0) return false
  const haddr = Math.floor(addr / PMD_SIZE) * PMD_SIZE
  return haddr >= vma.start && haddr + PMD_SIZE <= vma.end
}

/** Faults whose handler attaches an anon_vma first (vmf_anon_prepare / anon_vma_prepare); a private hugetlb
 * mapping's new or copied page is anonymous too (hugetlb_no_page / hugetlb_wp → __vmf_anon_prepare, 6.12). */
function needsAnonVma(kind: FaultKind, vma: Vma): boolean {
  if (kind === 'hugetlb') return (vma.flags & VM_SHARED) === 0
  return kind === 'anon_write' || kind === 'anon_thp' || kind === 'file_cow' || kind === 'wp_copy'
}

/** fault_around_bytes (64 KiB) in pages, and PTRS_PER_PTE: do_fault_around's window. */
const FAULT_AROUND_PAGES = 16
const PTRS_PER_PTE = 512

/** do_read_fault's should_fault_around: a read fault in a VMA with ->map_pages. */
function faultsAround(kind: FaultKind, vma: Vma): boolean {
  return kind === 'file_read' && vma.file !== null && vma.file.mapPages && vma.file.approximate !== true
}

/**
 * The fault waits for file I/O: the trace said so (req.io), it is a swap-in, or it is a file read fault on a page an
 * earlier do_fault_around already covered — filemap_map_pages maps every cached, uptodate folio without
 * PG_readahead, so the PTE is still none only if the folio was not (a miss, readahead in flight or due); then
 * filemap_fault's do_sync_mmap_readahead / do_async_mmap_readahead drops the fault's lock for the I/O
 * (maybe_unlock_mmap_for_io) and returns VM_FAULT_RETRY.
 */
function needsIo(mm: Mm, vma: Vma, kind: FaultKind, req: FaultRequest): boolean {
  return (
    req.io ?? (kind === 'swap' || (faultsAround(kind, vma) && mm.faultAround.has(Math.floor(req.address / PAGE_SIZE))))
  )
}

/** do_fault_around: the window of FAULT_AROUND_PAGES around the fault, clamped to the VMA and the page table. */
function doFaultAround(mm: Mm, vma: Vma, kind: FaultKind, addr: number): void {
  if (!faultsAround(kind, vma)) return
  const page = Math.floor(addr / PAGE_SIZE)
  const pteOff = page % PTRS_PER_PTE
  const vmaOff = page - vma.start / PAGE_SIZE
  const from = Math.max(pteOff - (pteOff % FAULT_AROUND_PAGES), pteOff - Math.min(pteOff, vmaOff))
  const to = Math.min(from + FAULT_AROUND_PAGES, PTRS_PER_PTE, pteOff + vma.pages - vmaOff)
  for (let p = page - pteOff + from; p < page - pteOff + to; p++) mm.faultAround.add(p)
}

/** The cost-table field that sizes handling a fault of this kind once locked (what `calibrate` fits per kind). */
export function handleCostField(kind: FaultKind): HandleCostField {
  switch (kind) {
    case 'anon_read':
      return 'zeroPageFaultNs'
    case 'anon_write':
    case 'swap':
      return 'anonFaultNs'
    case 'anon_thp':
    case 'hugetlb':
      return 'thpFaultNs'
    case 'file_read':
    case 'file_shared':
    case 'wp_shared':
      return 'fileFaultNs'
    case 'file_cow':
    case 'wp_copy':
      return 'cowFaultNs'
  }
}

export type HandleCostField = 'zeroPageFaultNs' | 'anonFaultNs' | 'thpFaultNs' | 'fileFaultNs' | 'cowFaultNs'

function handleCost(k: Kernel, kind: FaultKind, req: FaultRequest): number {
  return req.handleNs ?? k.costs[handleCostField(kind)]
}

// What RETRYs under the VMA lock before any work, per policy (hugetlb, swap, file ->fault rules).
function vmaLockedPrecheck(k: Kernel, mm: Mm, kind: FaultKind, vma: Vma, req: FaultRequest): FaultReason | null {
  const p = k.policy
  switch (kind) {
    case 'hugetlb':
      return p.hugetlbUnderVmaLock ? null : 'hugetlb'
    case 'swap':
      return p.swapUnderVmaLock ? null : 'swap'
    case 'file_read':
    case 'file_cow':
    case 'file_shared':
    case 'wp_shared': {
      if (vma.file === null) return null // no file: only wp_shared of a file-less shared VMA gets here
      switch (p.fileFaults) {
        case 'fallback':
          return 'not_anonymous'
        case 'map_pages':
          // 6.6: only do_read_fault's fault-around of cached pages runs under the VMA lock; ->fault (a page-cache
          // miss, no ->map_pages), COW and shared writes RETRY.
          return kind === 'file_read' && vma.file!.mapPages && !needsIo(mm, vma, kind, req) ? null : 'file_fault'
        case 'fault':
          // vmf_can_call_fault: ->fault only if the VMA has ->map_pages. page_mkwrite (wp_shared) is allowed.
          return kind === 'wp_shared' || vma.file!.mapPages ? null : 'file_no_map_pages'
        case 'any':
          return null
      }
    }
  }
  return null
}

/** Per-fault state the RETRY loop carries (what earlier attempts already did). */
interface FaultState {
  ioDone: boolean
  uffdDone: boolean
}

/**
 * handle_mm_fault for one attempt. Under the VMA lock (`vmaLocked`) the VMA read lock is held on entry and
 * always released on return; under mmap_lock the read lock is held on entry and released here only on RETRY.
 * Returns 'ok' or the RETRY reason.
 */
function* handleMmFault(
  k: Kernel,
  t: Task,
  mm: Mm,
  vma: Vma,
  req: FaultRequest,
  vmaLocked: boolean,
  out: FaultOutcome,
  st: FaultState,
): Step<FaultReason> {
  const p = k.policy
  const kind = classifyFault(k, vma, req)
  out.kind = kind
  const drop = (): void => (vmaLocked ? vmaEndRead(vma) : mmapReadUnlock(k, t, mm))
  if (vmaLocked) {
    const r = vmaLockedPrecheck(k, mm, kind, vma, req)
    if (r !== null) {
      drop()
      return r
    }
  }
  if (needsAnonVma(kind, vma) && vma.anonVma === null) {
    if (!vmaLocked) {
      yield k.costs.anonVmaPrepareNs
      anonVmaPrepare(k, vma)
    } else if (p.anonVmaPrepare === 'retry') {
      drop()
      return 'anon_vma_retry'
    } else if (p.anonVmaPrepare === 'trylock') {
      // __vmf_anon_prepare (6.10+): mmap_read_trylock just to attach the anon_vma.
      out.tookMmapLock = true
      if (!mmapReadTrylock(k, t, mm)) {
        out.trylockFailed = true
        drop()
        return 'anon_vma_trylock_failed'
      }
      yield k.costs.anonVmaPrepareNs
      anonVmaPrepare(k, vma)
      mmapReadUnlock(k, t, mm)
      out.reason = 'anon_vma_trylock'
    } else anonVmaPrepare(k, vma)
  }
  // Waits: userfaultfd handler, then I/O. The kernel drops whichever lock it holds and RETRYs.
  if (vma.uffdArmed && (req.errorCode & X86_PF_PROT) === 0 && !st.uffdDone) {
    st.uffdDone = true
    if (!vmaLocked || p.waitsDropVmaLock) {
      drop()
      yield k.costs.uffdNs
      return 'uffd'
    }
    yield k.costs.uffdNs
  }
  if (!st.ioDone && needsIo(mm, vma, kind, req)) {
    st.ioDone = true
    if (!vmaLocked || p.waitsDropVmaLock) {
      drop()
      yield k.costs.ioNs
      return 'io_retry'
    }
    yield k.costs.ioNs
  }
  yield handleCost(k, kind, req)
  doFaultAround(mm, vma, kind, req.address)
  if (vmaLocked) vmaEndRead(vma)
  return 'ok'
}

/**
 * lock_mm_and_find_vma (mm/mmap_lock.c, 6.5+; the ≤6.4 open-coded form expands the stack under the read lock):
 * mmap_read_trylock, else the sleeping mmap_read_lock_killable; find_vma; below a VM_GROWSDOWN VMA drop the read
 * lock, take the write lock, expand, downgrade. Returns the VMA with mmap_lock read-held, or null with it released.
 */
export function* lockMmAndFindVma(k: Kernel, t: Task, mm: Mm, addr: number, out: FaultOutcome): Step<Vma | null> {
  out.tookMmapLock = true
  if (!mmapReadTrylock(k, t, mm)) {
    out.trylockFailed = true
    yield* mmapReadLock(k, t, mm)
  }
  yield k.costs.findVmaNs
  let vma = mm.findVma(addr)
  if (vma !== null && vma.start <= addr) return vma
  if (vma === null || (vma.flags & VM_GROWSDOWN) === 0) {
    mmapReadUnlock(k, t, mm)
    return null
  }
  const newStart = Math.floor(addr / PAGE_SIZE) * PAGE_SIZE
  out.reason = 'stack_growth'
  if (k.policy.stackGrowth === 'read') {
    // Pre-StackRot (6.4.0): expand_stack → expand_downwards under the read lock.
    if (!stackGrowthAllowed(mm, vma, newStart) || vma.end - newStart > k.stackRlimit) {
      mmapReadUnlock(k, t, mm)
      return null
    }
    yield k.costs.stackExpandNs
    anonVmaPrepare(k, vma)
    vma.pgoff -= (vma.start - newStart) / PAGE_SIZE
    vma.start = newStart
    mm.tree.store(newStart, vma.end, vma)
    return vma
  }
  // lock_mm_and_find_vma (6.1.37+, 6.5+): the write lock comes first, whether or not the expansion succeeds.
  mmapReadUnlock(k, t, mm)
  yield* mmapWriteLock(k, t, mm)
  vma = mm.findVma(addr)
  if (vma === null || (vma.start > addr && (vma.flags & VM_GROWSDOWN) === 0)) {
    mmapWriteUnlock(k, t, mm)
    return null
  }
  if (vma.start > addr) {
    // expand_stack_locked → expand_downwards: the gap checks, anon_vma_prepare, vma_start_write, then
    // acct_stack_growth (RLIMIT_STACK), then the new bounds; a failure unlocks without downgrading.
    if (!stackGrowthAllowed(mm, vma, newStart)) {
      mmapWriteUnlock(k, t, mm)
      return null
    }
    yield k.costs.stackExpandNs
    anonVmaPrepare(k, vma)
    yield* vmaStartWrite(t, vma)
    if (vma.end - newStart > k.stackRlimit) {
      mmapWriteUnlock(k, t, mm)
      return null
    }
    yield* expandVma(t, vma, newStart, vma.end)
  }
  mmapWriteDowngrade(k, t, mm)
  return vma
}

/** stack_guard_gap (mm/mmap.c): 256 pages unless `stack_guard_gap=` is on the command line. */
const STACK_GUARD_GAP = 256 * PAGE_SIZE

/** expand_downwards' checks before it changes anything (mm/mmap.c, 6.1–6.18): mmap_min_addr, and the guard gap
 * to an accessible VMA below that is not itself a stack. */
function stackGrowthAllowed(mm: Mm, vma: Vma, newStart: number): boolean {
  if (newStart < MMAP_MIN_ADDR) return false
  const prev = mm.tree.findPrev(vma.start)?.value ?? null
  return (
    prev === null ||
    (prev.flags & VM_GROWSDOWN) !== 0 ||
    (prev.flags & VM_ACCESS_FLAGS) === 0 ||
    newStart - prev.end >= STACK_GUARD_GAP
  )
}

/** do_user_addr_fault (arch/x86/mm/fault.c) for the kernel's policy. Run it on the faulting task. */
export function* doUserAddrFault(k: Kernel, t: Task, req: FaultRequest): Step<FaultOutcome> {
  const mm = t.mm
  if (mm === null) throw new Error(`fault on task ${t.tid} without mm`)
  const p = k.policy
  const out = beginFault(k, t, req)
  const st: FaultState = {ioDone: false, uffdDone: false}
  yield k.costs.faultEntryNs
  if (req.address < 0 || req.address >= TASK_SIZE) {
    // do_user_addr_fault: vsyscall emulation and bad_area_nosemaphore come before lock_vma_under_rcu
    out.segv = true
    out.reason = 'bad_address'
    return finish(k, t, out)
  }
  let reason: FaultReason | null = null
  if (req.kernelMode === true && !p.kernelFaultsFast) reason = 'kernel_mode'
  else if (p.fastPath === 'none') reason = 'policy_mmap_lock'
  else {
    const lk = t.lookup
    for (;;) {
      const vma =
        p.fastPath === 'vma_lock'
          ? yield* lockVmaUnderRcu(k, t, mm, req.address, lk)
          : yield* speculativeLookup(k, t, mm, req.address, lk)
      out.misses += lk.misses
      if (vma === null) {
        reason = lk.reason
        break
      }
      out.vma = vma
      if (accessError(req.errorCode, vma)) {
        if (p.fastPath === 'vma_lock') vmaEndRead(vma)
        if (p.accessErrorUnderVmaLock) {
          k.stats.vmaLock.success++
          out.kind = classifyFault(k, vma, req)
          out.segv = true
          out.reason = 'access_error'
          return finish(k, t, out)
        }
        reason = 'access_error'
        break
      }
      const r =
        p.fastPath === 'vma_lock'
          ? yield* handleMmFault(k, t, mm, vma, req, true, out, st)
          : yield* speculativeFault(k, mm, vma, req, out, st, lk.seq)
      if (r === 'ok') {
        k.stats.vmaLock.success++
        return finish(k, t, out)
      }
      k.stats.vmaLock.retry++
      out.retries++
      reason = r
      if (!(p.retryUnderVmaLock && (r === 'io_retry' || r === 'uffd'))) break
    }
  }
  // lock_mmap: the fallback, retried while handle_mm_fault returns VM_FAULT_RETRY (FAULT_FLAG_TRIED).
  out.path = 'mmap_lock'
  out.reason = reason ?? 'no_vma'
  for (;;) {
    const vma = yield* lockMmAndFindVma(k, t, mm, req.address, out)
    out.vma = vma
    if (vma === null) {
      out.segv = true
      break
    }
    if (accessError(req.errorCode, vma)) {
      mmapReadUnlock(k, t, mm)
      out.segv = true
      break
    }
    const r = yield* handleMmFault(k, t, mm, vma, req, false, out, st)
    if (r === 'ok') {
      mmapReadUnlock(k, t, mm)
      break
    }
    out.retries++
  }
  return finish(k, t, out)
}

/**
 * doUserAddrFault's common cases, run to completion at once: the fault takes the policy's first path (lock_vma_under_rcu
 * locks the VMA first time / the SPF walk sees no writer / mmap_read_trylock succeeds when the fault goes straight to
 * mmap_lock) and handle_mm_fault completes with nothing to wait for (no anon_vma to attach, no I/O or userfaultfd,
 * no RETRY), and the scheduler would run every step of it inline (no other event before it ends, nothing submitted
 * meanwhile). Then nobody can observe the fault between its steps: its RCU section and read lock begin and end
 * unseen, and the outcome, counters and clock are those the generator produces, from the same decisions (the
 * predicates are sufficient, never looser). Returns null, having changed nothing, whenever any of that does not hold.
 * `into`: fill this outcome instead of a new one (for a caller done with it before the next fault: the replay engine).
 */
export function doUserAddrFaultUncontended(
  k: Kernel,
  t: Task,
  req: FaultRequest,
  into?: FaultOutcome,
): FaultOutcome | null {
  const mm = t.mm
  const p = k.policy
  const addr = req.address
  const c = k.costs
  const s = k.sched
  // Cheapest test first: even the shortest path must end before the next event.
  if (
    mm === null ||
    addr < 0 ||
    addr >= TASK_SIZE ||
    !s.canInline(s.now + c.faultEntryNs + Math.min(c.vmaLookupNs, c.findVmaNs))
  )
    return null
  const fallback =
    req.kernelMode === true && !p.kernelFaultsFast ? 'kernel_mode' : p.fastPath === 'none' ? 'policy_mmap_lock' : null
  const vma = mm.tree.find(addr) // what lock_vma_under_rcu / find_vma find: nothing changes before they run
  if (vma === null || vma.start > addr || vma.uffdArmed || accessError(req.errorCode, vma)) return null
  const kind = classifyFault(k, vma, req)
  if ((needsAnonVma(kind, vma) && vma.anonVma === null) || needsIo(mm, vma, kind, req)) return null
  const handleNs = handleCost(k, kind, req)
  if (fallback !== null) {
    // lock_mm_and_find_vma: the trylock succeeds; handle_mm_fault under the read lock
    if (!mm.lock.readTrylockable() || k.onLockEvent !== null) return null
    const end = s.now + c.faultEntryNs + c.findVmaNs + handleNs
    if (!s.canInline(end)) return null
    const out = beginFault(k, t, req, into)
    s.ranInline(end, (c.faultEntryNs > 0 ? 1 : 0) + (c.findVmaNs > 0 ? 1 : 0) + (handleNs > 0 ? 1 : 0))
    t.acct.acquisitions++ // what grantRead and upRead account
    t.acct.holdNs += c.findVmaNs + handleNs
    out.path = 'mmap_lock'
    out.reason = fallback
    out.tookMmapLock = true
    out.kind = kind
    out.vma = vma
    doFaultAround(mm, vma, kind, addr)
    return finish(k, t, out)
  }
  if (
    p.fastPath === 'vma_lock'
      ? !vmaReadLockable(k, mm, vma, addr) || vmaLockedPrecheck(k, mm, kind, vma, req) !== null
      : (mm.writeEpoch & 1) !== 0
  )
    return null
  const end = s.now + c.faultEntryNs + c.vmaLookupNs + handleNs
  if (!s.canInline(end)) return null
  const out = beginFault(k, t, req, into)
  s.ranInline(end, (c.faultEntryNs > 0 ? 1 : 0) + (c.vmaLookupNs > 0 ? 1 : 0) + (handleNs > 0 ? 1 : 0))
  out.kind = kind
  out.vma = vma
  doFaultAround(mm, vma, kind, addr)
  k.stats.vmaLock.success++
  return finish(k, t, out)
}

/** A blank outcome (beginFault sets every field). */
export function newFaultOutcome(): FaultOutcome {
  return {
    tid: 0,
    address: 0,
    errorCode: 0,
    startNs: 0,
    endNs: 0,
    latencyNs: 0,
    path: 'vma_lock',
    tookMmapLock: false,
    reason: 'ok',
    kind: null,
    trylockFailed: false,
    segv: false,
    misses: 0,
    retries: 0,
    waitNs: 0,
    waitStartNs: -1,
    holdNs: 0,
    acquisitions: 0,
    writeAcquisitions: 0,
    waitedFor: null,
    vma: null,
  }
}

function beginFault(k: Kernel, t: Task, req: FaultRequest, out = newFaultOutcome()): FaultOutcome {
  const startNs = k.sched.now
  t.op = 'fault'
  t.opRef = req.ref ?? 0
  t.acct = resetAcct(t.faultAcct)
  out.tid = t.tid
  out.address = req.address
  out.errorCode = req.errorCode
  out.startNs = out.endNs = startNs
  out.latencyNs = out.misses = out.retries = out.waitNs = out.holdNs = out.acquisitions = out.writeAcquisitions = 0
  out.path = 'vma_lock'
  out.tookMmapLock = out.trylockFailed = out.segv = false
  out.reason = 'ok'
  out.kind = null
  out.waitStartNs = -1
  out.waitedFor = null
  out.vma = null
  return out
}

function finish(k: Kernel, t: Task, out: FaultOutcome): FaultOutcome {
  const now = k.sched.now
  out.endNs = now
  out.latencyNs = now - out.startNs
  out.waitNs = t.acct.waitNs
  out.waitStartNs = t.acct.waitStartNs
  out.holdNs = t.acct.holdNs
  out.acquisitions = t.acct.acquisitions
  out.writeAcquisitions = t.acct.writeAcquisitions
  out.waitedFor = t.acct.waitedFor
  t.op = 'idle'
  k.stats.faults++
  if (out.tookMmapLock) k.stats.faultsTookMmapLock++
  return out
}

// SPF-style lookup (speculative policy): no per-VMA lock; remember the mm's write seqcount and fail if a writer
// is inside (mmap_lock_speculate_try_begin).
function* speculativeLookup(k: Kernel, t: Task, mm: Mm, addr: number, res: LockVmaResult): Step<Vma | null> {
  res.misses = 0
  k.rcu.readLock(t)
  res.seq = mm.writeEpoch
  const vma = mm.tree.find(addr)
  yield k.costs.vmaLookupNs
  k.rcu.readUnlock(t)
  res.reason = vma === null ? 'no_vma' : (res.seq & 1) !== 0 || mm.writeEpoch !== res.seq ? 'mm_changed' : null
  res.vma = res.reason === null ? vma : null
  if (res.reason !== null) k.stats.vmaLock.abort++
  return res.vma
}

// SPF-style handling: abort where SPF did (no anon_vma yet), else do the work and abort (RETRY) if the mm was
// written meanwhile (mmap_lock_speculate_retry).
function* speculativeFault(
  k: Kernel,
  mm: Mm,
  vma: Vma,
  req: FaultRequest,
  out: FaultOutcome,
  st: FaultState,
  seq: number,
): Step<FaultReason> {
  const kind = classifyFault(k, vma, req)
  out.kind = kind
  if (needsAnonVma(kind, vma) && vma.anonVma === null) return 'no_anon_vma'
  if (!st.ioDone && needsIo(mm, vma, kind, req)) {
    st.ioDone = true
    yield k.costs.ioNs
  }
  yield handleCost(k, kind, req)
  if (mm.writeEpoch !== seq) return 'mm_changed'
  doFaultAround(mm, vma, kind, req.address)
  return 'ok'
}
