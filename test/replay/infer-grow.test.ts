// An inferred VMA (memory that predates the trace) grows with later faults nearby. It grows in place: the kernel had
// one VMA there all along, and another thread's fault may be holding it under its VMA lock at that moment. Found by
// the lab validation: a what-if with the guest's calibrated (slow) fault costs overlapped such faults.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {Replayer} from '../../src/replay/engine.js'
import {policyByName} from '../../src/replay/policies.js'
import type {Recorder} from '../../src/results/recorder.js'
import type {FaultOutcome} from '../../src/kernel/index.js'

test('an inferred VMA grows in place while another thread handles a fault in it under the VMA lock', () => {
  const outcomes: {eventId: number; reason: string; vma: [number, number] | null}[] = []
  const rec: Recorder = {
    fault: (op, out: FaultOutcome) =>
      outcomes.push({
        eventId: op.eventId,
        reason: out.reason,
        vma: out.vma === null ? null : [out.vma.start, out.vma.end],
      }),
    op: () => {},
  }
  const engine = new Replayer(
    policyByName('v6.18'),
    {mode: 'what-if', costs: {anonFaultNs: 1_000_000}, initialMaps: new Map(), attached: true},
    rec,
  )
  const base = 0x7f00_0000_0000
  const fault = (eventId: number, t: number, tid: number, address: number) =>
    engine.apply({type: 'fault', eventId, t, tid, tgid: 100, address, errorCode: 0x6, user: true, io: false})
  fault(1, 0, 100, base) // infers [base, base+4K); handled under its VMA lock for 1 ms
  fault(2, 1000, 101, base + 8 * 4096) // meanwhile: the region grows to base+36K
  fault(3, 2000, 102, base + 4 * 4096) // inside the grown region
  engine.finish()
  assert.deepEqual(outcomes.map((o) => o.eventId).sort(), [1, 2, 3])
  for (const o of outcomes) assert.equal(o.reason, 'ok', JSON.stringify(o))
  const byId = new Map(outcomes.map((o) => [o.eventId, o]))
  assert.deepEqual(byId.get(3)!.vma, [base, base + 9 * 4096], 'one VMA, grown in place to cover all three')
  assert.equal(engine.k.stats.vmasAllocated, 1)
})
