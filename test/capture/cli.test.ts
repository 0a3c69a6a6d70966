// The oclif command: argument handling, exit codes and signal handling, against a fake tracefs.

import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {makeFakeTracefs, snapshot, waitFor} from './fake-tracefs.js'
import {cliWith, spawnCli, type CliResult} from '../cli.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmareplay-capcli-'))
after(() => fs.rmSync(tmp, {recursive: true, force: true}))

let n = 0
function fresh(): {root: string; out: string; lock: string; before: Record<string, string>} {
  const root = makeFakeTracefs()
  fs.renameSync(root, path.join(tmp, `fs${++n}`))
  const r = path.join(tmp, `fs${n}`)
  return {root: r, out: path.join(tmp, `o${n}.trace.txt`), lock: path.join(tmp, `l${n}.lock`), before: snapshot(r)}
}

const cli = (args: string[]): CliResult => cliWith({timeout: 20_000}, 'capture', ...args)

function fakeArgs(f: ReturnType<typeof fresh>, tracefs = f.root): string[] {
  return ['--tracefs', tracefs, '--no-instance', '--lock-file', f.lock, '--out', f.out, '--buffer-kb', '1024']
}

describe('vmareplay capture (CLI, fake tracefs)', () => {
  it('--help shows usage, examples and exit codes', () => {
    const r = cli(['--help'])
    assert.equal(r.code, 0)
    assert.match(
      r.out.replace(/\s+/g, ' '),
      /capture \[--backend ftrace\|perf\] \[--out FILE\] \[--duration S\] \[--pid PID \| -- COMMAND ARGS\.\.\.\]/,
    )
    assert.match(r.out, /EXAMPLES/)
    assert.match(r.out, /Exit codes:/)
    assert.match(r.out, /10 {2}the trace was saved but/)
  })

  it('captures /bin/echo with flag-like arguments passed through verbatim, and restores the fake tracefs', () => {
    const f = fresh()
    const r = cli([...fakeArgs(f), '--', '/bin/echo', '--out', f.out, '-p', '1'])
    assert.equal(r.code, 0, r.err)
    assert.equal(r.out, `--out ${f.out} -p 1\n`)
    const meta = JSON.parse(fs.readFileSync(f.out.replace('.trace.txt', '.meta.json'), 'utf8'))
    assert.deepEqual(meta.command, ['/bin/echo', '--out', f.out, '-p', '1'])
    assert.deepEqual(snapshot(f.root), f.before)
    assert.match(r.err, /saved .*o\d+\.trace\.txt/)
  })

  const usage: Array<[string, string[], RegExp]> = [
    ['neither command nor pid', [], /nothing to trace/],
    ['both command and pid', ['--pid', '1', '--', '/bin/true'], /not both/],
    ['a command without --', ['/bin/true'], /put -- before the command/],
    ['a bad --event', ['--event', 'nocolon', '--', '/bin/true'], /subsystem:event/],
    ['a bad --duration', ['--duration', '-3', '--', '/bin/true'], /positive number/],
    ['an unknown backend', ['--backend', 'bpf', '--', '/bin/true'], /ftrace, perf|ftrace\|perf|Expected --backend/],
  ]
  for (const [name, args, re] of usage) {
    it(`exit 2 for ${name}`, () => {
      const f = fresh()
      const r = cli([...fakeArgs(f), ...args])
      assert.equal(r.code, 2, r.err)
      assert.match(r.err, re)
      assert.deepEqual(snapshot(f.root), f.before)
    })
  }

  it('exit 5 for an unknown pid', () => {
    const f = fresh()
    const r = cli([...fakeArgs(f), '--pid', '999999999'])
    assert.equal(r.code, 5, r.err)
    assert.match(r.err, /no running process with pid 999999999/)
  })

  it('exit 7 for a command that does not exist', () => {
    const f = fresh()
    const r = cli([...fakeArgs(f), '--', 'vmareplay-no-such-command'])
    assert.equal(r.code, 7, r.err)
    assert.match(r.err, /command not found/)
  })

  it('exit 4 when --tracefs is not a tracefs', () => {
    const f = fresh()
    const r = cli([...fakeArgs(f, path.join(tmp, 'nope')), '--', '/bin/true'])
    assert.equal(r.code, 4, r.err)
    assert.match(r.err, /not a tracefs/)
  })

  it('exit 6 while another global-mode capture holds the lock', () => {
    const f = fresh()
    fs.writeFileSync(f.lock, JSON.stringify({pid: process.pid, started: 'now', dir: f.root, journal: []}))
    const r = cli([...fakeArgs(f), '--', '/bin/true'])
    assert.equal(r.code, 6, r.err)
    assert.match(r.err, /another global-mode capture \(pid \d+/)
    assert.deepEqual(snapshot(f.root), f.before)
  })

  it('SIGTERM to the capture: the command is stopped, the trace saved, the state restored, exit 0', async () => {
    const f = fresh()
    const child = spawnCli(['capture', ...fakeArgs(f), '--', 'sleep', '30'])
    let stderr = ''
    child.stderr!.on('data', (b) => (stderr += b))
    await waitFor(
      () =>
        fs.readFileSync(path.join(f.root, 'tracing_on'), 'utf8').trim() === '1' &&
        fs.readFileSync(path.join(f.root, 'set_event_pid'), 'utf8').trim() !== '',
      10_000,
    )
    const sleeper = Number(fs.readFileSync(path.join(f.root, 'set_event_pid'), 'utf8').trim())
    child.kill('SIGTERM')
    const code = await new Promise((r) => child.once('exit', r))
    assert.equal(code, 0, stderr)
    assert.match(stderr, /SIGTERM: stopping/)
    assert.deepEqual(snapshot(f.root), f.before)
    assert.ok(fs.existsSync(f.out))
    const meta = JSON.parse(fs.readFileSync(f.out.replace('.trace.txt', '.meta.json'), 'utf8'))
    assert.equal(meta.stop_reason, 'SIGTERM')
    assert.equal(
      fs.existsSync(`/proc/${sleeper}/status`) &&
        !/State:\s+Z/.test(fs.readFileSync(`/proc/${sleeper}/status`, 'utf8')),
      false,
      'the traced command was terminated',
    )
  })
})
