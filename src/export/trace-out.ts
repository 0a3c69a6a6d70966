// What the Perfetto export writes, independent of the encoding: tracks, slices, flows and counters, in the order
// the layout (perfetto.ts) decides. Times are ns of replay time; perfetto-json.ts and perfetto-proto.ts encode them.

/** A slice [start, end] on a thread's track, in a process (pid). */
export interface Slice {
  pid: number
  tid: number
  name: string
  cat: string
  start: number
  end: number
  args: Record<string, unknown>
}

/** One end of a flow arrow: a point on a thread's track, inside the slice it binds to. */
export interface FlowPoint {
  pid: number
  tid: number
  ts: number
}

export interface TraceOut {
  /** A process track (one per thread group). */
  process(pid: number, name: string): Promise<void>
  /** A thread track inside its process. */
  thread(pid: number, tid: number, name: string): Promise<void>
  /** A slice [start, end] on a thread; slices of a thread come in start order, nested or disjoint. */
  slice(s: Slice): Promise<void>
  /** An arrow from one thread's slice at `from.ts` to another's at `to.ts` (to.ts > from.ts). */
  flow(id: number, from: FlowPoint, to: FlowPoint): Promise<void>
  /** Values of the counter series `name <key>` of a process from `ts` on. */
  counter(pid: number, ts: number, name: string, values: Record<string, number>): Promise<void>
  /** Ends the trace; `meta` describes the export (run, policy, stats). */
  finish(meta: Record<string, unknown>): Promise<void>
}
