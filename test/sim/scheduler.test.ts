// The discrete-event scheduler: (time, seq) order, BLOCK/wake, FIFO per thread, inline stepping changes nothing.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {BLOCK, Scheduler, Timer, SimThread, type Step} from '../../src/sim/scheduler.js'

test('events at the same time run in the order they were scheduled', () => {
  const s = new Scheduler()
  const log: string[] = []
  for (const name of ['a', 'b', 'c']) s.schedule(new Timer(() => log.push(name)), 100)
  s.schedule(new Timer(() => log.push('early')), 50)
  s.run()
  assert.deepEqual(log, ['early', 'a', 'b', 'c'])
  assert.equal(s.now, 100)
})

test('a thread sleeps on BLOCK until woken; operations on one thread run FIFO', () => {
  const s = new Scheduler()
  const t = new SimThread(s, 1)
  const log: string[] = []
  function* sleeper(): Step<string> {
    log.push(`sleep@${s.now}`)
    yield BLOCK
    log.push(`woke@${s.now}`)
    yield 10
    return 'done'
  }
  t.submit(sleeper(), (v) => log.push(`${v}@${s.now}`))
  // eslint-disable-next-line require-yield -- an operation that finishes without waiting
  const instant = function* (): Step<void> {
    log.push(`second@${s.now}`)
  }
  t.submit(instant())
  assert.equal(t.queued, 1)
  s.schedule(new Timer(() => t.wake()), 500)
  s.run()
  assert.deepEqual(log, ['sleep@0', 'woke@500', 'done@510', 'second@510'])
})

test('runUntil stops at the target and never runs later events', () => {
  const s = new Scheduler()
  let ran = false
  s.schedule(new Timer(() => (ran = true)), 1000)
  s.runUntil(999)
  assert.equal(ran, false)
  assert.equal(s.now, 999)
  assert.throws(() => s.runUntil(10))
})

test('inline stepping equals the heap order, and work submitted from outside never runs ahead of now', () => {
  const run = (noInline: boolean): string[] => {
    const s = new Scheduler({noInline})
    const log: string[] = []
    const a = new SimThread(s, 1)
    const b = new SimThread(s, 2)
    const worker = (name: string, d: number): Step<void> =>
      (function* () {
        for (let i = 0; i < 5; i++) {
          yield d
          log.push(`${name}${i}@${s.now}`)
        }
      })()
    a.submit(worker('a', 7))
    b.submit(worker('b', 5))
    s.runUntil(12)
    a.submit(worker('c', 3))
    s.run()
    return log
  }
  assert.deepEqual(run(false), run(true))
  const s = new Scheduler()
  const t = new SimThread(s, 1)
  t.submit(
    (function* (): Step<void> {
      yield 50
      yield 80
    })(),
  )
  assert.equal(s.now, 0, 'a submit does not advance the clock')
  s.runUntil(100)
  assert.equal(s.pending, 1, 'inlined up to the runUntil target, not past it')
  assert.ok(s.inlined > 0 || s.fired > 0)
})

test('a thread that is never idle does not keep the operations it has run', () => {
  // two operations in flight, each submitting the one after next before it ends: the backlog never empties (what-if:
  // a thread behind its recording always has its next operation queued)
  const s = new Scheduler()
  const t = new SimThread(s, 1)
  const N = 100_000
  const order: number[] = []
  let longest = 0
  function* op(i: number): Step<void> {
    if (i + 2 < N) t.submit(op(i + 2))
    yield 1
    order.push(i)
    longest = Math.max(longest, t['backlog'].length)
  }
  t.submit(op(0))
  t.submit(op(1))
  s.run()
  assert.equal(new Set(order).size, N, 'every operation ran once')
  assert.deepEqual(
    order.slice(0, 5),
    [0, 2, 1, 4, 3],
    'in submission order (op 0 starts at once and queues op 2 first)',
  )
  assert.ok(longest < 4 * 1024, `the backlog array grew to ${longest} entries`)
})

test('a long backlog on one thread runs without growing the stack, in order', () => {
  // 200,000 operations queued behind a busy thread, each finishing inline: one loop, not a nested call per op
  const s = new Scheduler()
  const t = new SimThread(s, 1)
  const order: number[] = []
  function* op(i: number): Step<void> {
    yield 1
    order.push(i)
  }
  const N = 200_000
  for (let i = 0; i < N; i++) t.submit(op(i))
  s.run()
  assert.equal(order.length, N)
  assert.ok(order.every((v, i) => v === i))
  assert.equal(s.now, N)
})

test('hurry: a cuttable current operation finishes its timed steps now, a wait still waits, the next operation is untouched', () => {
  const s = new Scheduler()
  const t = new SimThread(s, 1)
  const log: string[] = []
  function* slow(name: string): Step<void> {
    yield 100
    log.push(`${name} half@${s.now}`)
    yield 100
    log.push(`${name} end@${s.now}`)
  }
  t.submit(slow('b0'))
  s.runUntil(30)
  t.hurry() // not submitted cuttable: keeps its time
  s.run()
  assert.deepEqual(log.splice(0), ['b0 half@100', 'b0 end@200'])
  t.submit(slow('a'), undefined, true)
  s.runUntil(230)
  t.hurry()
  // both remaining steps of a ran at 230, without the heap
  assert.deepEqual(log, ['a half@230', 'a end@230'])
  assert.equal(t.busy, false)
  t.submit(slow('b'))
  s.run()
  assert.deepEqual(log.slice(2), ['b half@330', 'b end@430'])

  // a blocked operation is not hurried: it waits for its wake, then keeps its own time
  const u = new SimThread(s, 2)
  function* waiter(): Step<void> {
    yield BLOCK
    yield 50
    log.push(`waiter end@${s.now}`)
  }
  u.submit(waiter(), undefined, true)
  u.hurry()
  assert.equal(u.blocked, true)
  s.schedule(new Timer(() => u.wake()), 500)
  s.run()
  assert.deepEqual(log.slice(4), ['waiter end@550'])
})
