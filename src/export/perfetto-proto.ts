// Perfetto's protobuf trace format, TrackEvent (what its docs recommend for tools; the JSON import is legacy):
// a TrackDescriptor per process, thread and counter series, then TracePackets with TrackEvents. Slices are
// SLICE_BEGIN/SLICE_END pairs; an END is held back until the thread's next slice starts at or after it (or the
// trace ends), so each track's events come properly nested even where a parent and a child share a timestamp.
// A flow is a pair of INSTANT events carrying flow_ids / terminating_flow_ids at the two points the JSON format
// binds its arrow to. Encoded with protobufjs from Perfetto's vendored .proto files (vendor/perfetto).
import {fileURLToPath} from 'node:url'
import protobuf from 'protobufjs'
import type {Sink} from './sink.js'
import type {FlowPoint, Slice, TraceOut} from './trace-out.js'

const VENDOR = fileURLToPath(new URL('../../../vendor/perfetto/', import.meta.url))

let types: {packet: protobuf.Type} | null = null

/** Perfetto's TracePacket type, loaded once from the vendored protos (their imports are repository paths). */
export function perfettoTypes(): {packet: protobuf.Type; root: protobuf.Root} {
  const root = new protobuf.Root()
  root.resolvePath = (origin, target) =>
    target.startsWith('protos/') ? VENDOR + target : protobuf.util.path.resolve(origin, target)
  root.loadSync(VENDOR + 'protos/perfetto/trace/trace_subset.proto')
  return {packet: root.lookupType('perfetto.protos.TracePacket'), root}
}

const SEQUENCE = 1
const TYPE_SLICE_BEGIN = 1
const TYPE_SLICE_END = 2
const TYPE_INSTANT = 3
const TYPE_COUNTER = 4
/** Track uuids: 1 the export's own track, then processes, threads and counters in their own ranges. */
const RUN_TRACK = 1
const processUuid = (pid: number): number => 2 ** 32 + pid
const threadUuid = (tid: number): number => 2 * 2 ** 32 + tid
const COUNTER_BASE = 3 * 2 ** 32

/** A debug annotation per argument (null ones left out): integers, other numbers, booleans; the rest as text. */
function annotations(args: Record<string, unknown>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  for (const [name, v] of Object.entries(args)) {
    if (v === null || v === undefined) continue
    if (typeof v === 'number') out.push(Number.isInteger(v) ? {name, intValue: v} : {name, doubleValue: v})
    else if (typeof v === 'boolean') out.push({name, boolValue: v})
    else out.push({name, stringValue: String(v)})
  }
  return out
}

export class ProtoTraceOut implements TraceOut {
  private readonly packet: protobuf.Type
  private readonly open = new Map<number, {uuid: number; end: number}[]>() // per thread: slices not yet ended
  private readonly counters = new Map<string, number>()

  constructor(private readonly sink: Sink) {
    types ??= perfettoTypes()
    this.packet = types.packet
  }

  /** One TracePacket as field 1 of the Trace message: a file is their concatenation. */
  private async write(p: Record<string, unknown>): Promise<void> {
    const body = this.packet.encode(this.packet.create({trustedPacketSequenceId: SEQUENCE, ...p})).finish()
    const framed = protobuf.Writer.create().uint32(0x0a).bytes(body).finish()
    if (this.sink.push(framed)) await this.sink.flush()
  }

  private event(ts: number, e: Record<string, unknown>): Promise<void> {
    return this.write({timestamp: ts, trackEvent: e})
  }

  process(pid: number, name: string): Promise<void> {
    return this.write({trackDescriptor: {uuid: processUuid(pid), process: {pid, processName: name}}})
  }

  thread(pid: number, tid: number, name: string): Promise<void> {
    return this.write({
      trackDescriptor: {uuid: threadUuid(tid), parentUuid: processUuid(pid), thread: {pid, tid, threadName: name}},
    })
  }

  /** Ends the thread's open slices that end by `until` (innermost first). */
  private async close(tid: number, until: number): Promise<void> {
    const stack = this.open.get(tid)
    while (stack !== undefined && stack.length > 0 && stack[stack.length - 1]!.end <= until) {
      const s = stack.pop()!
      await this.event(s.end, {type: TYPE_SLICE_END, trackUuid: s.uuid})
    }
  }

  async slice({tid, name, cat, start, end, args}: Slice): Promise<void> {
    await this.close(tid, start)
    const uuid = threadUuid(tid)
    await this.event(start, {
      type: TYPE_SLICE_BEGIN,
      trackUuid: uuid,
      name,
      categories: [cat],
      debugAnnotations: annotations(args),
    })
    let stack = this.open.get(tid)
    if (stack === undefined) this.open.set(tid, (stack = []))
    stack.push({uuid, end})
  }

  async flow(id: number, from: FlowPoint, to: FlowPoint): Promise<void> {
    await this.event(from.ts, {
      type: TYPE_INSTANT,
      trackUuid: threadUuid(from.tid),
      name: 'blocked by',
      categories: ['lock'],
      flowIds: [id],
    })
    await this.event(to.ts, {
      type: TYPE_INSTANT,
      trackUuid: threadUuid(to.tid),
      name: 'blocked by',
      categories: ['lock'],
      terminatingFlowIds: [id],
    })
  }

  async counter(pid: number, ts: number, name: string, values: Record<string, number>): Promise<void> {
    for (const [key, v] of Object.entries(values)) {
      const series = `${pid}\u0000${name} ${key}`
      let uuid = this.counters.get(series)
      if (uuid === undefined) {
        uuid = COUNTER_BASE + this.counters.size
        this.counters.set(series, uuid)
        await this.write({trackDescriptor: {uuid, parentUuid: processUuid(pid), name: `${name} ${key}`, counter: {}}})
      }
      await this.event(ts, {type: TYPE_COUNTER, trackUuid: uuid, doubleCounterValue: v})
    }
  }

  async finish(meta: Record<string, unknown>): Promise<void> {
    for (const tid of [...this.open.keys()].sort((a, b) => a - b)) await this.close(tid, Infinity)
    // the export's facts, as an instant on a track of its own
    await this.write({trackDescriptor: {uuid: RUN_TRACK, name: 'vmareplay export'}})
    await this.event(0, {
      type: TYPE_INSTANT,
      trackUuid: RUN_TRACK,
      name: 'vmareplay',
      categories: ['meta'],
      debugAnnotations: annotations(meta),
    })
    await this.sink.flush()
  }
}
