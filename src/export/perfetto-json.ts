// The Chrome JSON trace event format (legacy, accepted by ui.perfetto.dev and chrome://tracing): `M` track
// names, `X` slices, `s`/`f` flows bound to the enclosing slice, `C` counters, `otherData` for the export's facts.
// Times are µs with the ns as a three-digit fraction.
import type {Sink} from './sink.js'
import type {FlowPoint, Slice, TraceOut} from './trace-out.js'

/** ns → JSON µs with the ns as a 3-digit fraction, exact for any non-negative integer. */
export function usTs(ns: number): string {
  const n = Math.max(0, Math.round(ns))
  const frac = n % 1000
  return frac === 0 ? String((n - frac) / 1000) : `${(n - frac) / 1000}.${String(frac).padStart(3, '0')}`
}

export class JsonTraceOut implements TraceOut {
  private first = true

  constructor(private readonly sink: Sink) {
    sink.push('{"displayTimeUnit":"ns","traceEvents":[\n')
  }

  /** Writes one event (a JSON object's text); awaits only when the sink's buffer is full. */
  private async emit(event: string): Promise<void> {
    const s = (this.first ? '' : ',\n') + event
    this.first = false
    if (this.sink.push(s)) await this.sink.flush()
  }

  process(pid: number, name: string): Promise<void> {
    return this.emit(JSON.stringify({name: 'process_name', ph: 'M', pid, tid: pid, args: {name}}))
  }

  thread(pid: number, tid: number, name: string): Promise<void> {
    return this.emit(JSON.stringify({name: 'thread_name', ph: 'M', pid, tid, args: {name}}))
  }

  slice({pid, tid, name, cat, start, end, args}: Slice): Promise<void> {
    return this.emit(
      `{"name":${JSON.stringify(name)},"cat":"${cat}","ph":"X","ts":${usTs(start)},"dur":${usTs(end - start)},"pid":${pid},"tid":${tid},"args":${JSON.stringify(args)}}`,
    )
  }

  async flow(id: number, from: FlowPoint, to: FlowPoint): Promise<void> {
    await this.emit(
      `{"name":"blocked by","cat":"lock","ph":"s","id":${id},"ts":${usTs(from.ts)},"pid":${from.pid},"tid":${from.tid}}`,
    )
    await this.emit(
      `{"name":"blocked by","cat":"lock","ph":"f","bp":"e","id":${id},"ts":${usTs(to.ts)},"pid":${to.pid},"tid":${to.tid}}`,
    )
  }

  counter(pid: number, ts: number, name: string, values: Record<string, number>): Promise<void> {
    return this.emit(
      `{"name":${JSON.stringify(name)},"ph":"C","ts":${usTs(ts)},"pid":${pid},"tid":${pid},"args":${JSON.stringify(values)}}`,
    )
  }

  async finish(meta: Record<string, unknown>): Promise<void> {
    this.sink.push(`\n],"otherData":${JSON.stringify(meta)}}\n`)
    await this.sink.flush()
  }
}
