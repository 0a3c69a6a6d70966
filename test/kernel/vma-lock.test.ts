// Per-VMA lock lifecycle: lock_vma_under_rcu racing with writers in the walk → vma_start_read window.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {
  Kernel,
  installVma,
  lockVmaUnderRcu,
  sysMmap,
  sysMunmap,
  vmaEndRead,
  vmaIsWriteLocked,
  vmaStartRead,
  type GenerationName,
  type LockVmaResult,
  type Task,
  type Step,
} from './api.js'
import * as lib from './api.js'
import {BASE, PAGE} from './helpers.js'

const WINDOW = 50_000 // a long walk → vma_start_read window to let writers run inside it

function setup(gen: GenerationName) {
  const k = new Kernel({generation: gen, costs: {vmaLookupNs: WINDOW}})
  const mm = k.createMm()
  const other = k.createMm()
  const reader = k.createTask(1, mm)
  const writer = k.createTask(2, mm)
  const foreign = k.createTask(3, other)
  const v = installVma(k, mm, {start: BASE, end: BASE + 16 * PAGE, prot: 3, anonVma: true})
  const res: LockVmaResult = {vma: null, reason: null, misses: 0, seq: 0}
  let got: unknown = 'pending'
  reader.submit(
    (function* () {
      const x = yield* lockVmaUnderRcu(k, reader, mm, BASE + PAGE, res)
      got = x
      if (x !== null) vmaEndRead(x)
    })(),
  )
  const run = <A, T>(t: Task, label: string, fn: (k: Kernel, t: Task, a: A) => Step<T>, a: A): void =>
    k.run(t, label, fn, a)
  return {k, mm, other, reader, writer, foreign, v, res, got: () => got, run}
}

test('≤6.14: the walk returned a VMA that munmap detached meanwhile → detached flag → VMA_LOCK_MISS, walk again', () => {
  for (const g of ['6.4', '6.10', '6.14'] as const) {
    const s = setup(g)
    s.k.sched.runUntil(1000) // reader walked, is inside the window
    s.run(s.writer, 'munmap', sysMunmap, {addr: BASE, len: 16 * PAGE})
    s.run(s.writer, 'mmap', sysMmap, {addr: BASE, len: 16 * PAGE, prot: 3, flags: 0x32})
    s.k.sched.run()
    assert.equal(s.v.state, 'freed', `${g}: freed after the grace period, not before`)
    assert.equal(s.res.misses, 1, g)
    assert.equal(s.k.stats.vmaLock.miss, 1)
    if (g === '6.4') assert.equal(s.res.reason, 'no_anon_vma', 'the new VMA has no anon_vma yet')
    else {
      assert.notEqual(s.got(), null)
      assert.notEqual(s.got(), s.v)
    }
  }
})

test('≤6.14: a VMA freed by call_rcu is never freed under a reader walking it (RCU)', () => {
  const s = setup('6.14')
  s.k.sched.runUntil(1000)
  s.run(s.writer, 'munmap', sysMunmap, {addr: BASE, len: 16 * PAGE})
  s.k.sched.runUntil(WINDOW - 1)
  assert.equal(s.v.state, 'freeing', 'detached, waiting for the grace period held up by the reader')
  s.k.sched.run()
  assert.equal(s.res.reason, 'no_vma')
})

test('6.15+: freed VMA (vm_refcnt 0) → EAGAIN → MISS; reused by another mm → vma_reused; reused in place elsewhere → range_changed', () => {
  {
    const s = setup('6.18')
    s.k.sched.runUntil(1000)
    s.run(s.writer, 'munmap', sysMunmap, {addr: BASE, len: 16 * PAGE})
    s.k.sched.run()
    assert.equal(s.res.misses, 1)
    assert.equal(s.res.reason, 'no_vma')
  }
  {
    const s = setup('6.18')
    s.k.sched.runUntil(1000)
    s.run(s.writer, 'munmap', sysMunmap, {addr: BASE, len: 16 * PAGE})
    s.k.sched.runUntil(20_000)
    s.run(s.foreign, 'mmap', sysMmap, {addr: BASE, len: 16 * PAGE, prot: 3, flags: 0x32})
    s.k.sched.run()
    assert.equal(s.v.mm, s.other, 'SLAB_TYPESAFE_BY_RCU: the object went to another mm at once')
    assert.equal(s.v.incarnation, 1)
    assert.equal(s.res.reason, 'vma_reused')
  }
  {
    const s = setup('6.18')
    s.k.sched.runUntil(1000)
    s.run(s.writer, 'munmap', sysMunmap, {addr: BASE, len: 16 * PAGE})
    s.run(s.writer, 'mmap', sysMmap, {addr: BASE + 64 * PAGE, len: 16 * PAGE, prot: 3, flags: 0x32})
    s.k.sched.run()
    assert.equal(s.v.start, BASE + 64 * PAGE)
    assert.equal(s.res.reason, 'range_changed')
  }
})

test('vma_start_write waits for readers; vma_end_write_all releases every VMA locked in the epoch', () => {
  const k = new Kernel({generation: '6.18'})
  const mm = k.createMm()
  const [r, w] = [k.createTask(1, mm), k.createTask(2, mm)]
  const a = installVma(k, mm, {start: BASE, end: BASE + PAGE, prot: 3, anonVma: true})
  const b = installVma(k, mm, {start: BASE + 2 * PAGE, end: BASE + 3 * PAGE, prot: 3, anonVma: true})
  k.rcu.readLock(r)
  assert.equal(vmaStartRead(k, mm, a), 'ok')
  k.rcu.readUnlock(r)
  const log: string[] = []
  w.submit(
    (function* () {
      const {mmapWriteLock, mmapWriteUnlock, vmaStartWrite} = lib
      yield* mmapWriteLock(k, w, mm)
      yield* vmaStartWrite(w, b)
      yield* vmaStartWrite(w, a)
      log.push(`locked@${k.sched.now}`)
      assert.ok(vmaIsWriteLocked(a) && vmaIsWriteLocked(b))
      assert.equal(vmaStartRead(k, mm, b), 'locked')
      yield 10
      mmapWriteUnlock(k, w, mm)
      assert.ok(!vmaIsWriteLocked(a) && !vmaIsWriteLocked(b))
    })(),
  )
  k.sched.runUntil(500)
  assert.equal(a.excluding, true)
  assert.equal(a.refcnt, 0x40000000 + 2, 'vm_refcnt: attached + one reader + VMA_LOCK_OFFSET')
  vmaEndRead(a)
  k.sched.run()
  assert.deepEqual(log, ['locked@500'])
  assert.equal(w.acct.vmaWaitNs, 500)
  assert.equal(vmaStartRead(k, mm, b), 'ok')
})
