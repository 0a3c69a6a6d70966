// The lab's VM plumbing that needs no VM: QEMU command line, guest scripts, console and guest.env protocol.

import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {consoleEvent, initScript, jobScript, parseGuestEnv, shQuote} from '../../src/lab/guest.js'
import {GUEST_RESULTS} from '../../src/lab/paths.js'
import {kernelCmdline, qemuArgs} from '../../src/lab/qemu.js'
import {tmpDir} from './helpers.js'

const tmp = tmpDir('plumbing')
after(() => fs.rmSync(tmp, {recursive: true, force: true}))

describe('QEMU command line', () => {
  it('TCG, qemu64, 2 CPUs, 2 GiB, no network, the host root read-only and a writable results share over 9p', () => {
    const args = qemuArgs({
      accel: 'tcg',
      cpu: 'qemu64',
      smp: 2,
      memoryMb: 2048,
      vmlinuz: '/k/vmlinuz',
      initrd: '/k/i.cpio.gz',
      resultsDir: '/out/.run-1',
    })
    assert.deepEqual(args, [
      '-accel',
      'tcg,thread=multi',
      '-cpu',
      'qemu64',
      '-smp',
      '2',
      '-m',
      '2048',
      '-nographic',
      '-no-reboot',
      '-nic',
      'none',
      '-kernel',
      '/k/vmlinuz',
      '-initrd',
      '/k/i.cpio.gz',
      '-append',
      'console=ttyS0 panic=-1 loglevel=4 edd=off rdinit=/init',
      '-fsdev',
      'local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap',
      '-device',
      'virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot',
      '-fsdev',
      'local,id=results,path=/out/.run-1,security_model=none,multidevs=remap',
      '-device',
      'virtio-9p-pci,fsdev=results,mount_tag=results',
    ])
  })

  it('KVM and the other knobs go where QEMU expects them', () => {
    const args = qemuArgs({
      accel: 'kvm',
      cpu: 'host',
      smp: 4,
      memoryMb: 4096,
      vmlinuz: 'v',
      initrd: 'i',
      resultsDir: 'r',
      append: 'mitigations=off',
      hostRoot: '/srv/root',
    })
    const after = (flag: string): string[] => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []))
    assert.deepEqual(after('-accel'), ['kvm'])
    assert.deepEqual(after('-cpu'), ['host'])
    assert.deepEqual(after('-smp'), ['4'])
    assert.deepEqual(after('-m'), ['4096'])
    assert.equal(after('-append')[0], 'console=ttyS0 panic=-1 loglevel=4 edd=off rdinit=/init mitigations=off')
    assert.match(after('-fsdev')[0]!, /path=\/srv\/root,.*readonly=on/)
    assert.doesNotMatch(after('-fsdev')[1]!, /readonly/)
  })

  it('the kernel command line reboots on panic (which -no-reboot turns into QEMU exiting)', () => {
    assert.match(kernelCmdline(), /panic=-1/)
    assert.match(kernelCmdline(), /console=ttyS0/)
  })
})

describe('guest /init', () => {
  const init = initScript()
  it('is a busybox script that loads the modules in order, mounts both shares and powers off', () => {
    assert.ok(init.startsWith('#!/bin/busybox sh\n'))
    assert.match(init, /while read m; do insmod \/lib\/modules\/\$m\.ko .*< \/lib\/modules\/load-order/)
    assert.match(init, /mount -t 9p -o trans=virtio,version=9p2000\.L,msize=512000,ro,cache=loose hostroot \$N/)
    assert.match(init, /mount -t 9p -o trans=virtio,version=9p2000\.L,msize=512000 results \$N\$R/)
    assert.match(init, /mount -t tracefs tracefs \$N\/sys\/kernel\/tracing/)
    assert.match(init, /mount -t tmpfs -o mode=1777 tmpfs \$N\/tmp/)
    assert.match(init, new RegExp(`R=${GUEST_RESULTS}\n`))
    assert.match(init, /chroot \$N \/bin\/sh \$R\/job\.sh/)
    assert.match(init, /poweroff -f/)
  })

  it('parses with sh -n', () => {
    const f = path.join(tmp, 'init')
    fs.writeFileSync(f, init)
    const r = spawnSync('/bin/sh', ['-n', f], {encoding: 'utf8'})
    assert.equal(r.status, 0, r.stderr)
  })
})

describe('guest job script', () => {
  it('runs the capture with the command verbatim (spaces, quotes, $, flags) and records its status and times', () => {
    const res = path.join(tmp, 'res')
    fs.mkdirSync(res)
    fs.writeFileSync(path.join(res, 'guest.env'), '')
    // a stand-in for node: prints its arguments one per line and exits 3
    const fakeNode = path.join(tmp, 'node')
    fs.writeFileSync(fakeNode, '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\necho to-stderr >&2\nexit 3\n', {
      mode: 0o755,
    })
    const command = ['python3', '-c', `print("it's $HOME")`, '--out', 'x y']
    const script = jobScript({
      node: fakeNode,
      runJs: '/repo/bin/run.js',
      cwd: tmp,
      command,
      env: {HOME: '/tmp', ODD: "a'b c"},
      bufferKb: 4096,
      captureArgs: ['--no-pagecache'],
      results: res,
    })
    fs.writeFileSync(path.join(res, 'job.sh'), script)
    const r = spawnSync('/bin/sh', [path.join(res, 'job.sh')], {encoding: 'utf8', env: {PATH: '/usr/bin:/bin'}})
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(fs.readFileSync(path.join(res, 'stdout.txt'), 'utf8').split('\n').slice(0, -1), [
      '/repo/bin/run.js',
      'capture',
      '--out',
      `${res}/trace.txt`,
      '--buffer-kb',
      '4096',
      '--no-pagecache',
      '--',
      ...command,
    ])
    assert.equal(fs.readFileSync(path.join(res, 'stderr.txt'), 'utf8'), 'to-stderr\n')
    const env = parseGuestEnv(fs.readFileSync(path.join(res, 'guest.env'), 'utf8'))
    assert.equal(env.get('capture_exit'), '3')
    assert.ok(Number(env.get('job_end')) >= Number(env.get('job_start')))
    assert.match(script, /export ODD='a'\\''b c'/)
  })

  it('shQuote leaves plain words alone and quotes the rest', () => {
    assert.equal(shQuote('/usr/bin/python3'), '/usr/bin/python3')
    assert.equal(shQuote(''), "''")
    assert.equal(shQuote("it's"), `'it'\\''s'`)
    const r = spawnSync('/bin/sh', ['-c', `printf %s ${shQuote('a "b" $c `d` \\e')}`], {encoding: 'utf8'})
    assert.equal(r.stdout, 'a "b" $c `d` \\e')
  })
})

describe('console and guest.env protocol', () => {
  it('reads stage markers, guest errors, stalls, panics and KVM failures from console lines', () => {
    assert.deepEqual(consoleEvent('vmareplay-lab: ready uptime=4.72\r'), {kind: 'stage', stage: 'ready', uptime: 4.72})
    // the firmware's escape sequences can precede the first marker on the same line
    assert.deepEqual(consoleEvent('\x1bc\x1b[?7l\x1b[2Jvmareplay-lab: init uptime=5.17'), {
      kind: 'stage',
      stage: 'init',
      uptime: 5.17,
    })
    assert.deepEqual(consoleEvent('vmareplay-lab: error: insmod 9p failed'), {kind: 'error', text: 'insmod 9p failed'})
    // kernel/rcu/tree_stall.h and kernel/watchdog.c
    assert.equal(consoleEvent('[   61.2] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:')?.kind, 'stall')
    assert.equal(consoleEvent('[   61.2] rcu: INFO: rcu_sched self-detected stall on CPU')?.kind, 'stall')
    assert.equal(
      consoleEvent('[   88.0] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [python3:201]')?.kind,
      'stall',
    )
    assert.equal(
      consoleEvent('[    2.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100')?.kind,
      'panic',
    )
    assert.equal(consoleEvent('KVM internal error. Suberror: 1')?.kind, 'kvm')
    assert.equal(consoleEvent('[    0.0] Linux version 6.12.118+deb12-amd64'), undefined)
    assert.equal(consoleEvent('vmareplay-lab: something else'), undefined)
  })

  it('guest.env: key=value lines, the last value wins, junk ignored', () => {
    const env = parseGuestEnv('ready=4.7\njob_start=5\n\nnoise\ncapture_exit=1\ncapture_exit=0\nerror=a=b\n')
    assert.equal(env.get('ready'), '4.7')
    assert.equal(env.get('capture_exit'), '0')
    assert.equal(env.get('error'), 'a=b')
    assert.equal(env.has('noise'), false)
  })
})
