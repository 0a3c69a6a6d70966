// RangeTree (maple-tree-like COW B-tree) against a sorted-array reference model.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {RangeTree, TREE_MAX, walk, type Entry} from '../../src/kernel/tree.js'

/** Reference: sorted non-overlapping ranges, adjacent equal values merged (what mas_store leaves behind). */
class RefRanges {
  list: Entry<number>[] = []
  store(start: number, end: number, value: number | null): void {
    const out: Entry<number>[] = []
    for (const e of this.list) {
      if (e.end <= start || e.start >= end) out.push(e)
      else {
        if (e.start < start) out.push({start: e.start, end: start, value: e.value})
        if (e.end > end) out.push({start: end, end: e.end, value: e.value})
      }
    }
    if (value !== null) out.push({start, end, value})
    out.sort((x, y) => x.start - y.start)
    const merged: Entry<number>[] = []
    for (const e of out) {
      const p = merged[merged.length - 1]
      if (p !== undefined && p.end === e.start && p.value === e.value) p.end = e.end
      else merged.push({...e})
    }
    this.list = merged
  }
  find(i: number): number | null {
    for (const e of this.list) if (e.start <= i && i < e.end) return e.value
    return null
  }
  gapTopDown(len: number, low: number, high: number): number {
    // Scan gaps from the top.
    let hi = TREE_MAX
    for (let k = this.list.length; k >= 0; k--) {
      const lo = k > 0 ? this.list[k - 1]!.end : 0
      const gs = Math.max(lo, low)
      const ge = Math.min(hi, high)
      if (ge - gs >= len) return ge - len
      if (k > 0) hi = this.list[k - 1]!.start
    }
    return -1
  }
}

const PAGE = 4096
const op = fc.record({
  start: fc.integer({min: 0, max: 400}),
  len: fc.integer({min: 1, max: 40}),
  value: fc.option(fc.integer({min: 1, max: 30}), {nil: null, freq: 3}),
})

test('RangeTree matches a sorted-array reference under random store/erase (mas_store_gfp)', () => {
  fc.assert(
    fc.property(fc.array(op, {maxLength: 150}), (ops) => {
      const t = new RangeTree<number>()
      const ref = new RefRanges()
      for (const o of ops) {
        const s = o.start * PAGE
        const e = (o.start + o.len) * PAGE
        t.store(s, e, o.value)
        ref.store(s, e, o.value)
      }
      t.check()
      assert.deepEqual(
        t.entriesIn().map((e) => [e.start, e.end, e.value]),
        ref.list.map((e) => [e.start, e.end, e.value]),
      )
      for (let p = 0; p < 450; p += 7) assert.equal(t.find(p * PAGE + 5), ref.find(p * PAGE + 5))
    }),
    {numRuns: 300},
  )
})

test('findGapTopDown returns the highest fitting gap (mas_empty_area_rev)', () => {
  fc.assert(
    fc.property(
      fc.array(op, {maxLength: 80}),
      fc.integer({min: 1, max: 60}),
      fc.integer({min: 0, max: 300}),
      fc.integer({min: 1, max: 500}),
      (ops, len, low, span) => {
        const t = new RangeTree<number>()
        const ref = new RefRanges()
        for (const o of ops) {
          const s = o.start * PAGE
          const e = (o.start + o.len) * PAGE
          t.store(s, e, o.value)
          ref.store(s, e, o.value)
        }
        const lo = low * PAGE
        const hi = (low + span) * PAGE
        assert.equal(t.findGapTopDown(len * PAGE, lo, hi, PAGE), ref.gapTopDown(len * PAGE, lo, hi))
      },
    ),
    {numRuns: 300},
  )
})

test('a reader holding an old root sees the old tree after COW writes (RCU walk)', () => {
  fc.assert(
    fc.property(fc.array(op, {maxLength: 60}), fc.array(op, {maxLength: 60}), (before, after) => {
      const t = new RangeTree<number>()
      for (const o of before) t.store(o.start * PAGE, (o.start + o.len) * PAGE, o.value)
      const snapshot = t.root
      const expect = t.entriesIn()
      let retired = 0
      t.retire = (n) => (retired += n)
      for (const o of after) t.store(o.start * PAGE, (o.start + o.len) * PAGE, o.value)
      for (const e of expect) {
        assert.equal(walk(snapshot, e.start), e.value)
        assert.equal(walk(snapshot, e.end - 1), e.value)
      }
      if (after.length > 0) assert.ok(retired > 0)
    }),
    {numRuns: 200},
  )
})

test('large trees stay shallow and build in bulk (10,000 VMAs)', () => {
  const entries: Entry<number>[] = []
  for (let i = 0; i < 10000; i++) entries.push({start: (2 * i + 1) * PAGE, end: (2 * i + 2) * PAGE, value: i})
  const bulk = RangeTree.fromEntries(entries)
  bulk.check()
  const inc = new RangeTree<number>()
  for (const e of entries) inc.store(e.start, e.end, e.value)
  inc.check()
  assert.ok(inc.depth <= 5, `depth ${inc.depth}`)
  for (let i = 0; i < 10000; i += 37) {
    assert.equal(bulk.find((2 * i + 1) * PAGE + 1), i)
    assert.equal(inc.find((2 * i + 1) * PAGE + 1), i)
    assert.equal(inc.find(2 * i * PAGE + 1), null)
  }
  // Erase most of it again: the tree shrinks back.
  for (let i = 0; i < 9990; i++) inc.store(entries[i]!.start, entries[i]!.end, null)
  inc.check()
  assert.equal(inc.entriesIn().length, 10)
  assert.ok(inc.depth <= 2)
  assert.equal(inc.find(-1), null)
  assert.equal(inc.find(2 ** 60), null)
})

test('findNext / findPrev / rangeAt (find_vma, find_vma_prev)', () => {
  const t = new RangeTree<string>()
  t.store(10 * PAGE, 20 * PAGE, 'a')
  t.store(30 * PAGE, 40 * PAGE, 'b')
  assert.equal(t.findNext(0)?.value, 'a')
  assert.equal(t.findNext(20 * PAGE)?.value, 'b')
  assert.equal(t.findNext(40 * PAGE), null)
  assert.equal(t.findPrev(30 * PAGE)?.value, 'a')
  assert.equal(t.findPrev(31 * PAGE)?.value, 'b')
  assert.equal(t.findPrev(10 * PAGE), null)
  assert.deepEqual(t.rangeAt(35 * PAGE), {start: 30 * PAGE, end: 40 * PAGE, value: 'b'})
})

test('store builds the same nodes with and without the single-leaf shortcut; find (cached) agrees with walk', () => {
  type Shape = [number[], (number | null)[] | Shape[]]
  const shape = (n: RangeTree<number>['root']): Shape => [n.ends, n.leaf ? n.vals : n.kids.map(shape)]
  // many small stores of distinct values and some wide erases: trees three levels deep, underfull leaves, stores
  // that span leaves and whole subtrees
  const wide = fc.oneof(
    {
      weight: 9,
      arbitrary: fc.record({
        start: fc.integer({min: 0, max: 5000}),
        len: fc.integer({min: 1, max: 4}),
        value: fc.integer({min: 1, max: 100000}),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        start: fc.integer({min: 0, max: 5000}),
        len: fc.integer({min: 1, max: 400}),
        value: fc.constant(null),
      }),
    },
  )
  fc.assert(
    fc.property(fc.array(wide, {minLength: 300, maxLength: 1500}), (ops) => {
      const fast = new RangeTree<number>()
      const general = new RangeTree<number>()
      ;(general as unknown as {storeInLeaf: () => boolean}).storeInLeaf = () => false
      for (const o of ops) {
        const s = o.start * PAGE
        fast.store(s, s + o.len * PAGE, o.value)
        general.store(s, s + o.len * PAGE, o.value)
        // around the stored range, and 32 MiB above (the same find-cache entry, another block)
        for (const x of [s - 1, s, s + o.len * PAGE - 1, s + o.len * PAGE, s + 2 ** 25])
          assert.equal(fast.find(x), walk(fast.root, x))
        assert.deepEqual(
          [fast.depth, fast.allocated, fast.retired],
          [general.depth, general.allocated, general.retired],
        )
      }
      assert.deepEqual(shape(fast.root), shape(general.root))
      fast.check()
    }),
    {numRuns: 60},
  )
})
