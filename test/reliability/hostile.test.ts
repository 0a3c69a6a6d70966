// Hostile input: random bytes, mutated real trace lines (fast-check, fixed seed) and hand-made nasty traces.
// Guarantees checked: ingest never throws anything but a typed, user-facing error; every malformed line is counted
// in parse_problems with its line number; integrity_check is ok; the other trace in the same database is
// byte-for-byte untouched; and replay of whatever was ingested completes.
import {test, before} from 'node:test'
import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import fc from 'fast-check'
import Database from 'better-sqlite3'
import {openDb, type Db} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'
import {InputError, StoreError} from '../../src/base/errors.js'
import {replayTrace} from '../../src/replay/run.js'
import {policyByName} from '../../src/replay/policies.js'
import {assertHandled, fingerprint, integrity, PY_SMALL, tmp, XZ_SMALL, type Fingerprint} from './helpers.js'
import {cli} from '../cli.js'

const SEED = 20260514
const dir = tmp('hostile')
const PY = readFileSync(PY_SMALL, 'latin1')
  .split('\n')
  .filter((l) => l !== '')
const HEADER = PY.filter((l) => l.startsWith('#'))
const EVENTS = PY.filter((l) => !l.startsWith('#'))
const PERF = readFileSync(XZ_SMALL, 'latin1')
  .split('\n')
  .filter((l) => l !== '')

// One database with a bystander trace (trace 1, the perf trace, replayed once) that no hostile ingest may touch.
const dbPath = join(dir, 'h.db')
let db: Db
let bystander: Fingerprint
before(async () => {
  db = openDb(dbPath)
  const r = await loadTrace(db, XZ_SMALL, {toolVersion: 'test'})
  assert.equal(r.status, 'ingested')
  replayTrace(dbPath, db, 1, [policyByName('v6.18')], {mode: 'faithful', costs: {}, toolVersion: 'test'})
  bystander = fingerprint(dbPath, 1)
})

let fileNo = 0
function write(lines: readonly string[] | Buffer, name = 'case'): string {
  const path = join(dir, `${name}-${++fileNo}.trace.txt`)
  writeFileSync(path, Buffer.isBuffer(lines) ? lines : Buffer.from(lines.join('\n') + '\n', 'latin1'))
  return path
}

/** A typed error a command turns into a message and an exit code (unreadable input, database problem). */
const userFacing = (e: unknown): boolean =>
  e instanceof InputError || e instanceof StoreError || typeof (e as {exitCode?: unknown}).exitCode === 'number'

type Outcome =
  {status: 'ingested'; traceId: number; lines: number} | {status: 'duplicate'} | {status: 'refused'; error: Error}

async function ingest(path: string): Promise<Outcome> {
  try {
    const r = await loadTrace(db, path, {toolVersion: 'test'})
    if (r.status === 'duplicate') return {status: 'duplicate'}
    const lines = db.prepare('SELECT lines FROM traces WHERE trace_id = ?').pluck().get(r.summary.traceId) as number
    return {status: 'ingested', traceId: r.summary.traceId, lines}
  } catch (error) {
    assert.ok(userFacing(error), `ingest threw a non user-facing error: ${(error as Error).stack}`)
    return {status: 'refused', error: error as Error}
  }
}

function problems(traceId: number): {line: number; reason: string}[] {
  return db.prepare('SELECT line, reason FROM parse_problems WHERE trace_id = ? ORDER BY line').all(traceId) as {
    line: number
    reason: string
  }[]
}

function checkProblemsInRange(o: Outcome): void {
  if (o.status !== 'ingested') return
  for (const p of problems(o.traceId))
    assert.ok(p.line >= 1 && p.line <= o.lines, `problem line ${p.line} outside 1..${o.lines}`)
  const t = db.prepare('SELECT malformed_lines FROM traces WHERE trace_id = ?').pluck().get(o.traceId) as number
  assert.equal(t, problems(o.traceId).length, 'malformed_lines equals the rows in parse_problems')
}

function replays(traceId: number): void {
  const runs = replayTrace(dbPath, db, traceId, [policyByName('mmap-lock'), policyByName('v6.18')], {
    mode: 'faithful',
    costs: {},
    toolVersion: 'test',
  })
  assert.equal(runs.length, 2)
  // every stored fault is replayed, whatever order its timestamps came in
  const faults = db
    .prepare('SELECT faults + kernel_faults FROM traces WHERE trace_id = ?')
    .pluck()
    .get(traceId) as number
  for (const r of runs) {
    assert.match(r.digest, /^[0-9a-f]{64}$/)
    assert.equal(r.faults, faults, `${r.policy} replayed ${r.faults} of ${faults} faults`)
  }
}

const monotonic = (traceId: number): boolean =>
  (db.prepare('SELECT monotonic FROM traces WHERE trace_id = ?').pluck().get(traceId) as number) === 1

function bystanderUntouched(): void {
  assert.deepEqual(fingerprint(dbPath, 1), bystander)
}

// ---- line-level mutations of real trace lines --------------------------------------------------------------

const HUGE = [
  '18446744073709551616',
  '99999999999999999999999',
  'ffffffffffffffffffff',
  '0x10000000000000000',
  '-9223372036854775809',
]
type Mutation =
  | {kind: 'truncate'; at: number}
  | {kind: 'bytes'; at: number; bytes: number[]}
  | {kind: 'huge'; which: number}
  | {kind: 'nul'; at: number}
  | {kind: 'badutf8'; at: number}
  | {kind: 'dup'}
  | {kind: 'drop'}
  | {kind: 'perf'; which: number}
  | {kind: 'empty'}
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({kind: fc.constant('truncate' as const), at: fc.nat(200)}),
  fc.record({
    kind: fc.constant('bytes' as const),
    at: fc.nat(200),
    bytes: fc.array(fc.integer({min: 0, max: 255}), {minLength: 1, maxLength: 16}),
  }),
  fc.record({kind: fc.constant('huge' as const), which: fc.nat(HUGE.length - 1)}),
  fc.record({kind: fc.constant('nul' as const), at: fc.nat(200)}),
  fc.record({kind: fc.constant('badutf8' as const), at: fc.nat(200)}),
  fc.record({kind: fc.constant('dup' as const)}),
  fc.record({kind: fc.constant('drop' as const)}),
  fc.record({kind: fc.constant('perf' as const), which: fc.nat(PERF.length - 1)}),
  fc.record({kind: fc.constant('empty' as const)}),
)

function mutate(line: string, m: Mutation): string[] {
  const at = (n: number): number => Math.min(n, line.length)
  switch (m.kind) {
    case 'truncate':
      return [line.slice(0, at(m.at))]
    case 'bytes':
      return [line.slice(0, at(m.at)) + String.fromCharCode(...m.bytes).replace(/\n/g, ' ') + line.slice(at(m.at))]
    case 'huge':
      // replace the first number after the timestamp (an address, an NR, a pid) with one that overflows 64 bits
      return [line.replace(/(: [^0-9]*?)(0x)?[0-9a-f]+/, (_s, pre: string) => pre + HUGE[m.which]!)]
    case 'nul':
      return [line.slice(0, at(m.at)) + '\0' + line.slice(at(m.at))]
    case 'badutf8':
      return [line.slice(0, at(m.at)) + '\xc3\x28\xff\xfe' + line.slice(at(m.at))]
    case 'dup':
      return [line, line]
    case 'drop':
      return []
    case 'perf':
      return [PERF[m.which]!]
    case 'empty':
      return ['']
  }
}

const mutatedTrace = fc.record({
  start: fc.nat(EVENTS.length - 400),
  length: fc.integer({min: 20, max: 300}),
  edits: fc.array(fc.tuple(fc.nat(299), mutation), {maxLength: 12}),
  header: fc.boolean(),
})

function build(c: {start: number; length: number; edits: [number, Mutation][]; header: boolean}): string[] {
  const edits = new Map(c.edits.map(([i, m]) => [i % c.length, m]))
  const out: string[] = c.header ? [...HEADER] : []
  EVENTS.slice(c.start, c.start + c.length).forEach((l, i) =>
    out.push(...(edits.has(i) ? mutate(l, edits.get(i)!) : [l])),
  )
  return out
}

test('fast-check: mutated real ftrace lines ingest without an uncaught error; problems have line numbers; the other trace is untouched', async () => {
  await fc.assert(
    fc.asyncProperty(mutatedTrace, async (c) => {
      const o = await ingest(write(build(c), 'mut'))
      checkProblemsInRange(o)
    }),
    {seed: SEED, numRuns: 60},
  )
  assert.equal(integrity(dbPath), 'ok')
  bystanderUntouched()
})

test('fast-check: replay of mutated traces that stay in time order completes under two policies', async () => {
  await fc.assert(
    fc.asyncProperty(mutatedTrace, async (c) => {
      const o = await ingest(write(build(c), 'mutreplay'))
      if (o.status !== 'ingested' || !monotonic(o.traceId)) return // out-of-order replay: see the todo test below
      replays(o.traceId)
    }),
    {seed: SEED + 1, numRuns: 25},
  )
  assert.equal(integrity(dbPath), 'ok')
  bystanderUntouched()
})

test('fast-check: random bytes are refused with a typed error or ingested with every line counted', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({maxLength: 4096}), fc.boolean(), async (bytes, withHeader) => {
      const buf = withHeader ? Buffer.concat([Buffer.from(HEADER.join('\n') + '\n'), bytes]) : Buffer.from(bytes)
      const o = await ingest(write(buf, 'rand'))
      if (!withHeader && o.status === 'refused') assert.ok(o.error instanceof InputError, String(o.error))
      checkProblemsInRange(o)
    }),
    {seed: SEED + 2, numRuns: 60},
  )
  assert.equal(integrity(dbPath), 'ok')
  bystanderUntouched()
})

// ---- hand-made hostile traces ------------------------------------------------------------------------------

const ft = (pid: number, tgid: number, us: number, body: string): string =>
  `         python3-${pid}   (  ${String(tgid).padStart(5)}) [001] .....  ${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}: ${body}`
const T0 = 1354_700_000 // µs
const tsUs = (l: string): number => {
  const m = /\s(\d+)\.(\d{6}): /.exec(l)!
  return Number(m[1]) * 1e6 + Number(m[2])
}
const fault = (pid: number, us: number, addr: string): string =>
  ft(pid, pid, us, `page_fault_user: address=${addr} ip=0x7f48c2d05b70 error_code=0x6`)

interface Case {
  name: string
  lines: () => string[] | Buffer
  /** 1-based line numbers that must be in parse_problems. */
  problemLines?: number[]
  /** the replay (or an expectation) is known to fail: node:test todo with this reason. */
  todo?: string
  check?: (traceId: number) => void
  /** rewrites the file's bytes (joined lines plus the final newline) before ingest */
  raw?: (b: Buffer) => Buffer
}

const REAL = EVENTS.slice(0, 200)
const H = HEADER.length
const TEND = tsUs(REAL[REAL.length - 1]!) + 1 // after the last real line: keeps the trace in time order

const CASES: Case[] = [
  {
    name: 'truncated lines at every length',
    lines: () => [
      ...HEADER,
      ...REAL.slice(0, 50),
      ...Array.from({length: 40}, (_, i) => REAL[60]!.slice(0, 3 * i)),
      ...REAL.slice(50),
    ],
  },
  {
    name: 'a 10 MB line of garbage in the middle',
    lines: () => [...HEADER, ...REAL.slice(0, 10), 'x'.repeat(10 << 20), ...REAL.slice(10)],
    problemLines: [H + 11],
  },
  {
    name: 'a 10 MB event line is a problem with its line number, not an event cut to 4 MB',
    lines: () => [...HEADER, ...REAL.slice(0, 10), REAL[10]! + ' ' + 'x'.repeat(10 << 20), ...REAL.slice(11)],
    problemLines: [H + 11],
    check: (id) => {
      // lines after the long one keep their numbers; the long one stored nothing
      assert.equal(db.prepare('SELECT max(line) FROM events WHERE trace_id = ?').pluck().get(id), H + REAL.length)
      assert.equal(
        db
          .prepare('SELECT count(*) FROM events WHERE trace_id = ? AND line = ?')
          .pluck()
          .get(id, H + 11),
        0,
      )
    },
  },
  {
    name: 'a file cut mid-line (no final newline) ingests what it has and warns',
    lines: () => [...HEADER, ...REAL.slice(0, 20), REAL[20]!.slice(0, 40)],
    raw: (b) => b.subarray(0, b.length - 1),
    problemLines: [H + 21],
    check: (id) => {
      const w = JSON.parse(
        db.prepare('SELECT warnings FROM traces WHERE trace_id = ?').pluck().get(id) as string,
      ) as string[]
      assert.ok(
        w.some((x) => x.includes(`last line (${H + 21}) has no newline`)),
        `no warning: ${w}`,
      )
    },
  },
  {
    name: 'invalid UTF-8 and NUL bytes',
    lines: () => [
      ...HEADER,
      ...REAL.slice(0, 5),
      'ab\0\0cd\xff\xfe\xc3\x28',
      REAL[5]!.replace('python3', 'py\0th\xffon'),
      ...REAL.slice(6),
    ],
    problemLines: [H + 6],
  },
  {
    name: 'numbers overflowing 64 bits are counted as problems, not stored as null/0',
    lines: () => [...HEADER, ...REAL.slice(0, 5), fault(10730, T0, '0x1ffffffffffffffffff'), ...REAL.slice(5)],
    problemLines: [H + 6],
    check: (id) =>
      assert.equal(
        db
          .prepare('SELECT count(*) FROM events WHERE trace_id = ? AND line = ?')
          .pluck()
          .get(id, H + 6),
        0,
      ),
  },
  {
    name: 'a timestamp overflowing 64-bit nanoseconds',
    lines: () => [
      ...HEADER,
      ...REAL.slice(0, 5),
      REAL[5]!.replace(/\d+\.\d{6}:/, '99999999999999999999.000000:'),
      ...REAL.slice(6),
    ],
    problemLines: [H + 6],
  },
  {name: 'timestamps out of order', lines: () => [...HEADER, ...REAL.slice(100, 150), ...REAL.slice(0, 100)]},
  {
    name: 'every timestamp repeated',
    lines: () => [...HEADER, ...REAL.map((l) => l.replace(/\d+\.\d{6}:/, '1354.700000:'))],
  },
  {
    name: 'events for pids never seen created',
    lines: () => [
      ...HEADER,
      ...REAL,
      fault(4000000, TEND, '0x7f0000001000'),
      ft(4000001, 4000001, TEND + 2, 'sys_munmap(addr: 0x7f0000000000, len: 0x1000)'),
      ft(4000002, 7, TEND + 3, 'sys_mmap -> 0x7f0000000000'),
    ],
  },
  {
    name: 'syscalls whose exit is missing',
    lines: () => [...HEADER, ...REAL.filter((l) => !l.includes('sys_exit') && !l.includes(' -> '))],
  },
  {
    name: 'faults before any mmap, in a trace with no exec',
    lines: () => [
      ...HEADER,
      ...Array.from({length: 50}, (_, i) => fault(20000, T0 + i, '0x' + (0x7f0000000000 + i * 4096).toString(16))),
      fault(20000, T0 + 60, '0x0'),
      fault(20000, T0 + 61, '0xffffffffffffffff'),
    ],
  },
  {
    name: 'munmap of unknown ranges (and of the whole address space)',
    lines: () => [
      ...HEADER,
      ...REAL,
      ft(10730, 10730, TEND + 1, 'sys_munmap(addr: 0x1000, len: 0x7ffffffff000)'),
      ft(10730, 10730, TEND + 2, 'sys_munmap -> 0x0'),
      ft(10730, 10730, TEND + 3, 'sys_munmap(addr: 0x7e0000000000, len: 0x0)'),
      ft(10730, 10730, TEND + 4, 'sys_munmap -> 0xffffffffffffffea'),
      fault(10730, TEND + 5, '0x7f48c2d05b70'),
    ],
  },
  {
    name: 'fork and exit of processes never seen',
    lines: () => [
      ...HEADER,
      ft(30000, 30000, T0, 'sched_process_fork: comm=ghost pid=30000 child_comm=ghost child_pid=30001'),
      ft(30000, 30000, T0 + 1, 'task_newtask: pid=30001 comm=ghost clone_flags=3d0f00 oom_score_adj=0'),
      fault(30001, T0 + 2, '0x7f0000001000'),
      ft(30001, 30000, T0 + 3, 'sched_process_exit: comm=ghost pid=30001 prio=120 group_dead=true'),
      ft(30001, 30001, T0 + 4, 'sched_process_fork: comm=ghost pid=30001 child_comm=ghost child_pid=30000'),
      fault(30000, T0 + 5, '0x7f0000002000'),
    ],
  },
  {
    name: 'mixed ftrace and perf lines in one file',
    lines: () => [...HEADER, ...REAL.slice(0, 50), ...PERF.slice(0, 30), ...REAL.slice(50)],
    problemLines: [H + 51],
  },
  {
    name: 'perf file with ftrace lines in it',
    lines: () => [...PERF.slice(0, 200), ...REAL.slice(0, 20), ...PERF.slice(200, 400)],
  },
  {name: 'header only', lines: () => [...HEADER]},
  {
    name: 'no trailing newline, cut mid-line',
    lines: () => Buffer.from([...HEADER, ...REAL].join('\n').slice(0, -17), 'latin1'),
  },
]

for (const c of CASES) {
  test(`hostile (library): ${c.name}`, c.todo === undefined ? {} : {todo: c.todo}, async () => {
    const lines = c.lines()
    const o = await ingest(
      write(c.raw === undefined ? lines : c.raw(Buffer.from(lines.join('\n') + '\n', 'latin1')), 'case'),
    )
    checkProblemsInRange(o)
    if (o.status === 'ingested') {
      const lines = problems(o.traceId).map((p) => p.line)
      for (const l of c.problemLines ?? [])
        assert.ok(lines.includes(l), `line ${l} not in parse_problems (${lines.join(',')})`)
      c.check?.(o.traceId)
      replays(o.traceId)
    }
    assert.equal(integrity(dbPath), 'ok')
    bystanderUntouched()
  })
}

test('hostile (CLI): an empty or binary file is refused with exit 2 and a message, no stack trace', () => {
  const cdb = join(dir, 'cli-refused.db')
  for (const f of [
    write(Buffer.alloc(0), 'empty'),
    write(Buffer.from(Array.from({length: 3000}, (_, i) => (i * 7919 + 13) % 256)), 'binary'),
  ]) {
    const r = cli('ingest', f, '--db', cdb)
    assertHandled(r, `ingest ${f}`, [2])
    assert.match(r.err, /empty|cannot tell the trace format/)
  }
})

test('hostile (CLI): all hostile traces in one ingest command exit 0 with counts, replay completes, the other trace is untouched', () => {
  const cdb = join(dir, 'cli.db')
  assert.equal(cli('ingest', XZ_SMALL, '--db', cdb).code, 0)
  const before = fingerprint(cdb, 1)
  const cases = CASES.filter((c) => c.todo === undefined)
  const r = cli('ingest', ...cases.map((c) => write(c.lines(), 'cli')), '--db', cdb, '--json')
  assertHandled(r, 'ingest of every hostile case', [0])
  const results = JSON.parse(r.out) as {status: string; traceId: number; malformedLines: number}[]
  assert.equal(results.length, cases.length)
  for (const x of results) assert.equal(x.status, 'ingested')
  const malformed = results.filter((x) => x.malformedLines > 0)
  assert.ok(malformed.length >= 3, 'hostile traces report malformed lines')
  // replay through the CLI: the most malformed trace and the two that stress the model (unknown pids, unknown munmaps)
  const ids = new Set([
    malformed.sort((a, b) => b.malformedLines - a.malformedLines)[0]!.traceId,
    ...['events for pids never seen created', 'munmap of unknown ranges (and of the whole address space)'].map(
      (n) => results[cases.findIndex((c) => c.name === n)]!.traceId,
    ),
  ])
  for (const id of ids)
    assertHandled(
      cli('replay', '--db', cdb, '--trace', String(id), '--policy', 'mmap-lock,v6.18'),
      `replay of trace ${id}`,
      [0],
    )
  const bad = cli(
    'query',
    '--db',
    cdb,
    '--json',
    'SELECT trace_id, line, reason FROM parse_problems WHERE trace_id > 1 ORDER BY trace_id, line LIMIT 5',
  )
  assert.equal(bad.code, 0, bad.err)
  for (const p of JSON.parse(bad.out) as {line: number}[]) assert.ok(Number(p.line) >= 1)
  assert.equal(integrity(cdb), 'ok')
  assert.deepEqual(fingerprint(cdb, 1), before)
})

test('a hostile trace never changes the database file of an earlier trace: raw SQLite check', () => {
  const raw = new Database(dbPath, {readonly: true})
  try {
    assert.equal(raw.prepare('SELECT count(*) FROM traces WHERE trace_id = 1 AND format = ?').pluck().get('perf'), 1)
  } finally {
    raw.close()
  }
})
