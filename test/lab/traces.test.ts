// The committed lab traces (traces/lab/, real 6.1 and 6.12 guests) ingest with 0 malformed lines, with the kernel
// version of their meta file and the event counts counted by hand in traces/lab/README.md.

import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {repoRoot} from '../../src/lab/paths.js'
import {tmpDir} from './helpers.js'
import {cliWith} from '../cli.js'

const tmp = tmpDir('traces')
after(() => fs.rmSync(tmp, {recursive: true, force: true}))
const dir = path.join(repoRoot(), 'traces', 'lab')

const cases = [
  {kernel: '6.1', release: '6.1.0-57-amd64', faults: 3129, kernelFaults: 44, acquires: 3557},
  {kernel: '6.12', release: '6.12.118+deb12-amd64', faults: 3105, kernelFaults: 44, acquires: 376},
]

describe('lab traces from real 6.1 and 6.12 kernels', () => {
  for (const c of cases) {
    it(`${c.kernel}: 0 malformed lines, kernel ${c.release}, the README's counts`, () => {
      const trace = path.join(dir, `py_threads_small-${c.kernel}.trace.txt.xz`)
      const r = cliWith({timeout: 120_000}, 'ingest', trace, '--db', path.join(tmp, `${c.kernel}.db`), '--json')
      assert.equal(r.code, 0, r.err)
      const s = JSON.parse(r.out)
      assert.equal(s.malformedLines, 0, JSON.stringify(s.firstMalformed))
      assert.equal(s.kernelVersion, c.release)
      assert.equal(s.lostEvents, 0)
      assert.deepEqual([s.faults, s.kernelFaults, s.eventsByKind.lock_acquire], [c.faults, c.kernelFaults, c.acquires])
      const meta = JSON.parse(fs.readFileSync(path.join(dir, `py_threads_small-${c.kernel}.meta.json`), 'utf8'))
      assert.equal(meta.kernel.release, c.release)
      assert.equal(meta.environment.thp.enabled, 'always')
    })
  }
})
