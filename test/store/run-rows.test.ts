// LostWindows: which fault times fall in a lost-events window, asked in any order (faults complete out of order).
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {LostWindows} from '../../src/store/run-rows.js'

test('lost windows: inclusive ends, overlapping windows merged, lookups in any order', () => {
  // two overlapping per-CPU windows [100, 200] and [150, 400], and a separate one [1000, 1000]
  const w = new LostWindows([[150, 400], [1000, 1000], [100, 200]])
  const ask = [1000, 99, 100, 300, 400, 401, 999, 1001, 250, 150]
  assert.deepEqual(ask.map((t) => w.contains(t)), [true, false, true, true, true, false, false, false, true, true])
  assert.equal(new LostWindows([]).contains(5), false)
})
