// npm run bench: ingest and replay throughput (lines/s) on the long real trace, and the VMA-tree lookup
// micro-benchmark, each beside its floors measured in the same run (wc -l and SQLite's bare insert for ingest,
// reading the operations back for replay; a sorted-array binary search for the tree), with peak RSS.
import {existsSync} from 'node:fs'
import {cpus, totalmem} from 'node:os'
import {resolve} from 'node:path'
import {benchIngest, cleanup} from './ingest.js'
import {benchReadOps, benchReplay} from './replay.js'
import {benchKernel} from './kernel.js'

const trace = resolve(process.argv[2] ?? '../shared/traces/real/node_gc_long.trace.txt.xz')
const policies = (process.argv[3] ?? 'mmap-lock,v6.18,ideal').split(',')
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

console.log(
  `vmareplay bench — ${new Date().toISOString().slice(0, 10)}, ${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
)
console.log('\n== VMA tree lookups (10,000 VMAs) ==')
console.log(JSON.stringify(benchKernel(), null, 1))
if (!existsSync(trace)) {
  console.log(`\n(no ${trace}: ingest/replay benchmarks skipped)`)
  process.exit(0)
}
console.log(`\n== ingest ${trace} (plain text) ==`)
const ing = await benchIngest(trace)
const lps = (seconds: number): string => `${fmt(ing.lines / seconds)} lines/s`
console.log(
  `${fmt(ing.lines)} lines (${fmt(ing.events)} events) in ${ing.seconds.toFixed(2)} s: ${lps(ing.seconds)}, ${ing.mbPerSec.toFixed(1)} MB/s of text, peak RSS ${ing.peakRssMb.toFixed(0)} MB`,
)
console.log(`floor: wc -l of the same text ${ing.wcSeconds.toFixed(2)} s (${lps(ing.wcSeconds)})`)
console.log(
  `floor: SQLite inserting the same ${fmt(ing.events)} events rows alone (INSERT … SELECT) ${ing.bareInsertSeconds.toFixed(2)} s (${lps(ing.bareInsertSeconds)})`,
)
console.log('\n== replay, one policy per run ==')
const floor = benchReadOps(ing.dbPath, ing.traceId, ing.events)
console.log(
  `floor: reading the ${fmt(floor.ops)} operations back alone ${floor.seconds.toFixed(2)} s (${lps(floor.seconds)})`,
)
for (const r of benchReplay(ing.dbPath, ing.traceId, ing.events, policies))
  console.log(
    `${r.policy.padEnd(10)} ${lps(r.seconds)} (${fmt(r.ops)} ops replayed in ${r.seconds.toFixed(2)} s, ${r.cpuSeconds.toFixed(2)} CPU-s on all threads), peak RSS ${r.peakRssMb.toFixed(0)} MB`,
  )
cleanup(ing.dbPath)
