// The replay's shortcuts change nothing: inline stepping, the scheduler horizon and the faults that run at once
// (all off with noInline) give the same outcome for every fault and operation of real traces, under every
// policy, in both modes.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {openDb} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'
import type {Op} from '../../src/model/ops.js'
import {readOps, traceInfo} from '../../src/replay/stream.js'
import {Replayer, type Mode} from '../../src/replay/engine.js'
import type {Recorder} from '../../src/results/recorder.js'
import {builtinPolicies} from '../../src/replay/policies.js'

const TRACES = ['traces/py_threads_small.trace.txt', 'traces/xz_T2_small.perf.txt']

async function opsOf(path: string): Promise<Op[]> {
  const db = openDb(join(mkdtempSync(join(tmpdir(), 'vmareplay-inline-')), 'i.db'))
  await loadTrace(db, path, {toolVersion: 'test'})
  const ops: Op[] = []
  readOps(db, traceInfo(db, 1), (op) => ops.push(op))
  db.close()
  return ops
}

/** Every outcome the recorder sees, as text, in the order it sees them. */
function outcomes(
  ops: Op[],
  policy: ReturnType<typeof builtinPolicies>[number],
  mode: Mode,
  noInline: boolean,
): string[] {
  const out: string[] = []
  const rec: Recorder = {
    fault: (op, o, inferred) =>
      out.push(
        `F ${op.eventId} ${o.path} ${o.reason} ${o.tookMmapLock} ${o.waitNs} ${o.waitStartNs} ${o.latencyNs} ${o.startNs} ${o.endNs} ${o.holdNs} ${o.acquisitions} ${o.writeAcquisitions} ${o.vma?.start}-${o.vma?.end} ${o.waitedFor?.tid}/${o.waitedFor?.op} ${inferred}`,
      ),
    op: (op, label, r) =>
      out.push(
        `O ${op.eventId} ${label} ${r.startNs} ${r.endNs} ${r.acct.waitNs} ${r.acct.holdNs} ${r.acct.writeHoldNs} ${r.acct.vmaWaitNs} ${r.acct.waitedFor?.tid}`,
      ),
  }
  const r = new Replayer(policy, {mode, costs: {}, initialMaps: new Map(), attached: false, scheduler: {noInline}}, rec)
  for (const op of ops) r.apply(op)
  out.push(`end ${r.finish()}`)
  return out
}

for (const trace of TRACES) {
  test(`inline stepping and the fast fault path change no outcome: ${trace}`, async () => {
    const ops = await opsOf(trace)
    for (const policy of builtinPolicies())
      for (const mode of ['faithful', 'what-if'] as const) {
        const fast = outcomes(ops, policy, mode, false)
        const slow = outcomes(ops, policy, mode, true)
        assert.ok(fast.length > ops.length / 2)
        assert.deepEqual(fast, slow, `${policy.name} ${mode}`)
      }
  })
}
