// The recording kernel's policy: Debian's 6.1 has no per-VMA locks, 6.12 is the 6.10 generation (rwsem VMA lock,
// anon_vma trylock), 6.18 is itself; text-format bounds alone pick the newest generation inside them.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {policyForKernel} from '../../src/replay/detect-policy.js'

test('a kernel release maps to the newest generation not newer than it', () => {
  assert.equal(policyForKernel('6.1.0-47-amd64').name, 'mmap-lock')
  assert.equal(policyForKernel('6.12.115+deb12-amd64').name, 'v6.10')
  assert.equal(policyForKernel('6.18.44-fc-v657').name, 'v6.18')
  assert.equal(policyForKernel('6.5.2').name, 'v6.4')
  assert.equal(policyForKernel(null).name, 'v6.18')
})

test('format bounds: an upper bound excludes the default kernel (memcg_path: <=6.13 → the 6.10 generation)', () => {
  assert.equal(policyForKernel('<=6.13').name, 'v6.10')
  assert.equal(policyForKernel('<=6.17').name, 'v6.15')
  assert.equal(policyForKernel('>=6.14 <=6.17').name, 'v6.15')
  assert.equal(policyForKernel('>=6.18').name, 'v6.18')
  assert.equal(policyForKernel('>=6.14', 'v6.4').name, 'v6.10')
})
