// A checker for the Chrome JSON trace event format as Perfetto's importer reads it: required fields per phase,
// slices properly nested per thread track, flow starts and ends paired and inside slices, counters in time order.
import assert from 'node:assert/strict'

export interface TraceEvent {
  name?: string
  cat?: string
  ph: string
  ts?: number
  dur?: number
  pid?: number
  tid?: number
  id?: number
  bp?: string
  args?: Record<string, unknown>
}

export interface Checked {
  events: TraceEvent[]
  slices: TraceEvent[]
  flows: number
  counters: TraceEvent[]
}

const EPS = 1e-6 // µs: timestamps carry ns as three decimals

export function checkTrace(text: string): Checked {
  const doc = JSON.parse(text) as {traceEvents: TraceEvent[]; displayTimeUnit?: string}
  assert.ok(Array.isArray(doc.traceEvents), 'traceEvents array')
  const events = doc.traceEvents
  const named = {process: new Set<number>(), thread: new Set<string>()}
  const slices: TraceEvent[] = []
  const counters: TraceEvent[] = []
  const starts = new Map<number, TraceEvent>()
  const ends = new Map<number, TraceEvent>()
  for (const e of events) {
    assert.equal(typeof e.ph, 'string')
    switch (e.ph) {
      case 'M':
        assert.ok(e.name === 'process_name' || e.name === 'thread_name', `metadata ${e.name}`)
        assert.equal(typeof e.pid, 'number')
        assert.equal(typeof (e.args as {name?: unknown}).name, 'string')
        if (e.name === 'process_name') named.process.add(e.pid!)
        else named.thread.add(`${e.pid}:${e.tid}`)
        break
      case 'X':
        for (const k of ['name', 'ts', 'dur', 'pid', 'tid'] as const) assert.ok(e[k] !== undefined, `X without ${k}: ${JSON.stringify(e)}`)
        assert.ok(e.ts! >= 0 && e.dur! >= 0, JSON.stringify(e))
        slices.push(e)
        break
      case 'C':
        assert.ok(typeof e.name === 'string' && typeof e.ts === 'number' && typeof e.pid === 'number', JSON.stringify(e))
        assert.ok(e.args !== undefined && Object.keys(e.args).length > 0)
        for (const v of Object.values(e.args)) assert.equal(typeof v, 'number')
        counters.push(e)
        break
      case 's':
      case 'f':
        for (const k of ['name', 'cat', 'id', 'ts', 'pid', 'tid'] as const) assert.ok(e[k] !== undefined, `${e.ph} without ${k}`)
        if (e.ph === 'f') assert.equal(e.bp, 'e', 'flow ends bind to the enclosing slice')
        assert.ok(!(e.ph === 's' ? starts : ends).has(e.id!), `flow id ${e.id} twice`)
        ;(e.ph === 's' ? starts : ends).set(e.id!, e)
        break
      default:
        assert.fail(`unexpected phase ${e.ph}`)
    }
  }
  // every track is named
  for (const s of [...slices, ...counters]) assert.ok(named.process.has(s.pid!), `pid ${s.pid} has no process_name`)
  for (const s of slices) assert.ok(named.thread.has(`${s.pid}:${s.tid}`), `tid ${s.tid} has no thread_name`)
  // per thread: slices in time order, properly nested (a child ends within its parent)
  const byTrack = new Map<string, TraceEvent[]>()
  for (const s of slices) {
    const k = `${s.pid}:${s.tid}`
    if (!byTrack.has(k)) byTrack.set(k, [])
    byTrack.get(k)!.push(s)
  }
  for (const [k, list] of byTrack) {
    const stack: number[] = []
    let prevTs = -Infinity
    for (const s of list) {
      assert.ok(s.ts! >= prevTs - EPS, `track ${k}: slice at ${s.ts} after ${prevTs}`)
      prevTs = s.ts!
      while (stack.length > 0 && stack.at(-1)! <= s.ts! + EPS) stack.pop() // parents that ended before this slice
      const end = s.ts! + s.dur!
      if (stack.length > 0) assert.ok(end <= stack.at(-1)! + EPS, `track ${k}: slice ${s.name} [${s.ts}, ${end}] overlaps its parent ending at ${stack.at(-1)}`)
      stack.push(end)
    }
  }
  // flows: paired, start before end, each inside a slice of its own track
  assert.deepEqual([...starts.keys()].sort(), [...ends.keys()].sort(), 'every flow start has an end and vice versa')
  const inside = (e: TraceEvent): boolean => (byTrack.get(`${e.pid}:${e.tid}`) ?? []).some((s) => s.ts! < e.ts! + EPS && e.ts! < s.ts! + s.dur! - EPS)
  for (const [id, s] of starts) {
    const f = ends.get(id)!
    assert.ok(s.ts! <= f.ts!, `flow ${id} ends before it starts`)
    assert.ok(inside(s), `flow ${id} starts outside any slice of its thread`)
    assert.ok(inside(f), `flow ${id} ends outside any slice of its thread`)
  }
  // counters: time order per (process, name)
  const last = new Map<string, number>()
  for (const c of counters) {
    const k = `${c.pid}:${c.name}`
    assert.ok(c.ts! >= (last.get(k) ?? -Infinity), `counter ${k} goes back in time at ${c.ts}`)
    last.set(k, c.ts!)
  }
  return {events, slices, flows: starts.size, counters}
}
