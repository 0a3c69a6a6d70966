// Generation fields read from Debian's 6.1.192 and 6.12.118 sources: each test stages the mechanism the field names.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {BASE, PAGE, fault, opNow, op, sig, vma, world} from './helpers.js'
import {GENERATION_NAMES, VM_GROWSDOWN, sysMunmap} from './api.js'

test('vm_area_free: 6.1 frees the VMA at once (kmem_cache_free), 6.4–6.14 through call_rcu, 6.15+ to the typesafe cache', () => {
  // Maple nodes are RCU-freed in every generation; only the VMA object differs.
  const peak = (g: '6.1' | '6.10' | '6.15'): number => {
    const w = world(g)
    vma(w, 0, 16, {anonVma: true})
    opNow(w, w.t[0]!, 'munmap', sysMunmap, {addr: BASE, len: 16 * PAGE})
    return w.k.rcu.stats.peakPendingObjects
  }
  assert.equal(peak('6.10') - peak('6.1'), 1)
  assert.equal(peak('6.15'), peak('6.1'))
})

test('lock_vma_under_rcu (rwsem form): 6.12 checks detached before the range, so a VMA split and detached under the walk is a MISS, not an abort', () => {
  // munmap [8, 16) of [0, 16): vms_gather_munmap_vmas splits with new_below, so the found object becomes [8, 16) and is
  // detached, while a new VMA holds [0, 8). A fault at page 2 that found the old object and locks it after the munmap:
  // 6.12 (detached first) walks again and completes under the VMA lock; the 6.4 order aborts on the range.
  for (const [g, reason, misses] of [
    ['6.10', 'ok', 1],
    ['6.7', 'range_changed', 0],
  ] as const) {
    const w = world(g, 3, {costs: {vmaLookupNs: 1_000_000}})
    vma(w, 0, 16, {anonVma: true})
    const h = fault(w, w.t[0]!, {address: BASE + 2 * PAGE, errorCode: 0x6})
    w.k.sched.runUntil(1_000)
    op(w, w.t[1]!, 'munmap', sysMunmap, {addr: BASE + 8 * PAGE, len: 8 * PAGE})
    w.k.sched.run()
    assert.equal(h.out!.reason, reason, g)
    assert.equal(h.out!.misses, misses, g)
  }
})

test('munmap beside a stack: 6.1 and 6.4 keep the write lock (do_mas_align_munmap); 6.5+ downgrade unconditionally', () => {
  // 6.1.192 mm/mmap.c: "Do not downgrade mmap_lock if we are next to VM_GROWSDOWN or VM_GROWSUP VMA"
  for (const g of GENERATION_NAMES) {
    for (const beside of [true, false]) {
      const w = world(g)
      vma(w, 0, 16, {anonVma: true})
      vma(w, 16, 16, {anonVma: true, flags: beside ? VM_GROWSDOWN : 0})
      opNow(w, w.t[0]!, 'munmap', sysMunmap, {addr: BASE, len: 16 * PAGE})
      const keeps = beside && (g === '6.1' || g === '6.4')
      assert.equal(sig(w.events), keeps ? 'Sw Aw Rw' : 'Sw Aw Ar Rr', `${g} beside a stack: ${beside}`)
      assert.equal(w.mm.vmaLookup(BASE), null, g)
    }
  }
})
