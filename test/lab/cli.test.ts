// The lab commands as a user runs them: help, usage errors and the exit codes of the common failures.

import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {fakeKernel, tmpDir} from './helpers.js'
import {cliWith, type CliResult} from '../cli.js'

const tmp = tmpDir('cli')
after(() => fs.rmSync(tmp, {recursive: true, force: true}))
const lab = path.join(tmp, 'lab')

const cli = (args: string[], env: NodeJS.ProcessEnv = {}): CliResult =>
  cliWith({env: {VMAREPLAY_LAB_DIR: lab, ...env}, timeout: 30_000}, ...args)

describe('vmareplay lab (CLI)', () => {
  for (const cmd of ['run', 'suite', 'fetch', 'kernels']) {
    it(`lab ${cmd} --help has examples${cmd === 'kernels' ? '' : ' and the exit codes'}`, () => {
      const r = cli(['lab', cmd, '--help'])
      assert.equal(r.code, 0, r.err)
      assert.match(r.out, /EXAMPLES/)
      if (cmd !== 'kernels') assert.match(r.out, /Exit codes:(.|\n)* 9 {2}the guest did not come back within --timeout/)
    })
  }

  it('lab suite --help lists the workloads', () => {
    const r = cli(['lab', 'suite', '--help'])
    for (const w of ['anon_threads', 'file_mmap_scan', 'fork_exec', 'mmap_stress', 'node_gc'])
      assert.match(r.out, new RegExp(w))
  })

  it('lab kernels on an empty lab directory: says how to install one; --json is empty', () => {
    assert.match(cli(['lab', 'kernels']).out, /no kernels in .*lab fetch 6\.1\|6\.12/)
    assert.deepEqual(JSON.parse(cli(['lab', 'kernels', '--json']).out), {lab, kernels: []})
  })

  it('lab run: a kernel that is not installed is exit 7 and names the fetch command', () => {
    const r = cli(['lab', 'run', '--kernel', '6.12', '--', '/bin/true'])
    assert.equal(r.code, 7)
    assert.match(r.err.replace(/\s+›?\s*/g, ' '), /kernel 6\.12 is not installed .* vmareplay lab fetch 6\.12/)
  })

  it('lab run: no command, or a command without --, is exit 2', () => {
    fakeKernel(path.join(tmp, 'k'))
    assert.equal(cli(['lab', 'run', '--kernel', path.join(tmp, 'k')]).code, 2)
    const r = cli(['lab', 'run', '--kernel', path.join(tmp, 'k'), '/bin/true'])
    assert.equal(r.code, 2)
    assert.match(r.err, /put -- before the command/)
  })

  it('lab run without QEMU on PATH: exit 6 and how to install it', () => {
    const r = cli(['lab', 'run', '--kernel', path.join(tmp, 'k'), '--out', path.join(tmp, 'o'), '--', '/bin/true'], {
      PATH: path.join(tmp, 'empty'),
    })
    assert.equal(r.code, 6, r.err)
    assert.match(
      r.err.replace(/\s+›?\s*/g, ' '),
      /qemu-system-x86_64 not found on PATH .*apt-get install qemu-system-x86/,
    )
    assert.equal(fs.existsSync(path.join(tmp, 'o')), false, 'nothing written')
  })

  it('lab fetch: an unknown version is exit 2; --bzimage needs --name', () => {
    const r = cli(['lab', 'fetch', '7.0', '--no-install-tools'])
    assert.equal(r.code, 2)
    assert.match(r.err, /knows Debian's 6\.1 and 6\.12/)
    fs.writeFileSync(path.join(tmp, 'bz'), 'x')
    assert.equal(cli(['lab', 'fetch', '--bzimage', path.join(tmp, 'bz'), '--no-install-tools']).code, 2)
  })

  it('lab suite: an unknown workload is exit 2', () => {
    const r = cli(['lab', 'suite', '--kernel', path.join(tmp, 'k'), '--workload', 'nope'])
    assert.equal(r.code, 2)
    assert.match(r.err, /unknown workload\(s\) nope/)
  })
})
