// The settings `vmareplay capture` writes and restores, against a fake tracefs directory.

import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {afterEach, describe, it} from 'node:test'

import {CaptureError, ExitCode} from '../../src/capture/errors.js'
import {STD_EVENTS} from '../../src/capture/events.js'
import {captureFtrace, type FtraceOptions} from '../../src/capture/ftrace.js'
import {Stopper} from '../../src/capture/stop.js'
import {CPU_STATS, FAKE_EVENTS, FakeIo, makeFakeTracefs, snapshot, waitFor} from './fake-tracefs.js'

const tmpDirs: string[] = []
afterEach(() => {
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, {recursive: true, force: true})
})

function setup(opts: {enabled?: string[]} = {}): {
  root: string
  io: FakeIo
  out: string
  lock: string
  before: Record<string, string>
} {
  const root = makeFakeTracefs(opts)
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmareplay-capout-'))
  tmpDirs.push(root, outDir)
  return {
    root,
    io: new FakeIo(root),
    out: path.join(outDir, 'x.trace.txt'),
    lock: path.join(outDir, 'capture.lock'),
    before: snapshot(root),
  }
}

function opts(s: ReturnType<typeof setup>, extra: Partial<FtraceOptions>): FtraceOptions {
  const warnings: string[] = []
  return {
    out: s.out,
    bufferKb: 4096,
    events: {kfault: true, pagecache: true, extra: []},
    log: {info() {}, warn: (m) => warnings.push(m)},
    stopper: new Stopper(),
    tracefs: s.root,
    io: s.io,
    instance: false,
    lockFile: s.lock,
    isRoot: true,
    mountIfMissing: false,
    graceMs: 300,
    ...extra,
  }
}

async function rejectsWith(p: Promise<unknown>, code: number, re?: RegExp): Promise<CaptureError> {
  try {
    await p
  } catch (error) {
    assert.ok(error instanceof CaptureError, `expected CaptureError, got ${String(error)}`)
    assert.equal(error.code, code, error.message)
    if (re) assert.match(error.message, re)
    return error
  }
  assert.fail('expected a CaptureError')
}

const ENABLED_EXPECTED = [
  ...STD_EVENTS.map((e) => e.name),
  'exceptions:page_fault_kernel',
  ...FAKE_EVENTS.filter((e) => /^(filemap|readahead):/.test(e)),
].filter((e) => e !== 'mmap:vm_unmapped_area')

describe('capture ftrace against a fake tracefs (global mode, --no-instance)', () => {
  it('writes the exact settings, follows the wrapper pid, saves trace+meta and restores everything', async () => {
    const s = setup({enabled: ['sched:sched_switch']})
    const res = await captureFtrace(opts(s, {command: ['/bin/true']}))
    const io = s.io
    // tracing is turned off before anything else, on after the pid filter, off at the end, then restored
    assert.equal(io.writes[0].file, 'tracing_on')
    assert.equal(io.writes[0].value, '0')
    assert.deepEqual(io.written('tracing_on'), ['0', '1', '0', '1'])
    assert.deepEqual(io.written('trace_clock'), ['mono', 'local'])
    assert.deepEqual(io.written('buffer_size_kb'), ['4096', '1408'])
    assert.deepEqual(io.written('options/record-tgid'), ['1', '0'])
    assert.deepEqual(io.written('options/event-fork'), ['1', '0'])
    assert.deepEqual(io.written('options/overwrite'), ['0', '1'])
    // options already at the wanted value are not touched
    assert.deepEqual(io.written('options/irq-info'), [])
    assert.deepEqual(io.written('current_tracer'), [])
    // another user's event is disabled for the capture and re-enabled afterwards
    assert.deepEqual(io.written('events/sched/sched_switch/enable'), ['0', '1'])
    for (const e of ENABLED_EXPECTED) {
      const [sys, ev] = e.split(':')
      assert.deepEqual(io.written(`events/${sys}/${ev}/enable`), ['1', '0'], e)
    }
    // the pid filter: cleared, the wrapper's pid (= the command's pid after exec), cleared again
    const pid = String(res.meta.command_pid)
    assert.match(pid, /^\d+$/)
    assert.deepEqual(io.written('set_event_pid'), ['', pid, ''])
    const onIdx = io.writes.findIndex((w) => w.file === 'tracing_on' && w.value === '1')
    const pidIdx = io.writes.findIndex((w) => w.file === 'set_event_pid' && w.value === pid)
    assert.ok(pidIdx < onIdx, 'set_event_pid is written before tracing_on=1')
    assert.ok(io.written('trace').length === 1, 'the buffer is cleared once')
    // restored: every file has its previous value again; the lock is gone
    assert.deepEqual(snapshot(s.root), s.before)
    assert.equal(fs.existsSync(s.lock), false)
    // outputs
    assert.equal(fs.readFileSync(s.out, 'utf8').split('\n')[2], '# entries-in-buffer/entries-written: 3/3   #P:2')
    const meta = JSON.parse(fs.readFileSync(res.paths.meta, 'utf8'))
    assert.equal(res.paths.meta, s.out.replace('.trace.txt', '.meta.json'))
    assert.equal(meta.kernel.release, os.release())
    assert.equal(meta.clock, 'mono')
    assert.equal(meta.ftrace.instance, null)
    assert.deepEqual(meta.events.missing, ['mmap:vm_unmapped_area'])
    assert.deepEqual([...meta.events.enabled].sort(), [...ENABLED_EXPECTED].sort())
    assert.ok(meta.warnings.some((w: string) => w.includes('mmap:vm_unmapped_area')))
    assert.equal(meta.loss.lost, false)
    assert.equal(meta.loss.trace.entries_written, 3)
    assert.equal(meta.output.lines, 9)
    assert.deepEqual(meta.exit_status, {code: 0, signal: null})
    assert.equal(meta.restore.complete, true)
    assert.equal(res.lost, false)
  })

  it('clears an event filter for the capture and restores it', async () => {
    const s = setup()
    fs.writeFileSync(path.join(s.root, 'events/exceptions/page_fault_user/filter'), 'address < 0x1000\n')
    s.before = snapshot(s.root)
    await captureFtrace(opts(s, {command: ['/bin/true']}))
    assert.deepEqual(s.io.written('events/exceptions/page_fault_user/filter'), ['0', 'address < 0x1000'])
    assert.deepEqual(snapshot(s.root), s.before)
  })

  it('restores everything after a tracefs error during setup', async () => {
    const s = setup()
    s.io.failOn = 'events/mmap_lock/mmap_lock_released/enable'
    await rejectsWith(captureFtrace(opts(s, {command: ['/bin/true']})), ExitCode.TRACE_FAILED, /mmap_lock_released/)
    assert.ok(s.io.written('trace_clock').includes('mono'), 'setup had started')
    assert.deepEqual(snapshot(s.root), s.before)
    assert.equal(fs.existsSync(s.lock), false)
    assert.equal(fs.existsSync(s.out), false)
  })

  it('reports ENOMEM on buffer_size_kb as "use a smaller --buffer-kb" and restores', async () => {
    const s = setup()
    s.io.failOn = 'buffer_size_kb'
    s.io.failError = 'ENOMEM'
    await rejectsWith(captureFtrace(opts(s, {command: ['/bin/true']})), ExitCode.TRACE_FAILED, /smaller --buffer-kb/)
    assert.deepEqual(snapshot(s.root), s.before)
  })

  it('restores everything after the traced command is killed', async () => {
    const s = setup()
    const p = captureFtrace(opts(s, {command: ['sleep', '30']}))
    await waitFor(() => s.io.written('tracing_on').includes('1'))
    const pid = Number(s.io.written('set_event_pid')[1])
    process.kill(pid, 'SIGKILL')
    const res = await p
    assert.deepEqual(res.meta.exit_status, {code: null, signal: 'SIGKILL'})
    assert.equal(res.meta.stop_reason, 'exit')
    assert.ok(res.warnings.some((w) => w.includes('SIGKILL')))
    assert.deepEqual(snapshot(s.root), s.before)
    assert.equal(fs.existsSync(s.lock), false)
  })

  it('Ctrl-C (stop request) terminates the command, saves the trace and restores', async () => {
    const s = setup()
    const o = opts(s, {command: ['sleep', '30'], graceMs: 100})
    const p = captureFtrace(o)
    await waitFor(() => s.io.written('tracing_on').includes('1'))
    o.stopper.stop('SIGTERM')
    const res = await p
    assert.equal(res.meta.stop_reason, 'SIGTERM')
    assert.deepEqual(res.meta.exit_status, {code: null, signal: 'SIGTERM'})
    assert.ok(fs.existsSync(s.out))
    assert.deepEqual(snapshot(s.root), s.before)
  })

  it('--duration stops the capture', async () => {
    const s = setup()
    const t0 = Date.now()
    const res = await captureFtrace(opts(s, {command: ['sleep', '30'], durationS: 0.2}))
    assert.ok(Date.now() - t0 < 5000)
    assert.equal(res.meta.stop_reason, 'duration')
    assert.deepEqual(snapshot(s.root), s.before)
  })

  it('a second signal aborts saving but still restores', async () => {
    const s = setup()
    s.io.traceContent = 'x\n'.repeat(3 << 20) // 6 MiB: several chunks to copy
    const o = opts(s, {command: ['sleep', '30'], graceMs: 50})
    const p = captureFtrace(o)
    await waitFor(() => s.io.written('tracing_on').includes('1'))
    o.stopper.stop('SIGINT')
    o.stopper.aborted = true
    await rejectsWith(p, ExitCode.TRACE_FAILED, /interrupted/)
    assert.deepEqual(snapshot(s.root), s.before)
  })

  it('reports lost events from the header and per-CPU stats', async () => {
    const s = setup()
    s.io.traceContent = '# tracer: nop\n#\n# entries-in-buffer/entries-written: 5/9   #P:2\nCPU:1 [LOST 4 EVENTS]\n'
    fs.writeFileSync(path.join(s.root, 'per_cpu/cpu1/stats'), CPU_STATS(4, 2))
    const res = await captureFtrace(opts(s, {command: ['/bin/true']}))
    assert.equal(res.lost, true)
    const loss = res.meta.loss as {lost: boolean; reasons: string[]; per_cpu: Array<{overrun: number; dropped: number}>}
    assert.equal(loss.reasons.length, 3)
    assert.equal(loss.per_cpu[1].overrun, 4)
    assert.equal(loss.per_cpu[1].dropped, 2)
    assert.ok(res.warnings.some((w) => w.startsWith('EVENTS WERE LOST')))
  })

  it('refuses while another live capture holds the lock, touching nothing', async () => {
    const s = setup()
    const holder = spawn('sleep', ['30'])
    try {
      fs.writeFileSync(s.lock, JSON.stringify({pid: holder.pid, started: 'now', dir: s.root, journal: []}))
      await rejectsWith(captureFtrace(opts(s, {command: ['/bin/true']})), ExitCode.BUSY, /another global-mode capture/)
      assert.equal(s.io.writes.length, 0)
      assert.ok(fs.existsSync(s.lock))
    } finally {
      holder.kill('SIGKILL')
    }
  })

  it('repairs the state left by a killed capture (stale lock with journal), then restores to the repaired state', async () => {
    const s = setup()
    // a dead capture had set trace_clock=mono and record-tgid=1 and journaled the old values
    fs.writeFileSync(
      path.join(s.root, 'trace_clock'),
      'local global counter uptime perf [mono] mono_raw boot tai x86-tsc\n',
    )
    fs.writeFileSync(path.join(s.root, 'options/record-tgid'), '1\n')
    const dead = spawn('true')
    await new Promise((r) => dead.once('exit', r))
    const journal = [
      {file: 'trace_clock', prev: 'local'},
      {file: 'options/record-tgid', prev: '0'},
    ]
    fs.writeFileSync(s.lock, JSON.stringify({pid: dead.pid, started: 'then', dir: s.root, journal}))
    const res = await captureFtrace(opts(s, {command: ['/bin/true']}))
    assert.ok(res.warnings.some((w) => /restored 2 tracing setting/.test(w)))
    assert.deepEqual(snapshot(s.root), s.before)
    assert.equal(fs.existsSync(s.lock), false)
  })

  it('exit code 10 when a setting cannot be restored; the lock keeps the journal and the next capture repairs it', async () => {
    const s = setup()
    const p = captureFtrace(opts(s, {command: ['sleep', '30'], durationS: 0.3}))
    await waitFor(() => s.io.written('tracing_on').includes('1'))
    s.io.failOn = 'trace_clock' // the restore write fails
    await rejectsWith(p, ExitCode.RESTORE_FAILED, /trace_clock/)
    const meta = JSON.parse(fs.readFileSync(s.out.replace('.trace.txt', '.meta.json'), 'utf8'))
    assert.equal(meta.restore.complete, false)
    assert.match(fs.readFileSync(path.join(s.root, 'trace_clock'), 'utf8'), /\[mono\]/)
    const lock = JSON.parse(fs.readFileSync(s.lock, 'utf8'))
    assert.deepEqual(
      lock.journal.find((e: {file: string}) => e.file === 'trace_clock'),
      {file: 'trace_clock', prev: 'local'},
    )
    // next capture: takes over the stale lock (same pid is not "another capture"), repairs, captures, restores
    await captureFtrace(opts(s, {command: ['/bin/true']}))
    assert.deepEqual(snapshot(s.root), s.before)
    assert.equal(fs.existsSync(s.lock), false)
  })

  it('restores per-CPU buffer sizes when they differ (buffer_size_kb reads X)', async () => {
    const s = setup()
    fs.writeFileSync(path.join(s.root, 'buffer_size_kb'), 'X\n')
    fs.writeFileSync(path.join(s.root, 'per_cpu/cpu0/buffer_size_kb'), '2048\n')
    fs.writeFileSync(path.join(s.root, 'per_cpu/cpu1/buffer_size_kb'), '1024\n')
    s.before = snapshot(s.root)
    await captureFtrace(opts(s, {command: ['/bin/true']}))
    assert.deepEqual(s.io.written('buffer_size_kb'), ['4096'])
    assert.deepEqual(s.io.written('per_cpu/cpu0/buffer_size_kb'), ['2048'])
    assert.deepEqual(s.io.written('per_cpu/cpu1/buffer_size_kb'), ['1024'])
  })
})

describe('capture ftrace against a fake tracefs: preflight errors change nothing', () => {
  it('unknown pid', async () => {
    const s = setup()
    const dead = spawn('true')
    await new Promise((r) => dead.once('exit', r))
    await rejectsWith(captureFtrace(opts(s, {pid: dead.pid})), ExitCode.UNKNOWN_PID, /no running process/)
    assert.equal(s.io.writes.length, 0)
  })

  it('command not found', async () => {
    const s = setup()
    await rejectsWith(captureFtrace(opts(s, {command: ['/nonexistent/vmareplay-nope']})), ExitCode.COMMAND_NOT_FOUND)
    assert.equal(s.io.writes.length, 0)
  })

  it('not a tracefs', async () => {
    const s = setup()
    await rejectsWith(
      captureFtrace(opts(s, {command: ['/bin/true'], tracefs: path.join(s.root, 'nope')})),
      ExitCode.NO_TRACEFS,
    )
  })

  it('not root and tracefs not mounted', async () => {
    const s = setup()
    await rejectsWith(
      captureFtrace(
        opts(s, {command: ['/bin/true'], tracefs: path.join(s.root, 'nope'), mountIfMissing: true, isRoot: false}),
      ),
      ExitCode.PERMISSION,
      /root/,
    )
  })

  it('both or neither of pid and command', async () => {
    const s = setup()
    await rejectsWith(captureFtrace(opts(s, {})), ExitCode.USAGE)
    await rejectsWith(captureFtrace(opts(s, {pid: process.pid, command: ['/bin/true']})), ExitCode.USAGE)
  })

  it('output directory not writable', async () => {
    const s = setup()
    await rejectsWith(
      captureFtrace(opts(s, {command: ['/bin/true'], out: '/nonexistent-dir/x.trace.txt'})),
      ExitCode.TRACE_FAILED,
      /--out/,
    )
    assert.equal(s.io.writes.length, 0)
  })
})

describe('capture ftrace against a fake tracefs (instance mode)', () => {
  it('configures only its own instance, removes it and stale ones, never writes the top level', async () => {
    const s = setup()
    const dead = spawn('true')
    await new Promise((r) => dead.once('exit', r))
    const stale = path.join(s.root, 'instances', `vmareplay-${dead.pid}`)
    fs.mkdirSync(stale)
    const other = path.join(s.root, 'instances', 'someone-else')
    fs.mkdirSync(other)
    const res = await captureFtrace(opts(s, {command: ['/bin/true'], instance: true}))
    const inst = `instances/vmareplay-${process.pid}`
    assert.equal(res.meta.ftrace && (res.meta.ftrace as {instance: string}).instance, `vmareplay-${process.pid}`)
    assert.ok(s.io.writes.length > 20)
    for (const w of s.io.writes) assert.ok(w.file.startsWith(inst + '/'), `write outside the instance: ${w.file}`)
    assert.deepEqual(s.io.written(`${inst}/trace_clock`), ['mono'])
    assert.deepEqual(s.io.written(`${inst}/buffer_size_kb`), ['4096'])
    assert.deepEqual(s.io.written(`${inst}/options/record-tgid`), ['1'])
    assert.deepEqual(s.io.written(`${inst}/tracing_on`), ['0', '1', '0', '0'])
    assert.equal(fs.existsSync(path.join(s.root, inst)), false, 'instance removed')
    assert.equal(fs.existsSync(stale), false, 'stale instance of a dead capture removed')
    assert.equal(fs.existsSync(other), true, 'foreign instance left alone')
    fs.rmdirSync(other)
    assert.deepEqual(snapshot(s.root), s.before)
    assert.equal(fs.existsSync(s.lock), false, 'no lock in instance mode')
    assert.ok(res.warnings.some((w) => w.includes('stale tracefs instance')))
  })

  it('attach mode: pid filter = all threads, markers around the maps snapshot, FILE.maps written', async () => {
    const s = setup()
    const target = spawn('sleep', ['30'])
    try {
      await waitFor(() => fs.existsSync(`/proc/${target.pid}/task`))
      const res = await captureFtrace(opts(s, {pid: target.pid, durationS: 0.2, instance: true}))
      const inst = `instances/vmareplay-${process.pid}`
      assert.deepEqual(s.io.written(`${inst}/set_event_pid`), ['', String(target.pid)])
      const markers = s.io.writes.filter((w) => w.file === `${inst}/trace_marker`)
      assert.deepEqual(
        markers.map((m) => [m.value, m.append]),
        [
          [`maps_snapshot_begin pid=${target.pid}`, true],
          [`maps_snapshot_end pid=${target.pid}`, true],
        ],
      )
      const onIdx = s.io.writes.findIndex((w) => w.file === `${inst}/tracing_on` && w.value === '1')
      const mIdx = s.io.writes.findIndex((w) => w.file === `${inst}/trace_marker`)
      assert.ok(onIdx < mIdx, 'tracing is on before the maps snapshot')
      const maps = fs.readFileSync(res.paths.maps, 'utf8')
      assert.match(maps, /\[stack\]/)
      assert.equal(res.paths.maps, s.out.replace('.trace.txt', '.maps'))
      const attach = res.meta.attach as {
        tgid: number
        tids_at_attach: number
        maps_lines: number
        maps_snapshot_mono: number[]
      }
      assert.equal(attach.tgid, target.pid)
      assert.equal(attach.tids_at_attach, 1)
      assert.equal(attach.maps_lines, maps.trim().split('\n').length)
      assert.equal(res.meta.stop_reason, 'duration')
      assert.equal(res.meta.mode, 'attach')
      assert.equal(fs.existsSync(path.join(s.root, inst)), false)
    } finally {
      target.kill('SIGKILL')
    }
  })

  it('attach mode stops when the target exits', async () => {
    const s = setup()
    const target = spawn('sleep', ['0.3'])
    await waitFor(() => fs.existsSync(`/proc/${target.pid}/task`))
    const res = await captureFtrace(opts(s, {pid: target.pid, instance: true}))
    assert.equal(res.meta.stop_reason, 'target-exit')
  })
})
