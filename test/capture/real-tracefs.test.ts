// End-to-end captures with the REAL tracefs (and perf). All real-tracefs tests live in this one file
// and run sequentially (node runs test files in parallel processes). Skipped unless root with a
// writable tracefs. Every test checks that the global tracing state is unchanged afterwards.

import assert from 'node:assert/strict'
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {bufferKb, selected} from '../../src/capture/tracefs.js'
import {waitFor} from './fake-tracefs.js'
import {spawnCli} from '../cli.js'

const T = '/sys/kernel/tracing'
const PY = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : undefined

function skipReason(): string | undefined {
  if (os.platform() !== 'linux') return 'not Linux'
  if (process.getuid?.() !== 0) return 'needs root (tracefs is root-only)'
  if (!fs.existsSync(`${T}/tracing_on`)) {
    const r = spawnSync('mount', ['-t', 'tracefs', 'nodev', T], {encoding: 'utf8'})
    if (r.status !== 0 || !fs.existsSync(`${T}/tracing_on`))
      return `tracefs not mounted at ${T} and mount failed: ${(r.stderr || r.error?.message || '').trim()}`
  }
  try {
    fs.accessSync(`${T}/tracing_on`, fs.constants.W_OK)
  } catch {
    return `${T} is not writable`
  }
  if (!fs.existsSync(`${T}/events/mmap_lock`)) return 'kernel has no mmap_lock tracepoints'
  return undefined
}

const SKIP = skipReason()

/** The global tracing state a capture must not change. */
function globalState(): Record<string, string> {
  const r = (f: string): string => fs.readFileSync(path.join(T, f), 'utf8').trim()
  const s: Record<string, string> = {
    tracing_on: r('tracing_on'),
    trace_clock: selected(r('trace_clock')),
    buffer_size_kb: bufferKb(r('buffer_size_kb')),
    current_tracer: r('current_tracer'),
    set_event: r('set_event').split('\n').sort().join(','),
    set_event_pid: r('set_event_pid'),
    set_event_notrace_pid: r('set_event_notrace_pid'),
    instances: fs
      .readdirSync(path.join(T, 'instances'))
      .filter((i) => i.startsWith('vmareplay-'))
      .join(','),
  }
  for (const o of fs.readdirSync(path.join(T, 'options'))) s[`options/${o}`] = r(`options/${o}`)
  return s
}

function sameState(before: Record<string, string>, after: Record<string, string>): void {
  // A never-used top-level buffer reads "7 (expanded: 1408)"; once written it reads the (page-rounded)
  // size: the kernel cannot un-expand it. Allow that rounding only.
  const b = {...before}
  const a = {...after}
  assert.ok(
    Math.abs(Number(a.buffer_size_kb) - Number(b.buffer_size_kb)) <= 4,
    `buffer_size_kb ${b.buffer_size_kb} -> ${a.buffer_size_kb}`,
  )
  delete a.buffer_size_kb
  delete b.buffer_size_kb
  assert.deepEqual(a, b)
}

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function cli(args: string[], onSpawn?: (c: ChildProcess) => void): Promise<Run> {
  return new Promise((resolve) => {
    const c = spawnCli(['capture', ...args])
    let stdout = ''
    let stderr = ''
    c.stdout!.on('data', (b) => (stdout += b))
    c.stderr!.on('data', (b) => (stderr += b))
    c.once('exit', (code) => resolve({code, stdout, stderr}))
    onSpawn?.(c)
  })
}

/** The meta-file fields these tests read (ftrace.ts and perf.ts write more). */
interface CaptureMeta {
  backend: string
  mode: string
  command_pid: number | null
  attach: {maps_lines: number; maps_snapshot_mono: [number, number]}
  maps_file: string | null
  kernel: {release: string}
  times: {tracing_on_mono: [number, number]; tracing_off_mono: [number, number]}
  stop_reason: string
  exit_status: {code: number | null; signal: string | null} | null
  loss: {lost: boolean}
  events: {enabled: string[]}
  ftrace: {instance: string | null}
  perf: {version: string; record: string[]}
}

function meta(trace: string): CaptureMeta {
  return JSON.parse(fs.readFileSync(trace.replace(/\.(trace|perf)\.txt$/, '.meta.json'), 'utf8'))
}

/** First and last event timestamps of an ftrace text file. */
function span(text: string): [number, number] {
  const ts = text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => Number(/\s(\d+\.\d+): /.exec(l)?.[1]))
  return [ts[0], ts.at(-1)!]
}

const TOUCH = `
import mmap, threading
def work():
    m = mmap.mmap(-1, 64 * 4096)
    for off in range(0, 64 * 4096, 4096):
        m[off] = 1
    m.close()
t = threading.Thread(target=work); t.start(); t.join()
work()
print("ok")
`

describe('capture with the real tracefs', {skip: SKIP}, () => {
  let dir = ''
  let state0: Record<string, string> = {}
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmareplay-real-'))
    state0 = globalState()
  })
  after(() => {
    if (dir) fs.rmSync(dir, {recursive: true, force: true})
  })

  const cmd = (): string[] => (PY ? [PY, '-S', '-c', TOUCH] : ['/bin/ls', '-la', '/usr/bin'])

  it('launch mode (instance): page faults, mmap_lock, TGID column, mono clock, kernel version; global state untouched', async () => {
    const out = path.join(dir, 'launch.trace.txt')
    const r = await cli(['--out', out, '--buffer-kb', '8192', '--', ...cmd()])
    assert.equal(r.code, 0, r.stderr)
    if (PY) assert.equal(r.stdout, 'ok\n')
    const text = fs.readFileSync(out, 'utf8')
    assert.match(text, /^# entries-in-buffer\/entries-written: (\d+)\/\1 /m)
    assert.match(
      text,
      /\(\s*\d+\) \[\d{3}\] [.dDNhHsSbB0-9]{5} +\d+\.\d{6}: page_fault_user: address=0x[0-9a-f]+ ip=0x[0-9a-f]+ error_code=0x[0-9a-f]+$/m,
    )
    assert.match(text, /: mmap_lock_start_locking: mm=[0-9a-f]+ memcg_id=\d+ write=(true|false)$/m)
    assert.match(text, /: mmap_lock_acquire_returned: /)
    assert.match(text, /: mmap_lock_released: /)
    assert.match(text, /: sched_process_exec: filename=/)
    assert.match(text, /: sys_mmap\(addr: /)
    assert.match(text, /: page_fault_kernel: /)
    // the first events are the wrapper's last syscalls before exec: nothing of the program is lost
    const firstEvent = text.split('\n').find((l) => l !== '' && !l.startsWith('#'))!
    assert.match(firstEvent, /sys_exit: NR \d+ = |sys_enter: NR /)
    const m = meta(out)
    assert.equal(m.kernel.release, os.release())
    assert.equal(m.kernel.release, spawnSync('uname', ['-r'], {encoding: 'utf8'}).stdout.trim())
    assert.equal(m.ftrace.instance, `vmareplay-${m.ftrace.instance?.split('-')[1]}`)
    assert.equal(m.loss.lost, false)
    assert.ok(m.events.enabled.includes('exceptions:page_fault_user'))
    assert.ok(m.events.enabled.includes('mmap_lock:mmap_lock_start_locking'))
    assert.deepEqual(m.exit_status, {code: 0, signal: null})
    // trace_clock mono == CLOCK_MONOTONIC: events lie between the tracing_on and tracing_off times
    const [t0, t1] = span(text)
    assert.ok(
      t0 >= m.times.tracing_on_mono[0] - 1e-6 && t1 <= m.times.tracing_off_mono[1] + 1e-6,
      `${t0}..${t1} vs ${JSON.stringify(m.times)}`,
    )
    sameState(state0, globalState())
  })

  it(
    'attach mode: tracing on, then /proc/PID/maps between markers; FILE.maps written',
    {skip: PY ? undefined : 'needs /usr/bin/python3'},
    async () => {
      const target = spawn(
        PY!,
        [
          '-S',
          '-c',
          'import mmap, time\nwhile True:\n    m = mmap.mmap(-1, 1 << 20); m[0] = 1; m.close(); time.sleep(0.005)',
        ],
        {stdio: 'ignore'},
      )
      try {
        await waitFor(
          () =>
            fs.existsSync(`/proc/${target.pid}/maps`) &&
            fs.readFileSync(`/proc/${target.pid}/maps`, 'utf8').includes('python'),
        )
        const out = path.join(dir, 'attach.trace.txt')
        const r = await cli(['--pid', String(target.pid), '--duration', '0.5', '--out', out, '--buffer-kb', '8192'])
        assert.equal(r.code, 0, r.stderr)
        const text = fs.readFileSync(out, 'utf8')
        const begin = new RegExp(
          ` (\\d+\\.\\d+): tracing_mark_write: maps_snapshot_begin pid=${target.pid}$`,
          'm',
        ).exec(text)
        const end = new RegExp(` (\\d+\\.\\d+): tracing_mark_write: maps_snapshot_end pid=${target.pid}$`, 'm').exec(
          text,
        )
        assert.ok(begin && end, 'both markers present')
        assert.match(text, new RegExp(`\\(\\s*${target.pid}\\) .*: page_fault_user: `))
        assert.match(text, new RegExp(`\\(\\s*${target.pid}\\) .*: sys_munmap\\(addr: `))
        const maps = fs.readFileSync(path.join(dir, 'attach.maps'), 'utf8')
        assert.match(maps, /python3/)
        const m = meta(out)
        assert.equal(m.mode, 'attach')
        assert.equal(m.maps_file, 'attach.maps')
        assert.equal(m.attach.maps_lines, maps.trim().split('\n').length)
        // marker timestamps (trace clock) bracket the snapshot times taken with CLOCK_MONOTONIC
        assert.ok(
          Number(begin![1]) <= m.attach.maps_snapshot_mono[0] + 1e-5 &&
            Number(end![1]) >= m.attach.maps_snapshot_mono[1] - 1e-5,
        )
        assert.equal(m.stop_reason, 'duration')
        assert.equal(m.loss.lost, false)
      } finally {
        target.kill('SIGKILL')
      }
      sameState(state0, globalState())
    },
  )

  it('--no-instance (top-level buffer): every changed setting is written back, the lock released', async () => {
    const out = path.join(dir, 'global.trace.txt')
    const lock = path.join(dir, 'global.lock')
    const r = await cli(['--no-instance', '--lock-file', lock, '--out', out, '--buffer-kb', '4096', '--', ...cmd()])
    assert.equal(r.code, 0, r.stderr)
    assert.match(fs.readFileSync(out, 'utf8'), /: page_fault_user: /)
    assert.equal(meta(out).ftrace.instance, null)
    assert.equal(fs.existsSync(lock), false)
    sameState(state0, globalState())
  })

  it('Ctrl-C (SIGINT to the capture): command terminated, trace saved, instance removed, exit 0', async () => {
    const out = path.join(dir, 'sigint.trace.txt')
    let pid = 0
    const r = await cli(['--out', out, '--buffer-kb', '4096', '--', 'sleep', '30'], (c) => {
      pid = c.pid!
      const filter = path.join(T, 'instances', `vmareplay-${pid}`, 'set_event_pid')
      void waitFor(() => fs.existsSync(filter) && fs.readFileSync(filter, 'utf8').trim() !== '', 10_000)
        .then(() => new Promise((res) => setTimeout(res, 100)))
        .then(() => {
          // like a terminal's Ctrl-C: SIGINT to the capture and to the command (same process group)
          const sleeper = Number(fs.readFileSync(filter, 'utf8').trim().split(/\s+/)[0])
          c.kill('SIGINT')
          process.kill(sleeper, 'SIGINT')
        })
    })
    assert.equal(r.code, 0, r.stderr)
    const m = meta(out)
    assert.equal(m.stop_reason, 'SIGINT')
    assert.deepEqual(m.exit_status, {code: null, signal: 'SIGINT'})
    assert.match(fs.readFileSync(out, 'utf8'), /sched_process_exit: comm=sleep/)
    assert.equal(fs.existsSync(path.join(T, 'instances', `vmareplay-${pid}`)), false)
    sameState(state0, globalState())
  })

  it('two captures at the same time do not clash (one instance each)', async () => {
    const a = path.join(dir, 'a.trace.txt')
    const b = path.join(dir, 'b.trace.txt')
    const [ra, rb] = await Promise.all([
      cli(['--out', a, '--buffer-kb', '4096', '--', 'sh', '-c', 'sleep 0.3; echo a']),
      cli(['--out', b, '--buffer-kb', '4096', '--', 'sh', '-c', 'sleep 0.3; echo b']),
    ])
    assert.equal(ra.code, 0, ra.stderr)
    assert.equal(rb.code, 0, rb.stderr)
    for (const f of [a, b]) {
      const tgids = new Set(
        fs
          .readFileSync(f, 'utf8')
          .split('\n')
          .filter((l) => l && !l.startsWith('#'))
          .map((l) => /\(\s*(\d+)\)/.exec(l)?.[1]),
      )
      const own = meta(f).command_pid
      // only the command's own process and its children (sleep, echo is a builtin)
      assert.ok(tgids.has(String(own)), f)
      assert.ok(tgids.size <= 2, `${f}: ${[...tgids].join(',')}`)
    }
    sameState(state0, globalState())
  })

  it(
    'perf backend: perf record + perf script in one step',
    {skip: fs.existsSync('/usr/bin/perf') ? undefined : 'perf not installed'},
    async () => {
      const out = path.join(dir, 'p.perf.txt')
      const r = await cli(['--backend', 'perf', '--out', out, '--buffer-kb', '4096', '--', ...cmd()])
      assert.equal(r.code, 0, r.stderr)
      const text = fs.readFileSync(out, 'utf8')
      assert.match(text, /^\s+\S+ +\d+\/\d+ +\[\d{3}\] +\d+\.\d{6}: +exceptions:page_fault_user: address=0x/m)
      assert.match(text, /mmap_lock:mmap_lock_start_locking: mm=0x/)
      assert.match(text, /PERF_RECORD_MMAP2 \d+\/\d+: /)
      assert.match(text, /PERF_RECORD_EXIT|PERF_RECORD_FORK/)
      const m = meta(out)
      assert.equal(m.backend, 'perf')
      assert.equal(m.kernel.release, os.release())
      assert.match(m.perf.version, /perf version/)
      assert.ok(m.perf.record.includes('-d') && m.perf.record.includes('mono'))
      assert.equal(m.loss.lost, false)
      sameState(state0, globalState())
    },
  )
})
