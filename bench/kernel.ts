// Kernel micro-benchmarks: VMA lookups on a 10,000-VMA tree against sorted-array binary searches (same run,
// same addresses), and the uncontended fault path through the scheduler. `npm run bench` calls benchKernel();
// `node dist/bench/kernel.js` runs it alone.
import {pathToFileURL} from 'node:url'
import {Kernel, RangeTree, installVma, type FaultOutcome} from '../src/kernel/index.js'

const PAGE = 4096
const BASE = 0x5500_0000_0000

export interface KernelBenchResult {
  vmas: number
  lookups: number
  /** Lookups per second. */
  treeIncremental: number
  treeBulk: number
  sortedObjects: number
  sortedTyped: number
  treeDepth: number
  /** Uncontended user faults through Kernel.fault + the scheduler, per CPU second: 1 µs apart (overlapping), 2 µs apart. */
  faultsPerSec: number
  heapEventsPerFault: number
  faultsApartPerSec: number
}

// Deterministic pseudo-random numbers (xorshift32): no Math.random.
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 2 ** 32
  }
}

interface Range {
  start: number
  end: number
  id: number
}

function layout(n: number): Range[] {
  const r = rng(7)
  const out: Range[] = []
  let at = BASE
  for (let i = 0; i < n; i++) {
    at += Math.floor(r() * 16) * PAGE // gaps of 0..15 pages (0 = adjacent VMAs)
    const len = (1 + Math.floor(r() * 64)) * PAGE
    out.push({start: at, end: at + len, id: i})
    at += len
  }
  return out
}

function time(fn: () => number): [number, number] {
  fn() // warm up
  const t0 = process.hrtime.bigint()
  const sink = fn()
  const ns = Number(process.hrtime.bigint() - t0)
  return [ns, sink]
}

export function benchKernel(opts: {vmas?: number; lookups?: number; faults?: number} = {}): KernelBenchResult {
  const n = opts.vmas ?? 10_000
  const lookups = opts.lookups ?? 2_000_000
  const ranges = layout(n)
  const lo = ranges[0]!.start
  const hi = ranges[n - 1]!.end
  const r = rng(11)
  const addrs = new Float64Array(lookups)
  for (let i = 0; i < lookups; i++) addrs[i] = lo + Math.floor(r() * (hi - lo))

  const inc = new RangeTree<Range>()
  for (const x of ranges) inc.store(x.start, x.end, x)
  const bulk = RangeTree.fromEntries(ranges.map((x) => ({start: x.start, end: x.end, value: x})))
  const sorted = ranges.slice()
  const starts = new Float64Array(ranges.map((x) => x.start))
  const ends = new Float64Array(ranges.map((x) => x.end))

  const viaTree = (t: RangeTree<Range>) => (): number => {
    let hits = 0
    for (let i = 0; i < lookups; i++) if (t.find(addrs[i]!) !== null) hits++
    return hits
  }
  const viaObjects = (): number => {
    let hits = 0
    for (let i = 0; i < lookups; i++) {
      const a = addrs[i]!
      let l = 0
      let h = sorted.length - 1
      while (l < h) {
        const m = (l + h) >> 1
        if (sorted[m]!.end > a) h = m
        else l = m + 1
      }
      const v = sorted[l]!
      if (v.start <= a && a < v.end) hits++
    }
    return hits
  }
  const viaTyped = (): number => {
    let hits = 0
    for (let i = 0; i < lookups; i++) {
      const a = addrs[i]!
      let l = 0
      let h = ends.length - 1
      while (l < h) {
        const m = (l + h) >> 1
        if (ends[m]! > a) h = m
        else l = m + 1
      }
      if (starts[l]! <= a && a < ends[l]!) hits++
    }
    return hits
  }
  const [tInc, hInc] = time(viaTree(inc))
  const [tBulk, hBulk] = time(viaTree(bulk))
  const [tObj, hObj] = time(viaObjects)
  const [tTyped, hTyped] = time(viaTyped)
  if (hInc !== hObj || hBulk !== hObj || hTyped !== hObj) throw new Error('lookup implementations disagree')
  const perSec = (ns: number): number => Math.round((lookups / ns) * 1e9)

  // Fault path: 4 threads fault round-robin on 1,000 VMAs that have their anon_vma, `gapNs` apart; the scheduler
  // is told when the next fault comes (as the replay engine does), so a fault that ends before it runs at once.
  const faults = opts.faults ?? 500_000
  const faultPath = (gapNs: number): {perSec: number; heapEvents: number} => {
    const k = new Kernel({generation: '6.18'})
    const mm = k.createMm()
    const tasks = [0, 1, 2, 3].map((i) => k.createTask(i, mm))
    for (let i = 0; i < 1000; i++)
      installVma(k, mm, {start: BASE + i * 64 * PAGE, end: BASE + (i * 64 + 32) * PAGE, prot: 3, anonVma: true})
    k.sched.run()
    let ok = 0
    const done = (o: FaultOutcome): void => {
      if (o.path === 'vma_lock') ok++
    }
    const fr = rng(3)
    const c0 = process.cpuUsage()
    const start = k.sched.now
    const fired0 = k.sched.fired
    for (let i = 0; i < faults; i++) {
      k.sched.runUntil(start + i * gapNs)
      k.sched.horizon(start + (i + 1) * gapNs)
      const v = Math.floor(fr() * 1000)
      k.fault(tasks[i & 3]!, {address: BASE + (v * 64 + Math.floor(fr() * 32)) * PAGE, errorCode: 0x6}, done)
    }
    k.sched.run()
    const c = process.cpuUsage(c0)
    if (ok !== faults) throw new Error(`only ${ok}/${faults} faults took the VMA-lock path`)
    return {perSec: Math.round((faults / (c.user + c.system)) * 1e6), heapEvents: (k.sched.fired - fired0) / faults}
  }
  faultPath(1000) // warm up
  const interleaved = faultPath(1000) // a fault takes 1.4 µs: the next one starts before it ends
  const apart = faultPath(2000)

  return {
    vmas: n,
    lookups,
    treeIncremental: perSec(tInc),
    treeBulk: perSec(tBulk),
    sortedObjects: perSec(tObj),
    sortedTyped: perSec(tTyped),
    treeDepth: inc.depth,
    faultsPerSec: interleaved.perSec,
    heapEventsPerFault: interleaved.heapEvents,
    faultsApartPerSec: apart.perSec,
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = benchKernel()
  const m = (x: number): string => `${(x / 1e6).toFixed(2)} M/s`
  console.log(`VMA lookups, ${r.vmas} VMAs, ${r.lookups} random addresses (tree depth ${r.treeDepth}):`)
  console.log(`  RangeTree (incremental stores) ${m(r.treeIncremental)}`)
  console.log(`  RangeTree (bulk build)         ${m(r.treeBulk)}`)
  console.log(`  sorted Vma[] binary search     ${m(r.sortedObjects)}`)
  console.log(`  sorted Float64Array search     ${m(r.sortedTyped)}`)
  console.log(
    `Uncontended faults (6.18, scheduler included, per CPU s): 1 µs apart ${m(r.faultsPerSec)}, ${r.heapEventsPerFault.toFixed(2)} heap events/fault; 2 µs apart (each runs at once) ${m(r.faultsApartPerSec)}`,
  )
}
