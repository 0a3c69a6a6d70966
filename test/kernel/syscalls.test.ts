// Tree-changing syscalls: lock sequences (as mmap_lock tracepoints) and VMA surgery.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {
  MADV,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  VM_DONTCOPY,
  VM_LOCKED,
  VM_MERGEABLE,
  VM_WIPEONFORK,
  dupMmap,
  execMmap,
  exitMm,
  getUnmappedArea,
  sysBrk,
  sysMadvise,
  sysMlock,
  sysMlockall,
  sysMmap,
  sysMprotect,
  sysMremap,
  sysMunmap,
} from './api.js'
import {BASE, PAGE, assertQuiescent, fault, faultNow, op, opNow, sig, vma, world} from './helpers.js'

const ranges = (w: ReturnType<typeof world>): Array<[number, number]> =>
  w.mm.vmasIn(0, 2 ** 53).map((v) => [(v.start - BASE) / PAGE, (v.end - BASE) / PAGE])

test('munmap of the middle of a VMA: split both edges, detach, downgrade (Sw Aw Ar Rr); halves share the anon_vma', () => {
  const w = world('6.18')
  const v = vma(w, 0, 30, {anonVma: true})
  opNow(w, w.t[0]!, 'munmap', sysMunmap, {addr: BASE + 10 * PAGE, len: 10 * PAGE})
  assert.deepEqual(ranges(w), [
    [0, 10],
    [20, 30],
  ])
  assert.equal(sig(w.events), 'Sw Aw Ar Rr')
  const [a, b] = w.mm.vmasIn(0, 2 ** 53)
  assert.equal(a!.anonVma, v.anonVma)
  assert.equal(b!.anonVma, v.anonVma)
  assert.equal(v.state, 'freed', 'the unmapped middle (the original object, __split_vma new_below) went through RCU')
  assert.ok(w.k.rcu.stats.callbacks >= 1)
  assert.equal(b!.pgoff, v.pgoff - 10 + 20)
  assertQuiescent(w.k, w.t)
})

test('munmap of nothing: plain write unlock, no downgrade', () => {
  const w = world('6.18')
  opNow(w, w.t[0]!, 'munmap', sysMunmap, {addr: BASE, len: PAGE})
  assert.equal(sig(w.events), 'Sw Aw Rw')
})

test('mprotect splits then merges back (vma_modify, vma_merge_existing_range)', () => {
  const w = world('6.18')
  vma(w, 0, 30, {anonVma: true})
  opNow(w, w.t[0]!, 'mprotect', sysMprotect, {addr: BASE + 10 * PAGE, len: 10 * PAGE, prot: 1})
  assert.deepEqual(ranges(w), [
    [0, 10],
    [10, 20],
    [20, 30],
  ])
  opNow(w, w.t[0]!, 'mprotect', sysMprotect, {addr: BASE + 10 * PAGE, len: 10 * PAGE, prot: 3})
  assert.deepEqual(ranges(w), [[0, 30]])
  assert.equal(sig(w.events), 'Sw Aw Rw Sw Aw Rw')
  assertQuiescent(w.k, w.t)
})

test('mmap without MAP_FIXED: top-down gap search below mmap_base; MAP_FIXED replaces what it overlaps', () => {
  const w = world('6.18')
  const a = opNow(w, w.t[0]!, 'mmap', sysMmap, {len: 8 * PAGE, prot: 3, flags: 0x22}).result
  assert.equal(a, w.mm.mmapBase - 8 * PAGE)
  const b = opNow(w, w.t[0]!, 'mmap', sysMmap, {len: 8 * PAGE, prot: 1, flags: 0x22}).result
  assert.equal(b, a - 8 * PAGE)
  assert.equal(getUnmappedArea(w.mm, PAGE), b - PAGE)
  opNow(w, w.t[0]!, 'mmap', sysMmap, {addr: b + 4 * PAGE, len: 8 * PAGE, prot: 3, flags: 0x32})
  const got = w.mm.vmasIn(0, 2 ** 53).map((v) => [v.start - b, v.end - b])
  assert.deepEqual(
    got,
    [
      [0, 4 * PAGE],
      [4 * PAGE, 16 * PAGE],
    ],
    'the fixed map replaced the overlap and merged with the rw VMA above',
  )
})

test('mremap: shrink downgrades, grow in place expands, move keeps the anon_vma, DONTUNMAP leaves the source empty', () => {
  const w = world('6.18')
  const v = vma(w, 0, 16, {anonVma: true})
  opNow(w, w.t[0]!, 'mremap', sysMremap, {addr: BASE, oldLen: 16 * PAGE, newLen: 8 * PAGE, flags: 0})
  assert.deepEqual(ranges(w), [[0, 8]])
  assert.equal(sig(w.events), 'Sw Aw Ar Rr')
  opNow(w, w.t[0]!, 'mremap', sysMremap, {addr: BASE, oldLen: 8 * PAGE, newLen: 12 * PAGE, flags: 0})
  assert.deepEqual(ranges(w), [[0, 12]])
  assert.equal(
    w.mm.vmaLookup(BASE)!.anonVma,
    v.anonVma,
    'the shrink kept the lower part as a new object (__split_vma new_below)',
  )
  const r = opNow(w, w.t[0]!, 'mremap', sysMremap, {
    addr: BASE,
    oldLen: 12 * PAGE,
    newLen: 12 * PAGE,
    flags: MREMAP_MAYMOVE | MREMAP_FIXED,
    newAddr: BASE + 100 * PAGE,
  })
  assert.equal(r.result, BASE + 100 * PAGE)
  assert.deepEqual(ranges(w), [[100, 112]])
  assert.equal(w.mm.vmaLookup(BASE + 100 * PAGE)!.anonVma, v.anonVma)
  // Moved memory is not new memory: a write there needs no anon_vma.
  assert.equal(faultNow(w, w.t[0]!, {address: BASE + 101 * PAGE, errorCode: 0x6}).reason, 'ok')
  opNow(w, w.t[0]!, 'mremap', sysMremap, {
    addr: BASE + 100 * PAGE,
    oldLen: 12 * PAGE,
    newLen: 12 * PAGE,
    flags: MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP,
    newAddr: BASE + 200 * PAGE,
  })
  assert.deepEqual(ranges(w), [
    [100, 112],
    [200, 212],
  ])
  assert.equal(w.mm.vmaLookup(BASE + 100 * PAGE)!.anonVma, null)
  assertQuiescent(w.k, w.t)
})

test('brk: learn the break, map the heap, expand it in place (write-locking it), shrink with downgrade', () => {
  const w = world('6.18')
  const heap = BASE + 1000 * PAGE
  const t = w.t[0]!
  opNow(w, t, 'brk', sysBrk, {brk: 0, result: heap})
  opNow(w, t, 'brk', sysBrk, {brk: heap + 4 * PAGE, result: heap + 4 * PAGE})
  const v = w.mm.vmaLookup(heap)!
  assert.equal(faultNow(w, t, {address: heap, errorCode: 0x6}).reason, 'anon_vma_trylock')
  opNow(w, t, 'brk', sysBrk, {brk: heap + 40 * PAGE, result: heap + 40 * PAGE})
  assert.equal(w.mm.vmaLookup(heap + 30 * PAGE), v, 'the heap VMA grew: no new VMA, anon_vma kept')
  assert.equal(faultNow(w, t, {address: heap + 30 * PAGE, errorCode: 0x6}).reason, 'ok')
  w.events.length = 0
  opNow(w, t, 'brk', sysBrk, {brk: heap + 10 * PAGE, result: heap + 10 * PAGE})
  assert.equal(sig(w.events), 'Sw Aw Ar Rr')
  assert.equal(w.mm.vmaLookup(heap)!.end, heap + 10 * PAGE)
  assert.equal(w.mm.vmaLookup(heap)!.anonVma, v.anonVma)
})

test('madvise lock modes: DONTNEED read (≤6.16), HUGEPAGE write + split, HWPOISON none', () => {
  const w = world('6.14')
  vma(w, 0, 30, {anonVma: true})
  opNow(w, w.t[0]!, 'madvise', sysMadvise, {addr: BASE, len: 30 * PAGE, advice: MADV.DONTNEED})
  opNow(w, w.t[0]!, 'madvise', sysMadvise, {addr: BASE + 10 * PAGE, len: 10 * PAGE, advice: MADV.HUGEPAGE})
  opNow(w, w.t[0]!, 'madvise', sysMadvise, {addr: BASE, len: PAGE, advice: MADV.HWPOISON})
  assert.equal(sig(w.events), 'Sr Ar Rr Sw Aw Rw')
  assert.deepEqual(ranges(w), [
    [0, 10],
    [10, 20],
    [20, 30],
  ])
})

test('populate: MAP_POPULATE|MAP_NONBLOCK does not populate; a VM_LOCKONFAULT mapping takes the read section but gets no anon_vma', () => {
  // do_mmap: `(flags & (MAP_POPULATE | MAP_NONBLOCK)) == MAP_POPULATE`; populate_vma_page_range returns at once for
  // VM_LOCKONFAULT (mm/gup.c), so its first write fault still needs the anon_vma
  const w = world('6.18')
  const t = w.t[0]!
  opNow(w, t, 'mmap', sysMmap, {len: 8 * PAGE, prot: 3, flags: 0x22 | 0x8000 | 0x10000})
  assert.equal(sig(w.events), 'Sw Aw Rw', 'no populate section')
  w.events.length = 0
  const populated = opNow(w, t, 'mmap', sysMmap, {len: 8 * PAGE, prot: 3, flags: 0x22 | 0x8000}).result
  assert.equal(sig(w.events), 'Sw Aw Rw Sr Ar Rr')
  assert.notEqual(w.mm.vmaLookup(populated)!.anonVma, null)
  opNow(w, t, 'mlockall', sysMlockall, {flags: 2 | 4}) // MCL_FUTURE | MCL_ONFAULT
  w.events.length = 0
  const onFault = opNow(w, t, 'mmap', sysMmap, {len: 8 * PAGE, prot: 3, flags: 0x22}).result
  assert.equal(sig(w.events), 'Sw Aw Rw Sr Ar Rr', '__mm_populate still takes mmap_lock')
  assert.equal(w.mm.vmaLookup(onFault)!.anonVma, null)
})

test('MADV_WILLNEED drops and retakes the read lock once per file VMA (vfs_fadvise outside mmap_lock), not for anonymous or shmem', () => {
  // a 6.18 capture of python's mmap.madvise(MADV_WILLNEED): on a file mapping Sr Ar Rr Sr Ar Rr inside the call,
  // on an anonymous one Sr Ar Rr
  const w = world('6.18')
  vma(w, 0, 8, {file: {id: 'libc', mapPages: true}})
  vma(w, 10, 8, {file: {id: 'data', mapPages: true}})
  vma(w, 20, 8, {anonVma: true})
  vma(w, 30, 8, {shared: true, file: w.k.internalFile('shmem')})
  const willneed = (from: number, pages: number): string => {
    w.events.length = 0
    opNow(w, w.t[0]!, 'madvise', sysMadvise, {addr: BASE + from * PAGE, len: pages * PAGE, advice: MADV.WILLNEED})
    return sig(w.events)
  }
  assert.equal(willneed(0, 8), 'Sr Ar Rr Sr Ar Rr')
  assert.equal(willneed(0, 18), 'Sr Ar Rr Sr Ar Rr Sr Ar Rr', 'two file VMAs')
  assert.equal(willneed(20, 8), 'Sr Ar Rr', 'anonymous')
  assert.equal(willneed(30, 8), 'Sr Ar Rr', 'shmem')
})

test('MADV_MERGEABLE write-locks the VMAs it changes (ksm_madvise + madvise_update_vma): a fault during it falls back; UNMERGEABLE clears the flag', () => {
  const w = world('6.18')
  vma(w, 0, 30, {anonVma: true})
  const m = op(w, w.t[0]!, 'madvise', sysMadvise, {addr: BASE + 10 * PAGE, len: 10 * PAGE, advice: MADV.MERGEABLE})
  w.k.sched.runUntil(w.k.costs.madviseNs / 2)
  const h = fault(w, w.t[1]!, {address: BASE + 12 * PAGE, errorCode: 0x6})
  w.k.sched.run()
  assert.ok(m.rec)
  assert.equal(h.out!.reason, 'vma_write_locked')
  assert.deepEqual(ranges(w), [
    [0, 10],
    [10, 20],
    [20, 30],
  ])
  assert.ok(w.mm.vmaLookup(BASE + 12 * PAGE)!.flags & VM_MERGEABLE)
  assert.equal(w.mm.vmaLookup(BASE + 22 * PAGE)!.flags & VM_MERGEABLE, 0)
  opNow(w, w.t[0]!, 'madvise', sysMadvise, {addr: BASE + 10 * PAGE, len: 10 * PAGE, advice: MADV.UNMERGEABLE})
  assert.equal(w.mm.vmaLookup(BASE + 12 * PAGE)!.flags & VM_MERGEABLE, 0)
})

test('calls that fail the argument checks made before locking take no mmap_lock (do_madvise, do_mprotect_pkey, mremap, sys_mmap)', () => {
  // 6.12.118 mm/madvise.c do_madvise: madvise_behavior_valid, PAGE_ALIGNED(start), end == start; mm/mprotect.c:
  // PROT_GROWSDOWN|PROT_GROWSUP, start & ~PAGE_MASK, !len, arch_validate_prot; mm/mremap.c: flags, offset_in_page,
  // !new_len; arch/x86/kernel/sys_x86_64.c: off & ~PAGE_MASK. Each returns before mmap_write_lock_killable.
  const w = world('6.10')
  vma(w, 0, 30, {anonVma: true})
  const t = w.t[0]!
  const r = [
    opNow(w, t, 'madvise', sysMadvise, {addr: BASE + 8, len: PAGE, advice: MADV.DONTNEED}).result,
    opNow(w, t, 'madvise', sysMadvise, {addr: BASE, len: 0, advice: MADV.HUGEPAGE}).result,
    opNow(w, t, 'madvise', sysMadvise, {addr: BASE, len: PAGE, advice: 77}).result,
    opNow(w, t, 'madvise', sysMadvise, {addr: BASE, len: PAGE, advice: MADV.GUARD_INSTALL}).result, // 6.13+ only
    opNow(w, t, 'mprotect', sysMprotect, {addr: BASE + 8, len: PAGE, prot: 1}).result,
    opNow(w, t, 'mprotect', sysMprotect, {addr: BASE, len: 0, prot: 1}).result,
    opNow(w, t, 'mprotect', sysMprotect, {addr: BASE, len: PAGE, prot: 0x40}).result,
    opNow(w, t, 'mremap', sysMremap, {addr: BASE, oldLen: PAGE, newLen: 0, flags: 0}).result,
    opNow(w, t, 'mremap', sysMremap, {
      addr: BASE,
      oldLen: PAGE,
      newLen: 2 * PAGE,
      flags: MREMAP_FIXED,
      newAddr: BASE + 100 * PAGE,
    }).result,
    opNow(w, t, 'mmap', sysMmap, {len: PAGE, prot: 3, flags: 0x22, offset: 100}).result,
  ]
  assert.deepEqual(r, [-22, 0, -22, -22, -22, 0, -22, -22, -22, -22])
  assert.equal(sig(w.events), '', 'no mmap_lock event')
  assert.deepEqual(ranges(w), [[0, 30]])
  // what passes the checks locks as before, failing or not: munmap checks its arguments under the write lock
  opNow(w, t, 'munmap', sysMunmap, {addr: BASE + 8, len: PAGE, result: -22})
  opNow(w, t, 'mprotect', sysMprotect, {addr: BASE, len: PAGE, prot: 1, result: -12})
  assert.equal(sig(w.events), 'Sw Aw Rw Sw Aw Rw')
  // MADV_GUARD_INSTALL exists from 6.13: a read lock there
  const w18 = world('6.18')
  vma(w18, 0, 30, {anonVma: true})
  opNow(w18, w18.t[0]!, 'madvise', sysMadvise, {addr: BASE, len: PAGE, advice: MADV.GUARD_INSTALL})
  assert.equal(sig(w18.events), 'Sr Ar Rr')
})

test('mlock: write-locked flag change, then populate under the read lock', () => {
  const w = world('6.18')
  const v = vma(w, 0, 8)
  opNow(w, w.t[0]!, 'mlock', sysMlock, {addr: BASE, len: 8 * PAGE})
  assert.equal(sig(w.events), 'Sw Aw Rw Sr Ar Rr')
  assert.ok(v.flags & VM_LOCKED)
  assert.notEqual(v.anonVma, null, 'populating a writable private mapping attaches the anon_vma')
})

test('fork (dup_mmap): parent and child write locks, anon_vma_fork, DONTCOPY skipped, WIPEONFORK empty, VM_LOCKED dropped', () => {
  const w = world('6.18')
  const a = vma(w, 0, 8, {anonVma: true, flags: VM_LOCKED})
  vma(w, 10, 8, {anonVma: true, flags: VM_DONTCOPY})
  vma(w, 20, 8, {anonVma: true, flags: VM_WIPEONFORK})
  const child = opNow(w, w.t[0]!, 'fork', dupMmap, {}).result
  assert.equal(sig(w.events), 'Sw Aw Sw Aw Rw Rw')
  const cv = child.vmasIn(0, 2 ** 53)
  assert.equal(cv.length, 2)
  assert.ok(cv[0]!.anonVma !== null && cv[0]!.anonVma !== a.anonVma && cv[0]!.anonVma.forked)
  assert.equal(cv[0]!.flags & VM_LOCKED, 0)
  assert.equal(cv[1]!.anonVma, null)
  // The child's first COW write: its anon_vma exists, stays under the VMA lock.
  const ct = w.k.createTask(999, child)
  assert.equal(faultNow(w, ct, {address: BASE + PAGE, errorCode: 0x7}).reason, 'ok')
})

test('fork holds mmap_lock for its measured hold, or the modelled one bounded by its duration, set-up and copies alike', () => {
  const hold = (a: {holdNs?: number; tookNs?: number}): number => {
    const w = world('6.18')
    for (let i = 0; i < 4; i++) vma(w, 20 * i, 8, {anonVma: true})
    // the parent holds its own mm and the child's across the copy: each for the critical section
    return opNow(w, w.t[0]!, 'fork', dupMmap, a).acct.writeHoldNs / 2
  }
  // modelled: forkNs + 4 copies × forkPerVmaNs (20 µs + 4 µs); a longer call does not make it longer
  assert.equal(hold({}), 24_000)
  assert.equal(hold({tookNs: 500_000}), 24_000)
  // measured (--calibrate-holds): exactly that, copies included; a call shorter than the model bounds it
  assert.equal(hold({holdNs: 60_000, tookNs: 500_000}), 60_000)
  assert.equal(hold({tookNs: 12_000}), 12_000)
})

test('exit: exit_mm read section; the last user runs exit_mmap (read, then write) and frees every VMA', () => {
  const w = world('6.18', 2)
  const vmas = [vma(w, 0, 8, {anonVma: true}), vma(w, 10, 8)]
  opNow(w, w.t[0]!, 'exit', exitMm, undefined)
  assert.equal(w.mm.dead, false)
  assert.equal(sig(w.events), 'Sr Ar Rr')
  opNow(w, w.t[1]!, 'exit', exitMm, undefined)
  assert.equal(sig(w.events), 'Sr Ar Rr Sr Ar Rr Sr Ar Rr Sw Aw Rw')
  assert.equal(w.mm.dead, true)
  for (const v of vmas) assert.equal(v.state, 'freed')
})

test('exit_mmap of an mm with no VMA: 6.1 returns after the read section, 6.12 still takes the write lock', () => {
  // mm/mmap.c exit_mmap: 6.1 `if (!vma) { mmap_read_unlock(mm); return; }`; 6.12 `mmap_write_lock(mm); goto destroy;`
  for (const [gen, expected] of [
    ['6.1', 'Sr Ar Rr Sr Ar Rr'],
    ['6.10', 'Sr Ar Rr Sr Ar Rr Sw Aw Rw'],
  ] as const) {
    const w = world(gen, 1)
    opNow(w, w.t[0]!, 'exit', exitMm, undefined)
    assert.equal(sig(w.events), expected, gen)
    assert.equal(w.mm.dead, true, gen)
  }
})

test('exec: a new mm with its stack VMA; the old mm is read-locked, then torn down', () => {
  const w = world('6.18', 1)
  vma(w, 0, 8, {anonVma: true})
  const old = w.mm
  const mm = opNow(w, w.t[0]!, 'exec', execMmap, {}).result
  assert.equal(w.t[0]!.mm, mm)
  assert.equal(old.dead, true)
  assert.equal(mm.mapCount, 1)
  const stack = mm.vmasIn(0, 2 ** 53)[0]!
  const o = faultNow(w, w.t[0]!, {address: stack.start - 100, errorCode: 0x6})
  assert.equal(o.reason, 'stack_growth')
})

test('exec: get_arg_page read-locks the new mm per argument string set, load_elf_binary write-locks it once per ELF mapping step, as real 6.1 and 6.12 execs do', () => {
  // lab suite, fork_exec: every execve of /bin/true or /bin/sh took 14–15 mmap write locks on 6.1.192 and
  // 6.12.118 (bprm_mm_init, setup_arg_pages, 2 × (4 PT_LOAD vm_mmaps + the first one's tail vm_munmap), the bss
  // brk, map_vdso); the model took only bprm_mm_init's
  const w = world('6.18', 1)
  const old = w.mm
  const mm = opNow(w, w.t[0]!, 'exec', execMmap, {}).result
  const mine = w.events.filter((e) => e.mm === mm.id)
  // real 6.12.118 execve of /bin/sh (lab fork_exec run 1): on the new mm W, R R R (get_arg_page for the filename,
  // envp and argv), then the old mm's R, R W (exec_mmap, exit_mmap), then the ELF loader's write locks
  assert.equal(sig(mine), ['Sw Aw Rw', ...Array(3).fill('Sr Ar Rr'), ...Array(13).fill('Sw Aw Rw')].join(' '))
  const order = w.events.filter((e) => e.kind === 'acquire_returned').map((e) => (e.mm === mm.id ? 'new' : 'old'))
  assert.deepEqual(order.slice(0, 7), ['new', 'new', 'new', 'new', 'old', 'old', 'old'])
  assert.equal(
    sig(w.events.filter((e) => e.mm === old.id))
      .split(' ')
      .filter((s) => s === 'Aw').length,
    1,
    'exit_mmap of the old mm',
  )
})

test('pthread stack: MAP_STACK sets VM_NOHUGEPAGE (6.7+), so the stack does not merge with the written region above and its first write trylocks for an anon_vma', () => {
  // glibc allocate_stack: mmap(PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK) right below a written region, then
  // mprotect(guard end .. top, RW). Seen in py_threads_anon: Sr Ar Rr on the stack's first write.
  for (const [gen, merged] of [
    ['6.18', false],
    ['6.6', true],
  ] as const) {
    const w = world(gen)
    const t = w.t[0]!
    const above = BASE + 100 * PAGE
    opNow(w, t, 'mmap', sysMmap, {addr: above, len: 16 * PAGE, prot: 3, flags: 0x32})
    faultNow(w, t, {address: above, errorCode: 0x6}) // the region above gets its anon_vma
    const stack = above - 9 * PAGE
    opNow(w, t, 'mmap', sysMmap, {addr: stack, len: 9 * PAGE, prot: 0, flags: 0x20032})
    opNow(w, t, 'mprotect', sysMprotect, {addr: stack + PAGE, len: 8 * PAGE, prot: 3})
    const top = w.mm.vmaLookup(above - PAGE)!
    assert.equal(top.start === stack + PAGE && top.end === above, !merged, `${gen}: stack VMA on its own`)
    const out = faultNow(w, t, {address: above - 8, errorCode: 0x6})
    assert.equal(out.reason, merged ? 'ok' : 'anon_vma_trylock', gen)
    assert.equal(out.tookMmapLock, !merged, gen)
  }
})
