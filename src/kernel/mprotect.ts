// mprotect / pkey_mprotect (mm/mprotect.c).
import type {Step} from '../sim/scheduler.js'
import type {Kernel} from './kernel.js'
import {mmapWriteLock, mmapWriteUnlock} from './mm.js'
import type {Task} from './task.js'
import {modifyRange} from './vma-ops.js'
import {VM_EXEC, VM_READ, VM_WRITE} from './vma.js'
import {type Traced, failed, holdOf, offsetInPage, pageAlign, protToVmFlags} from './syscall-common.js'
import {EINVAL, PROT_GROWSDOWN, PROT_GROWSUP, PROT_VALID} from './uapi.js'

/** do_mprotect_pkey: PROT_GROWSDOWN|PROT_GROWSUP together, an unaligned start, len 0, bad prot bits. */
function mprotectReturnsUnlocked(a: MprotectArgs): boolean {
  const grows = a.prot & (PROT_GROWSDOWN | PROT_GROWSUP)
  const prot = a.prot & ~grows
  return grows === (PROT_GROWSDOWN | PROT_GROWSUP) || offsetInPage(a.addr) || a.len === 0 || (prot & ~PROT_VALID) !== 0
}

export interface MprotectArgs extends Traced {
  addr: number
  len: number
  prot: number
}

/** mprotect / pkey_mprotect → do_mprotect_pkey: write lock, mprotect_fixup per VMA (split, write-lock, merge). */
export function* sysMprotect(k: Kernel, t: Task, a: MprotectArgs): Step<number> {
  if (mprotectReturnsUnlocked(a)) return a.result ?? (a.len === 0 ? 0 : -EINVAL)
  const mm = t.mm!
  yield* mmapWriteLock(k, t, mm)
  if (!failed(a.result)) {
    const bits = protToVmFlags(a.prot)
    yield* modifyRange(k, t, mm, a.addr, a.addr + pageAlign(a.len), (x) => ({
      ...x,
      flags: (x.flags & ~(VM_READ | VM_WRITE | VM_EXEC)) | bits,
    }))
  }
  yield holdOf(a, k.costs.mprotectNs)
  mmapWriteUnlock(k, t, mm)
  return a.result ?? 0
}
