// fault_pages encoding: whatever faults go in, the reader gives back exactly the fault ops the SQL scan of the events
// table would (times relative to the first event, tgid coalesced, addresses as better-sqlite3 reads the stored
// INTEGER, past 2^53 and in the kernel half too); and the encoder refuses what it cannot hold exactly.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import Database from 'better-sqlite3'
import fc from 'fast-check'
import {Kind, type TraceEvent, type U64} from '../../src/model/events.js'
import {FaultPageEncoder, FaultPageReader, PAGE_FAULTS} from '../../src/store/fault-pages.js'
import {toSql} from '../../src/ingest/track.js'

const SEED = 20261125

interface Fault {
  id: number
  ts: bigint
  tid: number
  tgid: number | null
  kernel: boolean
  a: bigint | null
  c: number | null
}

/** As the parser gives values: a number below 2^53, else a bigint. */
const u64 = (v: bigint): U64 => (v < 2n ** 53n ? Number(v) : v)

const event = (f: Fault): TraceEvent => ({
  kind: f.kernel ? Kind.FaultKernel : Kind.FaultUser,
  line: 1,
  ts: u64(f.ts),
  tid: f.tid,
  tgid: f.tgid,
  cpu: 0,
  comm: 'x',
  a: f.a === null ? null : u64(f.a),
  b: null,
  c: f.c,
  d: null,
  e: null,
  f: null,
  text: null,
})

type Decoded = {
  eventId: number
  t: number
  tid: number
  tgid: number
  address: number
  errorCode: number
  kernel: boolean
}

function encode(faults: Fault[], first: bigint): {pages: [number, number, Uint8Array][]; count: number | null} {
  const pages: [number, number, Uint8Array][] = []
  const enc = new FaultPageEncoder((no, n, data) => pages.push([no, n, data]))
  for (const f of faults) enc.fault(f.id, event(f), u64(first))
  return {count: enc.end(), pages}
}

function decode(pages: [number, number, Uint8Array][]): Decoded[] {
  const out: Decoded[] = []
  const r = new FaultPageReader()
  for (const [, n, data] of pages) {
    r.load(data, n)
    while (r.next())
      out.push({
        eventId: r.eventId,
        t: r.t,
        tid: r.tid,
        tgid: r.tgid,
        address: r.address,
        errorCode: r.errorCode,
        kernel: r.kernel,
      })
  }
  return out
}

/** What readOps' SQL scan makes of the same faults: the events row stored, then read back by better-sqlite3 (the
 * first timestamp bound as a BigInt, as traceInfo reads it, so SQLite subtracts in 64-bit integers). */
function viaSql(faults: Fault[], first: bigint): Decoded[] {
  const db = new Database(':memory:')
  db.exec(
    'CREATE TABLE e (id INTEGER PRIMARY KEY, ts INTEGER, tid INTEGER, tgid INTEGER, kind INTEGER, a INTEGER, c INTEGER)',
  )
  const ins = db.prepare('INSERT INTO e VALUES (?,?,?,?,?,?,?)')
  for (const f of faults) {
    const e = event(f)
    ins.run(f.id, toSql(e.ts), e.tid, e.tgid, e.kind, toSql(e.a), toSql(e.c))
  }
  const rows = db
    .prepare('SELECT id, ts - ?, tid, coalesce(tgid, tid), a, c, kind FROM e ORDER BY id')
    .raw(true)
    .all(first) as [number, number, number, number, number | null, number | null, Kind][]
  db.close()
  return rows.map(([eventId, t, tid, tgid, a, c, kind]) => ({
    eventId,
    t,
    tid,
    tgid,
    address: a ?? -1,
    errorCode: c ?? 0,
    kernel: kind === Kind.FaultKernel,
  }))
}

const TWO64 = 2n ** 64n
const arbAddress = fc.oneof(
  fc.constant(null),
  fc.bigInt({min: 0n, max: 2n ** 47n}), // user space
  fc.bigInt({min: 0n, max: TWO64 - 1n}), // anything 64-bit, a double rounds most of it
  fc.bigInt({min: TWO64 - 2n ** 47n, max: TWO64 - 1n}), // the kernel half: negative as SQLite stores it
  fc.constantFrom(0n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 63n, TWO64 - 1n),
)
const arbFaults = fc
  .record({
    firstTs: fc.oneof(fc.bigInt({min: 0n, max: 2n ** 40n}), fc.bigInt({min: 2n ** 53n - 2n ** 20n, max: 2n ** 62n})),
    threads: fc.array(
      fc.record({tid: fc.integer({min: 0, max: 2 ** 31 - 1}), tgid: fc.option(fc.integer({min: 0, max: 2 ** 31 - 1}))}),
      {minLength: 1, maxLength: 90},
    ),
    steps: fc.array(
      fc.record({
        idGap: fc.oneof(fc.integer({min: 1, max: 3}), fc.integer({min: 1, max: 2 ** 40})),
        tsGap: fc.oneof(fc.bigInt({min: 0n, max: 1000n}), fc.bigInt({min: 0n, max: 2n ** 40n})),
        thread: fc.nat(),
        kernel: fc.boolean(),
        a: arbAddress,
        c: fc.option(fc.integer({min: 0, max: 0xffff})),
      }),
      {maxLength: 300},
    ),
  })
  .map(({firstTs, threads, steps}) => {
    let id = 0
    let ts = firstTs
    const faults = steps.map((s): Fault => {
      id += s.idGap
      ts += s.tsGap
      const th = threads[s.thread % threads.length]!
      return {id, ts, tid: th.tid, tgid: th.tgid, kernel: s.kernel, a: s.a, c: s.c}
    })
    return {first: firstTs, faults}
  })

test('decode(encode(faults)) is what the SQL scan reads, for random faults with 64-bit times and addresses', () => {
  fc.assert(
    fc.property(arbFaults, ({first, faults}) => {
      const {pages, count} = encode(faults, first)
      assert.equal(count, pages.length)
      assert.deepEqual(decode(pages), viaSql(faults, first))
    }),
    {seed: SEED, numRuns: 300},
  )
})

test('pages hold PAGE_FAULTS faults each and decode on their own', () => {
  const faults: Fault[] = Array.from({length: 2 * PAGE_FAULTS + 5}, (_, i) => ({
    id: 10 + 2 * i,
    ts: 5n + BigInt(i) * 1000n,
    tid: 100 + (i % 70),
    tgid: i % 3 === 0 ? null : 100,
    kernel: i % 11 === 0,
    a: i % 13 === 0 ? TWO64 - 4096n * BigInt(i) : 0x7f0000000000n + BigInt((i * 7919) % 100_000) * 4096n,
    c: i % 5,
  }))
  const {pages, count} = encode(faults, 5n)
  assert.equal(count, 3)
  assert.deepEqual(
    pages.map(([no, n]) => [no, n]),
    [
      [0, PAGE_FAULTS],
      [1, PAGE_FAULTS],
      [2, 5],
    ],
  )
  const want = viaSql(faults, 5n)
  assert.deepEqual(decode(pages.slice(1, 2)), want.slice(PAGE_FAULTS, 2 * PAGE_FAULTS))
  assert.deepEqual(decode(pages), want)
})

test('the encoder gives up on what it cannot hold exactly', () => {
  const ok: Fault = {id: 1, ts: 100n, tid: 1, tgid: 1, kernel: false, a: 4096n, c: 6}
  assert.equal(encode([ok], 100n).count, 1)
  assert.equal(encode([], 100n).count, 0)
  const cases: [string, Fault[], bigint][] = [
    ['a fault earlier than the one before', [ok, {...ok, id: 2, ts: 99n}], 100n],
    ['a fault earlier than the first event', [ok], 101n],
    ['a time 2^53 ns after the first event', [{...ok, ts: 2n ** 53n + 100n}], 100n],
    ['a timestamp past 2^63 (SQLite stores it negative)', [{...ok, ts: 2n ** 63n + 1n}], 2n ** 63n - 1n],
  ]
  for (const [what, faults, first] of cases) assert.equal(encode(faults, first).count, null, what)
  const enc = new FaultPageEncoder(() => assert.fail('no page'))
  enc.fault(1, {...event(ok), c: 2n ** 60n}, 100)
  assert.equal(enc.end(), null, 'a bigint error code')
})
