// rw_semaphore semantics (kernel/locking/rwsem.c) on the simulated clock.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {RwSem, rwsemRspinThresholdNs, Scheduler, Task, type Step} from './api.js'

const W = 3_000 // wake latency

function setup(handoffNs = 4_000_000, readSlowpathNs = 0, spinOnOwner = false) {
  const sched = new Scheduler()
  const sem = new RwSem({wakeLatencyNs: W, rwsemHandoffNs: handoffNs, readSlowpathNs}, spinOnOwner)
  const log: string[] = []
  const tasks = [1, 2, 3, 4, 5].map((i) => new Task(sched, i, null))
  function* hold(t: Task, write: boolean, ns: number, name: string): Step<void> {
    yield* write ? sem.write(t) : sem.read(t)
    log.push(`${name}@${sched.now}`)
    yield ns
    if (write) sem.upWrite(t)
    else sem.upRead(t)
  }
  const at = (time: number, t: Task, write: boolean, ns: number, name: string): void => {
    sched.runUntil(time)
    t.op = name
    t.submit(hold(t, write, ns, name))
  }
  return {sched, sem, log, tasks, at}
}

test('readers share the lock; a writer excludes them (down_read / down_write)', () => {
  const {sched, log, tasks, at} = setup()
  at(0, tasks[0]!, false, 1000, 'r1')
  at(10, tasks[1]!, false, 1000, 'r2')
  at(20, tasks[2]!, true, 100, 'w')
  sched.run()
  assert.deepEqual(log, ['r1@0', 'r2@10', `w@${1010 + W}`])
})

test('a queued writer makes later readers queue and every trylock fail (RWSEM_FLAG_WAITERS)', () => {
  const {sched, sem, log, tasks, at} = setup()
  at(0, tasks[0]!, false, 1000, 'r1')
  at(10, tasks[1]!, true, 100, 'w')
  sched.runUntil(20)
  assert.equal(sem.tryRead(tasks[2]!), false)
  at(20, tasks[2]!, false, 100, 'r2')
  sched.run()
  assert.deepEqual(log, ['r1@0', `w@${1000 + W}`, `r2@${1100 + W + W}`])
  assert.equal(tasks[2]!.acct.waitedFor?.tid, 2, 'r2 reports the queued writer')
})

test('waking readers grants every queued reader at once, skipping writers (rwsem_mark_wake)', () => {
  const {sched, log, tasks, at} = setup()
  at(0, tasks[0]!, true, 1000, 'w1')
  at(10, tasks[1]!, false, 500, 'r1')
  at(20, tasks[2]!, true, 100, 'w2')
  at(30, tasks[3]!, false, 500, 'r2')
  sched.run()
  assert.deepEqual(log, ['w1@0', `r1@${1000 + W}`, `r2@${1000 + W}`, `w2@${1500 + 2 * W}`])
})

test('writers are granted FIFO', () => {
  const {sched, log, tasks, at} = setup()
  at(0, tasks[0]!, true, 1000, 'w1')
  at(10, tasks[1]!, true, 100, 'w2')
  at(20, tasks[2]!, true, 100, 'w3')
  sched.run()
  assert.deepEqual(log, ['w1@0', `w2@${1000 + W}`, `w3@${1100 + 2 * W}`])
})

test("a reader steals the free lock in a woken writer's window; after the handoff timeout it cannot", () => {
  const {sched, sem, log, tasks, at} = setup(1_000)
  at(0, tasks[0]!, true, 100, 'w1')
  at(10, tasks[1]!, true, 100, 'w2') // woken at 100, runs at 100+W
  at(200, tasks[2]!, false, 5_000, 'r-steal') // lock free, no handoff: steals
  sched.runUntil(100 + W + 1)
  assert.equal(sem.handoff, true, 'w2 waited > 1 µs and found the lock stolen: RWSEM_FLAG_HANDOFF')
  at(100 + W + 100, tasks[3]!, false, 100, 'r-late') // handoff pending: must queue
  sched.run()
  assert.deepEqual(log, ['w1@0', 'r-steal@200', `w2@${5200 + W}`, `r-late@${5300 + 2 * W}`])
  assert.equal(sem.steals, 1)
  assert.equal(sem.handoffs, 1)
})

test('a reader stealing behind a queued writer waits its slow path, blames the writer, and holds from then on', () => {
  const S = 200 // readSlowpathNs
  const {sched, sem, log, tasks, at} = setup(4_000_000, S)
  at(0, tasks[0]!, false, 1000, 'r1')
  at(10, tasks[1]!, true, 100, 'w') // queues behind r1: RWSEM_FLAG_WAITERS
  at(1000 + W / 2, tasks[2]!, false, 500, 'r-steal') // r1 gone, w woken and not yet running: the fast path fails
  sched.run()
  const r = tasks[2]!
  assert.deepEqual(log, ['r1@0', `r-steal@${1000 + W / 2 + S}`, `w@${1000 + W}`]) // woken at 1000: runs at 1000 + W, after the steal released
  assert.equal(sem.steals, 1)
  assert.equal(r.acct.waitNs, S, 'the slow path is a wait, as start_locking → acquire_returned shows it')
  assert.equal(r.acct.waitStartNs, 1000 + W / 2)
  assert.equal(r.acct.holdNs, 500, 'the hold starts when the steal returns, as acquire_returned → released shows it')
  assert.deepEqual(r.acct.waitedFor, {tid: 2, op: 'w', ref: 0, write: true})
})

test('a writer spins on a running writer owner and takes the lock the moment it is released (rwsem_optimistic_spin)', () => {
  const {sched, sem, log, tasks, at} = setup(4_000_000, 0, true)
  at(0, tasks[0]!, true, 1000, 'w1')
  at(10, tasks[1]!, true, 100, 'w2')
  assert.equal(sem.waiters, 0, 'a spinner is not queued')
  sched.run()
  assert.deepEqual(log, ['w1@0', 'w2@1000'], 'no wake-up latency: it never slept')
  assert.equal(tasks[1]!.acct.waitNs, 990)
  assert.equal(sem.contended, 0)
})

test('on a reader-owned lock a writer spins for rwsem_rspin_threshold, then marks it non-spinnable and queues', () => {
  const {sched, sem, log, tasks, at} = setup(4_000_000, 0, true)
  const spin = rwsemRspinThresholdNs(1)
  assert.equal(spin, 10_500, '(20 + 1 reader) / 2 µs')
  at(0, tasks[0]!, false, 50_000, 'r1')
  at(10, tasks[1]!, true, 100, 'w')
  at(5_000, tasks[2]!, false, 100, 'r2') // the spinner sets no RWSEM_FLAG_WAITERS: the fast path succeeds
  sched.runUntil(10 + spin + 1)
  assert.equal(sem.waiters, 1, 'the spin gave up: the writer sleeps in the queue')
  at(20_000, tasks[3]!, true, 100, 'w-late') // RWSEM_NONSPINNABLE: queues at once
  sched.run()
  assert.deepEqual(log, ['r1@0', 'r2@5000', `w@${50_000 + W}`, `w-late@${50_100 + 2 * W}`])
  assert.equal(tasks[1]!.acct.waitNs, 50_000 + W - 10, 'the spin and the sleep are one wait')
})

test('downgrade_write keeps the lock for read and grants queued readers, not writers', () => {
  const {sched, sem, log, tasks} = setup()
  const [w, r, w2] = tasks
  function* writerThenDowngrade(): Step<void> {
    yield* sem.write(w!)
    yield 1000
    sem.downgrade(w!)
    log.push(`downgrade@${sched.now}`)
    yield 1000
    sem.upRead(w!)
  }
  function* reader(t: Task, name: string, write: boolean): Step<void> {
    yield* write ? sem.write(t) : sem.read(t)
    log.push(`${name}@${sched.now}`)
    yield 10
    if (write) sem.upWrite(t)
    else sem.upRead(t)
  }
  w!.submit(writerThenDowngrade())
  sched.runUntil(10)
  r!.submit(reader(r!, 'r', false))
  sched.runUntil(20)
  w2!.submit(reader(w2!, 'w2', true))
  sched.run()
  // r is granted at the downgrade but runs (and so releases) a wake latency later; w2 then waits for it.
  assert.deepEqual(log, ['downgrade@1000', `r@${1000 + W}`, `w2@${1000 + W + 10 + W}`])
})
