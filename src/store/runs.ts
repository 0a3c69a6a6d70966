// Writes one replay run's outcomes: per-fault results, lock waits and holds, counters, and the run digest — a
// SHA-256 over everything stored for the run in insertion order, so equal inputs give equal digests anywhere.
import {createHash, type Hash} from 'node:crypto'
import type {Db} from './db.js'
import {BatchInsert} from './multi-insert.js'
import type {FaultOutcome, OpRecord, Kernel} from '../kernel/index.js'
import type {FaultOp, Recorder} from '../replay/engine.js'
import type {Op} from '../replay/stream.js'

const BATCH = 64

export interface RunMeta {
  traceId: number
  policy: string
  policyJson: string
  mode: string
  optionsJson: string
  toolVersion: string
}

/** Lost-event windows, relative ns, sorted; ops arrive in time order so a cursor suffices. */
export class LostWindows {
  private i = 0
  constructor(private readonly windows: [number, number][]) {}
  contains(t: number): boolean {
    const w = this.windows
    while (this.i < w.length && w[this.i]![1] < t) this.i++
    return this.i < w.length && w[this.i]![0] <= t
  }
}

export class RunWriter implements Recorder {
  readonly runId: number
  private readonly hash: Hash = createHash('sha256')
  private readonly faultRows
  private readonly waits
  private readonly holds
  private readonly reasonIds = new Map<string, number>()
  private readonly lookupReason
  private readonly addReason
  private readonly counters = new Map<string, number>()
  private readonly threads = new Map<number, {tgid: number; ops: number; faults: number; waitNs: number; endNs: number}>()
  private faults = 0
  private readonly hashLines: string[] = [] // digest input of the buffered fault rows, hashed per batch
  private readonly faultCounts = {vmaLock: 0, mmapLock: 0, took: 0, trylockFailed: 0, segv: 0, low: 0, inferred: 0, readAcq: 0, writeAcq: 0}
  private readonly reasonCounts = new Map<string, number>()

  constructor(
    private readonly db: Db,
    meta: RunMeta,
    private readonly lost: LostWindows,
  ) {
    const r = db
      .prepare(
        `INSERT INTO runs (trace_id, policy, policy_json, mode, options_json, tool_version, faults, ops, sim_end_ns, digest)
         VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, '')`,
      )
      .run(meta.traceId, meta.policy, meta.policyJson, meta.mode, meta.optionsJson, meta.toolVersion)
    this.runId = Number(r.lastInsertRowid)
    this.faultRows = new BatchInsert(db, 'fault_results', ['run_id', 'event_id', 'tid', 'tgid', 'vma_lock', 'took_mmap_lock', 'reason_id', 'wait_ns', 'latency_ns', 'start_ns', 'low_confidence', 'inferred_vma', 'vma_start', 'vma_end'], BATCH)
    this.waits = new BatchInsert(db, 'lock_waits', ['run_id', 'lock', 'mode', 'tgid', 'waiter_tid', 'waiter_op', 'waiter_event_id', 'start_ns', 'end_ns', 'wait_ns', 'holder_tid', 'holder_op', 'holder_event_id'])
    this.holds = new BatchInsert(db, 'lock_holds', ['run_id', 'lock', 'mode', 'tgid', 'tid', 'op', 'event_id', 'start_ns', 'end_ns', 'hold_ns'])
    this.lookupReason = db.prepare('SELECT reason_id FROM reasons WHERE reason = ?').pluck()
    this.addReason = db.prepare('INSERT INTO reasons (reason) VALUES (?)')
  }

  private reasonId(reason: string): number {
    let id = this.reasonIds.get(reason)
    if (id === undefined) {
      id = (this.lookupReason.get(reason) as number | undefined) ?? Number(this.addReason.run(reason).lastInsertRowid)
      this.reasonIds.set(reason, id)
    }
    return id
  }

  private count(name: string, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n)
  }

  private acquisitions(all: number, write: number): void {
    this.faultCounts.readAcq += all - write
    this.faultCounts.writeAcq += write
  }

  private thread(tid: number, tgid: number, waitNs: number, endNs: number, fault: boolean): void {
    let s = this.threads.get(tid)
    if (s === undefined) {
      s = {tgid, ops: 0, faults: 0, waitNs: 0, endNs: 0}
      this.threads.set(tid, s)
    }
    s.ops++
    if (fault) s.faults++
    s.waitNs += waitNs
    if (endNs > s.endNs) s.endNs = endNs
  }

  fault(op: FaultOp, out: FaultOutcome, inferredVma: boolean): void {
    this.faults++
    const low = this.lost.contains(op.t) ? 1 : 0
    const reason = this.reasonId(out.reason)
    const vs = out.vma?.start ?? null
    const ve = out.vma?.end ?? null
    this.faultRows.add(this.runId, op.eventId, op.tid, op.tgid, out.path === 'vma_lock' ? 1 : 0, out.tookMmapLock ? 1 : 0, reason, out.waitNs, out.latencyNs, out.startNs, low, inferredVma ? 1 : 0, vs, ve)
    this.hashLines.push(`${op.eventId},${out.path},${out.tookMmapLock ? 1 : 0},${out.reason},${out.waitNs},${out.latencyNs},${out.startNs},${vs},${ve}\n`)
    if (this.hashLines.length === BATCH) this.hashPending()
    const f = this.faultCounts
    if (out.path === 'vma_lock') f.vmaLock++
    else f.mmapLock++
    this.reasonCounts.set(out.reason, (this.reasonCounts.get(out.reason) ?? 0) + 1)
    if (out.tookMmapLock) f.took++
    if (out.trylockFailed) f.trylockFailed++
    if (out.segv) f.segv++
    if (low === 1) f.low++
    if (inferredVma) f.inferred++
    this.thread(op.tid, op.tgid, out.waitNs, out.endNs, true)
    this.acquisitions(out.acquisitions, out.writeAcquisitions)
    if (out.waitNs > 0) {
      const w = out.waitedFor
      this.waits.add(this.runId, 'mmap_lock', out.writeAcquisitions > 0 ? 'write' : 'read', op.tgid, op.tid, 'fault', op.eventId, out.waitStartNs, out.waitStartNs + out.waitNs, out.waitNs, w?.tid ?? null, w?.op ?? null, w?.ref || null)
    }
    if (out.holdNs > 0)
      this.holds.add(this.runId, 'mmap_lock', 'read', op.tgid, op.tid, 'fault', op.eventId, out.startNs, out.endNs, out.holdNs)
  }

  op(op: Op, label: string, rec: OpRecord<unknown>): void {
    const a = rec.acct
    this.count(`ops.${label}`)
    this.thread(op.tid, op.tgid, a.waitNs + a.vmaWaitNs, rec.endNs, false)
    this.hash.update(`${op.eventId},${label},${rec.startNs},${rec.endNs},${a.waitNs},${a.holdNs},${a.vmaWaitNs}\n`)
    this.acquisitions(a.acquisitions, a.writeAcquisitions)
    if (a.waitNs > 0) {
      const w = a.waitedFor
      this.waits.add(this.runId, 'mmap_lock', a.writeAcquisitions > 0 ? 'write' : 'read', op.tgid, op.tid, label, op.eventId, a.waitStartNs, a.waitStartNs + a.waitNs, a.waitNs, w?.tid ?? null, w?.op ?? null, w?.ref || null)
    }
    if (a.vmaWaitNs > 0)
      this.waits.add(this.runId, 'vma', 'write', op.tgid, op.tid, label, op.eventId, rec.startNs, rec.endNs, a.vmaWaitNs, null, null, null)
    // one row per mode: a downgrading munmap holds for write, then for read
    if (a.writeHoldNs > 0)
      this.holds.add(this.runId, 'mmap_lock', 'write', op.tgid, op.tid, label, op.eventId, rec.startNs, rec.endNs, a.writeHoldNs)
    if (a.holdNs > a.writeHoldNs)
      this.holds.add(this.runId, 'mmap_lock', 'read', op.tgid, op.tid, label, op.eventId, rec.startNs, rec.endNs, a.holdNs - a.writeHoldNs)
  }

  private hashPending(): void {
    this.hash.update(this.hashLines.join(''))
    this.hashLines.length = 0
  }

  /** Flushes, stores counters (kernel, RCU, run) and the digest; returns the digest. */
  finish(k: Kernel, ops: number, simEndNs: number): string {
    this.hashPending()
    this.faultRows.flush()
    this.waits.flush()
    this.holds.flush()
    const f = this.faultCounts
    const named: [string, number][] = [
      ['faults.path.vma_lock', f.vmaLock], ['faults.path.mmap_lock', f.mmapLock], ['faults.took_mmap_lock', f.took],
      ['faults.trylock_failed', f.trylockFailed], ['faults.sigsegv', f.segv], ['faults.low_confidence', f.low], ['faults.inferred_vma', f.inferred],
      ['mmap_lock.acquire.read', f.readAcq], ['mmap_lock.acquire.write', f.writeAcq],
    ]
    for (const [name, n] of named) if (n > 0) this.count(name, n)
    for (const [reason, n] of this.reasonCounts) this.count(`faults.reason.${reason}`, n)
    const v = k.stats.vmaLock
    this.count('vma_lock_success', v.success)
    this.count('vma_lock_abort', v.abort)
    this.count('vma_lock_retry', v.retry)
    this.count('vma_lock_miss', v.miss)
    this.count('vmas_allocated', k.stats.vmasAllocated)
    this.count('vmas_reused', k.stats.vmasReused)
    this.count('anon_vmas', k.stats.anonVmas)
    for (const [name, value] of Object.entries(k.rcu.stats)) this.count(`rcu.${name}`, value)
    const counters = [...this.counters].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    const ins = this.db.prepare('INSERT INTO run_counters (run_id, name, value) VALUES (?,?,?)')
    for (const [name, value] of counters) {
      ins.run(this.runId, name, Math.round(value))
      this.hash.update(`${name}=${Math.round(value)}\n`)
    }
    const th = this.db.prepare('INSERT INTO thread_results (run_id, tid, tgid, ops, faults, wait_ns, end_ns) VALUES (?,?,?,?,?,?,?)')
    for (const [tid, s] of [...this.threads].sort(([x], [y]) => x - y)) th.run(this.runId, tid, s.tgid, s.ops, s.faults, s.waitNs, s.endNs)
    const digest = this.hash.digest('hex')
    this.db.prepare('UPDATE runs SET faults = ?, ops = ?, sim_end_ns = ?, digest = ? WHERE run_id = ?').run(this.faults, ops, simEndNs, digest, this.runId)
    return digest
  }
}
