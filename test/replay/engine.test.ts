import {test} from 'node:test'
import assert from 'node:assert/strict'
import {Replayer} from '../../src/replay/engine.js'
import type {Recorder} from '../../src/results/recorder.js'
import {policyByName} from '../../src/replay/policies.js'
import type {Op} from '../../src/model/ops.js'
import {DEFAULT_COSTS, type FaultOutcome} from '../../src/kernel/index.js'

// A tiny hand-built trace: one process, two threads. Times in ns since the trace start.
const PID = 100
const BASE = 0x7f00_0000_0000
const MAP_PRIVATE = 0x02
const MAP_ANONYMOUS = 0x20
const PROT_RW = 3
const PROT_R = 1
let id = 0
const mmap = (
  t: number,
  tid: number,
  addr: number,
  len: number,
  prot: number,
  flags: number,
  fd = -1,
  durNs = 2000,
): Op => ({
  type: 'syscall',
  eventId: ++id,
  t,
  tEnd: t + durNs,
  tid,
  tgid: PID,
  nr: 9,
  name: 'mmap',
  args: [0, len, prot, flags, fd, 0],
  ret: addr,
  cloneFlags: null,
  lockHoldNs: null,
})
/** `holdNs`: the mmap_lock hold the trace's lock events measured inside the call (syscalls.lock_hold_ns). */
const munmap = (
  t: number,
  tid: number,
  addr: number,
  len: number,
  durNs: number,
  holdNs: number | null = null,
): Op => ({
  type: 'syscall',
  eventId: ++id,
  t,
  tEnd: t + durNs,
  tid,
  tgid: PID,
  nr: 11,
  name: 'munmap',
  args: [addr, len, 0, 0, 0, 0],
  ret: 0,
  cloneFlags: null,
  lockHoldNs: holdNs,
})
const mprotect = (
  t: number,
  tid: number,
  addr: number,
  len: number,
  prot: number,
  durNs: number,
  holdNs: number | null = null,
): Op => ({
  type: 'syscall',
  eventId: ++id,
  t,
  tEnd: t + durNs,
  tid,
  tgid: PID,
  nr: 10,
  name: 'mprotect',
  args: [addr, len, prot, 0, 0, 0],
  ret: 0,
  cloneFlags: null,
  lockHoldNs: holdNs,
})
const fault = (t: number, tid: number, address: number, errorCode: number): Op => ({
  type: 'fault',
  eventId: ++id,
  t,
  tid,
  tgid: PID,
  address,
  errorCode,
  user: true,
  io: false,
})

function replay(
  policy: string,
  ops: Op[],
  mode: 'faithful' | 'what-if' = 'faithful',
  calibrateHolds = true,
): {faults: Map<number, FaultOutcome>; end: number} {
  const faults = new Map<number, FaultOutcome>()
  const rec: Recorder = {fault: (op, out) => faults.set(op.eventId, {...out}), op: () => {}}
  const r = new Replayer(
    policyByName(policy),
    {mode, costs: {}, initialMaps: new Map(), attached: false, calibrateHolds},
    rec,
  )
  for (const op of ops) r.apply(op)
  return {faults, end: r.finish()}
}

test('a first write into a fresh anonymous mmap: 6.4 rejects it at lookup (no anon_vma), 6.18 trylocks mmap_lock for the anon_vma', () => {
  const f = fault(10_000, PID, BASE + 0x10, 0x6)
  const ops = [mmap(0, PID, BASE, 0x10000, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS), f]
  const v64 = replay('v6.4', ops).faults.get(f.eventId)!
  assert.equal(v64.path, 'mmap_lock')
  assert.equal(v64.reason, 'no_anon_vma')
  const v618 = replay('v6.18', ops).faults.get(f.eventId)!
  assert.equal(v618.path, 'vma_lock')
  assert.equal(v618.tookMmapLock, true)
  assert.equal(v618.reason, 'anon_vma_trylock')
  const ideal = replay('ideal', ops).faults.get(f.eventId)!
  assert.equal(ideal.tookMmapLock, false)
  const old = replay('mmap-lock', ops).faults.get(f.eventId)!
  assert.equal(old.reason, 'policy_mmap_lock')
})

test('a read fault in a file mapping: 6.4 falls back (not anonymous), 6.6+ handles it under the VMA lock', () => {
  const f = fault(10_000, PID, BASE + 0x2000, 0x4)
  const ops = [mmap(0, PID, BASE, 0x10000, PROT_R, MAP_PRIVATE, 3), f]
  assert.equal(replay('v6.4', ops).faults.get(f.eventId)!.reason, 'not_anonymous')
  for (const p of ['v6.6', 'v6.10', 'v6.18']) {
    const o = replay(p, ops).faults.get(f.eventId)!
    assert.equal(o.path, 'vma_lock', p)
    assert.equal(o.tookMmapLock, false, p)
  }
})

test('a fault on a VMA another thread is mprotecting (a real change of flags) waits for the writer and names it', () => {
  const T2 = PID + 1
  const second = fault(5_000, PID, BASE + 0x10, 0x6) // gives the VMA its anon_vma first
  const f = fault(20_000, PID, BASE + 0x1000, 0x4)
  const mp = mprotect(19_000, T2, BASE, 0x10000, PROT_R, 50_000, 50_000) // changes the flags, so mprotect_fixup write-locks the VMA
  const ops = [mmap(0, PID, BASE, 0x10000, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS), second, mp, f]
  const o = replay('v6.18', ops).faults.get(f.eventId)!
  assert.equal(o.path, 'mmap_lock')
  assert.equal(o.reason, 'vma_write_locked')
  assert.ok(o.waitNs > 40_000, `waited ${o.waitNs} ns`)
  assert.equal(o.waitedFor?.tid, T2)
  assert.equal(o.waitedFor?.op, 'mprotect')
  assert.equal(o.waitedFor?.ref, mp.eventId)
})

test("what-if mode pushes a thread's later operations by the waits its policy adds", () => {
  const T2 = PID + 1
  const ops = [
    mmap(0, PID, BASE, 0x100000, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS),
    fault(1_000, PID, BASE, 0x6),
    munmap(10_000, T2, BASE + 0x80000, 0x1000, 200_000, 200_000), // long writer in the same mm
    fault(20_000, PID, BASE + 0x1000, 0x4),
    fault(30_000, PID, BASE + 0x2000, 0x4),
  ]
  const last = ops.at(-1)!.eventId
  const faithful = replay('mmap-lock', ops, 'faithful')
  const whatIf = replay('mmap-lock', ops, 'what-if')
  // Faithful: the last fault starts at its recorded time but still queues behind its own thread's blocked fault.
  // munmap's measured 200 µs hold is 30 % write (downgradeWriteFraction): 60 µs, 50 of them after the fault came
  assert.ok(faithful.faults.get(last - 1)!.waitNs > 50_000, 'the first fault waits for the munmap')
  assert.ok(whatIf.faults.get(last)!.startNs >= faithful.faults.get(last)!.startNs)
  // Under ideal nothing waits, so what-if changes nothing.
  const ideal = replay('ideal', ops, 'what-if')
  assert.equal(ideal.faults.get(last)!.startNs, replay('ideal', ops, 'faithful').faults.get(last)!.startNs)
})

test("a traced syscall holds mmap_lock for its measured hold when calibrating, else for the cost table's, never longer than it took", () => {
  const T2 = PID + 1
  const setup = [mmap(0, PID, BASE, 0x100000, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS), fault(1_000, PID, BASE, 0x6)]
  // a fault 1 µs into another thread's mprotect (write lock, no downgrade) waits for the rest of its hold
  const waitBehind = (durNs: number, holdNs: number | null, calibrate: boolean): number => {
    const mp = mprotect(10_000, T2, BASE + 0x80000, 0x1000, PROT_R, durNs, holdNs)
    const f = fault(11_000, PID, BASE + 0x1000, 0x4)
    return replay('mmap-lock', [...setup, mp, f], 'faithful', calibrate).faults.get(f.eventId)!.waitNs
  }
  // took 200 µs, held 30 µs by its lock events: calibrated, the hold is 30 µs; not, the cost table's 3 µs
  // (mprotectNs), since a traced duration also counts the call's own lock waits
  const calibrated = waitBehind(200_000, 30_000, true)
  const modelled = waitBehind(200_000, 30_000, false)
  assert.equal(calibrated - modelled, 30_000 - 3_000)
  // took 2 µs: it cannot have held the lock for the cost table's 3 µs
  assert.equal(modelled - waitBehind(2_000, null, false), 3_000 - 2_000)
  // and waiting means the rest of the hold, plus the waker's latency
  assert.ok(modelled >= 2_000, `modelled wait ${modelled}`)
})

test('perf exec: the PERF_RECORD_MMAP2 records and vm_unmapped_area before sched_process_exec describe the new mm (vDSO/vvar RETRY, bss trylocks, padzero-written data does not)', () => {
  // perf starts recording inside the execve (no sys_enter): load_elf_binary maps into the mm begin_new_exec installed
  const mmap2 = (start: number, len: number, perms: string, path: string, inode = 0): Op => ({
    type: 'mmap2',
    eventId: ++id,
    t: 100,
    tid: PID,
    tgid: PID,
    start,
    len,
    pgoff: 0,
    inode,
    perms,
    path,
  })
  const data = 0x945000
  const bss = 0xa85000
  const vdso = BASE + 0x6000
  const ops: Op[] = [
    mmap2(data, 0x140000, 'rw-p', '/usr/bin/python3.11', 7),
    mmap2(bss, 0x45000, 'rw-p', '//anon'),
    {type: 'unmapped_area', eventId: ++id, t: 120, tid: PID, tgid: PID, addr: BASE + 0x10000, len: 0x35000, err: 0}, // ld.so
    {type: 'unmapped_area', eventId: ++id, t: 150, tid: PID, tgid: PID, addr: BASE, len: 0x8000, err: 0}, // vvar + vDSO
    mmap2(vdso, 0x2000, 'r-xp', '[vdso]'),
    {type: 'exec', eventId: ++id, t: 200, tid: PID, tgid: PID, filename: '/usr/bin/python3'},
  ]
  const fData = fault(10_000, PID, data + 0x100, 0x6)
  const fBss = fault(20_000, PID, bss + 0x100, 0x6)
  const fVvar = fault(30_000, PID, BASE + 0x1000, 0x4)
  const fVdso = fault(40_000, PID, vdso + 0x20, 0x4)
  const out = replay('v6.18', [...ops, fData, fBss, fVvar, fVdso]).faults
  assert.equal(out.get(fData.eventId)!.tookMmapLock, false, 'padzero gave the data segment its anon_vma')
  assert.equal(out.get(fBss.eventId)!.reason, 'anon_vma_trylock', 'the bss (vm_brk_flags) has none')
  for (const f of [fVvar, fVdso])
    assert.equal(out.get(f.eventId)!.reason, 'file_no_map_pages', 'special mappings have no ->map_pages')
})

test('exec stack: the argument pages begin above the first user stack fault, so the stack reaches 128 KiB below them, not below the fault', () => {
  // make_j2_lua: after exec, the first stack fault at page P; a fault 124 KiB below P already grew the stack
  // (Sr Ar Rr Sw Aw Ar Rr) because setup_arg_pages' 128 KiB start below the argument pages, which lie above P.
  const top = 0x7fff_f000_0000
  const exec: Op = {type: 'exec', eventId: ++id, t: 100, tid: PID, tgid: PID, filename: '/bin/sh'}
  const first = fault(1_000, PID, top - 0x10, 0x6)
  const inside = fault(2_000, PID, top - 0x1e000 + 0x10, 0x6) // 120 KiB below P: inside the expanded stack
  const below = fault(3_000, PID, top - 0x20000 + 0x10, 0x6) // 128 KiB below P: below it
  const out = replay('v6.18', [exec, first, inside, below]).faults
  assert.equal(out.get(first.eventId)!.tookMmapLock, false)
  assert.equal(out.get(inside.eventId)!.tookMmapLock, false)
  assert.equal(out.get(below.eventId)!.reason, 'stack_growth')
})

test("exec with page_fault_kernel: elf_load's padzero write marks the last file page of the data segment; the bss above it has no anon_vma until its first write", () => {
  // py_threads_anon: page_fault_kernel ip=elf_load at 0xa84278 inside the execve, later the first user write to
  // 0xac4854 (bss) takes the anon_vma trylock while writes to the data segment below do not.
  const kfault = (t: number, address: number, errorCode: number): Op => ({
    type: 'fault',
    eventId: ++id,
    t,
    tid: PID,
    tgid: PID,
    address,
    errorCode,
    user: false,
    io: false,
  })
  const execve: Op = {
    type: 'syscall',
    eventId: ++id,
    t: 10,
    tEnd: 500,
    tid: PID,
    tgid: PID,
    nr: 59,
    name: 'execve',
    args: [0, 0, 0, 0, 0, 0],
    ret: 0,
    cloneFlags: null,
    lockHoldNs: null,
  }
  const ops: Op[] = [
    execve,
    kfault(100, 0xa84278, 0x2), // padzero
    {type: 'unmapped_area', eventId: ++id, t: 200, tid: PID, tgid: PID, addr: BASE + 0x10000, len: 0x35000, err: 0}, // ld.so
    {type: 'unmapped_area', eventId: ++id, t: 300, tid: PID, tgid: PID, addr: BASE, len: 0x8000, err: 0}, // vvar + vDSO
    kfault(350, 0x7ffe03e13000, 0x2), // create_elf_tables on the new stack: after the vDSO, not padzero
    {type: 'exec', eventId: ++id, t: 400, tid: PID, tgid: PID, filename: '/usr/bin/python3'},
  ]
  const data = fault(10_000, PID, 0xa83100, 0x6)
  const bss = fault(20_000, PID, 0xac4854, 0x6)
  const bssAgain = fault(30_000, PID, 0xac5000, 0x6)
  const out = replay('v6.18', [...ops, data, bss, bssAgain]).faults
  assert.equal(out.get(data.eventId)!.tookMmapLock, false, "the data segment has padzero's anon_vma")
  assert.equal(out.get(bss.eventId)!.reason, 'anon_vma_trylock', 'the bss (vm_brk_flags) has none')
  assert.equal(out.get(bssAgain.eventId)!.tookMmapLock, false, 'then it has one')
})

test('exit: the last thread of a group runs acct_collect (one more mmap read section) before exit_mm, unless the kernel lacks CONFIG_BSD_PROCESS_ACCT', () => {
  // real 6.12 and 6.18 exit_group of a single-threaded process: R (acct_collect), R (exit_mm), R, W (exit_mmap)
  const exit = (t: number, tid: number, groupDead: boolean | null): Op => ({
    type: 'exit',
    eventId: ++id,
    t,
    tid,
    tgid: PID,
    groupDead,
  })
  const run = (groupDeadOfLast: boolean | null, bsdProcessAcct?: boolean): number[] => {
    const acquisitions: number[] = []
    const rec: Recorder = {
      fault: () => {},
      op: (op, _label, r) => {
        if (op.type === 'exit') acquisitions.push(r.acct.acquisitions)
      },
    }
    const r = new Replayer(
      policyByName('v6.18'),
      {mode: 'faithful', costs: {}, initialMaps: new Map(), attached: false, bsdProcessAcct},
      rec,
    )
    for (const op of [
      mmap(0, PID, BASE, 0x10000, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS),
      fault(10_000, PID + 1, BASE, 0x6),
      exit(20_000, PID + 1, null),
      exit(30_000, PID, groupDeadOfLast),
    ])
      r.apply(op)
    r.finish()
    return acquisitions
  }
  assert.deepEqual(run(null), [1, 4], 'group_dead inferred: the second exit is the last live thread')
  assert.deepEqual(run(true), [1, 4])
  assert.deepEqual(run(false), [1, 3], "the trace's group_dead=false wins")
  assert.deepEqual(run(null, false), [1, 3], 'no CONFIG_BSD_PROCESS_ACCT')
})

test("a fault's own traced mmap_lock hold (faultHoldsNs) sizes its handling, and so what a writer behind it waits", () => {
  const first = fault(5_000, PID + 1, BASE + 0x10, 0x6) // attaches the anon_vma
  const f = fault(10_000, PID + 1, BASE + 0x1010, 0x6)
  const w = mprotect(12_000, PID + 2, BASE + 0x8000, 0x1000, PROT_R, 200_000, 1_000)
  const ops = [mmap(0, PID, BASE, 0x10000, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS), first, f, w]
  const run = (faultHoldsNs?: Map<number, number>): {fault: FaultOutcome; writerWaitNs: number} => {
    let fo: FaultOutcome | null = null
    let writerWaitNs = -1
    const rec: Recorder = {
      fault: (op, out) => {
        if (op.eventId === f.eventId) fo = {...out}
      },
      op: (op, _label, r) => {
        if (op.eventId === w.eventId) writerWaitNs = r.acct.waitNs
      },
    }
    const opts = {mode: 'faithful' as const, costs: {}, initialMaps: new Map(), attached: false, calibrateHolds: true}
    const r = new Replayer(policyByName('mmap-lock'), {...opts, faultHoldsNs}, rec)
    for (const op of ops) r.apply(op)
    r.finish()
    return {fault: fo!, writerWaitNs}
  }
  const median = run()
  assert.equal(median.fault.holdNs, DEFAULT_COSTS.findVmaNs + DEFAULT_COSTS.anonFaultNs, "the kind's cost")
  assert.equal(median.writerWaitNs, 0, 'the fault is long gone when mprotect locks')
  const traced = run(new Map([[f.eventId, 50_000]]))
  assert.equal(traced.fault.holdNs, 50_000, 'find_vma plus the handler: the traced hold')
  assert.ok(traced.writerWaitNs >= 48_000, `mprotect waits for the rest of it (${traced.writerWaitNs})`)
})

test("faithful: a slow cost table does not queue a thread's fault behind its previous one (the recording shows that one over)", () => {
  const T2 = PID + 1
  const first = fault(1_000, PID, BASE, 0x6) // the VMA's first write: its anon_vma
  const second = fault(2_000, PID, BASE + 0x1000, 0x6)
  // another thread changes the VMA's flags from 40 µs on: mprotect_fixup write-locks it
  const mp = mprotect(40_000, T2, BASE, 0x10000, PROT_R, 100_000, 100_000)
  const ops = [mmap(0, PID, BASE, 0x10000, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS), first, second, mp]
  const faults = new Map<number, FaultOutcome>()
  const rec: Recorder = {fault: (op, out) => faults.set(op.eventId, {...out}), op: () => {}}
  // a machine where an anonymous fault takes 60 µs (a TCG guest's calibrated table), though the trace shows the
  // thread faulting again 1 µs later
  const costs = {anonFaultNs: 60_000}
  const r = new Replayer(policyByName('v6.10'), {mode: 'faithful', costs, initialMaps: new Map(), attached: false}, rec)
  for (const op of ops) r.apply(op)
  r.finish()
  const o = faults.get(second.eventId)!
  // the second fault starts at its recorded time, before the mprotect, and finds the VMA unlocked
  assert.equal(o.startNs, 2_000)
  assert.equal(o.path, 'vma_lock')
  assert.equal(o.tookMmapLock, false)
  // the first fault's own time was cut where the second began
  assert.equal(faults.get(first.eventId)!.endNs, 2_000)
})
