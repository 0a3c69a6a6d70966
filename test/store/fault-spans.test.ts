// Schema 7 stores a fault that went as its group's uncontended default only as part of a span (fault_spans), the
// rest as rows (fault_rows). The view fault_results must give exactly the rows the one-row-per-fault table held:
// here those old rows are materialised from what the engine reported to the writer, on real traces, several
// policies and both modes, and compared with the view row for row.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {existsSync, mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {openDb} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'
import {RunWriter} from '../../src/store/runs.js'
import {replayTrace} from '../../src/replay/run.js'
import {policyByName} from '../../src/replay/policies.js'

const REAL =
  process.env.VMAREPLAY_REAL_TRACES ?? fileURLToPath(new URL('../../../../shared/traces/real/', import.meta.url))
const REPO_TRACES = fileURLToPath(new URL('../../../traces/', import.meta.url))
const TRACES = [
  join(REAL, 'py_threads_anon.trace.txt'),
  join(REAL, 'sqlite_mmap_scan.trace.txt'),
  join(REAL, 'stressng_mmap.trace.txt.xz'),
  join(REAL, 'xz_T2.perf.txt'),
  join(REPO_TRACES, 'py_threads_small.trace.txt'),
].filter((f) => existsSync(f))
const POLICIES = ['mmap-lock', 'v6.6', 'v6.18', 'spf', 'ideal'].map((p) => policyByName(p))

/** The old layout's row of a fault, from what the engine reported: run, event, its group by value, the numbers. */
type OldRow = [number, number, number, number | null, number | null, string, number, number, string, ...number[]]

test(
  'fault_results (spans + rows) answers exactly as one row per fault did',
  {skip: existsSync(REAL) ? false : `no ${REAL}`, timeout: 900_000},
  async () => {
    assert.ok(TRACES.length >= 2, 'the shared traces are there')
    const db = openDb(join(mkdtempSync(join(tmpdir(), 'vmareplay-spans-')), 's.db'))
    const reported = new Map<number, OldRow[]>()
    const fault = RunWriter.prototype.fault
    RunWriter.prototype.fault = function (op, out, inferred) {
      let list = reported.get(this.runId)
      if (list === undefined) reported.set(this.runId, (list = []))
      list.push([
        this.runId,
        op.eventId,
        op.tgid,
        out.vma?.start ?? null,
        out.vma?.end ?? null,
        out.path,
        out.tookMmapLock ? 1 : 0,
        inferred ? 1 : 0,
        out.reason,
        out.waitNs,
        out.latencyNs,
        out.startNs - op.t,
        out.holdNs,
      ])
      fault.call(this, op, out, inferred)
    }
    let spanned = 0
    let rows = 0
    try {
      for (const file of TRACES) {
        const r = await loadTrace(db, file, {toolVersion: 'test'})
        assert.equal(r.status, 'ingested', file)
        if (r.status !== 'ingested') continue
        for (const mode of ['faithful', 'what-if'] as const) {
          const runs = replayTrace(db.name, db, r.summary.traceId, POLICIES, {mode, costs: {}, toolVersion: 'test'})
          for (const run of runs) {
            const what = `${file} ${run.policy} ${mode}`
            const expected = reported.get(run.runId)!
            assert.equal(expected.length, run.faults, what)
            const stored = db
              .prepare(
                `SELECT f.run_id, f.event_id, g.tgid, g.vma_start, g.vma_end,
                 CASE g.vma_lock WHEN 1 THEN 'vma_lock' ELSE 'mmap_lock' END, g.took_mmap_lock, g.inferred_vma,
                 reasons.reason, f.wait_ns, f.latency_ns, f.start_delay_ns, f.hold_ns
               FROM fault_results f JOIN fault_groups g USING (run_id, group_id) JOIN reasons USING (reason_id)
               WHERE f.run_id = ? ORDER BY f.event_id`,
              )
              .raw(true)
              .all(run.runId)
            const sorted = [...expected].sort((x, y) => x[1] - y[1])
            assert.deepEqual(stored, sorted, what)
            const [s, n] = db
              .prepare(
                'SELECT (SELECT total(faults) FROM fault_spans WHERE run_id = @r), (SELECT count(*) FROM fault_rows WHERE run_id = @r)',
              )
              .raw(true)
              .get({r: run.runId}) as [number, number]
            assert.equal(s + n, run.faults, what)
            spanned += s
            rows += n
          }
        }
      }
    } finally {
      RunWriter.prototype.fault = fault
      db.close()
    }
    // both halves of the layout are exercised
    assert.ok(spanned > 0 && rows > 0, `${spanned} faults in spans, ${rows} as rows`)
  },
)
