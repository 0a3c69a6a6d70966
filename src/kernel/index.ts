/**
 * The simulated kernel: VMA tree, mmap_lock, per-VMA locks, RCU, the x86 fault path and the tree-changing
 * syscalls, per kernel generation (docs/kernel.md).
 *
 * How a replay engine drives it
 * -----------------------------
 *   const k = new Kernel({generation: '6.18'})          // or {generation, knobs: {...}} / {policy}; costs; rcuGracePeriodNs
 *   const mm = k.createMm(id)                           // one per traced address space (id: the engine's mm key)
 *   const t = k.createTask(tid, mm)                     // one per traced thread; threads of a process share the mm
 *   installVma(k, mm, {start, end, prot, file, anonVma}) // VMAs the trace never showed being created (maps snapshot, ELF)
 *
 *   for each trace event e (in time order):
 *     k.sched.runUntil(e.ts)                            // let the simulation catch up (ns relative to trace start)
 *     k.sched.horizon(next.ts)                          // optional: nothing comes before the next event, so work may run ahead to it
 *     k.fault(t, {address, errorCode, kernelMode?, io?}, (o: FaultOutcome) => ...)
 *     k.run(t, 'mmap', sysMmap, {addr, len, prot, flags, file, offset, result: tracedReturn, holdNs?}, (r: OpRecord) => ...)
 *     k.run(t, 'munmap', sysMunmap, {addr, len}); sysMprotect, sysMremap, sysBrk, sysMadvise, sysMlock, sysMunlock,
 *       sysMlockall, sysMunlockall, uffdRegister likewise
 *     fork:   k.run(parent, 'fork', dupMmap, {}, (r) => { const childMm = r.result; k.createTask(childTid, childMm) })
 *     clone(CLONE_VM): k.createTask(tid, parent.mm)
 *     exec:   k.run(t, 'exec', execMmap, {})             // t.mm becomes a new mm; the old one is mmput()
 *     exit:   k.run(t, 'exit', exitMm, undefined)        // exit_mm; the last user runs exit_mmap
 *   k.sched.run()                                       // drain at the end
 *
 * Operations submitted to a busy task queue behind its current one (Task.busy / Task.queued tell). An uncontended
 * fault that can run to completion before anything else happens does so inside k.fault (doUserAddrFaultUncontended). Every op
 * reports time charged to it: a FaultOutcome (path, tookMmapLock, reason, waitNs, holdNs, latencyNs, waitedFor =
 * {tid, op, write} of the thread it first waited for) or an OpRecord with `acct` (waitNs, holdNs, vmaWaitNs,
 * waitedFor, acquisitions, failedTrylocks). Counters: k.stats (vma_lock_success/abort/retry/miss, faults),
 * k.rcu.stats (grace periods, callback latency, peak pending memory), mm.lock (rwsem steals, handoffs).
 * k.onLockEvent receives the mmap_lock tracepoints the model emits, to compare with a trace's sequences.
 *
 * Policies: a policy is a generation plus knobs (FaultPolicy); `ideal`/`spf`-style policies override fields
 * (anonVmaPrepare: 'unlocked', fileFaults: 'any', fastPath: 'speculative', kernelFaultsFast, ...).
 */
export {
  Kernel,
  type KernelOptions,
  type ThpMode,
  type KernelStats,
  type OpRecord,
  type VmaLockCounters,
} from './kernel.js'
export {GENERATIONS, GENERATION_NAMES, generation, type Generation, type GenerationName} from './generations.js'
export {policyFromGeneration, type FaultPolicy, type FaultReason, type FaultKind} from './policy.js'
export {DEFAULT_COSTS, costTable, type CostTable} from './costs.js'
export {RcuClock, DEFAULT_RCU_GRACE_PERIOD_NS, type RcuStats} from './rcu.js'
export {FileTable, nearestRank, type FdEnd, type FileRelease, type FputStats} from './files.js'
export {RwSem, rwsemRspinThresholdNs} from './rwsem.js'
export {RangeTree, TREE_MAX, walk, type Entry} from './tree.js'
export {Task, type Blocker, type LockAcct} from './task.js'
export {
  Mm,
  TASK_SIZE,
  mmapReadLock,
  mmapReadTrylock,
  mmapReadUnlock,
  mmapWriteLock,
  mmapWriteUnlock,
  mmapWriteDowngrade,
  vmaEndWriteAll,
  type LockTraceEvent,
} from './mm.js'
export * from './vma.js'
export {
  lockVmaUnderRcu,
  vmaStartRead,
  vmaEndRead,
  vmaStartWrite,
  vmaMarkAttached,
  vmaMarkDetached,
  vmaIsWriteLocked,
  type LockVmaResult,
  type StartReadResult,
} from './vma-lock.js'
export {anonVmaPrepare, detachRange, insertRange, modifyRange, splitVma, expandVma} from './vma-ops.js'
export {
  doUserAddrFault,
  doUserAddrFaultUncontended,
  newFaultOutcome,
  lockMmAndFindVma,
  accessError,
  classifyFault,
  handleCostField,
  type HandleCostField,
  X86_PF_PROT,
  X86_PF_WRITE,
  X86_PF_USER,
  X86_PF_INSTR,
  X86_PF_PK,
  type FaultRequest,
  type FaultOutcome,
} from './fault.js'
export * from './uapi.js'
export {protToVmFlags, type Traced} from './syscall-common.js'
export * from './mmap.js'
export * from './mprotect.js'
export * from './mremap.js'
export * from './madvise.js'
export * from './mlock.js'
export * from './fork.js'
export * from './exec.js'
export * from './userfaultfd.js'
