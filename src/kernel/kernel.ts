// The simulated kernel: one scheduler, one RCU clock, a generation + fault policy + cost table, the VMA slab
// (reuse on 6.15+), and the counters. Every mm and task belongs to one Kernel; an engine runs one Kernel per policy.
import {Scheduler, type Step} from '../sim/scheduler.js'
import {costTable, type CostTable} from './costs.js'
import {doUserAddrFault, doUserAddrFaultUncontended, type FaultOutcome, type FaultRequest} from './fault.js'
import {generation, type Generation, type GenerationName} from './generations.js'
import {Mm, type LockTraceEvent} from './mm.js'
import {policyFromGeneration, type FaultPolicy} from './policy.js'
import {FileTable} from './files.js'
import {RcuClock} from './rcu.js'
import {newAcct, Task, type LockAcct} from './task.js'
import {VMA_BYTES, VMA_LOCK_BYTES, Vma, type AnonVma, type FileRef, type VmaAttrs} from './vma.js'

/** /sys/kernel/mm/transparent_hugepage/enabled. */
export type ThpMode = 'always' | 'madvise' | 'never'

export interface KernelOptions {
  /** Kernel generation (default '6.18'). */
  generation?: GenerationName | Generation
  /** Fault policy (default: the generation's own, see policyFromGeneration). */
  policy?: FaultPolicy
  /** Knobs applied on top of the generation's own policy (ignored when `policy` is given). */
  knobs?: Partial<FaultPolicy>
  costs?: Partial<CostTable>
  /** Minimum RCU grace period, ns (default: the generation's rcuGracePeriodNs). */
  rcuGracePeriodNs?: number
  /** Transparent hugepages: 'madvise' (this machine, default) makes VM_HUGEPAGE VMAs THP-eligible; 'always' every anonymous VMA. */
  thp?: ThpMode
  /** RLIMIT_STACK, bytes: how far a VM_GROWSDOWN stack may grow (default 8 MiB, the usual ulimit -s). */
  stackRlimit?: number
  /**
   * CONFIG_BSD_PROCESS_ACCT: acct_collect read-locks the mm of a dying thread group (default true, as Debian, Ubuntu
   * and Fedora build their kernels).
   */
  bsdProcessAcct?: boolean
  /** Share a scheduler (several kernels on one clock) or pass options to a new one. */
  sched?: Scheduler
}

/** /proc/vmstat's per-VMA lock counters (CONFIG_PER_VMA_LOCK_STATS). */
export interface VmaLockCounters {
  success: number
  abort: number
  retry: number
  miss: number
}

export interface KernelStats {
  vmaLock: VmaLockCounters
  faults: number
  faultsTookMmapLock: number
  vmasAllocated: number
  vmasReused: number
  anonVmas: number
}

/** What an operation run through Kernel.run reports besides its own result. */
export interface OpRecord<T> {
  op: string
  tid: number
  startNs: number
  endNs: number
  acct: LockAcct
  result: T
}

export class Kernel {
  readonly sched: Scheduler
  readonly gen: Generation
  readonly policy: FaultPolicy
  readonly costs: CostTable
  readonly rcu: RcuClock
  /** File references (files.ts): kept only when the policy defers VMA fputs, the one policy that reports them. */
  readonly files: FileTable | null
  readonly thp: ThpMode
  readonly stackRlimit: number
  readonly bsdProcessAcct: boolean
  readonly stats: KernelStats = {
    vmaLock: {success: 0, abort: 0, retry: 0, miss: 0},
    faults: 0,
    faultsTookMmapLock: 0,
    vmasAllocated: 0,
    vmasReused: 0,
    anonVmas: 0,
  }
  /** Receives every mmap_lock tracepoint the model emits (null: off). */
  onLockEvent: ((e: LockTraceEvent) => void) | null = null
  private readonly vmaCache: Vma[] = [] // SLAB_TYPESAFE_BY_RCU free objects (6.15+), LIFO like a per-CPU freelist
  private nextVmaId = 1
  private nextAnonVmaId = 1
  private nextMmId = 1
  private nextFileId = 1
  private readonly mms: Mm[] = []

  constructor(opts: KernelOptions = {}) {
    this.sched = opts.sched ?? new Scheduler()
    this.gen = typeof opts.generation === 'object' ? opts.generation : generation(opts.generation ?? '6.18')
    this.policy = opts.policy ?? policyFromGeneration(this.gen, opts.knobs)
    this.costs = costTable(opts.costs)
    this.rcu = new RcuClock(this.sched, opts.rcuGracePeriodNs ?? this.gen.rcuGracePeriodNs, this.policy.rcuLazyNs)
    this.files = this.policy.rcuDeferredFput ? new FileTable(this.sched, this.rcu, true) : null
    this.thp = opts.thp ?? 'madvise'
    this.stackRlimit = opts.stackRlimit ?? 8 * 2 ** 20
    this.bsdProcessAcct = opts.bsdProcessAcct ?? true
  }

  /** A new, empty address space (mm_alloc). `id` defaults to a counter; the engine may use the traced mm pointer's id. */
  createMm(id = this.nextMmId++): Mm {
    const mm = new Mm(id, this)
    this.mms.push(mm)
    return mm
  }

  /** A simulated thread using `mm` (mm_users is incremented; exit_mm drops it). */
  createTask(tid: number, mm: Mm | null): Task {
    if (mm !== null) mm.users++
    return new Task(this.sched, tid, mm)
  }

  /** Live mms in creation order. */
  liveMms(): Mm[] {
    return this.mms.filter((m) => !m.dead)
  }

  /**
   * Run `fn(k, t, args)` on task `t` (queued behind its current operation), e.g. `k.run(t, 'munmap', sysMunmap,
   * {addr, len})`. The task's lock accounting is reset when the operation starts; `done` gets it with the result.
   * `label` is what threads that wait for this one report as its operation.
   */
  run<A, T>(
    t: Task,
    label: string,
    fn: (k: Kernel, t: Task, args: A) => Step<T>,
    args: A,
    done?: (rec: OpRecord<T>) => void,
    ref = 0,
  ): void {
    t.submit(this.wrap(t, label, fn, args, ref), done)
  }

  /** Run a user (or kernel-mode uaccess) page fault on `t`: do_user_addr_fault. */
  fault(t: Task, req: FaultRequest, done?: (out: FaultOutcome) => void): void {
    const out = t.busy ? null : doUserAddrFaultUncontended(this, t, req)
    if (out === null) t.submit(doUserAddrFault(this, t, req), done)
    else done?.(out)
  }

  private *wrap<A, T>(
    t: Task,
    label: string,
    fn: (k: Kernel, t: Task, args: A) => Step<T>,
    args: A,
    ref: number,
  ): Step<OpRecord<T>> {
    t.op = label
    t.opRef = ref
    t.acct = newAcct()
    const startNs = this.sched.now
    const result = yield* fn(this, t, args)
    const rec: OpRecord<T> = {op: label, tid: t.tid, startNs, endNs: this.sched.now, acct: t.acct, result}
    t.op = 'idle'
    return rec
  }

  /** vm_area_alloc: a fresh object, or (6.15+) the most recently freed one from any mm. */
  vmAreaAlloc(mm: Mm, start: number, end: number, attrs: VmaAttrs): Vma {
    let vma = this.gen.typesafeByRcuReuse ? this.vmaCache.pop() : undefined
    if (vma !== undefined) {
      this.stats.vmasReused++
      vma.incarnation++
      vma.mm = mm
      vma.start = start
      vma.end = end
      vma.state = 'new'
      vma.lockSeq = -1
      vma.excluding = false
      vma.writerWaiting = null
    } else {
      vma = new Vma(this.nextVmaId++, mm, start, end)
    }
    this.stats.vmasAllocated++
    vma.setAttrs(attrs)
    if (attrs.file !== null) this.files?.vmaGet(attrs.file, mm.id) // get_file (vm_area_dup, mmap_region)
    return vma
  }

  /**
   * vm_area_free (kernel/fork.c). 6.4–6.14: call_rcu, the object stays readable for a grace period (unreachable =
   * exit_mmap frees at once, no reader can find it). 6.15+: back to the typesafe cache at once. 6.1: kmem_cache_free
   * at once (no lockless reader exists). The file reference drops here too (remove_vma's fput), after a grace
   * period under rcuDeferredFput (2021 SPF: ____vm_area_free in the RCU callback).
   */
  vmAreaFree(vma: Vma, unreachable = false): void {
    if (vma.state !== 'detached' && vma.state !== 'new') throw new Error(`free of ${vma}`)
    if (vma.readers !== 0) throw new Error(`free of read-locked ${vma}`)
    if (vma.file !== null && this.files !== null) this.files.vmaPut(vma.file, vma.mm?.id ?? 0)
    if (this.gen.typesafeByRcuReuse) {
      vma.state = 'freed'
      this.vmaCache.push(vma)
    } else if (unreachable || !this.gen.vmaFreeByRcu) {
      vma.state = 'freed'
    } else {
      vma.state = 'freeing'
      this.rcu.callRcu(
        () => {
          vma.state = 'freed'
        },
        VMA_BYTES + VMA_LOCK_BYTES,
        1,
        true,
      )
    }
  }

  /** An anonymous kernel file: shmem behind MAP_SHARED|MAP_ANONYMOUS (has ->map_pages), hugetlbfs behind MAP_HUGETLB. */
  internalFile(kind: 'shmem' | 'hugetlb'): FileRef {
    const shmem = kind === 'shmem'
    return {id: `${kind}:${this.nextFileId++}`, mapPages: shmem, ...(shmem ? {shmem} : {})}
  }

  /** A new struct anon_vma (anon_vma_alloc); `forked` for anon_vma_fork's child. */
  newAnonVma(forked: boolean): AnonVma {
    this.stats.anonVmas++
    return {id: this.nextAnonVmaId++, forked}
  }
}
