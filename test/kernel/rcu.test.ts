// The RCU clock: grace periods wait for pre-existing readers and a minimum length; callbacks never run early.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {RcuClock, Scheduler, Task, DEFAULT_RCU_GRACE_PERIOD_NS, type Step} from './api.js'

test('default minimum grace period is 10 ms (kernel-model.md §5)', () => {
  assert.equal(DEFAULT_RCU_GRACE_PERIOD_NS, 10_000_000)
})

test('call_rcu runs after the minimum grace period when no reader is inside', () => {
  const sched = new Scheduler()
  const rcu = new RcuClock(sched, 1000)
  let ran = -1
  rcu.callRcu(() => (ran = sched.now), 100, 1)
  assert.equal(rcu.stats.pendingBytes, 100)
  sched.run()
  assert.equal(ran, 1000)
  assert.equal(rcu.stats.gracePeriods, 1)
  assert.equal(rcu.stats.pendingBytes, 0)
  assert.equal(rcu.stats.peakPendingBytes, 100)
})

test('a reader inside when the grace period began holds it up; a later reader does not', () => {
  const sched = new Scheduler()
  const rcu = new RcuClock(sched, 1000)
  const [a, b] = [new Task(sched, 1, null), new Task(sched, 2, null)]
  function* read(t: Task, from: number, ns: number): Step<void> {
    yield from
    rcu.readLock(t)
    yield ns
    rcu.readUnlock(t)
  }
  a.submit(read(a, 0, 5000)) // inside from 0 to 5000
  sched.runUntil(10)
  let ran = -1
  rcu.callRcu(() => (ran = sched.now), 0, 0)
  b.submit(read(b, 100, 100_000)) // enters after the GP began: must not delay it
  sched.run()
  assert.equal(ran, 5000)
  assert.equal(rcu.stats.maxGracePeriodNs, 4990)
})

test('callbacks queued during a grace period wait for the next one', () => {
  const sched = new Scheduler()
  const rcu = new RcuClock(sched, 1000)
  const runs: number[] = []
  rcu.callRcu(() => runs.push(sched.now), 0, 0)
  sched.runUntil(500)
  rcu.callRcu(() => runs.push(sched.now), 0, 0)
  sched.run()
  assert.deepEqual(runs, [1000, 2000])
  assert.equal(rcu.stats.cbLatencyMaxNs, 1500)
})

test('property: no callback runs while a reader that was inside when it was queued is still inside', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({start: fc.nat(20_000), len: fc.integer({min: 1, max: 8000}), task: fc.nat(3)}), {
        maxLength: 20,
      }),
      fc.array(fc.nat(25_000), {maxLength: 12}),
      fc.integer({min: 1, max: 3000}),
      (readers, cbs, minGp) => {
        const sched = new Scheduler()
        const rcu = new RcuClock(sched, minGp)
        const tasks = [0, 1, 2, 3].map((i) => new Task(sched, i, null))
        const intervals: Array<[number, number]> = []
        // Each task runs its reader sections back to back (sorted by start); nesting is allowed.
        for (const t of tasks) {
          const mine = readers.filter((r) => r.task === t.tid).sort((x, y) => x.start - y.start)
          t.submit(
            (function* (): Step<void> {
              for (const r of mine) {
                if (sched.now < r.start) yield r.start - sched.now
                const from = sched.now
                rcu.readLock(t)
                yield r.len
                rcu.readUnlock(t)
                intervals.push([from, sched.now])
              }
            })(),
          )
        }
        const results: Array<[number, number]> = []
        for (const at of [...cbs].sort((x, y) => x - y)) {
          sched.runUntil(at)
          const queued = sched.now
          rcu.callRcu(() => results.push([queued, sched.now]), 8, 1)
        }
        sched.run()
        assert.equal(results.length, cbs.length)
        for (const [queued, ran] of results) {
          assert.ok(ran >= queued + minGp, 'ran before the minimum grace period')
          for (const [a, b] of intervals)
            if (a <= queued && b > queued) assert.ok(ran >= b, `ran at ${ran} inside reader [${a}, ${b})`)
        }
        assert.equal(rcu.stats.pendingObjects, 0)
        assert.equal(rcu.activeReaders, 0)
      },
    ),
    {numRuns: 400},
  )
})
