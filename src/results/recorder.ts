// What a replay reports and where it goes: the engine (replay/) calls a Recorder, the store's run writer
// (store/runs.ts) or a test's collector implements it. Here, below both, so the store need not import the engine.
import type {FaultOutcome, OpRecord} from '../kernel/index.js'
import type {FaultOp, Op} from '../model/ops.js'

/** Where a replay's outcomes go (the store's run writer, or a test's collector). */
export interface Recorder {
  /** `out` is valid during the call only: a fault that completes at once reuses the engine's one outcome object. */
  fault(op: FaultOp, out: FaultOutcome, inferredVma: boolean): void
  op(op: Op, label: string, rec: OpRecord<unknown>): void
}
