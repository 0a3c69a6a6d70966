// The protobuf TrackEvent export, decoded with a wire-format reader written here (not protobufjs, not the
// vendored protos): field numbers as Perfetto's trace.proto, trace_packet.proto, track_event.proto and
// track_descriptor.proto define them. It must carry the same tracks, slices, flows and counters as the JSON export
// of the same run, with every track's BEGIN/END events nesting once sorted by time (file order for equal times).
import {test, before, after} from 'node:test'
import assert from 'node:assert/strict'
import {Writable} from 'node:stream'
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {smallDb, SHARED_REAL, type Fixture} from '../report/fixture.js'
import {Sink} from '../../src/export/sink.js'
import {exportPerfetto} from '../../src/export/perfetto.js'
import {perfettoTypes} from '../../src/export/perfetto-proto.js'
import {checkTrace} from './validate-trace.js'

class Collect extends Writable {
  chunks: Buffer[] = []
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(Buffer.from(chunk))
    cb()
  }
}

async function exported(
  fx: Fixture,
  runId: number,
  encoding: 'proto' | 'json',
  faults: 'all' | 'slow',
  toNs?: number,
): Promise<Buffer> {
  const out = new Collect()
  const sink = new Sink(out)
  await exportPerfetto(fx.db, sink, {runId, faults, bucketNs: 1_000_000, encoding, toNs})
  await sink.flush()
  return Buffer.concat(out.chunks)
}

/** Protobuf wire format: field number → values (varint and fixed64 as bigint, length-delimited as bytes). */
type Fields = Map<number, (bigint | Buffer)[]>
function fields(b: Buffer): Fields {
  const out: Fields = new Map()
  let p = 0
  const varint = (): bigint => {
    let v = 0n
    let shift = 0n
    for (;;) {
      const c = b[p++]!
      v |= BigInt(c & 0x7f) << shift
      if ((c & 0x80) === 0) return v
      shift += 7n
    }
  }
  while (p < b.length) {
    const key = Number(varint())
    const no = key >>> 3
    let v: bigint | Buffer
    switch (key & 7) {
      case 0:
        v = varint()
        break
      case 1:
        v = b.readBigUInt64LE(p)
        p += 8
        break
      case 2: {
        const n = Number(varint())
        v = b.subarray(p, p + n)
        p += n
        break
      }
      case 5:
        v = BigInt(b.readUInt32LE(p))
        p += 4
        break
      default:
        throw new Error(`wire type ${key & 7} at ${p}`)
    }
    if (!out.has(no)) out.set(no, [])
    out.get(no)!.push(v)
  }
  assert.equal(p, b.length, 'a message ends exactly at its length')
  return out
}
const num = (f: Fields, no: number): number | undefined =>
  f.get(no)?.[0] === undefined ? undefined : Number(f.get(no)![0] as bigint)
const str = (f: Fields, no: number): string | undefined => (f.get(no)?.[0] as Buffer | undefined)?.toString('utf8')
const sub = (f: Fields, no: number): Fields | undefined =>
  f.get(no)?.[0] === undefined ? undefined : fields(f.get(no)![0] as Buffer)

// field numbers (Perfetto protos)
const TRACE_PACKET = 1 // Trace.packet
const PKT = {timestamp: 8, seq: 10, trackEvent: 11, trackDescriptor: 60}
const TD = {uuid: 1, name: 2, process: 3, thread: 4, parent: 5, counter: 8}
const PD = {pid: 1, name: 6}
const THD = {pid: 1, tid: 2, name: 5}
const TE = {
  debug: 4,
  type: 9,
  track: 11,
  categories: 22,
  name: 23,
  doubleCounter: 44,
  flowIds: 47,
  terminatingFlowIds: 48,
}
const DA = {name: 10, int: 4, double: 5, string: 6}
const [BEGIN, END, INSTANT, COUNTER] = [1, 2, 3, 4]
/** A fixed64 field's bits as the double they encode. */
const f64 = (bits: bigint): number => new Float64Array(new BigUint64Array([bits]).buffer)[0]!

interface Ev {
  ts: number
  order: number
  track: number
  type: number
  name?: string
  cat?: string
  args: Map<string, unknown>
  flows: number[]
  ends: number[]
  counter?: number
}

let fx: Fixture
before(async () => {
  fx = await smallDb(['mmap-lock'])
})
after(() => fx.db.close())

test('protobuf export: same tracks, nested slices, flows and counters as the JSON export of the run', async () => {
  await sameAsJson(fx, fx.runIds['mmap-lock']!, 'all')
})

const nodeAttach = join(SHARED_REAL, 'node_attach.trace.txt.xz')
test(
  'protobuf export of a shared corpus trace (node_attach: slow faults of its first 300 ms) decodes to the JSON export',
  {skip: existsSync(nodeAttach) ? false : `${nodeAttach} not present`},
  async () => {
    const na = await smallDb(['mmap-lock'], nodeAttach)
    try {
      await sameAsJson(na, na.runIds['mmap-lock']!, 'slow', 300e6)
    } finally {
      na.db.close()
    }
  },
)

async function sameAsJson(fx: Fixture, runId: number, faults: 'all' | 'slow', toNs?: number): Promise<void> {
  const json = checkTrace((await exported(fx, runId, 'json', faults, toNs)).toString('utf8'))
  const bin = await exported(fx, runId, 'proto', faults, toNs)
  const trace = fields(bin)
  assert.deepEqual([...trace.keys()], [TRACE_PACKET], 'a Trace holds only packets')
  const tracks = new Map<number, {name?: string; pid?: number; tid?: number; parent?: number; counter: boolean}>()
  const evs: Ev[] = []
  trace.get(TRACE_PACKET)!.forEach((raw, order) => {
    const p = fields(raw as Buffer)
    assert.equal(num(p, PKT.seq), 1, 'every packet is on one sequence')
    const td = sub(p, PKT.trackDescriptor)
    if (td !== undefined) {
      const proc = sub(td, TD.process)
      const thr = sub(td, TD.thread)
      tracks.set(num(td, TD.uuid)!, {
        name:
          str(td, TD.name) ??
          (proc !== undefined ? str(proc, PD.name) : thr !== undefined ? str(thr, THD.name) : undefined),
        pid: proc !== undefined ? num(proc, PD.pid) : thr !== undefined ? num(thr, THD.pid) : undefined,
        tid: thr !== undefined ? num(thr, THD.tid) : undefined,
        parent: num(td, TD.parent),
        counter: td.has(TD.counter),
      })
      return
    }
    const te = sub(p, PKT.trackEvent)!
    const args = new Map<string, unknown>()
    for (const d of (te.get(TE.debug) ?? []) as Buffer[]) {
      const a = fields(d)
      args.set(
        str(a, DA.name)!,
        a.has(DA.int)
          ? Number(BigInt.asIntN(64, a.get(DA.int)![0] as bigint))
          : a.has(DA.string)
            ? str(a, DA.string)
            : a.has(DA.double)
              ? f64(a.get(DA.double)![0] as bigint)
              : undefined,
      )
    }
    const dc = te.get(TE.doubleCounter)?.[0] as bigint | undefined
    evs.push({
      ts: num(p, PKT.timestamp)!,
      order,
      track: num(te, TE.track)!,
      type: num(te, TE.type)!,
      name: str(te, TE.name),
      cat: str(te, TE.categories),
      args,
      flows: ((te.get(TE.flowIds) ?? []) as bigint[]).map(Number),
      ends: ((te.get(TE.terminatingFlowIds) ?? []) as bigint[]).map(Number),
      counter: dc === undefined ? undefined : f64(dc),
    })
  })

  // tracks: a process per thread group, a thread per tid inside it, named as the JSON names them
  const jsonNames = json.events
    .filter((e) => e.ph === 'M')
    .map((e) => `${e.name}:${e.pid}:${e.tid}:${e.args!.name}`)
    .sort()
  const protoNames = [...tracks.values()]
    .filter((t) => !t.counter && t.pid !== undefined)
    .map((t) =>
      t.tid === undefined ? `process_name:${t.pid}:${t.pid}:${t.name}` : `thread_name:${t.pid}:${t.tid}:${t.name}`,
    )
    .sort()
  assert.deepEqual(protoNames, jsonNames)
  for (const t of tracks.values())
    if (t.tid !== undefined) assert.equal(tracks.get(t.parent!)?.pid, t.pid, 'a thread track sits in its process')

  // slices: per track, sorted by time (stable), BEGIN/END nest; the same slices as the JSON, in ns
  const byTrack = new Map<number, Ev[]>()
  for (const e of evs) (byTrack.get(e.track) ?? byTrack.set(e.track, []).get(e.track)!).push(e)
  const slices: string[] = []
  const openAt = new Map<number, {ts: number; cats: string[]}[]>() // per track: instants with the slices open around them
  for (const [track, list] of byTrack) {
    list.sort((a, b) => a.ts - b.ts || a.order - b.order)
    const stack: Ev[] = []
    for (const e of list) {
      if (e.type === BEGIN) stack.push(e)
      else if (e.type === END) {
        const b = stack.pop()
        assert.ok(b !== undefined, `END without BEGIN on track ${track} at ${e.ts}`)
        slices.push(`${tracks.get(track)!.tid}:${b.cat}:${b.name}:${b.ts}:${e.ts - b.ts}`)
      } else if (e.type === INSTANT)
        (openAt.get(track) ?? openAt.set(track, []).get(track)!).push({ts: e.ts, cats: stack.map((s) => s.cat!)})
    }
    assert.equal(stack.length, 0, `every slice on track ${track} ends`)
  }
  const ns = (us: number): number => Math.round(us * 1000)
  const jsonSlices = json.slices.map(
    (s) => `${s.tid}:${s.cat}:${s.name}:${ns(s.ts!)}:${ns(s.ts! + s.dur!) - ns(s.ts!)}`,
  )
  assert.deepEqual(slices.sort(), jsonSlices.sort())
  assert.ok(
    slices.some((s) => s.includes(':wait:')) && slices.some((s) => s.includes(':hold:')),
    'the run has waits and holds',
  )

  // a fault slice's annotations are its JSON args
  const jf = json.slices.find((s) => s.cat === 'fault' && (s.args!.wait_ns as number) > 0)!
  const pf = evs.find((e) => e.type === BEGIN && e.args.get('event_id') === jf.args!.event_id)!
  for (const k of ['address', 'error_code', 'path', 'reason', 'wait_ns', 'latency_ns', 'event_id', 'trace_line'])
    assert.equal(pf.args.get(k), jf.args![k], k)

  // flows: one source and one terminating instant per id, at the JSON arrow's two points, inside a slice
  const src = new Map(evs.filter((e) => e.flows.length > 0).map((e) => [e.flows[0]!, e]))
  const dst = new Map(evs.filter((e) => e.ends.length > 0).map((e) => [e.ends[0]!, e]))
  assert.equal(src.size, json.flows)
  assert.equal(dst.size, json.flows)
  assert.ok(json.flows > 0)
  const jsonFlow = new Map<number, {s?: number; f?: number}>()
  for (const e of json.events)
    if (e.ph === 's' || e.ph === 'f') jsonFlow.set(e.id!, {...jsonFlow.get(e.id!), [e.ph]: ns(e.ts!)})
  for (const [id, s] of src) {
    const d = dst.get(id)!
    assert.deepEqual([s.ts, d.ts], [jsonFlow.get(id)!.s, jsonFlow.get(id)!.f])
    assert.ok(s.ts < d.ts, 'never backwards')
    const around = (e: Ev) => openAt.get(e.track)!.find((x) => x.ts === e.ts)!.cats
    assert.ok(around(s).length > 0, 'the source lies in a slice')
    assert.equal(around(d).at(-1), 'wait', 'the arrow ends in the wait it caused')
  }

  // counters: one track per series, as the JSON counter args
  const jsonSeries = new Set(json.counters.flatMap((c) => Object.keys(c.args!).map((k) => `${c.pid}:${c.name} ${k}`)))
  const counterTracks = [...tracks.entries()].filter(([, t]) => t.counter)
  assert.deepEqual(new Set(counterTracks.map(([, t]) => `${tracks.get(t.parent!)!.pid}:${t.name}`)), jsonSeries)
  const samples = evs.filter((e) => e.type === COUNTER)
  assert.equal(
    samples.length,
    json.counters.reduce((n, c) => n + Object.keys(c.args!).length, 0),
  )
  const jc = json.counters.find((c) => c.name === 'mmap_lock' && (c.args!['waiting readers'] as number) > 0)!
  const uuid = counterTracks.find(
    ([, t]) => t.name === 'mmap_lock waiting readers' && tracks.get(t.parent!)!.pid === jc.pid,
  )![0]
  assert.equal(samples.find((e) => e.track === uuid && e.ts === ns(jc.ts!))!.counter, jc.args!['waiting readers'])

  // protobufjs with the vendored protos reads it too
  const {root} = perfettoTypes()
  const decoded = root.lookupType('perfetto.protos.Trace').decode(bin) as unknown as {packet: unknown[]}
  assert.equal(decoded.packet.length, trace.get(TRACE_PACKET)!.length)
}
