// Shared scaffolding for the kernel tests: a kernel with one mm, synchronous helpers that run an operation to
// completion, and an end-of-run leak check.
import assert from 'node:assert/strict'
import {
  Kernel,
  installVma,
  type FaultOutcome,
  type FaultRequest,
  type GenerationName,
  type InstallVmaArgs,
  type KernelOptions,
  type LockTraceEvent,
  type Mm,
  type OpRecord,
  type Task,
  type Step,
} from './api.js'

export const PAGE = 4096
export const MB = 1 << 20
export const BASE = 0x7f00_0000_0000

export interface World {
  k: Kernel
  mm: Mm
  t: Task[]
  events: LockTraceEvent[]
}

export function world(gen: GenerationName, threads = 3, opts: KernelOptions = {}): World {
  const k = new Kernel({generation: gen, ...opts})
  const mm = k.createMm()
  const t: Task[] = []
  for (let i = 0; i < threads; i++) t.push(k.createTask(100 + i, mm))
  const events: LockTraceEvent[] = []
  k.onLockEvent = (e) => events.push(e)
  return {k, mm, t, events}
}

/** installVma at BASE + off (pages). */
export function vma(w: World, offPages: number, pages: number, a: Partial<InstallVmaArgs> = {}) {
  return installVma(w.k, w.mm, {start: BASE + offPages * PAGE, end: BASE + (offPages + pages) * PAGE, prot: 3, ...a})
}

/** Start a fault now; the outcome lands in the returned holder once the scheduler runs. */
export function fault(w: World, t: Task, req: FaultRequest): {out?: FaultOutcome} {
  const h: {out?: FaultOutcome} = {}
  w.k.fault(t, req, (o) => (h.out = o))
  return h
}

/** Run a fault to completion on an otherwise idle kernel. */
export function faultNow(w: World, t: Task, req: FaultRequest): FaultOutcome {
  const h = fault(w, t, req)
  w.k.sched.run()
  assert.ok(h.out, 'fault did not complete')
  return h.out
}

export function op<A, T>(
  w: World,
  t: Task,
  label: string,
  fn: (k: Kernel, t: Task, a: A) => Step<T>,
  a: A,
): {rec?: OpRecord<T>} {
  const h: {rec?: OpRecord<T>} = {}
  w.k.run(t, label, fn, a, (r) => (h.rec = r))
  return h
}

export function opNow<A, T>(
  w: World,
  t: Task,
  label: string,
  fn: (k: Kernel, t: Task, a: A) => Step<T>,
  a: A,
): OpRecord<T> {
  const h = op(w, t, label, fn, a)
  w.k.sched.run()
  assert.ok(h.rec, `${label} did not complete`)
  return h.rec
}

/** Compact lock-event signature like the trace README's: Sr Ar! Rr Sw Aw ... */
export function sig(events: LockTraceEvent[], tid?: number): string {
  return events
    .filter((e) => tid === undefined || e.tid === tid)
    .map(
      (e) =>
        (e.kind === 'start_locking' ? 'S' : e.kind === 'acquire_returned' ? 'A' : 'R') +
        (e.write ? 'w' : 'r') +
        (e.success ? '' : '!'),
    )
    .join(' ')
}

/** Everything released: mmap locks, VMA locks, RCU readers, tasks idle. */
export function assertQuiescent(k: Kernel, tasks: Task[]): void {
  for (const mm of k.liveMms()) {
    assert.equal(mm.lock.owner, null, `mm ${mm.id} write-locked at the end`)
    assert.equal(mm.lock.readers, 0, `mm ${mm.id} read-locked at the end`)
    assert.equal(mm.lock.waiters, 0, `mm ${mm.id} has waiters at the end`)
    for (const v of mm.vmasIn(0, 2 ** 53)) {
      assert.equal(v.readers, 0, `${v} read-locked at the end`)
      assert.equal(v.excluding, false, `${v} excluding at the end`)
      assert.equal(v.state, 'attached')
    }
  }
  assert.equal(k.rcu.activeReaders, 0, 'RCU readers left')
  for (const t of tasks) assert.equal(t.busy, false, `task ${t.tid} still busy`)
}
