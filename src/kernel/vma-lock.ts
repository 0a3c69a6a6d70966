// Per-VMA locks (mm/mmap_lock.c, include/linux/mmap_lock.h). Both forms share one state: `readers`,
// `excluding` (a writer holds/queues on the 6.4–6.14 vm_lock rwsem, or has added VMA_LOCK_OFFSET to vm_refcnt on
// 6.15+), `state` (attached/detached) and `lockSeq`. They differ in how a reader learns the VMA went away: the
// rwsem form checks the `detached` flag after locking; the refcount form fails the increment (vm_refcnt == 0 →
// EAGAIN) and, because objects are reused at once, must check vm_mm and the range.
import {BLOCK, DONE, type Step} from '../sim/scheduler.js'
import type {Kernel} from './kernel.js'
import type {Mm} from './mm.js'
import type {FaultReason} from './policy.js'
import type {Task} from './task.js'
import type {Vma} from './vma.js'

export type StartReadResult = 'ok' | 'locked' | 'detached' | 'reused'

/** vma_start_read (6.4–6.14 rwsem trylock form / 6.15+ vm_refcnt form). Called inside an RCU read section. */
export function vmaStartRead(k: Kernel, mm: Mm, vma: Vma): StartReadResult {
  if (vma.state === 'freed' && !k.gen.typesafeByRcuReuse) throw new Error(`RCU violation: ${vma} freed under a reader`)
  // Lockless pre-check: write-locked in the current epoch.
  if (vma.lockSeq === mm.lockSeq) return 'locked'
  if (k.gen.vmaLock === 'refcount') {
    // __refcount_inc_not_zero_limited_acquire: 0 → EAGAIN (detached / freed), OFFSET set → fail.
    if (!vma.attached) return 'detached'
    if (vma.excluding) return 'locked'
    vma.readers++
    if (vma.mm !== mm) {
      vmaEndRead(vma)
      return 'reused'
    }
  } else {
    // down_read_trylock(&vma->vm_lock->lock) fails while a writer holds it or waits for it.
    if (vma.excluding) return 'locked'
    vma.readers++
  }
  // Re-check under the reference: vm_lock_seq may have been set meanwhile (seq overflow gives harmless false positives).
  if (vma.lockSeq === mm.lockSeq) {
    vmaEndRead(vma)
    return 'locked'
  }
  return 'ok'
}

/** vma_end_read: drop the read lock; the last reader wakes a writer waiting in vma_start_write / vma_mark_detached. */
export function vmaEndRead(vma: Vma): void {
  if (vma.readers <= 0) throw new Error(`vma_end_read on unlocked ${vma}`)
  if (--vma.readers === 0 && vma.writerWaiting !== null) {
    const w = vma.writerWaiting
    vma.writerWaiting = null
    w.wake()
  }
}

// Wait until no reader holds the VMA (rcuwait_wait_event on mm->vma_writer_wait / down_write on vm_lock).
function* excludeReaders(t: Task, vma: Vma): Step<void> {
  vma.excluding = true
  if (vma.readers > 0) {
    const since = t.sched.now
    vma.writerWaiting = t
    yield BLOCK
    t.acct.vmaWaitNs += t.sched.now - since
  }
  vma.excluding = false
}

/** vma_start_write: no-op if already locked in this epoch; else exclude readers, then vm_lock_seq = mm_lock_seq. */
export function vmaStartWrite(t: Task, vma: Vma): Step<void> {
  const mm = vma.mm!
  if (mm.lock.owner !== t) throw new Error(`vma_start_write without mmap write lock (tid ${t.tid})`)
  if (vma.lockSeq === mm.lockSeq) return DONE
  if (vma.readers > 0) return startWriteExcluding(t, vma, mm)
  vma.lockSeq = mm.lockSeq
  return DONE
}

function* startWriteExcluding(t: Task, vma: Vma, mm: Mm): Step<void> {
  yield* excludeReaders(t, vma)
  vma.lockSeq = mm.lockSeq
}

/** Is the VMA write-locked (vma_assert_write_locked)? */
export function vmaIsWriteLocked(vma: Vma): boolean {
  const mm = vma.mm
  return mm !== null && mm.lock.owner !== null && vma.lockSeq === mm.lockSeq
}

/** vma_mark_attached: the VMA becomes visible to lock_vma_under_rcu (vm_refcnt 0 → 1 / detached = false). */
export function vmaMarkAttached(vma: Vma): void {
  if (vma.state !== 'new' && vma.state !== 'detached') throw new Error(`attach of ${vma}`)
  vma.state = 'attached'
}

/** vma_mark_detached: requires the VMA write lock; waits out transient readers (6.15+ refcount drop). */
export function vmaMarkDetached(t: Task, vma: Vma): Step<void> {
  if (!vmaIsWriteLocked(vma)) throw new Error(`vma_mark_detached on ${vma} not write-locked`)
  if (vma.readers > 0) return detachExcluding(t, vma)
  vma.state = 'detached'
  return DONE
}

function* detachExcluding(t: Task, vma: Vma): Step<void> {
  yield* excludeReaders(t, vma)
  vma.state = 'detached'
}

/**
 * Would lock_vma_under_rcu, having walked to `vma`, lock it for `addr` at the first attempt (every lookup check
 * passes, vma_start_read succeeds) if nothing changed meanwhile? Sufficient, not necessary: a VMA of another mm
 * or one lacking an anon_vma where any check could ask for it answers no.
 */
export function vmaReadLockable(k: Kernel, mm: Mm, vma: Vma, addr: number): boolean {
  const p = k.policy
  return (
    vma.state === 'attached' &&
    vma.mm === mm &&
    vma.lockSeq !== mm.lockSeq &&
    !vma.excluding &&
    !(p.lookupRequiresAnon && !vma.anonymous) &&
    !(p.lookupRequiresAnonVma && vma.anonVma === null) &&
    !(p.lookupRejectsUffd && vma.uffdArmed) &&
    addr >= vma.start &&
    addr < vma.end
  )
}

/** Outcome of one lock_vma_under_rcu call (the `reason` is null on success). */
export interface LockVmaResult {
  vma: Vma | null
  reason: FaultReason | null
  /** VMA_LOCK_MISS retries during this lookup. */
  misses: number
  /** The mm write seqcount the walk saw (speculative policy only). */
  seq: number
}

/**
 * lock_vma_under_rcu (mm/memory.c 6.4–6.14, mm/mmap_lock.c 6.15+): RCU maple walk, then — after the lookup
 * window, in which writers may detach, free or (6.15+) reuse what the walk returned — the generation's checks
 * and vma_start_read. Counts VMA_LOCK_MISS / VMA_LOCK_ABORT like the kernel.
 */
export function* lockVmaUnderRcu(k: Kernel, t: Task, mm: Mm, addr: number, res: LockVmaResult): Step<Vma | null> {
  const p = k.policy
  const st = k.stats.vmaLock
  res.misses = 0
  k.rcu.readLock(t)
  for (;;) {
    const vma = mm.tree.find(addr) // the RCU maple walk (mas_walk)
    if (vma === null) return abort(k, t, res, 'no_vma')
    yield k.costs.vmaLookupNs
    // 6.4: reject non-anonymous and anon_vma-less VMAs before locking; 6.6–6.9 check anon_vma after locking.
    if (p.lookupRequiresAnon && !vma.anonymous) return abort(k, t, res, 'not_anonymous')
    if (p.lookupRequiresAnon && p.lookupRequiresAnonVma && vma.anonVma === null) return abort(k, t, res, 'no_anon_vma')
    const r = vmaStartRead(k, mm, vma)
    if (r === 'detached') {
      st.miss++
      res.misses++
      continue // the area was replaced with another one: walk again
    }
    if (r === 'locked') return abort(k, t, res, 'vma_write_locked')
    if (r === 'reused') return abort(k, t, res, 'vma_reused')
    if (p.lookupRejectsUffd && vma.uffdArmed) return abortLocked(k, t, res, vma, 'uffd')
    if (!p.lookupRequiresAnon && p.lookupRequiresAnonVma && vma.anonymous && vma.anonVma === null) {
      return abortLocked(k, t, res, vma, 'no_anon_vma')
    }
    const detached = k.gen.vmaLock === 'rwsem' && !vma.attached
    if (!(detached && k.gen.lookupDetachedBeforeRange) && (addr < vma.start || addr >= vma.end)) {
      return abortLocked(k, t, res, vma, 'range_changed')
    }
    if (detached) {
      vmaEndRead(vma)
      st.miss++
      res.misses++
      continue
    }
    k.rcu.readUnlock(t)
    res.vma = vma
    res.reason = null
    return vma
  }
}

function abortLocked(k: Kernel, t: Task, res: LockVmaResult, vma: Vma, reason: FaultReason): null {
  vmaEndRead(vma)
  return abort(k, t, res, reason)
}

function abort(k: Kernel, t: Task, res: LockVmaResult, reason: FaultReason): null {
  k.rcu.readUnlock(t)
  k.stats.vmaLock.abort++
  res.vma = null
  res.reason = reason
  return null
}
