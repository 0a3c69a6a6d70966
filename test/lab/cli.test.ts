// The lab commands as a user runs them: help, usage errors and the exit codes of the common failures.

import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {fakeKernel, RUN_JS, tmpDir} from './helpers.js'

const tmp = tmpDir('cli')
after(() => fs.rmSync(tmp, {recursive: true, force: true}))
const lab = path.join(tmp, 'lab')

function cli(args: string[], env: NodeJS.ProcessEnv = {}): {status: number | null; stdout: string; stderr: string} {
  const r = spawnSync(process.execPath, [RUN_JS, ...args], {encoding: 'utf8', timeout: 30_000, env: {...process.env, VMAREPLAY_LAB_DIR: lab, NO_COLOR: '1', ...env}})
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

describe('vmareplay lab (CLI)', () => {
  for (const cmd of ['run', 'suite', 'fetch', 'kernels']) {
    it(`lab ${cmd} --help has examples${cmd === 'kernels' ? '' : ' and the exit codes'}`, () => {
      const r = cli(['lab', cmd, '--help'])
      assert.equal(r.status, 0, r.stderr)
      assert.match(r.stdout, /EXAMPLES/)
      if (cmd !== 'kernels') assert.match(r.stdout, /Exit codes:(.|\n)* 9 {2}the guest did not come back within --timeout/)
    })
  }

  it('lab suite --help lists the workloads', () => {
    const r = cli(['lab', 'suite', '--help'])
    for (const w of ['anon_threads', 'file_mmap_scan', 'fork_exec', 'mmap_stress', 'node_gc']) assert.match(r.stdout, new RegExp(w))
  })

  it('lab kernels on an empty lab directory: says how to install one; --json is empty', () => {
    assert.match(cli(['lab', 'kernels']).stdout, /no kernels in .*lab fetch 6\.1\|6\.12/)
    assert.deepEqual(JSON.parse(cli(['lab', 'kernels', '--json']).stdout), {lab, kernels: []})
  })

  it('lab run: a kernel that is not installed is exit 7 and names the fetch command', () => {
    const r = cli(['lab', 'run', '--kernel', '6.12', '--', '/bin/true'])
    assert.equal(r.status, 7)
    assert.match(r.stderr.replace(/\s+›?\s*/g, ' '), /kernel 6\.12 is not installed .* vmareplay lab fetch 6\.12/)
  })

  it('lab run: no command, or a command without --, is exit 2', () => {
    fakeKernel(path.join(tmp, 'k'))
    assert.equal(cli(['lab', 'run', '--kernel', path.join(tmp, 'k')]).status, 2)
    const r = cli(['lab', 'run', '--kernel', path.join(tmp, 'k'), '/bin/true'])
    assert.equal(r.status, 2)
    assert.match(r.stderr, /put -- before the command/)
  })

  it('lab run without QEMU on PATH: exit 6 and how to install it', () => {
    const r = cli(['lab', 'run', '--kernel', path.join(tmp, 'k'), '--out', path.join(tmp, 'o'), '--', '/bin/true'], {PATH: path.join(tmp, 'empty')})
    assert.equal(r.status, 6, r.stderr)
    assert.match(r.stderr.replace(/\s+›?\s*/g, ' '), /qemu-system-x86_64 not found on PATH .*apt-get install qemu-system-x86/)
    assert.equal(fs.existsSync(path.join(tmp, 'o')), false, 'nothing written')
  })

  it('lab fetch: an unknown version is exit 2; --bzimage needs --name', () => {
    const r = cli(['lab', 'fetch', '7.0', '--no-install-tools'])
    assert.equal(r.status, 2)
    assert.match(r.stderr, /knows Debian's 6\.1 and 6\.12/)
    fs.writeFileSync(path.join(tmp, 'bz'), 'x')
    assert.equal(cli(['lab', 'fetch', '--bzimage', path.join(tmp, 'bz'), '--no-install-tools']).status, 2)
  })

  it('lab suite: an unknown workload is exit 2', () => {
    const r = cli(['lab', 'suite', '--kernel', path.join(tmp, 'k'), '--workload', 'nope'])
    assert.equal(r.status, 2)
    assert.match(r.stderr, /unknown workload\(s\) nope/)
  })
})
