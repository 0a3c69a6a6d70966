// lab run against a fake QEMU (test/lab/fake-qemu.sh): results collected and renamed into place only on success,
// timeouts and stalls kill the VM's whole process group and are retried, failures keep logs but never a trace.

import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {LabError, LabExit} from '../../src/lab/errors.js'
import {runLab, type LabRunOptions} from '../../src/lab/run.js'
import {runSuite} from '../../src/lab/suite.js'
import {selectWorkloads} from '../../src/lab/workloads.js'
import {alive, FAKE_QEMU, fakeKernel, tmpDir} from './helpers.js'

const tmp = tmpDir('run')
after(() => fs.rmSync(tmp, {recursive: true, force: true}))
const kernel = fakeKernel(path.join(tmp, 'kernel'))
const initrd = path.join(tmp, 'initrd.cpio.gz')
fs.writeFileSync(initrd, 'not really')

let n = 0
function setup(mode: string, then?: string): {opts: LabRunOptions; state: string; logs: string[]} {
  n++
  const state = path.join(tmp, `state${n}`)
  fs.mkdirSync(state)
  process.env.FAKE_QEMU_STATE = state
  process.env.FAKE_QEMU_MODE = mode
  process.env.FAKE_QEMU_THEN = then ?? ''
  const logs: string[] = []
  const opts: LabRunOptions = {
    lab: path.join(tmp, 'lab'),
    kernel,
    command: ['/bin/true'],
    out: path.join(tmp, `out${n}`),
    runs: 1,
    timeoutS: 2,
    retries: 1,
    bufferKb: 4096,
    qemu: FAKE_QEMU,
    initrd,
    log: (m) => logs.push(m),
  }
  return {opts, state, logs}
}

const files = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [])

describe('lab run (fake QEMU)', () => {
  it('a good run: run-1 with trace, meta, lab.json (kernel, qemu args, times, exit status), numbered on', async () => {
    const {opts, state} = setup('ok')
    const [r] = await runLab(opts)
    assert.equal(r!.dir, path.join(opts.out, 'run-1'))
    // (stdout.txt and stderr.txt come from the real guest's job, which the fake does not run)
    assert.deepEqual(files(r!.dir), ['console.log', 'guest.env', 'job.sh', 'lab.json', 'trace.meta.json', 'trace.txt'])
    const info = JSON.parse(fs.readFileSync(path.join(r!.dir, 'lab.json'), 'utf8'))
    assert.equal(info.format, 'vmareplay-lab-run/1')
    assert.deepEqual(
      {run: info.run, attempt: info.attempt, capture_exit: info.capture_exit},
      {run: 1, attempt: 1, capture_exit: 0},
    )
    assert.deepEqual(info.exit_status, {code: 0, signal: null})
    assert.deepEqual({boot: info.times.boot_s, guest: info.times.guest_run_s}, {boot: 1.2, guest: 2.5})
    assert.equal(typeof info.times.host_boot_s, 'number')
    assert.equal(info.kernel.release, '6.12.0-test')
    assert.equal(info.qemu.version, '7.2.99 (fake)')
    assert.match(fs.readFileSync(path.join(r!.dir, 'console.log'), 'utf8'), /vmareplay-lab: done uptime=3\.90/)
    assert.deepEqual(
      {accel: info.qemu.accel, cpu: info.qemu.cpu, smp: info.qemu.smp, mem: info.qemu.memory_mb},
      {accel: 'tcg', cpu: 'qemu64', smp: 2, mem: 2048},
    )
    // the arguments QEMU really got, with the results share named by the final directory in lab.json
    const given = fs.readFileSync(path.join(state, 'args'), 'utf8').trim().split('\n')
    assert.equal(given.length, info.qemu.args.length)
    assert.ok(info.qemu.args.includes(`local,id=results,path=${r!.dir},security_model=none,multidevs=remap`))
    assert.ok(
      given.some((a) => /path=.*\.run-1\.attempt-1\.tmp-\d+,/.test(a)),
      'QEMU wrote into a temporary directory',
    )
    assert.match(
      fs.readFileSync(path.join(r!.dir, 'job.sh'), 'utf8'),
      /capture --out \/run\/vmareplay-lab\/trace\.txt --buffer-kb 4096 -- \/bin\/true/,
    )
    assert.deepEqual(files(opts.out), ['run-1', 'series.json'])
    const [r2, r3] = await runLab({...opts, runs: 2})
    assert.deepEqual([r2!.info.run, r3!.info.run], [2, 3])
    assert.deepEqual(files(opts.out), ['run-1', 'run-2', 'run-3', 'series.json'])
  })

  it('refuses to add runs of other settings to a series', async () => {
    const {opts} = setup('ok')
    await runLab(opts)
    await assert.rejects(
      runLab({...opts, command: ['/bin/false']}),
      (e: LabError) =>
        e.exitCode === LabExit.USAGE && /holds runs with other settings \(command differ/.test(e.message),
    )
  })

  it('a guest that does not come back: killed with its process group at the timeout, retried once, then exit 9 and no trace', async () => {
    const {opts, state, logs} = setup('sleep')
    const t0 = Date.now()
    await assert.rejects(
      runLab(opts),
      (e: LabError) =>
        e.exitCode === LabExit.TIMEOUT &&
        /run 1 \(attempt 2\): no result within the timeout \(last stage: init\)/.test(e.message),
    )
    assert.ok(Date.now() - t0 < 15_000)
    assert.equal(fs.readFileSync(path.join(state, 'count'), 'utf8').trim(), '2', 'one automatic retry')
    const child = Number(fs.readFileSync(path.join(state, 'child'), 'utf8'))
    assert.equal(alive(child), false, 'the sleep the fake QEMU left behind was killed with its group')
    assert.ok(logs.some((l) => /attempt 1: timeout .*retrying/.test(l)))
    assert.deepEqual(files(opts.out), ['failed', 'series.json'], 'no run directory, no temporary directory')
    assert.deepEqual(files(path.join(opts.out, 'failed')), ['run-1.attempt-1', 'run-1.attempt-2'])
    const kept = files(path.join(opts.out, 'failed', 'run-1.attempt-1'))
    assert.ok(!kept.includes('trace.txt') && kept.includes('console.log') && kept.includes('lab.json'), kept.join(' '))
  })

  it('a stall is cut short and retried; the retry that succeeds is run-1, attempt 2, with both attempts recorded', async () => {
    const {opts} = setup('stall', 'ok')
    const t0 = Date.now()
    const [r] = await runLab({...opts, timeoutS: 60})
    assert.ok(Date.now() - t0 < 15_000, 'not waiting for the timeout')
    assert.equal(r!.info.attempt, 2)
    assert.deepEqual(
      r!.info.attempts.map((a) => a.outcome),
      ['stall', 'ok'],
    )
    assert.match(r!.info.attempts[0]!.detail!, /rcu: INFO: rcu_preempt detected stalls/)
  })

  it('--retries 0: no retry', async () => {
    const {opts, state} = setup('sleep', 'ok')
    await assert.rejects(runLab({...opts, timeoutS: 1, retries: 0}), (e: LabError) => e.exitCode === LabExit.TIMEOUT)
    assert.equal(fs.readFileSync(path.join(state, 'count'), 'utf8').trim(), '1')
  })

  it('the capture failing in the guest: exit 11 with its stderr; the half-written trace is not kept', async () => {
    const {opts, state} = setup('capture-fail')
    await assert.rejects(
      runLab(opts),
      (e: LabError) =>
        e.exitCode === LabExit.CAPTURE_FAILED &&
        /capture exited with 3 in the guest:\n.*not root: tracefs needs root/.test(e.message),
    )
    assert.equal(fs.readFileSync(path.join(state, 'count'), 'utf8').trim(), '1', 'not retried')
    assert.deepEqual(files(opts.out), ['failed', 'series.json'])
    assert.ok(!files(path.join(opts.out, 'failed', 'run-1.attempt-1')).includes('trace.txt'))
  })

  const guestFailures: Array<[string, RegExp]> = [
    ['guest-error', /the guest failed: insmod 9pnet_virtio failed/],
    ['panic', /the guest kernel panicked: .*Unable to mount root fs/],
    ['kvm', /KVM does not work on this machine .*use --accel tcg/],
    ['exit', /QEMU exited \(status 1\) before the guest was ready:\n(.|\n)*virtio-9p-pci: not supported/],
  ]
  for (const [mode, re] of guestFailures) {
    it(`a guest that fails (${mode}): exit 10 with the reason, not retried`, async () => {
      const {opts, state} = setup(mode)
      await assert.rejects(
        runLab({...opts, timeoutS: 30}),
        (e: LabError) => e.exitCode === LabExit.GUEST_FAILED && re.test(e.message),
      )
      assert.equal(fs.readFileSync(path.join(state, 'count'), 'utf8').trim(), '1')
      assert.ok(!files(opts.out).some((f) => f.startsWith('run-') || f.startsWith('.run-')))
    })
  }

  it('no QEMU: exit 6, saying what to install', async () => {
    const {opts} = setup('ok')
    await assert.rejects(
      runLab({...opts, qemu: path.join(tmp, 'no-such-qemu')}),
      (e: LabError) => e.exitCode === LabExit.NO_TOOL && /apt-get install qemu-system-x86/.test(e.message),
    )
  })

  it('an aborted run (Ctrl-C) kills the VM at once', async () => {
    const {opts, state} = setup('sleep')
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 500)
    await assert.rejects(runLab({...opts, timeoutS: 60, signal: ac.signal}), /interrupted/)
    assert.equal(fs.readFileSync(path.join(state, 'count'), 'utf8').trim(), '1')
    assert.equal(alive(Number(fs.readFileSync(path.join(state, 'child'), 'utf8'))), false)
  })

  it('temporary directories of a killed lab process are removed at the next run', async () => {
    const {opts} = setup('ok')
    fs.mkdirSync(path.join(opts.out, '.run-1.attempt-1.tmp-999999999'), {recursive: true})
    fs.writeFileSync(path.join(opts.out, '.run-1.attempt-1.tmp-999999999', 'trace.txt'), 'partial')
    await runLab(opts)
    assert.deepEqual(files(opts.out), ['run-1', 'series.json'])
  })
})

describe('lab suite (fake QEMU)', () => {
  const k2dir = path.join(tmp, 'kernel2')
  fakeKernel(k2dir)
  const info2 = JSON.parse(fs.readFileSync(path.join(k2dir, 'kernel.json'), 'utf8'))
  fs.writeFileSync(path.join(k2dir, 'kernel.json'), JSON.stringify({...info2, name: 'fake2'}))

  it('interleaves runs across kernels and workloads, indexes every trace, resumes, and records failures', async () => {
    const {opts, logs} = setup('capture-fail', 'ok')
    const suite = {...opts, kernels: [kernel.dir, k2dir], workloads: selectWorkloads(['fork_exec', 'node_gc']), runs: 2}
    const index = await runSuite(suite)
    assert.deepEqual(
      logs.filter((l) => l.startsWith('suite: ') && !l.includes('failed')),
      [1, 2].flatMap((r) =>
        ['fake fork_exec', 'fake node_gc', 'fake2 fork_exec', 'fake2 node_gc'].map((x) => `suite: ${x} run ${r}/2`),
      ),
    )
    // the very first run's capture failed: listed, and that series has one run less
    assert.equal(index.failures.length, 1)
    assert.deepEqual(
      {
        k: index.failures[0]!.kernel,
        w: index.failures[0]!.workload,
        run: index.failures[0]!.run,
        code: index.failures[0]!.exit_code,
      },
      {k: 'fake', w: 'fork_exec', run: 1, code: LabExit.CAPTURE_FAILED},
    )
    assert.equal(index.runs.length, 7)
    const onDisk = JSON.parse(fs.readFileSync(path.join(opts.out, 'index.json'), 'utf8'))
    assert.deepEqual(onDisk, JSON.parse(JSON.stringify(index)))
    assert.equal(onDisk.format, 'vmareplay-lab-suite/1')
    assert.deepEqual(
      onDisk.kernels.map((k: {name: string}) => k.name),
      ['fake', 'fake2'],
    )
    assert.deepEqual(
      onDisk.workloads.map((w: {name: string}) => w.name),
      ['fork_exec', 'node_gc'],
    )
    assert.match(onDisk.workloads[1].command.join(' '), /node_gc\.cjs$/)
    const first = onDisk.runs[0]
    assert.deepEqual(
      {
        kernel: first.kernel,
        workload: first.workload,
        run: first.run,
        trace: first.trace,
        meta: first.meta,
        lab: first.lab,
      },
      {
        kernel: 'fake',
        workload: 'fork_exec',
        run: 1,
        trace: 'fake/fork_exec/run-1/trace.txt',
        meta: 'fake/fork_exec/run-1/trace.meta.json',
        lab: 'fake/fork_exec/run-1/lab.json',
      },
    )
    for (const r of onDisk.runs) assert.ok(fs.existsSync(path.join(opts.out, r.trace)), r.trace)
    // resuming with more runs: only the missing ones run (fake fork_exec needs two, every other series one)
    logs.length = 0
    const again = await runSuite({...suite, runs: 3})
    assert.equal(logs.filter((l) => l.startsWith('suite: ')).length, 5)
    assert.equal(again.runs.length, 12)
    assert.deepEqual(again.failures, [])
  })
})
