// A small real database for report and export tests: traces/py_threads_small.trace.txt ingested and replayed
// under a few policies through the library functions (as `vmareplay ingest` and `replay` do).
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {openDb, type Db} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'
import {replayTrace} from '../../src/replay/run.js'
import {policyByName} from '../../src/replay/policies.js'

export const REPO = fileURLToPath(new URL('../../../', import.meta.url))
export const SMALL_TRACE = join(REPO, 'traces', 'py_threads_small.trace.txt')
export const SHARED_REAL = join(REPO, '..', 'shared', 'traces', 'real')

export interface Fixture {
  path: string
  db: Db
  traceId: number
  runIds: Record<string, number>
}

export async function smallDb(policies = ['mmap-lock', 'v6.4', 'v6.18'], trace = SMALL_TRACE): Promise<Fixture> {
  const path = join(mkdtempSync(join(tmpdir(), 'vmareplay-report-')), 'r.db')
  const db = openDb(path)
  const loaded = await loadTrace(db, trace, {toolVersion: 'test'})
  const traceId = loaded.status === 'ingested' ? loaded.summary.traceId : loaded.traceId
  // Slow faults (50 µs each) make the small trace contended enough that every report section has rows: under
  // mmap-lock the faults hold mmap_lock for read long enough for the other threads' writers to queue behind them.
  // What-if, since a faithful replay cuts a fault short where the trace shows its thread's next operation.
  const costs = {anonFaultNs: 50_000, zeroPageFaultNs: 50_000, fileFaultNs: 50_000, cowFaultNs: 50_000}
  const runs = replayTrace(path, db, traceId, policies.map(policyByName), {
    mode: 'what-if',
    costs,
    toolVersion: 'test',
  })
  return {path, db, traceId, runIds: Object.fromEntries(runs.map((r) => [r.policy, r.runId]))}
}
