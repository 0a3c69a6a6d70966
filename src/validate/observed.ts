// What the kernel did on each user fault, read from the trace's own mmap_lock events (docs/validation.md).
// A fault's window is its thread's events after it, up to that thread's next fault, syscall entry or exit: the
// mmap_lock wrappers it called (include/linux/mmap_lock.h) emit start_locking/acquire_returned/released there.
import type {Db} from '../store/db.js'
import {Kind} from '../model/events.js'

export type ObservedPattern =
  | 'none' // no mmap_lock: handled under the per-VMA lock
  | 'read' // Sr Ar Rr: __vmf_anon_prepare trylock, or an uncontended lock_mm_and_find_vma (indistinguishable)
  | 'read_contended' // Sr Ar! Sr Ar Rr: lock_mm_and_find_vma trylock failed, then mmap_read_lock_killable
  | 'anon_vma_failed_fallback' // Sr Ar! Sr Ar! Sr Ar Rr: anon_vma trylock failed → RETRY → contended fallback
  | 'read_twice' // two read sections: anon_vma trylock, then a fallback (RETRY) or a re-fault
  | 'stack_growth' // a write acquisition inside the fault: expand_stack under mmap_write_lock, then downgrade
  | 'other'

export interface ObservedFault {
  eventId: number
  took: boolean
  pattern: ObservedPattern
  signature: string
  /** ns the thread held mmap_lock in the window: each successful acquire_returned to the next released */
  holdNs: number
}

const FAULT_END = new Set<number>([Kind.FaultUser, Kind.SysEnter, Kind.SysArgs, Kind.Exit])

function classify(sig: string): ObservedPattern {
  if (sig === '') return 'none'
  if (sig.includes('Sw') || sig.includes('Aw')) return 'stack_growth'
  if (sig === 'Sr Ar Rr') return 'read'
  if (sig === 'Sr Ar! Sr Ar Rr') return 'read_contended'
  if (sig === 'Sr Ar! Sr Ar! Sr Ar Rr') return 'anon_vma_failed_fallback'
  if (/^Sr Ar Rr Sr Ar(!)? /.test(sig)) return 'read_twice'
  return 'other'
}

/** One pass over a trace's events in file order; calls `emit` for every user fault with its observed path. */
export function observeFaults(db: Db, traceId: number, emit: (f: ObservedFault) => void): void {
  const open = new Map<number, {eventId: number; sig: string[]; took: boolean; holdNs: number; heldSince: number}>()
  const close = (tid: number): void => {
    const w = open.get(tid)
    if (w === undefined) return
    open.delete(tid)
    const signature = w.sig.join(' ')
    emit({eventId: w.eventId, took: w.took, pattern: classify(signature), signature, holdNs: w.holdNs})
  }
  const stmt = db.prepare(
    // times relative to the trace's first event: exact as numbers (spans < 104 days)
    `SELECT event_id, kind, tid, a, b, ts_ns - (SELECT first_ts_ns FROM traces WHERE trace_id = @t) FROM events
     WHERE trace_id = @t AND kind IN (${[...FAULT_END, Kind.LockStart, Kind.LockAcquire, Kind.LockRelease].join(',')}) ORDER BY event_id`,
  )
  for (const [eventId, kind, tid, a, b, t] of stmt.raw(true).iterate({t: traceId}) as Iterable<
    [number, number, number, number, number, number]
  >) {
    if (FAULT_END.has(kind)) {
      close(tid)
      if (kind === Kind.FaultUser) open.set(tid, {eventId, sig: [], took: false, holdNs: 0, heldSince: -1})
      continue
    }
    const w = open.get(tid)
    if (w === undefined) continue
    const rw = a === 1 ? 'w' : 'r'
    if (kind === Kind.LockStart) w.sig.push('S' + rw)
    else if (kind === Kind.LockRelease) {
      w.sig.push('R' + rw)
      if (w.heldSince >= 0) w.holdNs += t - w.heldSince
      w.heldSince = -1
    } else {
      w.sig.push('A' + rw + (b === 0 ? '!' : ''))
      if (b !== 0) {
        w.took = true
        if (w.heldSince < 0) w.heldSince = t // a downgrade's read acquire continues the write hold
      }
    }
  }
  for (const tid of [...open.keys()]) close(tid)
}

/**
 * Each user fault's own mmap_lock hold, by event id, where it is the fault's whole handling: one read section
 * (`Sr Ar Rr`, or `Sr Ar! Sr Ar Rr` after a failed trylock) on a kernel without per-VMA locks, where that section is
 * lock_mm_and_find_vma to mmap_read_unlock (on 6.4+ the same pattern is also __vmf_anon_prepare's trylock alone).
 */
export function faultHoldsNs(db: Db, traceId: number): Map<number, number> {
  const out = new Map<number, number>()
  observeFaults(db, traceId, (f) => {
    if ((f.pattern === 'read' || f.pattern === 'read_contended') && f.holdNs > 0) out.set(f.eventId, f.holdNs)
  })
  return out
}
