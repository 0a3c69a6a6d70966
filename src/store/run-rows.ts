// One replay run's stored outcomes, built on the result writer thread from the records runs.ts sends (layout in
// run-records.ts): per-fault results (runs of a thread's faults that did not wait as spans, the rest as rows), lock
// waits and holds, counters, thread totals, and the run digest — a SHA-256 over everything stored for the run in
// insertion order, so equal inputs give equal digests anywhere.
import {createHash, type Hash} from 'node:crypto'
import {endianness} from 'node:os'
import type {Db} from './db.js'
import {BatchInsert} from './multi-insert.js'
import {
  FAULT_FIELDS as F,
  FD_ENDS,
  FILE_RELEASE_FIELDS as R,
  HAS_VMA,
  INFERRED_VMA,
  OP_FIELDS as P,
  SEGV,
  TOOK_MMAP_LOCK,
  TRYLOCK_FAILED,
  VMA_LOCK,
  WAITED,
  type RunMeta,
  type WaitedFields,
} from './run-records.js'

const BATCH = 64
/** Numbers per fault in the digest: event id, group, wait, latency, start delay, hold. */
const DIGEST_WIDTH = 6
/** The digest hashes fault numbers as little-endian Float64s, whatever the machine's byte order. */
const BIG_ENDIAN = endianness() === 'BE'
/** A fault group's flags beyond the record's (run-records.ts): inside a lost-events window. */
const LOW_CONFIDENCE = 128
const GROUP_FLAGS = VMA_LOCK | TOOK_MMAP_LOCK | INFERRED_VMA

/** A run's faults that share everything but their event and times: thread group, VMA range, path, reason, flags. */
interface FaultGroup {
  id: number
  tgid: number
  start: number | null
  end: number | null
  /** VMA_LOCK, TOOK_MMAP_LOCK, INFERRED_VMA, LOW_CONFIDENCE */
  flags: number
  /** index in the writer's string table */
  reason: number
  faults: number
}

/** A thread's run of consecutive faults of one group that did not wait, started on time and took the same latency
 * and hold (one fault_spans row). */
interface Span {
  group: FaultGroup
  first: number
  last: number
  faults: number
  latencyNs: number
  holdNs: number
}

/**
 * Lost-event windows (relative ns, ends inclusive), merged into disjoint sorted spans. A fault is recorded when it
 * completes, and one that waited completes after later ones, so each lookup is a binary search, not a cursor.
 */
export class LostWindows {
  private readonly starts: number[] = []
  private readonly ends: number[] = []

  constructor(windows: [number, number][]) {
    for (const [s, e] of [...windows].sort((a, b) => a[0] - b[0] || a[1] - b[1])) {
      const last = this.ends.length - 1
      if (last >= 0 && s <= this.ends[last]!) this.ends[last] = Math.max(this.ends[last]!, e)
      else {
        this.starts.push(s)
        this.ends.push(e)
      }
    }
  }

  contains(t: number): boolean {
    let lo = 0
    let hi = this.starts.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.starts[mid]! <= t) lo = mid + 1
      else hi = mid
    }
    return lo > 0 && t <= this.ends[lo - 1]!
  }
}

export class RunRows {
  readonly runId: number
  private readonly hash: Hash = createHash('sha256')
  private readonly faultRows
  private readonly spanRows
  /** each thread's open span (null after a fault stored as a row), and the event id of its last fault */
  private readonly spans = new Map<number, {span: Span | null; last: number}>()
  private readonly waits
  private readonly holds
  private readonly files
  private readonly reasonIds = new Map<string, number>()
  private readonly lookupReason
  private readonly addReason
  private readonly counters = new Map<string, number>()
  private readonly threads = new Map<
    number,
    {tgid: number; ops: number; faults: number; waitNs: number; endNs: number}
  >()
  private faults = 0
  /** digest input of the last faults, hashed per BATCH */
  private readonly digestBuf = new Float64Array(BATCH * DIGEST_WIDTH)
  private digestFill = 0
  private readonly groups: FaultGroup[] = []
  /** groups by VMA start (null: no VMA) */
  private readonly groupsAt = new Map<number | null, FaultGroup[]>()
  private readonly faultCounts = {trylockFailed: 0, segv: 0, readAcq: 0, writeAcq: 0}

  constructor(
    private readonly db: Db,
    meta: RunMeta,
    private readonly lost: LostWindows,
    /** whether faults may go into spans (WriterInput.spans) */
    private readonly spansAllowed: boolean,
  ) {
    const r = db
      .prepare(
        `INSERT INTO runs (trace_id, policy, policy_json, mode, options_json, tool_version, faults, ops, sim_end_ns, digest)
         VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, '')`,
      )
      .run(meta.traceId, meta.policy, meta.policyJson, meta.mode, meta.optionsJson, meta.toolVersion)
    this.runId = Number(r.lastInsertRowid)
    const run = {run_id: this.runId}
    this.faultRows = new BatchInsert(
      db,
      'fault_rows',
      ['event_id', 'group_id', 'wait_ns', 'latency_ns', 'start_delay_ns', 'hold_ns'],
      BATCH,
      run,
    )
    this.spanRows = new BatchInsert(
      db,
      'fault_spans',
      ['tid', 'first_event_id', 'last_event_id', 'group_id', 'faults', 'latency_ns', 'hold_ns'],
      BATCH,
      run,
    )
    this.waits = new BatchInsert(
      db,
      'lock_waits',
      [
        'lock',
        'mode',
        'tgid',
        'waiter_tid',
        'waiter_op',
        'waiter_event_id',
        'start_ns',
        'end_ns',
        'wait_ns',
        'holder_tid',
        'holder_op',
        'holder_event_id',
      ],
      BATCH,
      run,
    )
    this.holds = new BatchInsert(
      db,
      'op_lock_holds',
      ['lock', 'mode', 'tgid', 'tid', 'op', 'event_id', 'start_ns', 'end_ns', 'hold_ns'],
      BATCH,
      run,
    )
    this.files = new BatchInsert(
      db,
      'file_releases',
      ['file_id', 'path', 'tgid', 'fd', 'closed_ns', 'undeferred_ns', 'released_ns', 'late_ns', 'deferred_fputs'],
      BATCH,
      run,
    )
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

  /** The run's group of a fault, numbered in order of first appearance. */
  private group(tgid: number, start: number | null, end: number | null, flags: number, reason: number): FaultGroup {
    let at = this.groupsAt.get(start)
    if (at === undefined) this.groupsAt.set(start, (at = []))
    for (const g of at) if (g.end === end && g.tgid === tgid && g.flags === flags && g.reason === reason) return g
    const g: FaultGroup = {
      id: this.groups.length,
      tgid,
      start,
      end,
      flags,
      reason,
      faults: 0,
    }
    at.push(g)
    this.groups.push(g)
    return g
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

  /** A FAULT record's fields at b[o] (its kind and run already read). */
  fault(b: Float64Array, o: number, strings: string[]): void {
    const eventId = b[o + F.eventId]!,
      tid = b[o + F.tid]!,
      tgid = b[o + F.tgid]!,
      t = b[o + F.t]!,
      flags = b[o + F.flags]!
    const waitNs = b[o + F.waitNs]!,
      latencyNs = b[o + F.latencyNs]!,
      startNs = b[o + F.startNs]!,
      endNs = b[o + F.endNs]!
    const vs = flags & HAS_VMA ? b[o + F.vmaStart]! : null
    const ve = flags & HAS_VMA ? b[o + F.vmaEnd]! : null
    const writeAcquisitions = b[o + F.writeAcquisitions]!,
      waitStartNs = b[o + F.waitStartNs]!,
      holdNs = b[o + F.holdNs]!
    this.faults++
    const g = this.group(
      tgid,
      vs,
      ve,
      (flags & GROUP_FLAGS) | (this.lost.contains(t) ? LOW_CONFIDENCE : 0),
      b[o + F.reason]!,
    )
    g.faults++
    // in faithful mode a fault starts at its recorded time unless its thread was still busy: almost always 0
    const delayNs = startNs - t
    if (!this.spansAllowed || !this.store(tid, eventId, g, waitNs === 0 && delayNs === 0, latencyNs, holdNs))
      this.faultRows.add(eventId, g.id, waitNs, latencyNs, delayNs, holdNs)
    const d = this.digestBuf
    let k = this.digestFill
    d[k++] = eventId
    d[k++] = g.id
    d[k++] = waitNs
    d[k++] = latencyNs
    d[k++] = delayNs
    d[k++] = holdNs
    this.digestFill = k
    if (k === d.length) this.hashPending()
    const c = this.faultCounts
    if (flags & TRYLOCK_FAILED) c.trylockFailed++
    if (flags & SEGV) c.segv++
    this.thread(tid, tgid, waitNs, endNs, true)
    this.acquisitions(b[o + F.acquisitions]!, writeAcquisitions)
    if (waitNs > 0) {
      const [wTid, wOp, wRef] = waitedFor(b, o, F, flags, strings)
      this.waits.add(
        'mmap_lock',
        writeAcquisitions > 0 ? 'write' : 'read',
        tgid,
        tid,
        'fault',
        eventId,
        waitStartNs,
        waitStartNs + waitNs,
        waitNs,
        wTid,
        wOp,
        wRef,
      )
    }
  }

  /**
   * Stores a fault of thread `tid` that did not wait and started on time (`spannable`) in its thread's span,
   * extending the open one if it has the same group, latency and hold, else opening a new one; any other fault closes
   * the span and gets false (the caller writes its row). A span stands for every fault event of the thread between
   * its first and last: a thread's faults must complete in the order they were traced, which this checks.
   */
  private store(
    tid: number,
    eventId: number,
    g: FaultGroup,
    spannable: boolean,
    latencyNs: number,
    holdNs: number,
  ): boolean {
    let s = this.spans.get(tid)
    if (s === undefined) this.spans.set(tid, (s = {span: null, last: -1}))
    else if (eventId <= s.last)
      throw new Error(`internal error: thread ${tid}'s fault ${eventId} recorded after its fault ${s.last}`)
    s.last = eventId
    const open = s.span
    if (open !== null && spannable && open.group === g && open.latencyNs === latencyNs && open.holdNs === holdNs) {
      open.last = eventId
      open.faults++
      return true
    }
    if (open !== null) this.closeSpan(tid, open)
    s.span = spannable ? {group: g, first: eventId, last: eventId, faults: 1, latencyNs, holdNs} : null
    return spannable
  }

  private closeSpan(tid: number, s: Span): void {
    this.spanRows.add(tid, s.first, s.last, s.group.id, s.faults, s.latencyNs, s.holdNs)
  }

  /** An OP record's fields at b[o] (its kind and run already read). */
  op(b: Float64Array, o: number, strings: string[]): void {
    const eventId = b[o + P.eventId]!,
      tid = b[o + P.tid]!,
      tgid = b[o + P.tgid]!,
      label = strings[b[o + P.label]!]!
    const startNs = b[o + P.startNs]!,
      endNs = b[o + P.endNs]!,
      waitNs = b[o + P.waitNs]!,
      holdNs = b[o + P.holdNs]!
    const writeHoldNs = b[o + P.writeHoldNs]!,
      vmaWaitNs = b[o + P.vmaWaitNs]!,
      waitStartNs = b[o + P.waitStartNs]!
    const writeAcquisitions = b[o + P.writeAcquisitions]!,
      flags = b[o + P.flags]!
    this.count(`ops.${label}`)
    this.thread(tid, tgid, waitNs + vmaWaitNs, endNs, false)
    this.hash.update(`${eventId},${label},${startNs},${endNs},${waitNs},${holdNs},${vmaWaitNs}\n`)
    this.acquisitions(b[o + P.acquisitions]!, writeAcquisitions)
    if (waitNs > 0) {
      const [wTid, wOp, wRef] = waitedFor(b, o, P, flags, strings)
      this.waits.add(
        'mmap_lock',
        writeAcquisitions > 0 ? 'write' : 'read',
        tgid,
        tid,
        label,
        eventId,
        waitStartNs,
        waitStartNs + waitNs,
        waitNs,
        wTid,
        wOp,
        wRef,
      )
    }
    if (vmaWaitNs > 0)
      this.waits.add('vma', 'write', tgid, tid, label, eventId, startNs, endNs, vmaWaitNs, null, null, null)
    // one row per mode: a downgrading munmap holds for write, then for read
    if (writeHoldNs > 0) this.holds.add('mmap_lock', 'write', tgid, tid, label, eventId, startNs, endNs, writeHoldNs)
    if (holdNs > writeHoldNs)
      this.holds.add('mmap_lock', 'read', tgid, tid, label, eventId, startNs, endNs, holdNs - writeHoldNs)
  }

  /** A FILE_RELEASE record (only runs whose policy defers VMA fputs send them): a file_releases row. */
  fileRelease(b: Float64Array, o: number, strings: string[]): void {
    const id = strings[b[o + R.id]!]!,
      path = b[o + R.path]! < 0 ? null : strings[b[o + R.path]!]!
    const tgid = b[o + R.tgid]! < 0 ? null : b[o + R.tgid]!,
      fd = FD_ENDS[b[o + R.fd]!]!,
      closed = b[o + R.closedNs]! < 0 ? null : b[o + R.closedNs]!
    const undeferred = b[o + R.undeferredNs]!,
      released = b[o + R.releasedNs]!,
      fputs = b[o + R.deferredFputs]!
    this.files.add(id, path, tgid, fd, closed, undeferred, released, released - undeferred, fputs)
    this.hash.update(`file,${id},${path},${tgid},${fd},${closed},${undeferred},${released},${fputs}\n`)
  }

  private hashPending(): void {
    const bytes = Buffer.from(this.digestBuf.buffer, 0, this.digestFill * 8)
    this.hash.update(BIG_ENDIAN ? Buffer.from(bytes).swap64() : bytes)
    this.digestFill = 0
  }

  /** Flushes, stores counters (run, then the kernel's) and the digest; returns the digest. */
  finish(ops: number, simEndNs: number, kernelCounters: [string, number][], strings: string[]): string {
    this.hashPending()
    this.faultRows.flush()
    for (const [tid, s] of this.spans) if (s.span !== null) this.closeSpan(tid, s.span)
    this.spanRows.flush()
    this.waits.flush()
    this.holds.flush()
    this.files.flush()
    const f = {vmaLock: 0, mmapLock: 0, took: 0, low: 0, inferred: 0, ...this.faultCounts}
    const reasons = new Map<string, number>()
    const group = this.db.prepare(
      `INSERT INTO fault_groups (run_id, group_id, tgid, vma_start, vma_end, vma_lock, took_mmap_lock, reason_id, low_confidence, inferred_vma)
       VALUES (?,?,?,?,?,?,?,?,?,?)`,
    )
    for (const g of this.groups) {
      if (g.flags & VMA_LOCK) f.vmaLock += g.faults
      else f.mmapLock += g.faults
      if (g.flags & TOOK_MMAP_LOCK) f.took += g.faults
      if (g.flags & LOW_CONFIDENCE) f.low += g.faults
      if (g.flags & INFERRED_VMA) f.inferred += g.faults
      const reason = strings[g.reason]!
      reasons.set(reason, (reasons.get(reason) ?? 0) + g.faults)
      const [vmaLock, took, low, inferred] = [VMA_LOCK, TOOK_MMAP_LOCK, LOW_CONFIDENCE, INFERRED_VMA].map((bit) =>
        g.flags & bit ? 1 : 0,
      )
      group.run(this.runId, g.id, g.tgid, g.start, g.end, vmaLock, took, this.reasonId(reason), low, inferred)
      this.hash.update(
        `${g.tgid},${g.start},${g.end},${vmaLock ? 'vma_lock' : 'mmap_lock'},${took},${low},${inferred},${reason}\n`,
      )
    }
    const named: [string, number][] = [
      ['faults.path.vma_lock', f.vmaLock],
      ['faults.path.mmap_lock', f.mmapLock],
      ['faults.took_mmap_lock', f.took],
      ['faults.trylock_failed', f.trylockFailed],
      ['faults.sigsegv', f.segv],
      ['faults.low_confidence', f.low],
      ['faults.inferred_vma', f.inferred],
      ['mmap_lock.acquire.read', f.readAcq],
      ['mmap_lock.acquire.write', f.writeAcq],
    ]
    for (const [name, n] of named) if (n > 0) this.count(name, n)
    for (const [reason, n] of reasons) this.count(`faults.reason.${reason}`, n)
    for (const [name, n] of kernelCounters) this.count(name, n)
    const counters = [...this.counters].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    const ins = this.db.prepare('INSERT INTO run_counters (run_id, name, value) VALUES (?,?,?)')
    for (const [name, value] of counters) {
      ins.run(this.runId, name, Math.round(value))
      this.hash.update(`${name}=${Math.round(value)}\n`)
    }
    const th = this.db.prepare(
      'INSERT INTO thread_results (run_id, tid, tgid, ops, faults, wait_ns, end_ns) VALUES (?,?,?,?,?,?,?)',
    )
    for (const [tid, s] of [...this.threads].sort(([x], [y]) => x - y))
      th.run(this.runId, tid, s.tgid, s.ops, s.faults, s.waitNs, s.endNs)
    const digest = this.hash.digest('hex')
    this.db
      .prepare('UPDATE runs SET faults = ?, ops = ?, sim_end_ns = ?, digest = ? WHERE run_id = ?')
      .run(this.faults, ops, simEndNs, digest, this.runId)
    return digest
  }
}

/** The holder columns of a lock_waits row: the thread first waited for, its operation and that operation's event id. */
function waitedFor(
  b: Float64Array,
  o: number,
  at: WaitedFields,
  flags: number,
  strings: string[],
): [number | null, string | null, number | null] {
  if ((flags & WAITED) === 0) return [null, null, null]
  return [b[o + at.waitedTid]!, strings[b[o + at.waitedOp]!]!, b[o + at.waitedRef]! || null]
}
