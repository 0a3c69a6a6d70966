// The replay engine: turns a trace's operations into calls of the simulated kernel for one policy. Each traced
// thread is a simulated task; faithful mode starts every operation at its recorded time, what-if mode keeps each
// thread's recorded think time so that the waits a policy adds (or saves) push its later operations.
import {
  dupMmap,
  execMmap,
  exitMm,
  Kernel,
  sysBrk,
  sysMadvise,
  sysMlock,
  sysMlockall,
  sysMmap,
  sysMprotect,
  sysMremap,
  sysMunlock,
  sysMunlockall,
  sysMunmap,
  doUserAddrFault,
  doUserAddrFaultUncontended,
  newFaultOutcome,
  type CostTable,
  type FaultOutcome,
  type FaultRequest,
  type Mm,
  type OpRecord,
  type Task,
  type ThpMode,
  type Traced,
} from '../kernel/index.js'
import {BLOCK, Scheduler, type SchedulerOptions} from '../sim/scheduler.js'
import {InferredVmas, inferVma, installExecAreas, installKnown, installPadzero, type KnownMapping} from './infer.js'
import {kernelOptions, type Policy} from './policies.js'
import type {FaultOp, Op, SyscallOp} from '../model/ops.js'
import {NR} from '../model/syscalls.js'
import type {Recorder} from '../results/recorder.js'

export type Mode = 'faithful' | 'what-if'

export interface EngineOptions {
  mode: Mode
  costs: Partial<CostTable>
  /** VMAs each thread group had when tracing began (maps snapshots), by tgid. */
  initialMaps: Map<number, KnownMapping[]>
  /** The trace began mid-run (attach mode, or no exec seen): memory found in use is assumed written before. */
  attached: boolean
  /** Size syscalls' critical sections from the trace's own mmap_lock events (syscalls.lock_hold_ns) where it has them. */
  calibrateHolds?: boolean
  /** Each fault's own mmap_lock hold in the trace (acquire_returned → released), by event id, where the recording
   * kernel handled every fault under mmap_lock: find_vma plus the handler, which then takes that time instead of its
   * kind's cost (a fault's service time varies far more than one median per kind says). */
  faultHoldsNs?: ReadonlyMap<number, number>
  /** /sys/kernel/mm/transparent_hugepage/enabled of the kernel replayed (default madvise). */
  thp?: ThpMode
  /** The recording kernel put the vDSO just above the stack by hint (x86 before 6.9: infer.ts) */
  vdsoNearStack?: boolean
  /** CONFIG_BSD_PROCESS_ACCT of the kernel replayed (default: on) */
  bsdProcessAcct?: boolean
  /** Scheduler knobs: tests switch inline stepping (and with it the faults that run at once) off to compare. */
  scheduler?: SchedulerOptions
}

const X86_PF_WRITE = 0x2
const CLONE_VM = 0x100
const CLONE_VFORK = 0x4000
const SIGCHLD = 17
const MAP_ANONYMOUS = 0x20
const MLOCK_ONFAULT = 1
const ERRNO_MAX = 4095

/** A syscall return value that is an error (-1..-4095) rather than an address or count. */
const failed = (ret: number | null): boolean => ret !== null && ret < 0 && ret >= -ERRNO_MAX

export class Replayer {
  readonly k: Kernel
  ops = 0
  faults = 0
  private readonly tasks = new Map<number, Task>()
  /** Live threads per thread group: the last one to exit is the one whose group dies (do_exit's group_dead). */
  private readonly liveThreads = new Map<number, number>()
  private readonly mms = new Map<number, Mm>() // tgid → its current mm
  private readonly inferred = new InferredVmas()
  private readonly shift = new Map<number, number>() // what-if: how far each thread runs behind its recording
  private readonly newTaskFlags = new Map<number, number>() // child pid → clone flags (task_newtask)
  private readonly forked = new Set<number>() // children created from a clone syscall
  // tid → what it reported since its last syscall entry or fault: inside an execve (whose entry a perf file, which
  // starts recording at exec, does not show) these describe the new mm, which sched_process_exec installs
  private readonly execAreas = new Map<number, {addr: number; len: number}[]>() // vm_unmapped_area
  private readonly execMaps = new Map<number, KnownMapping[]>() // PERF_RECORD_MMAP2
  // page_fault_kernel writes, with how many vm_unmapped_area came before each: elf_load's padzero writes come before
  // the vDSO's area (the last: arch_setup_additional_pages), create_elf_tables' stack writes after it
  private readonly execWrites = new Map<number, {address: number; areasBefore: number}[]>()
  private lastT = 0
  private readonly req: FaultRequest = {address: 0, errorCode: 0, kernelMode: false, io: undefined, ref: 0}
  private readonly outcome = newFaultOutcome() // of every fault that completes at once (the recorder copies it)
  private next: Op | null = null // applied once the operation after it is known (its time is the horizon)
  private nextT = 0 // next.t, read once: ops come in several shapes, so every `op.t` in apply/replay is a megamorphic load

  constructor(
    readonly policy: Policy,
    private readonly opts: EngineOptions,
    private readonly rec: Recorder,
  ) {
    this.k = new Kernel({
      ...kernelOptions(policy),
      costs: opts.costs,
      thp: opts.thp,
      bsdProcessAcct: opts.bsdProcessAcct,
      sched: new Scheduler(opts.scheduler),
    })
  }

  /** Replays one operation (one behind: the next operation's time tells the scheduler how far it may run ahead). */
  apply(op: Op): void {
    const prev = this.next
    const t = op.t
    this.next = op
    if (prev !== null) this.replay(prev, this.nextT, t)
    this.nextT = t
  }

  /** The simulation catches up to the operation's recorded time `at`, runs it, and may run on inline until `horizon`. */
  private replay(op: Op, at: number, horizon: number): void {
    this.ops++
    if (at > this.lastT) {
      this.k.sched.runUntil(at)
      this.lastT = at
    }
    this.k.sched.horizon(horizon)
    // Faithful: the recording shows the thread done with its previous fault by now (a slower cost table must not
    // queue this operation behind it); only a lock wait the model adds still delays it. A syscall is not cut: its
    // hold may be the one the trace measured (--calibrate-holds).
    if (this.opts.mode === 'faithful') this.tasks.get(op.tid)?.hurry()
    switch (op.type) {
      case 'fault':
        this.faults++
        if (op.user) this.sinceEntry(op.tid)
        else if ((op.errorCode & X86_PF_WRITE) !== 0)
          pushTo(this.execWrites, op.tid, {address: op.address, areasBefore: this.execAreas.get(op.tid)?.length ?? 0})
        this.fault(op)
        break
      case 'syscall':
        this.sinceEntry(op.tid)
        this.syscall(op)
        break
      case 'newtask':
        this.newTaskFlags.set(op.childPid, op.cloneFlags)
        break
      case 'fork':
        // a fork whose clone syscall was not traced (no raw_syscalls): copy the address space here
        if (!this.forked.has(op.childPid) && !this.tasks.has(op.childPid))
          this.clone(op, op.childPid, this.newTaskFlags.get(op.childPid) ?? SIGCHLD)
        break
      case 'exec':
        this.exec(op)
        break
      case 'exit':
        this.exit(op)
        break
      case 'unmapped_area':
        if (op.err === 0) pushTo(this.execAreas, op.tid, {addr: op.addr, len: op.len})
        break
      case 'mmap2': {
        const mm = this.taskFor(op.tid, op.tgid).mm
        const m: KnownMapping = {
          start: op.start,
          end: op.start + op.len,
          perms: op.perms,
          offset: op.pgoff,
          dev: '',
          inode: op.inode,
          path: op.path,
        }
        pushTo(this.execMaps, op.tid, m)
        const at = mm?.findVma(op.start) ?? null
        if (mm !== null && at?.start !== op.start) installKnown(this.k, mm, m, 'mmap')
        else if (at?.file != null) this.k.files?.name(at.file, op.tgid, op.path) // the mmap(fd) this record reports
        break
      }
    }
  }

  /** A syscall entry or a fault of the thread: what it reports from now on is not exec's. */
  private sinceEntry(tid: number): void {
    this.execAreas.delete(tid)
    this.execMaps.delete(tid)
    this.execWrites.delete(tid)
  }

  /** Drains the simulation; returns the simulated run length (ns since the trace's first event). */
  finish(): number {
    if (this.next !== null) this.replay(this.next, this.nextT, Infinity)
    this.next = null
    this.k.sched.run()
    return this.k.sched.now
  }

  private taskFor(tid: number, tgid: number): Task {
    let t = this.tasks.get(tid)
    if (t === undefined) {
      t = this.k.createTask(tid, this.mmFor(tgid))
      this.tasks.set(tid, t)
      this.threadStarted(tgid)
    }
    return t
  }

  private threadStarted(tgid: number): void {
    this.liveThreads.set(tgid, (this.liveThreads.get(tgid) ?? 0) + 1)
  }

  private mmFor(tgid: number): Mm {
    let mm = this.mms.get(tgid)
    if (mm === undefined) {
      mm = this.k.createMm(tgid)
      for (const m of this.opts.initialMaps.get(tgid) ?? []) installKnown(this.k, mm, m, 'snapshot')
      this.mms.set(tgid, mm)
    }
    return mm
  }

  /** What-if: how far behind its recording the thread's next operation starts (faithful: 0, at its recorded time). */
  private delay(t: Task): number {
    return this.opts.mode === 'what-if' ? (this.shift.get(t.tid) ?? 0) : 0
  }

  /** Submits `start` to the thread at its recorded time (faithful) or after its accumulated delay (what-if). */
  private submit(t: Task, op: Op, start: () => void): void {
    const delay = this.delay(t)
    const s = this.k.sched
    const at = op.t + delay
    if (delay <= 0) start()
    else if (!t.busy && (at <= s.now || s.canInline(at))) {
      // an idle thread would step through sleepUntil inline: move the clock as its step would, and start
      if (at > s.now) s.ranInline(at, 1)
      start()
    } else t.submit(sleepUntil(this.k, at), () => start())
  }

  /** What-if bookkeeping: a thread falls behind its recording by its queueing delay plus its lock waits. */
  private finished(tid: number, op: Op, startNs: number, waitNs: number): void {
    if (this.opts.mode !== 'what-if') return
    const behind = startNs - op.t + waitNs
    if (behind > (this.shift.get(tid) ?? 0)) this.shift.set(tid, behind)
  }

  private fault(op: FaultOp): void {
    const t = this.taskFor(op.tid, op.tgid)
    if (this.delay(t) <= 0) this.startFault(t, op)
    else this.submit(t, op, () => this.startFault(t, op))
  }

  private startFault(t: Task, op: FaultOp): void {
    const req = this.req // a fault that completes at once does not keep its request; one that waits gets a copy
    req.address = op.address
    req.errorCode = op.errorCode
    req.kernelMode = !op.user
    req.io = op.io || undefined
    req.ref = op.eventId
    const held = this.opts.faultHoldsNs?.get(op.eventId)
    req.handleNs = held === undefined ? undefined : Math.max(0, held - this.k.costs.findVmaNs)
    // The address space is looked at when the fault runs: an idle thread runs it now (at once when nothing can
    // interleave, as Kernel.fault does), a busy one later.
    if (!t.busy) {
      this.inferIfUnmapped(t, op)
      const out = doUserAddrFaultUncontended(this.k, t, req, this.outcome)
      if (out !== null) this.faulted(t, op, out)
      else t.submit(doUserAddrFault(this.k, t, {...req}), (o) => this.faulted(t, op, o), true)
    } else t.submit(this.inferThenFault(t, op, {...req}), (o) => this.faulted(t, op, o), true)
  }

  private faulted(t: Task, op: FaultOp, out: FaultOutcome): void {
    this.finished(t.tid, op, out.startNs, out.waitNs)
    this.rec.fault(op, out, out.vma !== null && this.inferred.has(out.vma))
  }

  private *inferThenFault(t: Task, op: FaultOp, req: FaultRequest): Generator<number, FaultOutcome, void> {
    this.inferIfUnmapped(t, op)
    return yield* doUserAddrFault(this.k, t, req)
  }

  /** A fault outside every known VMA: the VMA predates what the trace shows (infer.ts). */
  private inferIfUnmapped(t: Task, op: FaultOp): void {
    const mm = t.mm
    if (mm === null) return
    const v = mm.vmaLookup(op.address) ?? mm.findVma(op.address) // the walk answers for covered addresses, cheaper
    if (v === null || v.start > op.address)
      inferVma(this.k, mm, op.address, op.errorCode, this.inferred, this.opts.vdsoNearStack === true)
  }

  private run<A>(
    t: Task,
    op: Op,
    label: string,
    fn: (k: Kernel, t: Task, a: A) => Generator<number, unknown, void>,
    args: A,
    after?: (rec: OpRecord<unknown>) => void,
  ): void {
    this.submit(t, op, () =>
      this.k.run(
        t,
        label,
        fn,
        args,
        (rec) => {
          this.finished(t.tid, op, rec.startNs, rec.acct.waitNs)
          this.rec.op(op, label, rec)
          after?.(rec)
        },
        op.eventId,
      ),
    )
  }

  private syscall(op: SyscallOp): void {
    const t = this.taskFor(op.tid, op.tgid)
    if (t.mm === null) return
    const [a0, a1, a2, a3, a4] = op.args as [number, number, number, number, number, number]
    const tr = this.traced(op)
    const result = tr.result
    switch (op.nr) {
      case NR.close: // only the fd references the file table keeps (rcuDeferredFput) care; no lock is taken
        if (this.k.files !== null && result !== undefined && !failed(result)) {
          const files = this.k.files
          this.submit(t, op, () => files.closeFd(`fd:${op.tgid}:${a0 | 0}`, op.tgid))
        }
        return
      case NR.mmap: {
        if (result === undefined) return // still running when tracing stopped: where it mapped is unknown
        const file = (a3 & MAP_ANONYMOUS) !== 0 ? null : {id: `fd:${op.tgid}:${a4 | 0}`, mapPages: true}
        if (file !== null && !failed(result)) this.k.files?.fdInstall(file, op.tgid)
        return this.run(t, op, 'mmap', sysMmap, {
          addr: a0,
          len: a1,
          prot: a2,
          flags: a3,
          file,
          offset: a4 === undefined ? 0 : op.args[5],
          ...tr,
        })
      }
      case NR.mprotect:
      case NR.pkey_mprotect:
        return this.run(t, op, op.name, sysMprotect, {addr: a0, len: a1, prot: a2, ...tr})
      case NR.munmap:
        return this.run(t, op, 'munmap', sysMunmap, {addr: a0, len: a1, ...tr})
      case NR.brk:
        return this.run(t, op, 'brk', sysBrk, {brk: a0, ...tr})
      case NR.mremap:
        if (result === undefined) return
        return this.run(t, op, 'mremap', sysMremap, {addr: a0, oldLen: a1, newLen: a2, flags: a3, newAddr: a4, ...tr})
      case NR.madvise:
        return this.run(t, op, 'madvise', sysMadvise, {addr: a0, len: a1, advice: a2, ...tr})
      case NR.mlock:
      case NR.mlock2:
        return this.run(t, op, op.name, sysMlock, {
          addr: a0,
          len: a1,
          onFault: op.nr === NR.mlock2 && (a2 & MLOCK_ONFAULT) !== 0,
          ...tr,
        })
      case NR.munlock:
        return this.run(t, op, 'munlock', sysMunlock, {addr: a0, len: a1, ...tr})
      case NR.mlockall:
        return this.run(t, op, 'mlockall', sysMlockall, {flags: a0, ...tr})
      case NR.munlockall:
        return this.run(t, op, 'munlockall', sysMunlockall, tr)
      case NR.execve:
      case NR.execveat:
        this.execAreas.set(op.tid, [])
        return
      case NR.clone: // clone(flags, ...)
      case NR.fork:
      case NR.vfork:
      case NR.clone3: {
        // clone3: flags live in memory; task_newtask (joined at ingest) or a thread by default (pthread_create)
        if (result === undefined || failed(result) || result <= 0) return
        const flags =
          op.cloneFlags ??
          (op.nr === NR.clone
            ? a0
            : op.nr === NR.fork
              ? SIGCHLD
              : op.nr === NR.vfork
                ? CLONE_VM | CLONE_VFORK
                : CLONE_VM)
        this.forked.add(result)
        return this.clone(op, result, flags, tr)
      }
    }
  }

  /**
   * What the trace says of a syscall's cost (kernel Traced): how long it took, a bound on the cost table's critical
   * section; and, when calibrating, the critical section its thread's mmap_lock events measured. The duration is not
   * the hold: it also counts the time the call waited for the lock in the real run (node_gc_long: 15 of munmap's
   * 19.7 s), which the simulation models itself.
   */
  private traced(op: SyscallOp): Traced {
    const tr: Traced = {}
    if (op.ret !== null) tr.result = op.ret
    if (op.tEnd !== null && op.tEnd >= op.t) tr.tookNs = op.tEnd - op.t
    if (this.opts.calibrateHolds === true && op.lockHoldNs !== null) tr.holdNs = op.lockHoldNs
    return tr
  }

  /** copy_process: a thread or CLONE_VM child shares the mm; otherwise dup_mmap copies it under both write locks. */
  private clone(op: Op, child: number, flags: number, tr: Traced = {}): void {
    const parent = this.taskFor(op.tid, op.tgid)
    if (parent.mm === null || this.tasks.has(child)) return
    if ((flags & CLONE_VM) !== 0) {
      const t = this.k.createTask(child, parent.mm)
      this.tasks.set(child, t)
      // a thread (pthread_create; clone3's flags unknown count as one), or a vfork child: its own thread group
      this.threadStarted((flags & CLONE_VFORK) !== 0 ? child : op.tgid)
      if (!this.mms.has(child)) this.mms.set(child, parent.mm) // a CLONE_VM child that is its own thread group (vfork)
      return
    }
    // The child exists from now on; its own operations wait until the copy is done.
    const childTask = this.k.createTask(child, null)
    this.tasks.set(child, childTask)
    this.threadStarted(child)
    let copied = false
    childTask.submit(
      (function* () {
        if (!copied) yield BLOCK
      })(),
    )
    this.run(parent, op, 'fork', dupMmap, tr, (rec) => {
      const mm = rec.result as Mm
      mm.users++
      childTask.mm = mm
      this.mms.set(child, mm)
      copied = true
      if (childTask.blocked) childTask.wake()
    })
  }

  private exec(op: Extract<Op, {type: 'exec'}>): void {
    const t = this.taskFor(op.tid, op.tgid)
    if (t.mm === null) return
    const areas = this.execAreas.get(op.tid) ?? []
    const maps = this.execMaps.get(op.tid) ?? []
    const writes = this.execWrites.get(op.tid) ?? []
    this.sinceEntry(op.tid)
    this.run(t, op, 'exec', execMmap, {}, () => {
      if (t.mm === null) return
      this.mms.set(op.tgid, t.mm)
      // begin_new_exec switched to the new mm before load_elf_binary mapped (and perf recorded) these
      for (const m of maps) installKnown(this.k, t.mm, m, 'exec')
      installExecAreas(this.k, t.mm, areas, this.inferred, op.filename)
      for (const w of writes) if (w.areasBefore < areas.length) installPadzero(this.k, t.mm, w.address, this.inferred)
    })
  }

  private exit(op: Extract<Op, {type: 'exit'}>): void {
    const t = this.tasks.get(op.tid)
    if (t === undefined || t.mm === null) return
    const mm = t.mm
    const live = this.liveThreads.get(op.tgid) ?? 1
    this.liveThreads.set(op.tgid, live - 1)
    this.run(t, op, 'exit', exitMm, {groupDead: op.groupDead ?? live <= 1}, () => {
      this.tasks.delete(op.tid)
      if (mm.dead) this.k.files?.exitFiles(op.tgid) // exit_files after exit_mm (do_exit)
    })
  }
}

function pushTo<V>(m: Map<number, V[]>, tid: number, v: V): void {
  const list = m.get(tid)
  if (list === undefined) m.set(tid, [v])
  else list.push(v)
}

function* sleepUntil(k: Kernel, t: number): Generator<number, void, void> {
  if (t > k.sched.now) yield t - k.sched.now
}
