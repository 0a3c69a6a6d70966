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
  /** per flow id: the slices its start and end bind to */
  boundTo: Map<number, [TraceEvent, TraceEvent]>
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
        for (const k of ['name', 'ts', 'dur', 'pid', 'tid'] as const)
          assert.ok(e[k] !== undefined, `X without ${k}: ${JSON.stringify(e)}`)
        assert.ok(e.ts! >= 0 && e.dur! >= 0, JSON.stringify(e))
        slices.push(e)
        break
      case 'C':
        assert.ok(
          typeof e.name === 'string' && typeof e.ts === 'number' && typeof e.pid === 'number',
          JSON.stringify(e),
        )
        assert.ok(e.args !== undefined && Object.keys(e.args).length > 0)
        for (const v of Object.values(e.args)) assert.equal(typeof v, 'number')
        counters.push(e)
        break
      case 's':
      case 'f':
        for (const k of ['name', 'cat', 'id', 'ts', 'pid', 'tid'] as const)
          assert.ok(e[k] !== undefined, `${e.ph} without ${k}`)
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
      if (stack.length > 0)
        assert.ok(
          end <= stack.at(-1)! + EPS,
          `track ${k}: slice ${s.name} [${s.ts}, ${end}] overlaps its parent ending at ${stack.at(-1)}`,
        )
      stack.push(end)
    }
  }
  // flows: paired, start before end, each bound to a slice that contains it. Perfetto binds a flow event to the
  // topmost slice of the track's stack, and pops ended slices only when a later slice begins: so the slice a flow
  // binds to is the top of the stack after every slice that began before it, and it must not have ended.
  assert.deepEqual([...starts.keys()].sort(), [...ends.keys()].sort(), 'every flow start has an end and vice versa')
  // one sweep per track over its slices, visiting the flow events in time order
  const binding = new Map<TraceEvent, TraceEvent | undefined>()
  const endpoints = new Map<string, TraceEvent[]>()
  for (const e of [...starts.values(), ...ends.values()]) {
    const k = `${e.pid}:${e.tid}`
    if (!endpoints.has(k)) endpoints.set(k, [])
    endpoints.get(k)!.push(e)
  }
  for (const [k, list] of endpoints) {
    list.sort((a, b) => a.ts! - b.ts!)
    const track = byTrack.get(k) ?? []
    const stack: TraceEvent[] = []
    let i = 0
    for (const e of list) {
      for (; i < track.length && track[i]!.ts! < e.ts! - EPS; i++) {
        const s = track[i]!
        while (stack.length > 0 && stack.at(-1)!.ts! + stack.at(-1)!.dur! <= s.ts! + EPS) stack.pop()
        stack.push(s)
      }
      const top = stack.at(-1)
      binding.set(e, top !== undefined && e.ts! < top.ts! + top.dur! - EPS ? top : undefined)
    }
  }
  const bound = (e: TraceEvent): TraceEvent | undefined => binding.get(e)
  const boundTo = new Map<number, [TraceEvent, TraceEvent]>()
  for (const [id, s] of starts) {
    const f = ends.get(id)!
    assert.ok(s.ts! <= f.ts!, `flow ${id} ends before it starts`)
    const bs = bound(s)
    const bf = bound(f)
    assert.ok(bs !== undefined, `flow ${id} at ${s.ts} would bind to no slice or an ended one on ${s.pid}:${s.tid}`)
    assert.ok(bf !== undefined, `flow ${id} end at ${f.ts} would bind to no slice or an ended one on ${f.pid}:${f.tid}`)
    boundTo.set(id, [bs, bf])
  }
  // counters: time order per (process, name)
  const last = new Map<string, number>()
  for (const c of counters) {
    const k = `${c.pid}:${c.name}`
    assert.ok(c.ts! >= (last.get(k) ?? -Infinity), `counter ${k} goes back in time at ${c.ts}`)
    last.set(k, c.ts!)
  }
  return {events, slices, flows: starts.size, boundTo, counters}
}
