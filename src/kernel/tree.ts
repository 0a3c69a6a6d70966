// A range-indexed copy-on-write B-tree in the spirit of the maple tree (lib/maple_tree.c): wide nodes whose slots
// cover contiguous index ranges (NULL slots are the gaps), per-subtree largest-gap values for the top-down free
// area search, and RCU-safe writes: a writer never touches a node a reader may walk. It builds replacement nodes
// for the affected run of nodes on every level, swaps the root pointer, and hands the old nodes to `retire` (the
// mm wires that to the RCU clock). A reader that loaded `root` earlier keeps walking a consistent older tree.
//
// Index space: [0, TREE_MAX). Ranges are half-open [start, end). Addresses outside have no entry.

/** Exclusive upper bound of the index space (2^53: every integer below is exact in a JS number). */
export const TREE_MAX = 2 ** 53

const LEAF_MAX = 16 // maple_range_64 has 16 slots
const NODE_MAX = 16
const LEAF_MIN = 4
const NODE_MIN = 3
/** Bytes one node occupies in the kernel (struct maple_node is 256 bytes). */
export const NODE_BYTES = 256

export interface Leaf<V> {
  readonly leaf: true
  readonly ends: number[] // exclusive end of each slot; the last equals the node's end
  readonly vals: (V | null)[]
  readonly gap: number // largest NULL slot
}

export interface Inner<V> {
  readonly leaf: false
  readonly ends: number[]
  readonly kids: TreeNode<V>[]
  readonly gap: number // largest gap in any child
}

export type TreeNode<V> = Leaf<V> | Inner<V>

function makeLeaf<V>(ends: number[], vals: (V | null)[], lo: number): Leaf<V> {
  let gap = 0
  let start = lo
  for (let i = 0; i < ends.length; i++) {
    const end = ends[i]!
    if (vals[i] === null && end - start > gap) gap = end - start
    start = end
  }
  return {leaf: true, ends, vals, gap}
}

function makeInner<V>(ends: number[], kids: TreeNode<V>[]): Inner<V> {
  let gap = 0
  for (let i = 0; i < kids.length; i++) if (kids[i]!.gap > gap) gap = kids[i]!.gap
  return {leaf: false, ends, kids, gap}
}

/** First slot whose end is above `index` (a linear scan: at most 16 pivots, cheaper than branchy bisection). */
function slotOf(ends: number[], index: number): number {
  let i = 0
  while (ends[i]! <= index) i++
  return i
}

/** Walk a tree (or an older snapshot of it) to the entry covering `index`: mas_walk() in RCU mode. */
export function walk<V>(root: TreeNode<V>, index: number): V | null {
  if (!(index >= 0 && index < TREE_MAX)) return null
  let n = root
  while (!n.leaf) n = n.kids[slotOf(n.ends, index)]!
  return n.vals[slotOf(n.ends, index)]!
}

/** One stored range. */
export interface Entry<V> {
  start: number
  end: number
  value: V
}

// Split n items into ceil(n/max) chunks, filling from the left; the last chunk keeps at least `min` (so appends,
// the common case for mmap, leave nearly full nodes behind, like the maple tree's right-biased split). Returns
// chunk end offsets.
function chunkBounds(n: number, max: number, min: number): number[] {
  const out: number[] = []
  let at = 0
  while (n - at > 2 * max) out.push((at += max))
  if (n - at > max) out.push((at += n - at - max >= min ? max : n - at - min))
  out.push(n)
  return out
}

// The chunk functions take ownership of fresh arrays: a run that fits one node keeps them instead of a copy.
/** What store() found on its way down: per level, the run of nodes overlapping the range, the index the run
 * starts at, and the position of its first and last node inside the first and last node of the run above. */
interface StorePath<V> {
  runs: TreeNode<V>[][]
  los: number[]
  firstIdx: number[]
  lastIdx: number[]
}

function chunkLeaves<V>(ends: number[], vals: (V | null)[], lo: number): TreeNode<V>[] {
  if (ends.length <= LEAF_MAX) return [makeLeaf(ends, vals, lo)]
  const out: TreeNode<V>[] = []
  let from = 0
  for (const to of chunkBounds(ends.length, LEAF_MAX, LEAF_MIN)) {
    out.push(makeLeaf(ends.slice(from, to), vals.slice(from, to), from === 0 ? lo : ends[from - 1]!))
    from = to
  }
  return out
}

function chunkInner<V>(ends: number[], kids: TreeNode<V>[]): TreeNode<V>[] {
  if (kids.length <= NODE_MAX) return [makeInner(ends, kids)]
  const out: TreeNode<V>[] = []
  let from = 0
  for (const to of chunkBounds(kids.length, NODE_MAX, NODE_MIN)) {
    out.push(makeInner(ends.slice(from, to), kids.slice(from, to)))
    from = to
  }
  return out
}

const lastEnd = (n: TreeNode<unknown>): number => n.ends[n.ends.length - 1]!

// Append a slot to a leaf being built; a slot with the same value as the previous one extends it.
function pushSlot<V>(ends: number[], vals: (V | null)[], e: number, v: V | null): void {
  const n = ends.length
  if (n > 0 && vals[n - 1] === v) ends[n - 1] = e
  else {
    ends.push(e)
    vals.push(v)
  }
}

/**
 * Appends a leaf's slots to ends/vals with [start, end) overwritten by `value`; `s` is where the leaf's first slot
 * begins. Returns where the next leaf begins.
 */
function storeInLeaf<V>(
  leaf: Leaf<V>,
  s: number,
  start: number,
  end: number,
  value: V | null,
  ends: number[],
  vals: (V | null)[],
): number {
  for (let i = 0; i < leaf.ends.length; i++) {
    const e = leaf.ends[i]!
    const v = leaf.vals[i]!
    if (e <= start || s >= end) pushSlot(ends, vals, e, v)
    else {
      if (s < start) pushSlot(ends, vals, start, v)
      if (e > end) {
        pushSlot(ends, vals, end, value)
        pushSlot(ends, vals, e, v)
      } else if (e === end) pushSlot(ends, vals, end, value)
      else pushSlot(ends, vals, e, value) // fully covered slot: value extends over it
    }
    s = e
  }
  return s
}

const FIND_CACHE = 16
/** find()'s cache entry for `index` in [0, TREE_MAX): its 2 MiB block number mod FIND_CACHE (ToInt32 keeps the low bits). */
const cacheEntry = (index: number): number => (index / 2 ** 21) & (FIND_CACHE - 1)

// forEachIn's walk of the subtree `n` starting at `lo`.
function visitIn<V>(
  n: TreeNode<V>,
  lo: number,
  start: number,
  end: number,
  fn: (value: V, s: number, e: number) => void,
): void {
  for (let i = slotOf(n.ends, start); i < n.ends.length; i++) {
    const slotStart = i === 0 ? lo : n.ends[i - 1]!
    if (slotStart >= end) return
    if (n.leaf) {
      const v = n.vals[i]!
      if (v !== null) fn(v, slotStart, n.ends[i]!)
    } else visitIn(n.kids[i]!, slotStart, start, end, fn)
  }
}

export class RangeTree<V> {
  root: TreeNode<V>
  private height = 1
  /** Called with the nodes a write replaced; they stay intact for readers of older roots. */
  retire: ((nodes: number) => void) | null = null
  // Leaf slots find() ended in, one per 2 MiB-aligned address block mod FIND_CACHE (threads faulting in different
  // areas keep their own): [lo, hi) holds val in the tree rooted at root.
  private readonly cacheRoot: (TreeNode<V> | null)[] = new Array<TreeNode<V> | null>(FIND_CACHE).fill(null)
  private readonly cacheLo = new Float64Array(FIND_CACHE)
  private readonly cacheHi = new Float64Array(FIND_CACHE)
  private readonly cacheVal: (V | null)[] = new Array<V | null>(FIND_CACHE).fill(null)
  /** Nodes allocated / retired over the tree's life (statistics). */
  allocated = 1
  retired = 0
  // storeInLeaf's scratch: the inner nodes on the path and the child taken in each
  private readonly path: Inner<V>[] = []
  private readonly pathIdx: number[] = []

  constructor() {
    this.root = makeLeaf<V>([TREE_MAX], [null], 0)
  }

  /** Build from sorted, non-overlapping entries in one pass (dup_mmap's __mt_dup, snapshots). */
  static fromEntries<V>(entries: ReadonlyArray<Entry<V>>): RangeTree<V> {
    const ends: number[] = []
    const vals: (V | null)[] = []
    let at = 0
    for (const e of entries) {
      if (e.start < at || e.end <= e.start || e.end > TREE_MAX) throw new Error(`bad entry [${e.start}, ${e.end})`)
      if (e.start > at) {
        ends.push(e.start)
        vals.push(null)
      }
      ends.push(e.end)
      vals.push(e.value)
      at = e.end
    }
    if (at < TREE_MAX) {
      ends.push(TREE_MAX)
      vals.push(null)
    }
    const t = new RangeTree<V>()
    let level = chunkLeaves(ends, vals, 0)
    t.allocated = level.length
    while (level.length > 1) {
      level = chunkInner(level.map(lastEnd), level)
      t.allocated += level.length
      t.height++
    }
    t.root = level[0]!
    return t
  }

  /** Replace the whole contents in one bulk build (__mt_dup for fork, __mt_destroy with no entries); retires the old nodes. */
  replaceAll(entries: ReadonlyArray<Entry<V>>): void {
    const t = RangeTree.fromEntries(entries)
    const old = this.countNodes()
    this.root = t.root
    this.height = t.height
    this.allocated += t.allocated
    this.retired += old
    if (this.retire !== null) this.retire(old)
  }

  private countNodes(): number {
    const count = (n: TreeNode<V>): number => (n.leaf ? 1 : n.kids.reduce((s, c) => s + count(c), 1))
    return count(this.root)
  }

  /** The value covering `index`, or null: walk(root, index), remembering the leaf slot it ended in. */
  find(index: number): V | null {
    // Nodes never change once built (copy-on-write), so while the root is the same, so is every slot's value.
    if (!(index >= 0 && index < TREE_MAX)) return null
    const c = cacheEntry(index)
    if (this.cacheRoot[c] === this.root && index >= this.cacheLo[c]! && index < this.cacheHi[c]!)
      return this.cacheVal[c]!
    let n = this.root
    let lo = 0
    for (;;) {
      const i = slotOf(n.ends, index)
      if (i > 0) lo = n.ends[i - 1]!
      if (n.leaf) {
        this.cacheRoot[c] = this.root
        this.cacheLo[c] = lo
        this.cacheHi[c] = n.ends[i]!
        return (this.cacheVal[c] = n.vals[i]!)
      }
      n = n.kids[i]!
    }
  }

  /** Calls fn for each stored range overlapping [start, end), in address order, with its full (unclipped) bounds. */
  forEachIn(start: number, end: number, fn: (value: V, s: number, e: number) => void): void {
    if (end <= start || start >= TREE_MAX) return
    visitIn(this.root, 0, start < 0 ? 0 : start, end, fn)
  }

  /** Stored ranges overlapping [start, end). */
  entriesIn(start = 0, end = TREE_MAX): Entry<V>[] {
    const out: Entry<V>[] = []
    this.forEachIn(start, end, (value, s, e) => out.push({start: s, end: e, value}))
    return out
  }

  /** The stored range covering `index`, with its bounds (those of the leaf slot find() ended in). */
  rangeAt(index: number): Entry<V> | null {
    const v = this.find(index)
    const c = cacheEntry(index)
    return v === null ? null : {start: this.cacheLo[c]!, end: this.cacheHi[c]!, value: v}
  }

  /** The first stored range ending above `index` (find_vma), or null. */
  findNext(index: number): Entry<V> | null {
    let found: Entry<V> | null = null
    if (index < 0) index = 0
    if (index >= TREE_MAX) return null
    const visit = (n: TreeNode<V>, lo: number): boolean => {
      for (let i = slotOf(n.ends, index); i < n.ends.length; i++) {
        const s = i === 0 ? lo : n.ends[i - 1]!
        if (n.leaf) {
          const v = n.vals[i]!
          if (v !== null) {
            found = {start: s, end: n.ends[i]!, value: v}
            return true
          }
        } else if (visit(n.kids[i]!, s)) return true
      }
      return false
    }
    visit(this.root, 0)
    return found
  }

  /** The last stored range starting below `index` (find_vma_prev's prev), or null. */
  findPrev(index: number): Entry<V> | null {
    let found: Entry<V> | null = null
    const visit = (n: TreeNode<V>, lo: number): boolean => {
      const from = index >= TREE_MAX ? n.ends.length - 1 : slotOf(n.ends, Math.max(0, index - 1))
      for (let i = from; i >= 0; i--) {
        const s = i === 0 ? lo : n.ends[i - 1]!
        if (s >= index) continue
        if (n.leaf) {
          const v = n.vals[i]!
          if (v !== null) {
            found = {start: s, end: n.ends[i]!, value: v}
            return true
          }
        } else if (visit(n.kids[i]!, s)) return true
      }
      return false
    }
    if (index > 0) visit(this.root, 0)
    return found
  }

  /**
   * Highest `addr` with [addr, addr+len) empty, low <= addr, addr+len <= high, addr a multiple of `align`:
   * the top-down search of mas_empty_area_rev() used by vm_unmapped_area(). Returns -1 if none.
   */
  findGapTopDown(len: number, low: number, high: number, align = 1): number {
    if (len <= 0 || high - low < len) return -1
    const search = (n: TreeNode<V>, lo: number): number => {
      for (let i = n.ends.length - 1; i >= 0; i--) {
        const s = i === 0 ? lo : n.ends[i - 1]!
        const e = n.ends[i]!
        if (e <= low) return -1
        if (s >= high) continue
        if (n.leaf) {
          if (n.vals[i] !== null) continue
          const gs = s > low ? s : low
          const ge = e < high ? e : high
          const addr = Math.floor((ge - len) / align) * align
          if (addr >= gs) return addr
        } else if (n.kids[i]!.gap >= len) {
          const r = search(n.kids[i]!, s)
          if (r >= 0) return r
        }
      }
      return -1
    }
    return this.root.gap >= len ? search(this.root, 0) : -1
  }

  /** Store `value` (null = erase) over [start, end): mas_store_gfp(). Copy-on-write along the affected runs. */
  store(start: number, end: number, value: V | null): void {
    if (!(start >= 0 && end <= TREE_MAX && start < end)) throw new Error(`bad range [${start}, ${end})`)
    // Include the neighbouring entries so adjacent NULLs (and equal values) merge: a gap never spans nodes.
    const a = start > 0 ? start - 1 : 0
    const b = end < TREE_MAX ? end : TREE_MAX - 1
    if (this.storeInLeaf(start, end, value, a, b)) return
    const p = this.overlapping(a, b)
    const leafD = this.height - 1
    // Leaf level: gather, edit, merge.
    const lo = this.widenLeaves(p, leafD)
    const ends: number[] = []
    const vals: (V | null)[] = []
    let s = lo
    for (const leaf of p.runs[leafD]! as Leaf<V>[]) s = storeInLeaf(leaf, s, start, end, value, ends, vals)
    let retired = p.runs[leafD]!.length
    let level = chunkLeaves(ends, vals, lo)
    let made = level.length
    // Upper levels: splice the new nodes in place of the old run, re-chunk the parents.
    for (let d = leafD - 1; d >= 0; d--) {
      const {kidEnds, kids, parents} = this.splice(p, d, level)
      retired += parents
      level = chunkInner(kidEnds, kids)
      made += level.length
    }
    while (level.length > 1) {
      level = chunkInner(level.map(lastEnd), level)
      made += level.length
      this.height++
    }
    let root = level[0]!
    while (!root.leaf && root.kids.length === 1) {
      root = root.kids[0]!
      this.height--
    }
    this.root = root
    this.allocated += made
    this.retired += retired
    if (this.retire !== null) this.retire(retired)
  }

  /** The run of nodes overlapping [a, b] on every level (mas_wr_walk, for every node the range touches). */
  private overlapping(a: number, b: number): StorePath<V> {
    const p: StorePath<V> = {runs: [[this.root]], los: [0], firstIdx: [0], lastIdx: [0]}
    for (let d = 0; d < this.height - 1; d++) {
      const kids: TreeNode<V>[] = []
      let lo = -1
      let s = p.los[d]!
      let fi = -1
      let li = -1
      for (const node of p.runs[d]! as Inner<V>[]) {
        for (let i = 0; i < node.kids.length; i++) {
          const cs = i === 0 ? s : node.ends[i - 1]!
          if (node.ends[i]! > a && cs <= b) {
            if (lo < 0) {
              lo = cs
              fi = i
            }
            kids.push(node.kids[i]!)
            li = i
          }
        }
        s = lastEnd(node)
      }
      p.runs.push(kids)
      p.los.push(lo)
      p.firstIdx.push(fi)
      p.lastIdx.push(li)
    }
    return p
  }

  /**
   * An underfull run of leaves pulls in a sibling under the same parent, so leaves do not wither to single slots
   * (mas_rebalance). Returns where the run of leaves starts.
   */
  private widenLeaves(p: StorePath<V>, leafD: number): number {
    const leaves = p.runs[leafD]!
    let lo = p.los[leafD]!
    let slots = 0
    for (const l of leaves) slots += l.ends.length
    if (leafD === 0 || slots >= LEAF_MIN) return lo
    const up = p.runs[leafD - 1]! as Inner<V>[]
    const pLast = up[up.length - 1]!
    const pFirst = up[0]!
    if (p.lastIdx[leafD]! + 1 < pLast.kids.length) {
      p.runs[leafD] = [...leaves, pLast.kids[++p.lastIdx[leafD]!]!]
    } else if (p.firstIdx[leafD]! > 0) {
      const i = --p.firstIdx[leafD]!
      p.runs[leafD] = [pFirst.kids[i]!, ...leaves]
      lo = i === 0 ? p.los[leafD - 1]! : pFirst.ends[i - 1]!
    }
    return lo
  }

  /**
   * Level d's run with `level` (the new nodes of level d + 1) in place of the old children: the kept children
   * before and after them, an underfull result widened by a sibling of the run (mas_rebalance). `parents`: how
   * many nodes of level d it replaces.
   */
  private splice(
    p: StorePath<V>,
    d: number,
    level: TreeNode<V>[],
  ): {kidEnds: number[]; kids: TreeNode<V>[]; parents: number} {
    let parents = p.runs[d]! as Inner<V>[]
    const first = parents[0]!
    const last = parents[parents.length - 1]!
    const fi = p.firstIdx[d + 1]!
    const li = p.lastIdx[d + 1]!
    let kidEnds: number[] = []
    let kids: TreeNode<V>[] = []
    for (let i = 0; i < fi; i++) {
      kidEnds.push(first.ends[i]!)
      kids.push(first.kids[i]!)
    }
    for (const n of level) {
      kidEnds.push(lastEnd(n))
      kids.push(n)
    }
    for (let i = li + 1; i < last.kids.length; i++) {
      kidEnds.push(last.ends[i]!)
      kids.push(last.kids[i]!)
    }
    if (d > 0 && kids.length < NODE_MIN) {
      const up = p.runs[d - 1]! as Inner<V>[]
      const gp = up[up.length - 1]!
      if (p.lastIdx[d]! + 1 < gp.kids.length) {
        const sib = gp.kids[++p.lastIdx[d]!] as Inner<V>
        kidEnds = [...kidEnds, ...sib.ends]
        kids = [...kids, ...sib.kids]
        parents = [...parents, sib]
      } else if (p.firstIdx[d]! > 0) {
        const sib = up[0]!.kids[--p.firstIdx[d]!] as Inner<V>
        kidEnds = [...sib.ends, ...kidEnds]
        kids = [...sib.kids, ...kids]
        parents = [sib, ...parents]
      }
      p.runs[d] = parents
    }
    return {kidEnds, kids, parents: parents.length}
  }

  /**
   * store() when [a, b] lies in one leaf that stays one leaf: the general path's nodes, built without gathering
   * runs. The path's new nodes replace one child each; a child's end never changes, so parents keep their pivots
   * array (nodes are immutable). Returns false, having changed nothing, when the general path must rebalance.
   */
  private storeInLeaf(start: number, end: number, value: V | null, a: number, b: number): boolean {
    const H = this.height
    const path = this.path
    const idx = this.pathIdx
    let n = this.root
    let lo = 0
    for (let d = 0; d < H - 1; d++) {
      const i = slotOf(n.ends, a)
      if (n.ends[i]! <= b || (d > 0 && n.ends.length < NODE_MIN)) return false // [a, b] spans children / underfull
      path[d] = n as Inner<V>
      idx[d] = i
      if (i > 0) lo = n.ends[i - 1]!
      n = (n as Inner<V>).kids[i]!
    }
    const leaf = n as Leaf<V>
    if (H > 1 && leaf.ends.length < LEAF_MIN) return false
    const ends: number[] = []
    const vals: (V | null)[] = []
    storeInLeaf(leaf, lo, start, end, value, ends, vals)
    if (ends.length > LEAF_MAX) return false
    let node: TreeNode<V> = makeLeaf(ends, vals, lo)
    for (let d = H - 2; d >= 0; d--) {
      const p = path[d]!
      const i = idx[d]!
      const kids = p.kids.slice()
      kids[i] = node
      // The largest gap without reading every child: only a shrunk child that held the old maximum needs a rescan.
      const gap: number = node.gap >= p.gap ? node.gap : p.kids[i]!.gap < p.gap ? p.gap : -1
      node = gap < 0 ? makeInner(p.ends, kids) : {leaf: false, ends: p.ends, kids, gap}
    }
    this.root = node
    this.allocated += H
    this.retired += H
    if (this.retire !== null) this.retire(H)
    return true
  }

  /** Height in levels (1 = a single leaf). */
  get depth(): number {
    return this.height
  }

  /** Structural invariants (tests): ordered pivots, uniform depth, no adjacent NULLs, exact gaps, fill bounds. */
  check(): void {
    let prevNull = false
    let prevVal: V | null | undefined
    const visit = (n: TreeNode<V>, lo: number, hi: number, depth: number): void => {
      if (n.ends.length === 0) throw new Error('empty node')
      if (lastEnd(n) !== hi) throw new Error(`node end ${lastEnd(n)} != ${hi}`)
      let s = lo
      let gap = 0
      for (let i = 0; i < n.ends.length; i++) {
        const e = n.ends[i]!
        if (e <= s) throw new Error(`pivots not increasing at ${e}`)
        if (n.leaf) {
          if (depth !== this.height - 1) throw new Error('leaves at different depths')
          const v = n.vals[i]!
          if (v === null && prevNull) throw new Error(`adjacent NULL ranges at ${s}`)
          if (v !== null && v === prevVal) throw new Error(`adjacent equal ranges at ${s}`)
          prevNull = v === null
          prevVal = v
          if (v === null && e - s > gap) gap = e - s
        } else {
          visit(n.kids[i]!, s, e, depth + 1)
          if (n.kids[i]!.gap > gap) gap = n.kids[i]!.gap
        }
        s = e
      }
      if (gap !== n.gap) throw new Error(`gap ${n.gap} != ${gap}`)
      if (n.ends.length > (n.leaf ? LEAF_MAX : NODE_MAX)) throw new Error('overfull node')
    }
    visit(this.root, 0, TREE_MAX, 0)
  }
}
