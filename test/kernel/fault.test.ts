// do_user_addr_fault per generation: every fallback condition of kernel-model.md §2/§9, as a table.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {
  GENERATION_NAMES,
  MADV,
  VM_GROWSDOWN,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_UFFD_MISSING,
  sysMadvise,
  sysMmap,
  sysMprotect,
  dupMmap,
  type FaultOutcome,
  type GenerationName,
} from './api.js'
import {BASE, MB, PAGE, assertQuiescent, fault, faultNow, op, sig, vma, world, type World} from './helpers.js'

const file = {id: 'libfoo.so', mapPages: true}
const driver = {id: '/dev/dri/card0', mapPages: false}
type Expect = [path: FaultOutcome['path'], reason: FaultOutcome['reason'], tookMmapLock: boolean]

// One scenario: build VMAs, fault, compare with the expected row for the generation.
interface Case {
  name: string
  setup: (w: World) => void
  req: {off: number; err: number; kernelMode?: boolean; io?: boolean; swap?: boolean}
  expect: (g: GenerationName) => Expect
}

const pvl = (g: GenerationName): boolean => g !== '6.1'
const ge = (g: GenerationName, v: GenerationName): boolean => GENERATION_NAMES.indexOf(g) >= GENERATION_NAMES.indexOf(v)
const mmapLock = (reason: FaultOutcome['reason']): Expect => ['mmap_lock', reason, true]
const VMA_OK: Expect = ['vma_lock', 'ok', false]

const cases: Case[] = [
  {
    name: 'first write to a fresh anonymous VMA (do_anonymous_page needs anon_vma)',
    setup: (w) => vma(w, 0, 16),
    req: {off: 1, err: 0x6},
    // 6.4–6.9: lock_vma_under_rcu rejects the anon VMA without anon_vma; 6.10+: __vmf_anon_prepare trylock.
    expect: (g) =>
      !pvl(g)
        ? mmapLock('policy_mmap_lock')
        : ge(g, '6.10')
          ? ['vma_lock', 'anon_vma_trylock', true]
          : mmapLock('no_anon_vma'),
  },
  {
    name: 'first read of a fresh anonymous VMA (zero page, no anon_vma needed)',
    setup: (w) => vma(w, 0, 16),
    req: {off: 1, err: 0x4},
    expect: (g) => (!pvl(g) ? mmapLock('policy_mmap_lock') : ge(g, '6.10') ? VMA_OK : mmapLock('no_anon_vma')),
  },
  {
    name: 'write to an anonymous VMA that has its anon_vma',
    setup: (w) => vma(w, 0, 16, {anonVma: true}),
    req: {off: 1, err: 0x6},
    expect: (g) => (pvl(g) ? VMA_OK : mmapLock('policy_mmap_lock')),
  },
  {
    name: 'COW write to a present page after fork (wp_page_copy, anon_vma set)',
    setup: (w) => vma(w, 0, 16, {anonVma: true}),
    req: {off: 1, err: 0x7},
    expect: (g) => (pvl(g) ? VMA_OK : mmapLock('policy_mmap_lock')),
  },
  {
    name: 'write to the zero page of an anon VMA without anon_vma (protection fault that COWs)',
    setup: (w) => vma(w, 0, 16),
    req: {off: 1, err: 0x7},
    expect: (g) =>
      !pvl(g)
        ? mmapLock('policy_mmap_lock')
        : ge(g, '6.10')
          ? ['vma_lock', 'anon_vma_trylock', true]
          : mmapLock('no_anon_vma'),
  },
  {
    name: 'file read fault, page cached, VMA has ->map_pages (fault-around)',
    setup: (w) => vma(w, 0, 16, {prot: 1, file}),
    req: {off: 1, err: 0x4},
    expect: (g) => (!pvl(g) ? mmapLock('policy_mmap_lock') : ge(g, '6.6') ? VMA_OK : mmapLock('not_anonymous')),
  },
  {
    name: 'file read fault on a VMA without ->map_pages (driver ->fault)',
    setup: (w) => vma(w, 0, 16, {prot: 1, file: driver}),
    req: {off: 1, err: 0x4},
    expect: (g) =>
      !pvl(g)
        ? mmapLock('policy_mmap_lock')
        : ge(g, '6.7')
          ? mmapLock('file_no_map_pages')
          : ge(g, '6.6')
            ? mmapLock('file_fault')
            : mmapLock('not_anonymous'),
  },
  {
    name: 'file read fault needing page-cache I/O (filemap drops the lock: RETRY)',
    setup: (w) => vma(w, 0, 16, {prot: 1, file}),
    req: {off: 1, err: 0x4, io: true},
    expect: (g) =>
      !pvl(g)
        ? mmapLock('policy_mmap_lock')
        : ge(g, '6.7')
          ? mmapLock('io_retry')
          : ge(g, '6.6')
            ? mmapLock('file_fault')
            : mmapLock('not_anonymous'),
  },
  {
    name: 'first write to a MAP_PRIVATE file VMA (do_cow_fault needs anon_vma)',
    setup: (w) => vma(w, 0, 16, {prot: 3, file}),
    req: {off: 1, err: 0x6},
    expect: (g) =>
      !pvl(g)
        ? mmapLock('policy_mmap_lock')
        : ge(g, '6.10')
          ? ['vma_lock', 'anon_vma_trylock', true]
          : ge(g, '6.7')
            ? mmapLock('anon_vma_retry')
            : ge(g, '6.6')
              ? mmapLock('file_fault')
              : mmapLock('not_anonymous'),
  },
  {
    name: 'COW write to a present page of a private file VMA without anon_vma (6.6 do_wp_page check)',
    setup: (w) => vma(w, 0, 16, {prot: 3, file}),
    req: {off: 1, err: 0x7},
    expect: (g) =>
      !pvl(g)
        ? mmapLock('policy_mmap_lock')
        : ge(g, '6.10')
          ? ['vma_lock', 'anon_vma_trylock', true]
          : ge(g, '6.6')
            ? mmapLock('anon_vma_retry')
            : mmapLock('not_anonymous'),
  },
  {
    name: 'write fault to a shared file mapping (do_shared_fault)',
    setup: (w) => vma(w, 0, 16, {prot: 3, shared: true, file}),
    req: {off: 1, err: 0x6},
    expect: (g) =>
      !pvl(g)
        ? mmapLock('policy_mmap_lock')
        : ge(g, '6.7')
          ? VMA_OK
          : ge(g, '6.6')
            ? mmapLock('file_fault')
            : mmapLock('not_anonymous'),
  },
  {
    name: 'swap-in with I/O (do_swap_page)',
    setup: (w) => vma(w, 0, 16, {anonVma: true}),
    req: {off: 1, err: 0x4, swap: true, io: true},
    expect: (g) => (!pvl(g) ? mmapLock('policy_mmap_lock') : ge(g, '6.6') ? mmapLock('io_retry') : mmapLock('swap')),
  },
  {
    name: 'swap-cache hit (do_swap_page without I/O)',
    setup: (w) => vma(w, 0, 16, {anonVma: true}),
    req: {off: 1, err: 0x4, swap: true, io: false},
    expect: (g) => (!pvl(g) ? mmapLock('policy_mmap_lock') : ge(g, '6.6') ? VMA_OK : mmapLock('swap')),
  },
  {
    name: 'hugetlb fault',
    setup: (w) => vma(w, 0, 512, {flags: VM_HUGETLB, file: {id: 'hugetlbfs', mapPages: false}, shared: true}),
    req: {off: 1, err: 0x6},
    expect: (g) =>
      !pvl(g)
        ? mmapLock('policy_mmap_lock')
        : ge(g, '6.10')
          ? VMA_OK
          : ge(g, '6.6')
            ? mmapLock('hugetlb')
            : mmapLock('not_anonymous'),
  },
  {
    name: 'private hugetlb fault needs an anon_vma (hugetlb_no_page → __vmf_anon_prepare, 6.12)',
    setup: (w) => vma(w, 0, 512, {flags: VM_HUGETLB, file: {id: 'hugetlbfs', mapPages: false}}),
    req: {off: 1, err: 0x6},
    expect: (g) =>
      !pvl(g)
        ? mmapLock('policy_mmap_lock')
        : ge(g, '6.10')
          ? ['vma_lock', 'anon_vma_trylock', true]
          : ge(g, '6.6')
            ? mmapLock('hugetlb')
            : mmapLock('not_anonymous'),
  },
  {
    name: 'userfaultfd-armed VMA, missing page',
    setup: (w) => vma(w, 0, 16, {anonVma: true, flags: VM_UFFD_MISSING}),
    req: {off: 1, err: 0x6},
    expect: (g) => (!pvl(g) ? mmapLock('policy_mmap_lock') : mmapLock('uffd')),
  },
  {
    name: 'access error: write to a read-only VMA',
    setup: (w) => vma(w, 0, 16, {prot: 1, anonVma: true}),
    req: {off: 1, err: 0x6},
    expect: (g) =>
      !pvl(g)
        ? mmapLock('policy_mmap_lock')
        : ge(g, '6.10')
          ? ['vma_lock', 'access_error', false]
          : mmapLock('access_error'),
  },
  {
    name: 'kernel-mode (uaccess) fault always takes mmap_lock',
    setup: (w) => vma(w, 0, 16, {anonVma: true}),
    req: {off: 1, err: 0x2, kernelMode: true},
    expect: () => mmapLock('kernel_mode'),
  },
  {
    name: 'no VMA: SIGSEGV after lock_mm_and_find_vma',
    setup: (w) => vma(w, 0, 16, {anonVma: true}),
    req: {off: 100, err: 0x6},
    expect: (g) => mmapLock(pvl(g) ? 'no_vma' : 'policy_mmap_lock'),
  },
  {
    name: 'THP-eligible (MADV_HUGEPAGE) read needs anon_vma too (do_huge_pmd_anonymous_page)',
    setup: (w) => vma(w, 0, 1024, {flags: VM_HUGEPAGE}),
    req: {off: 1, err: 0x4},
    expect: (g) =>
      !pvl(g)
        ? mmapLock('policy_mmap_lock')
        : ge(g, '6.10')
          ? ['vma_lock', 'anon_vma_trylock', true]
          : mmapLock('no_anon_vma'),
  },
]

for (const c of cases) {
  test(`do_user_addr_fault per generation: ${c.name}`, () => {
    for (const g of GENERATION_NAMES) {
      const w = world(g)
      c.setup(w)
      const o = faultNow(w, w.t[0]!, {
        address: BASE + c.req.off * PAGE + 8,
        errorCode: c.req.err,
        kernelMode: c.req.kernelMode,
        io: c.req.io,
        swap: c.req.swap,
      })
      assert.deepEqual([o.path, o.reason, o.tookMmapLock], c.expect(g), `generation ${g}`)
      assertQuiescent(w.k, w.t)
    }
  })
}

test('6.10+ anon_vma trylock: Sr Ar Rr inside a VMA-locked fault, and the VMA keeps its anon_vma (__vmf_anon_prepare)', () => {
  const w = world('6.18')
  const v = vma(w, 0, 16)
  const o1 = faultNow(w, w.t[0]!, {address: BASE + 8, errorCode: 0x6})
  assert.equal(o1.reason, 'anon_vma_trylock')
  assert.equal(sig(w.events), 'Sr Ar Rr')
  assert.notEqual(v.anonVma, null)
  const o2 = faultNow(w, w.t[0]!, {address: BASE + PAGE, errorCode: 0x6})
  assert.deepEqual([o2.path, o2.reason, o2.tookMmapLock], VMA_OK)
  assert.deepEqual(w.k.stats.vmaLock, {success: 2, abort: 0, retry: 0, miss: 0})
})

test('6.7 private file COW: vmf_anon_prepare RETRY, fallback retakes mmap_lock and attaches anon_vma', () => {
  const w = world('6.7')
  vma(w, 0, 16, {prot: 3, file})
  const o = faultNow(w, w.t[0]!, {address: BASE + 8, errorCode: 0x6})
  assert.equal(o.reason, 'anon_vma_retry')
  assert.equal(o.retries, 1)
  assert.equal(w.k.stats.vmaLock.retry, 1)
  assert.equal(sig(w.events), 'Sr Ar Rr')
  // Now it has an anon_vma: the next COW stays under the VMA lock.
  assert.deepEqual(faultNow(w, w.t[0]!, {address: BASE + PAGE, errorCode: 0x6}).reason, 'ok')
})

test('I/O RETRY: the lock is dropped for the I/O, then the fallback maps the page (filemap_fault)', () => {
  const w = world('6.18')
  vma(w, 0, 16, {prot: 1, file})
  const o = faultNow(w, w.t[0]!, {address: BASE + 8, errorCode: 0x4, io: true})
  assert.equal(o.reason, 'io_retry')
  assert.ok(o.latencyNs >= w.k.costs.ioNs)
  assert.ok(o.holdNs < w.k.costs.ioNs, 'I/O is not charged as mmap_lock hold')
})

test('concurrent writer with the VMA write-locked: vma_write_locked fallback waits for the writer', () => {
  for (const g of GENERATION_NAMES.filter(pvl)) {
    const w = world(g)
    vma(w, 0, 64, {anonVma: true})
    const [t0, t1] = w.t
    op(w, t1!, 'mprotect', sysMprotect, {addr: BASE, len: 64 * PAGE, prot: 1, holdNs: 50_000})
    w.k.sched.runUntil(1_000) // mprotect holds mmap_lock for write, the VMA write-locked
    const h = fault(w, t0!, {address: BASE + 8, errorCode: 0x4})
    w.k.sched.run()
    const o = h.out!
    assert.equal(o.reason, 'vma_write_locked', g)
    assert.equal(o.path, 'mmap_lock')
    assert.equal(o.trylockFailed, true)
    assert.equal(o.waitedFor?.op, 'mprotect')
    assert.equal(o.waitedFor?.write, true)
    assert.ok(o.waitNs > 40_000, `${g} waited ${o.waitNs}`)
    assert.equal(sig(w.events, t0!.tid), 'Sr Ar! Sr Ar Rr')
    assertQuiescent(w.k, w.t)
  }
})

test('a reader fails while a writer only waits for the VMA (vma_start_write draining readers)', () => {
  for (const g of GENERATION_NAMES.filter(pvl)) {
    const w = world(g)
    vma(w, 0, 64, {anonVma: true})
    const [t0, t1, t2] = w.t
    const slow = fault(w, t0!, {address: BASE + 8, errorCode: 0x6, handleNs: 100_000}) // holds the VMA read lock
    w.k.sched.runUntil(1_000)
    const mp = op(w, t1!, 'mprotect', sysMprotect, {addr: BASE, len: 64 * PAGE, prot: 1})
    w.k.sched.runUntil(2_000)
    assert.equal(w.mm.vmaLookup(BASE)!.excluding, true, `${g}: writer waits for the reader`)
    const h = fault(w, t2!, {address: BASE + 2 * PAGE, errorCode: 0x4})
    w.k.sched.run()
    assert.equal(slow.out!.reason, 'ok')
    assert.equal(h.out!.reason, 'vma_write_locked', g)
    assert.ok(mp.rec!.acct.vmaWaitNs > 90_000, `${g}: vma_start_write waited ${mp.rec!.acct.vmaWaitNs}`)
    assertQuiescent(w.k, w.t)
  }
})

test('anon_vma trylock fails while a writer holds mmap_lock: RETRY, fallback waits (Sr Ar! Sr Ar! Sr Ar Rr)', () => {
  const w = world('6.18')
  vma(w, 0, 16) // no anon_vma
  vma(w, 100, 16, {anonVma: true})
  const [t0, t1] = w.t
  // mprotect on another VMA: mmap write lock held, our VMA not write-locked.
  op(w, t1!, 'mprotect', sysMprotect, {addr: BASE + 100 * PAGE, len: 16 * PAGE, prot: 1, holdNs: 30_000})
  w.k.sched.runUntil(500)
  const h = fault(w, t0!, {address: BASE + 8, errorCode: 0x6})
  w.k.sched.run()
  const o = h.out!
  assert.deepEqual(
    [o.path, o.reason, o.tookMmapLock, o.trylockFailed],
    ['mmap_lock', 'anon_vma_trylock_failed', true, true],
  )
  assert.equal(sig(w.events, t0!.tid), 'Sr Ar! Sr Ar! Sr Ar Rr')
  assert.equal(o.waitedFor?.op, 'mprotect')
})

test('stack growth below VM_GROWSDOWN: 6.1 (StackRot backport) and 6.5+ drop read, take write, expand, downgrade (lock_mm_and_find_vma); 6.4.0 expands under read', () => {
  for (const g of GENERATION_NAMES) {
    const w = world(g)
    const stack = vma(w, 100, 32, {flags: VM_GROWSDOWN, anonVma: true})
    const o = faultNow(w, w.t[0]!, {address: BASE + 99 * PAGE + 16, errorCode: 0x6})
    assert.deepEqual([o.path, o.reason, o.segv], ['mmap_lock', 'stack_growth', false], g)
    assert.equal(stack.start, BASE + 99 * PAGE)
    assert.equal(w.mm.vmaLookup(BASE + 99 * PAGE), stack)
    // 6.1.192 mm/memory.c: upgrade_mmap_lock_carefully, expand_stack_locked, mmap_write_downgrade
    const expect = g === '6.4' ? 'Sr Ar Rr' : 'Sr Ar Rr Sw Aw Ar Rr'
    assert.equal(sig(w.events), expect, g)
  }
})

test('failing stack growth still takes the write lock (6.1, 6.5+): the guard gap, then RLIMIT_STACK after vma_start_write; a failure unlocks without downgrading', () => {
  // lock_mm_and_find_vma → upgrade_mmap_lock_carefully → expand_stack_locked → expand_downwards (6.12.118 mm/mmap.c):
  // stack_guard_gap (256 pages) to an accessible non-stack prev, anon_vma_prepare, vma_start_write, acct_stack_growth
  const grow = (
    g: (typeof GENERATION_NAMES)[number],
    setup: (w: ReturnType<typeof world>) => void,
    opts = {},
  ): [boolean, string, number] => {
    const w = world(g, 3, opts)
    setup(w)
    const stack = vma(w, 1000, 32, {flags: VM_GROWSDOWN, anonVma: true})
    const o = faultNow(w, w.t[0]!, {address: BASE + 999 * PAGE + 16, errorCode: 0x6})
    return [o.segv, sig(w.events), stack.start]
  }
  const grown = BASE + 999 * PAGE
  const kept = BASE + 1000 * PAGE
  for (const g of GENERATION_NAMES) {
    const write = g !== '6.4'
    // an accessible VMA 100 pages below: inside the guard gap → -ENOMEM, SIGSEGV
    assert.deepEqual(
      grow(g, (w) => vma(w, 800, 99)),
      [true, write ? 'Sr Ar Rr Sw Aw Rw' : 'Sr Ar Rr', kept],
      g,
    )
    // ... unless it is PROT_NONE (vma_is_accessible) or a stack itself
    assert.deepEqual(grow(g, (w) => vma(w, 800, 99, {prot: 0}))[2], grown, g)
    assert.deepEqual(grow(g, (w) => vma(w, 800, 99, {flags: VM_GROWSDOWN}))[2], grown, g)
    // 256 pages of gap is enough
    assert.deepEqual(grow(g, (w) => vma(w, 700, 43))[2], grown, g)
    // RLIMIT_STACK of 32 pages: the 33rd is refused, after the write lock was taken
    assert.deepEqual(
      grow(g, () => undefined, {stackRlimit: 32 * PAGE}),
      [true, write ? 'Sr Ar Rr Sw Aw Rw' : 'Sr Ar Rr', kept],
      g,
    )
  }
})

test('x86 access_error: an instruction fetch of a not-present page in a readable, non-exec VMA is handled; the present re-fetch is the error', () => {
  // arch/x86/mm/fault.c access_error (6.1, 6.12, 6.18): after the WRITE and PROT tests only vma_is_accessible;
  // arch_vma_access_permitted lets fetches through. The page is mapped NX and the fetch faults again with PROT set.
  for (const g of GENERATION_NAMES) {
    const w = world(g)
    vma(w, 0, 16, {prot: 1, anonVma: true})
    const first = faultNow(w, w.t[0]!, {address: BASE + PAGE, errorCode: 0x14})
    assert.equal(first.segv, false, g)
    assert.equal(first.kind, 'anon_read', g)
    const again = faultNow(w, w.t[0]!, {address: BASE + PAGE, errorCode: 0x15})
    assert.deepEqual([again.segv, again.reason], [true, pvl(g) ? 'access_error' : 'policy_mmap_lock'], g)
  }
})

test('fork write-locks every parent VMA (6.5+): a concurrent fault falls back; 6.4 does not (dup_mmap)', () => {
  for (const g of GENERATION_NAMES.filter(pvl)) {
    const w = world(g)
    for (let i = 0; i < 50; i++) vma(w, i * 20, 10, {anonVma: true})
    const [t0, t1] = w.t
    const f = op(w, t0!, 'fork', dupMmap, {})
    w.k.sched.runUntil(w.k.costs.forkNs + 45 * w.k.costs.forkPerVmaNs) // copy is past VMA 40
    const h = fault(w, t1!, {address: BASE + 40 * 20 * PAGE + 8, errorCode: 0x6})
    w.k.sched.run()
    const expect: FaultOutcome['reason'] = ge(g, '6.5') ? 'vma_write_locked' : 'ok'
    assert.equal(h.out!.reason, expect, g)
    if (ge(g, '6.5')) assert.equal(h.out!.waitedFor?.op, 'fork')
    const child = f.rec!.result
    assert.equal(child.mapCount, 50)
    assertQuiescent(w.k, w.t)
  }
})

test('an mmap next to a VMA with anon_vma expands it (vma_merge_new_range): no anon_vma trylock on first write', () => {
  const w = world('6.18')
  const [t0] = w.t
  const a = op(w, t0!, 'mmap', sysMmap, {addr: BASE, len: 16 * PAGE, prot: 3, flags: 0x32})
  w.k.sched.run()
  assert.equal(faultNow(w, t0!, {address: BASE + 8, errorCode: 0x6}).reason, 'anon_vma_trylock')
  op(w, t0!, 'mmap', sysMmap, {addr: BASE + 16 * PAGE, len: 16 * PAGE, prot: 3, flags: 0x32})
  w.k.sched.run()
  assert.equal(a.rec!.result, BASE)
  assert.equal(w.mm.mapCount, 1)
  assert.deepEqual(faultNow(w, t0!, {address: BASE + 20 * PAGE, errorCode: 0x6}).reason, 'ok')
})

test('6.17+ MADV_DONTNEED on one VMA takes only the per-VMA read lock; 6.14 takes mmap read', () => {
  for (const g of ['6.14', '6.17', '6.18'] as const) {
    const w = world(g)
    vma(w, 0, 16, {anonVma: true})
    op(w, w.t[0]!, 'madvise', sysMadvise, {addr: BASE, len: 8 * PAGE, advice: MADV.DONTNEED})
    w.k.sched.run()
    assert.equal(sig(w.events), g === '6.14' ? 'Sr Ar Rr' : '', g)
  }
})

test('speculative policy (spf-style hook): lockless, aborts when the mm was written during the fault', () => {
  const w = world('6.18', 3, {knobs: {fastPath: 'speculative'}})
  vma(w, 0, 16, {anonVma: true})
  vma(w, 100, 16, {anonVma: true})
  assert.equal(faultNow(w, w.t[0]!, {address: BASE + 8, errorCode: 0x6}).reason, 'ok')
  const h = fault(w, w.t[0]!, {address: BASE + PAGE, errorCode: 0x6, handleNs: 20_000})
  w.k.sched.runUntil(w.k.sched.now + 1_000)
  op(w, w.t[1]!, 'mprotect', sysMprotect, {addr: BASE + 100 * PAGE, len: PAGE, prot: 1})
  w.k.sched.run()
  assert.deepEqual([h.out!.path, h.out!.reason], ['mmap_lock', 'mm_changed'])
})

test('"ideal"-style knobs: anon_vma attached without mmap_lock, file ->fault anywhere', () => {
  const w = world('6.18', 1, {knobs: {anonVmaPrepare: 'unlocked', fileFaults: 'any', kernelFaultsFast: true}})
  vma(w, 0, 16)
  vma(w, 100, 16, {prot: 1, file: driver})
  assert.deepEqual(faultNow(w, w.t[0]!, {address: BASE + 8, errorCode: 0x6}).tookMmapLock, false)
  assert.deepEqual(faultNow(w, w.t[0]!, {address: BASE + 100 * PAGE, errorCode: 0x4}).reason, 'ok')
  assert.deepEqual(faultNow(w, w.t[0]!, {address: BASE + 8, errorCode: 0x2, kernelMode: true}).path, 'vma_lock')
  void MB
})

test('do_fault_around: a read fault on a page an earlier fault-around covered found no mappable folio → filemap_fault readahead drops the VMA lock and RETRYs; zapping the range forgets it', () => {
  // stressng_mmap: a library's 3-page VMA, fault at page 0 (no lock), later at page 1 (Sr Ar Rr).
  const w = world('6.18')
  const t = w.t[0]!
  const lib = {id: 'libc', mapPages: true}
  vma(w, 0, 3, {prot: 1, file: lib})
  vma(w, 512, 64, {prot: 1, file: lib, pgoff: 3})
  const first = faultNow(w, t, {address: BASE + 0x200, errorCode: 0x4})
  assert.equal(first.tookMmapLock, false)
  const again = faultNow(w, t, {address: BASE + PAGE + 0x470, errorCode: 0x4})
  assert.equal(again.reason, 'io_retry')
  assert.equal(again.tookMmapLock, true)
  // the window is 16 aligned pages clamped to the VMA: page 512+20 was outside the first fault's window
  assert.equal(faultNow(w, t, {address: BASE + 512 * PAGE, errorCode: 0x4}).tookMmapLock, false)
  assert.equal(faultNow(w, t, {address: BASE + (512 + 20) * PAGE, errorCode: 0x4}).tookMmapLock, false)
  assert.equal(faultNow(w, t, {address: BASE + (512 + 15) * PAGE, errorCode: 0x4}).reason, 'io_retry')
  // MADV_DONTNEED zaps the PTEs: the next fault there is a plain first fault again
  op(w, t, 'madvise', sysMadvise, {addr: BASE, len: 3 * PAGE, advice: MADV.DONTNEED})
  w.k.sched.run()
  assert.equal(faultNow(w, t, {address: BASE + 2 * PAGE, errorCode: 0x4}).tookMmapLock, false)
  // an anonymous read fault never faults around
  vma(w, 2000, 4)
  faultNow(w, t, {address: BASE + 2000 * PAGE, errorCode: 0x4})
  assert.equal(faultNow(w, t, {address: BASE + 2001 * PAGE, errorCode: 0x4}).tookMmapLock, false)
  assertQuiescent(w.k, w.t)
})
