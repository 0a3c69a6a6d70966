// Page-cache tracepoints tell the replay which faults started readahead (filemap_fault drops the VMA lock and
// RETRYs): on a capture taken with a cold page cache, every such fault really took mmap_lock.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {openDb} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'
import {replayTrace} from '../../src/replay/run.js'
import {policyByName} from '../../src/replay/policies.js'
import {observeFaults} from '../../src/validate/observed.js'
import {scoreRun} from '../../src/validate/score.js'

test('faults that started readahead are predicted to fall back, and the kernel agrees', async () => {
  const dbPath = join(mkdtempSync(join(tmpdir(), 'vmareplay-io-')), 'io.db')
  const db = openDb(dbPath)
  const r = await loadTrace(db, 'traces/py_mmap_cold.trace.txt.xz', {toolVersion: 'test'})
  assert.equal(r.status, 'ingested')
  const traceId = r.status === 'ingested' ? r.summary.traceId : 0
  const [run] = replayTrace(dbPath, db, traceId, [policyByName('v6.18')], {
    mode: 'faithful',
    costs: {},
    toolVersion: 'test',
  })
  const io = new Set(
    db
      .prepare(
        `SELECT event_id FROM fault_results JOIN fault_groups USING (run_id, group_id) JOIN reasons USING (reason_id) WHERE run_id = ? AND reason = 'io_retry'`,
      )
      .pluck()
      .all(run!.runId) as number[],
  )
  assert.ok(io.size >= 20, `${io.size} faults predicted to wait for readahead`)
  let confirmed = 0
  observeFaults(db, traceId, (f) => {
    if (io.has(f.eventId) && f.took) confirmed++
  })
  assert.equal(confirmed, io.size, 'every readahead fault took mmap_lock in the real run')
  const score = scoreRun(db, traceId, run!.runId, 0)
  assert.ok(score.mmapLock.f1 >= 0.95, `F1 ${score.mmapLock.f1}`)
  db.close()
})
