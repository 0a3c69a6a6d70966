// End to end: boot Debian's 6.12 under QEMU (TCG), capture a short real program in it, ingest and validate the
// trace. Needs qemu-system-x86_64, a static busybox and the 6.12 kernel in the lab directory; with CI=true it
// installs them (vmareplay lab fetch 6.12, cached in ~/.cache/vmareplay/lab), otherwise it skips saying what is missing.

import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, test} from 'node:test'

import {hiddenInGuest} from '../../src/lab/guest.js'
import {labDir, repoRoot} from '../../src/lab/paths.js'
import {RECIPES_DIR} from '../../src/lab/workloads.js'
import {missingTools, which} from '../../src/lab/tools.js'
import {tmpDir} from './helpers.js'
import {cliWith, type CliResult} from '../cli.js'

const ci = process.env.CI === 'true'
const lab = labDir()
const installed = (): boolean => fs.existsSync(path.join(lab, 'kernels', '6.12', 'kernel.json'))

function prepare(): string | false {
  const own = hiddenInGuest(repoRoot())
  if (own !== null) return `the checkout ${repoRoot()} is under ${own}, which the guest mounts its own filesystem over`
  if (process.getuid?.() !== 0)
    return 'not root (the guest capture needs no root, but installing QEMU and the kernel does)'
  if (ci && (!installed() || missingTools(['qemu', 'busybox']).length > 0)) {
    const r = cliWith({timeout: 600_000}, 'lab', 'fetch', '6.12')
    if (r.code !== 0) return `vmareplay lab fetch 6.12 failed (exit ${r.code}): ${r.err.trim().split('\n').pop()}`
  }
  const missing = missingTools(['qemu', 'busybox'])
  if (missing.length > 0)
    return `missing ${missing.join(', ')} (apt-get install qemu-system-x86 busybox-static, or run with CI=true)`
  if (!installed()) return 'the 6.12 kernel is not installed (vmareplay lab fetch 6.12, or run with CI=true)'
  if (which('python3') === undefined && !fs.existsSync('/usr/bin/python3')) return 'python3 is not installed'
  return false
}

const skip = prepare()
const tmp = tmpDir('e2e')
after(() => fs.rmSync(tmp, {recursive: true, force: true}))

const cli = (args: string[], timeout: number): CliResult => cliWith({timeout}, ...args)

test(
  'lab run on 6.12: boots, captures python3 faulting anonymous memory in threads, ingests with 0 malformed lines, validates',
  {skip, timeout: 900_000},
  () => {
    const out = path.join(tmp, 'out')
    const recipe = path.join(RECIPES_DIR(), 'anon_threads.py')
    const run = cli(
      [
        'lab',
        'run',
        '--kernel',
        '6.12',
        '--out',
        out,
        '--timeout',
        '400',
        '--json',
        '--',
        '/usr/bin/python3',
        '-S',
        recipe,
        '1',
        '1028',
        '2',
      ],
      900_000,
    )
    assert.equal(run.code, 0, run.err)
    const dir = path.join(out, 'run-1')
    const info = JSON.parse(fs.readFileSync(path.join(dir, 'lab.json'), 'utf8'))
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'trace.meta.json'), 'utf8'))
    const kernel = JSON.parse(fs.readFileSync(path.join(lab, 'kernels', '6.12', 'kernel.json'), 'utf8'))
    assert.equal(meta.kernel.release, kernel.release, 'the capture ran on the guest kernel')
    assert.match(meta.kernel.release, /^6\.12\./)
    assert.equal(meta.environment.thp.enabled, 'always', "Debian's THP default")
    assert.equal(meta.environment.hz, 250)
    assert.deepEqual(meta.exit_status, {code: 0, signal: null})
    assert.equal(meta.loss.lost, false)
    assert.ok(info.times.boot_s > 0 && info.times.guest_run_s > 0)
    assert.equal(info.qemu.accel, 'tcg')

    const db = path.join(tmp, 'e2e.db')
    const ing = cli(['ingest', path.join(dir, 'trace.txt'), '--db', db, '--json'], 120_000)
    assert.equal(ing.code, 0, ing.err)
    const s = JSON.parse(ing.out)
    assert.equal(s.malformedLines, 0)
    assert.equal(s.kernelVersion, kernel.release)
    assert.ok(s.faults > 500, `faults: ${s.faults}`)
    assert.ok(s.eventsByKind.lock_acquire > 0, 'the mmap_lock tracepoints fired in the guest')

    const val = cli(['validate', path.join(dir, 'trace.txt'), '--policy', 'v6.10', '--json'], 300_000)
    assert.equal(val.code, 0, val.err)
    const v = JSON.parse(val.out)
    assert.equal(v.faults, s.faults)
    assert.ok(v.accuracy > 0.9, `accuracy ${v.accuracy}`)
  },
)
