// RCU-deferred vm_file release (rcuDeferredFput): scenarios whose deferral is worked out by hand, RCU_LAZY batching,
// the kernel's VMA lifecycle driving the file table, and a property: no file is released while a reader that was
// inside when its VMA went can still use it.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  FileTable,
  RcuClock,
  Scheduler,
  Task,
  VMA_BYTES,
  exitMm,
  nearestRank,
  sysMunmap,
  type FileRef,
  type Step,
} from './api.js'
import {Timer} from '../../src/sim/scheduler.js'
import {BASE, PAGE, opNow, vma, world} from './helpers.js'

function* readSection(rcu: RcuClock, t: Task, from: number, ns: number): Step<void> {
  yield from
  rcu.readLock(t)
  yield ns
  rcu.readUnlock(t)
}

function at(sched: Scheduler, t: number, fn: () => void): void {
  sched.schedule(new Timer(fn), t)
}

test('munmap while another thread is inside an RCU read section: the fput waits for it, ->release runs late', () => {
  const sched = new Scheduler()
  const rcu = new RcuClock(sched, 1000)
  const files = new FileTable(sched, rcu, true)
  const f: FileRef = {id: 'fd:1:3', mapPages: true, path: '/data/db'}
  files.fdInstall(f, 1) // mmap(fd 3)
  files.vmaGet(f, 1)
  const reader = new Task(sched, 2, null)
  reader.submit(readSection(rcu, reader, 0, 5000)) // inside from 0 to 5000
  at(sched, 100, () => files.vmaPut(f, 1)) // munmap: GP 100 → min at 1100, the reader holds it to 5000
  at(sched, 200, () => files.closeFd('fd:1:3', 1)) // close(3): without deferral ->release would run here
  sched.run()
  assert.deepEqual(files.delays, [4900])
  assert.deepEqual(files.releases, [
    {
      id: 'fd:1:3',
      path: '/data/db',
      tgid: 1,
      fd: 'close',
      closedNs: 200,
      undeferredNs: 200,
      releasedNs: 5000,
      deferredFputs: 1,
    },
  ])
  assert.equal(files.stats.filesWaiting, 0)
  assert.equal(files.stats.bytesWaiting, 0)

  // the same sequence without deferral: released at close, no fput waits
  const s2 = new Scheduler()
  const plain = new FileTable(s2, new RcuClock(s2, 1000), false)
  plain.fdInstall(f, 1)
  plain.vmaGet(f, 1)
  at(s2, 100, () => plain.vmaPut(f, 1))
  at(s2, 200, () => plain.closeFd('fd:1:3', 1))
  s2.run()
  assert.deepEqual(plain.delays, [])
  assert.equal(plain.releases[0]!.releasedNs, 200)
  assert.equal(plain.releases[0]!.undeferredNs, 200)
})

test('a burst of munmaps inside one grace period: the later ones wait for the next, the file goes with the last', () => {
  const sched = new Scheduler()
  const rcu = new RcuClock(sched, 1000)
  const files = new FileTable(sched, rcu, true)
  const f: FileRef = {id: 'fd:1:3', mapPages: true}
  const g: FileRef = {id: 'fd:1:4', mapPages: true}
  files.fdInstall(f, 1)
  files.fdInstall(g, 1)
  for (let i = 0; i < 3; i++) files.vmaGet(f, 1)
  files.vmaGet(g, 1)
  files.closeFd('fd:1:3', 1) // both fds closed at 0: the VMAs hold the files
  files.closeFd('fd:1:4', 1)
  // 100 starts GP 1 (ends 1100); 300, 500, 700 queue behind it for GP 2 (1100 → 2100)
  for (const [t, ref] of [
    [100, f],
    [300, f],
    [500, f],
    [700, g],
  ] as const)
    at(sched, t, () => files.vmaPut(ref, 1))
  sched.run()
  assert.deepEqual(files.delays, [1000, 1800, 1600, 1400])
  assert.deepEqual(
    files.releases.map((r) => [r.id, r.undeferredNs, r.releasedNs, r.deferredFputs]),
    [
      ['fd:1:3', 500, 2100, 3],
      ['fd:1:4', 700, 2100, 1],
    ],
  )
  assert.equal(files.stats.peakFilesWaiting, 2) // at 700: f (300, 500) and g
  assert.equal(files.stats.peakBytesWaiting, 4 * VMA_BYTES) // at 700: four fputs, the first still in GP 1
  const sorted = Float64Array.from(files.delays).sort()
  assert.equal(nearestRank(sorted, 50), 1400)
  assert.equal(nearestRank(sorted, 99), 1800)
})

test('RCU_LAZY: lazy fputs wait for the flush delay, a non-lazy call_rcu flushes them at once', () => {
  const sched = new Scheduler()
  const rcu = new RcuClock(sched, 1000, 50_000)
  const files = new FileTable(sched, rcu, true)
  const f: FileRef = {id: 'a', mapPages: true}
  files.vmaGet(f, 1)
  files.vmaGet(f, 1)
  at(sched, 100, () => files.vmaPut(f, 1)) // lazy: no grace period yet; flush at 100 + 50 000
  at(sched, 30_000, () => files.vmaPut(f, 1))
  sched.runUntil(50_000)
  assert.equal(rcu.stats.gracePeriods, 0)
  assert.equal(rcu.lazyPending, 2)
  sched.run() // GP 50 100 → 51 100
  assert.deepEqual(files.delays, [51_000, 21_100])
  assert.equal(files.releases[0]!.releasedNs, 51_100)
  assert.equal(files.releases[0]!.undeferredNs, 30_000)

  const s2 = new Scheduler()
  const r2 = new RcuClock(s2, 1000, 50_000)
  const f2 = new FileTable(s2, r2, true)
  f2.vmaGet(f, 1)
  at(s2, 100, () => f2.vmaPut(f, 1))
  at(s2, 10_000, () => r2.callRcu(null, 0, 0)) // call_rcu_hurry: flushes the lazy batch, GP 10 000 → 11 000
  s2.run()
  assert.deepEqual(f2.delays, [10_900])
  assert.equal(s2.now, 11_000, 'no lazy timer left behind')
})

test('the kernel: munmap of a file VMA defers its fput only under rcuDeferredFput', () => {
  const file: FileRef = {id: 'fd:1:5', mapPages: true}
  const w = world('6.18', 2, {knobs: {rcuDeferredFput: true}, rcuGracePeriodNs: 1_000_000})
  assert.ok(w.k.files !== null)
  w.k.files.fdInstall(file, w.mm.id)
  vma(w, 0, 4, {file})
  vma(w, 8, 4, {file})
  w.k.files.closeFd('fd:1:5', w.mm.id)
  opNow(w, w.t[0]!, 'munmap', sysMunmap, {addr: BASE, len: 4 * PAGE})
  assert.equal(w.k.files.stats.deferred, 1)
  assert.equal(w.k.files.releases.length, 0, 'the second VMA still maps the file')
  opNow(w, w.t[0]!, 'munmap', sysMunmap, {addr: BASE + 8 * PAGE, len: 4 * PAGE})
  assert.equal(w.k.files.releases.length, 1)
  const r = w.k.files.releases[0]!
  assert.ok(
    r.releasedNs - r.undeferredNs >= 1_000_000,
    `released ${r.releasedNs - r.undeferredNs} ns late, less than a grace period`,
  )
  assert.equal(world('6.18', 1).k.files, null, 'v6.18 keeps no file table')
})

test('process exit: exit_mmap defers the VMA fputs, exit_files then drops the fd: ->release a grace period after exit', () => {
  const file: FileRef = {id: 'fd:1:7', mapPages: true}
  const w2 = world('6.18', 1, {knobs: {rcuDeferredFput: true}, rcuGracePeriodNs: 1_000_000})
  w2.k.files!.fdInstall(file, w2.mm.id)
  vma(w2, 0, 4, {file})
  let exitedNs = -1
  w2.k.run(w2.t[0]!, 'exit', exitMm, undefined, () => {
    exitedNs = w2.k.sched.now
    w2.k.files!.exitFiles(w2.mm.id) // do_exit: exit_files after exit_mm
  })
  w2.k.sched.run()
  const r2 = w2.k.files!.releases[0]!
  assert.equal(r2.fd, 'exit')
  assert.equal(r2.undeferredNs, exitedNs)
  assert.equal(r2.closedNs, exitedNs)
  assert.ok(r2.releasedNs > exitedNs, '->release after exit, in the RCU callback')
  assert.ok(
    r2.releasedNs - w2.k.files!.delays[0]! <= exitedNs,
    'the fput was issued inside exit_mmap, not after exit_files',
  )
})

test('property: no file is released before every reader inside when one of its VMAs went has left', () => {
  const section = fc.record({start: fc.integer({min: 0, max: 500}), len: fc.integer({min: 1, max: 3000})})
  const put = fc.record({file: fc.integer({min: 0, max: 2}), t: fc.integer({min: 0, max: 1500})})
  fc.assert(
    fc.property(
      fc.array(section, {maxLength: 6}),
      fc.array(put, {minLength: 1, maxLength: 9}),
      fc.integer({min: 1, max: 2000}),
      fc.integer({min: 0, max: 20_000}),
      (secs, puts, gp, lazyNs) => {
        const sched = new Scheduler()
        const rcu = new RcuClock(sched, gp, lazyNs)
        const files = new FileTable(sched, rcu, true)
        const refs: FileRef[] = [0, 1, 2].map((i) => ({id: `f${i}`, mapPages: true}))
        for (const p of puts) files.vmaGet(refs[p.file]!, 1)
        // readers enter at even times, VMAs go at odd times: "inside when it went" is never a tie
        secs.forEach((s, i) => {
          const t = new Task(sched, 10 + i, null)
          t.submit(readSection(rcu, t, 2 * s.start, 2 * s.len))
        })
        for (const p of puts) at(sched, 2 * p.t + 1, () => files.vmaPut(refs[p.file]!, 1))
        sched.run()
        assert.equal(files.releases.length, new Set(puts.map((p) => p.file)).size)
        for (const r of files.releases)
          for (const p of puts.filter((x) => `f${x.file}` === r.id)) {
            const tp = 2 * p.t + 1
            for (const s of secs)
              if (2 * s.start < tp && tp < 2 * (s.start + s.len))
                assert.ok(
                  r.releasedNs >= 2 * (s.start + s.len),
                  `${r.id} released at ${r.releasedNs}, reader inside until ${2 * (s.start + s.len)}`,
                )
            assert.ok(r.releasedNs >= tp + gp, 'released before a minimum grace period after its VMA went')
          }
      },
    ),
    {seed: 16, numRuns: 300},
  )
})
