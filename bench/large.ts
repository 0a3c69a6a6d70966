// Large-trace generator and benchmark. writeLargeTrace() builds an N-event ftrace trace from the real event lines
// of traces/py_threads_small.trace.txt: the recording is repeated with every timestamp shifted past the previous
// copy and every user-space address (hex fault addresses, mmap/munmap arguments and results, decimal syscall
// returns) shifted by 256 MB per copy, so each copy maps and faults its own ranges. Lines are streamed to the
// file in 1 MB chunks; only the ~8,600 source lines are held in memory.
//
//   node dist/bench/large.js [EVENTS=50000000] [DIR=tmpdir] [POLICIES=v6.18]
// generates the trace, then ingests and replays it with `bin/run.js` as child processes and prints throughput and
// each child's peak RSS (/usr/bin/time -v, or VmHWM from /proc).
import {closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {runMeasured} from '../test/cli.js'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
export const SOURCE = join(REPO, 'traces', 'py_threads_small.trace.txt')
const ADDR_STEP = 0x10000000 // 256 MB per copy: 0x7f.. + copies × 256 MB stays in the 47-bit user half up to ~2,000 copies
const USER_LO = 0x7f0000000000
const USER_HI = 0x7ff000000000 // the stack (0x7ffx…) is set up by exec, not mmap: left as is

export interface LargeTrace {
  path: string
  lines: number
  events: number
  bytes: number
  copies: number
}

const shiftHex = (h: string, by: number): string => {
  const v = parseInt(h, 16)
  return v >= USER_LO && v < USER_HI ? (v + by).toString(16) : h
}

/** Writes an ftrace text trace with `events` event lines (plus the 12-line header) to `path`. */
export function writeLargeTrace(path: string, events: number, source = SOURCE): LargeTrace {
  const all = readFileSync(source, 'utf8').split('\n')
  const header = all.filter((l, i) => i < 20 && l.startsWith('#'))
  const body = all.filter((l) => l !== '' && !l.startsWith('#'))
  const tsOf = (l: string): number => {
    const m = /\s(\d+)\.(\d{6}): /.exec(l)
    return m === null ? 0 : Number(m[1]) * 1e6 + Number(m[2])
  }
  const first = tsOf(body[0]!)
  const span = tsOf(body[body.length - 1]!) - first + 1000 // µs per copy, with a 1 ms gap
  const fd = openSync(path, 'w')
  let chunk = header.join('\n') + '\n'
  let bytes = 0
  let written = 0
  let copy = 0
  const flush = (): void => {
    bytes += writeSync(fd, chunk)
    chunk = ''
  }
  try {
    while (written < events) {
      const dt = copy * span
      const da = copy * ADDR_STEP
      for (const line of body) {
        if (written >= events) break
        let l = line.replace(/\s(\d+)\.(\d{6}): /, (_m, s: string, us: string) => {
          const t = Number(s) * 1e6 + Number(us) + dt
          return ` ${Math.floor(t / 1e6)}.${String(t % 1e6).padStart(6, '0')}: `
        })
        if (da !== 0) {
          l = l
            .replace(
              /\b(0x)?(7f[0-9a-f]{10})\b/g,
              (_m, p: string | undefined, h: string) => (p ?? '') + shiftHex(h, da),
            )
            .replace(/(= |-> )(\d{15})\b/g, (m, p: string, d: string) => {
              const v = Number(d)
              return v >= USER_LO && v < USER_HI ? p + String(v + da) : m
            })
        }
        chunk += l + '\n'
        written++
        if (chunk.length >= 1 << 20) flush()
      }
      copy++
    }
    flush()
  } finally {
    closeSync(fd)
  }
  return {path, lines: written + header.length, events: written, bytes, copies: copy}
}

export type ChildRun = Awaited<ReturnType<typeof runMeasured>>

export interface LargeBench {
  trace: LargeTrace
  generateSeconds: number
  ingest: ChildRun
  replay: ChildRun
  dbBytes: number
}

/** Generates an `events`-event trace in `dir`, ingests and replays it through the CLI, and removes the files. */
export async function benchLarge(
  events: number,
  dir = mkdtempSync(join(tmpdir(), 'vmareplay-large-')),
  policies = 'v6.18',
  keep = false,
): Promise<LargeBench> {
  const tracePath = join(dir, `large_${events}.trace.txt`)
  const db = join(dir, 'large.db')
  const t0 = process.hrtime.bigint()
  const trace = writeLargeTrace(tracePath, events)
  const generateSeconds = Number(process.hrtime.bigint() - t0) / 1e9
  try {
    const ingest = await runMeasured(['ingest', tracePath, '--db', db, '--json'])
    const replay =
      ingest.code === 0
        ? await runMeasured(['replay', '--db', db, '--policy', policies, '--json'])
        : {code: null, signal: null, out: '', err: 'not run', seconds: 0, peakRssMb: 0}
    return {trace, generateSeconds, ingest, replay, dbBytes: existsSync(db) ? statSync(db).size : 0}
  } finally {
    if (!keep) for (const f of [tracePath, db, db + '-wal', db + '-shm']) rmSync(f, {force: true})
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const events = Number(process.argv[2] ?? 50_000_000)
  const dir = process.argv[3] ?? mkdtempSync(join(tmpdir(), 'vmareplay-large-'))
  const policies = process.argv[4] ?? 'v6.18'
  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
  const r = await benchLarge(events, dir, policies)
  console.log(
    `generated ${fmt(r.trace.events)} events (${(r.trace.bytes / 2 ** 20).toFixed(0)} MB, ${r.trace.copies} copies) in ${r.generateSeconds.toFixed(1)} s`,
  )
  for (const [name, c] of [
    ['ingest', r.ingest],
    ['replay', r.replay],
  ] as const)
    console.log(
      `${name.padEnd(7)} exit ${c.code}  ${c.seconds.toFixed(1)} s  ${fmt(r.trace.events / c.seconds)} events/s  peak RSS ${c.peakRssMb.toFixed(0)} MB${c.code === 0 ? '' : '\n' + c.err.slice(-2000)}`,
    )
  console.log(`database ${(r.dbBytes / 2 ** 20).toFixed(0)} MB`)
}
