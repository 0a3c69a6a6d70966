// 6.1 puts the vDSO just above the stack by hint (no vm_unmapped_area event): ld.so's read of its ELF header must
// not be taken for the top of the stack, or the first deep stack write of every exec is predicted as stack growth
// (a write lock) that the real 6.1 kernel never took, and a what-if under 6.10 misses the vDSO faults' fallback.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {openDb} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'
import {replayTrace} from '../../src/replay/run.js'
import {policyByName} from '../../src/replay/policies.js'
import {vdsoNearStack} from '../../src/replay/detect-policy.js'
import {observeFaults} from '../../src/validate/observed.js'

test('the kernels that place the vDSO by hint next to the stack', () => {
  assert.equal(vdsoNearStack('6.1.0-57-amd64'), true)
  assert.equal(vdsoNearStack('6.8.12'), true)
  assert.equal(vdsoNearStack('6.12.118+deb12-amd64'), false)
  assert.equal(vdsoNearStack('6.18.3'), false)
  assert.equal(vdsoNearStack(null), false)
  assert.equal(vdsoNearStack('<=6.13'), false)
})

test('a 6.1 trace: no stack growth the kernel did not do; under v6.10 the vDSO read falls back (no ->map_pages)', async () => {
  const dbPath = join(mkdtempSync(join(tmpdir(), 'vmareplay-vdso-')), 'v.db')
  const db = openDb(dbPath)
  const r = await loadTrace(db, 'traces/lab/py_threads_small-6.1.trace.txt.xz', {toolVersion: 'test'})
  const traceId = r.status === 'ingested' ? r.summary.traceId : 0
  let realStackGrowth = 0
  observeFaults(db, traceId, (f) => {
    if (f.pattern === 'stack_growth') realStackGrowth++
  })
  assert.equal(realStackGrowth, 0, 'the real 6.1 run took no write lock inside a fault')
  const runs = replayTrace(dbPath, db, traceId, [policyByName('mmap-lock'), policyByName('v6.10')], {
    mode: 'what-if',
    costs: {},
    toolVersion: 'test',
  })
  const reasons = (runId: number): Record<string, number> =>
    Object.fromEntries(
      (
        db
          .prepare(
            "SELECT substr(name, 15) AS r, value FROM run_counters WHERE run_id = ? AND name LIKE 'faults.reason.%'",
          )
          .all(runId) as {r: string; value: number}[]
      ).map((x) => [x.r, x.value]),
    )
  const [old, v610] = runs.map((x) => reasons(x.runId))
  assert.equal(old!['stack_growth'] ?? 0, 0, JSON.stringify(old))
  assert.equal(v610!['stack_growth'] ?? 0, 0, JSON.stringify(v610))
  assert.ok((v610!['file_no_map_pages'] ?? 0) >= 1, JSON.stringify(v610))
  db.close()
})
