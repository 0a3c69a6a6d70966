// The `fault_pages` encoding: a trace's faults as the replay needs them, PAGE_FAULTS per row in file order, so the
// replay reads ~600 blobs instead of 2.4 M rows (better-sqlite3 building a row array per fault was most of the read).
// Written at ingest by FaultPageEncoder (fed by the tracker, in the parse worker), read by FaultPageReader. The page
// holds exactly what a fault op carries: times already relative to the trace's first event, tgid already
// coalesced, and the address and error code as the SQL read gives them (`a ?? -1`, `c ?? 0`); docs/schema.md.
//
// A page is self-contained: every delta starts from 0 at its first fault. One record per fault:
//   header byte: bit 0 kernel-mode fault, bit 1 raw address, bits 2-7 thread index (63: a varint of the index follows)
//   [tid, tgid: zigzag varints, when the index is the page's next new thread]
//   event id − previous (varint), t − previous (varint: faults are in time order, or the trace gets no pages)
//   address: zigzag varint of address − previous delta-coded address; raw: the signed 64-bit value as int32 hi, uint32 lo
//   error code (varint)
import type {TraceEvent, U64} from '../model/events.js'
import {Kind} from '../model/events.js'

/** Faults per page: a ~40 KB blob, a few hundred rows for a long trace. */
export const PAGE_FAULTS = 4096

const KERNEL = 1
const RAW = 2
const THREAD_SHIFT = 2
const THREAD_INLINE = 63
const TWO32 = 4294967296
/** |v| below this zigzags exactly in a double (2|v| + 1 < 2^53). */
const ZIGZAG_LIMIT = 2 ** 51
const I64_MAX = (1n << 63n) - 1n
/** Bytes one record can take at most: header, 2 thread varints, thread index, id, t, raw address, error code. */
const MAX_RECORD = 1 + 8 + 8 + 2 + 8 + 8 + 8 + 8

/** Where finished pages go: page_no from 0, the number of faults in it, the bytes. */
export type PageSink = (pageNo: number, faults: number, data: Uint8Array) => void

function zigzag(v: number): number {
  return v >= 0 ? v * 2 : -v * 2 - 1
}

function putVarint(b: Uint8Array, p: number, v: number): number {
  while (v > 0x7fffffff) {
    const q = Math.floor(v / 128) // not v % 128: a double remainder is a call to fmod
    b[p++] = v - q * 128 + 128
    v = q
  }
  while (v > 127) {
    b[p++] = (v & 127) | 128
    v >>>= 7
  }
  b[p++] = v
  return p
}

/**
 * Encodes the faults of one trace as they are tracked. Gives up (no pages for the trace; the replay then reads the
 * events table) on what the encoding cannot hold exactly: a fault earlier than the one before, times past 2^53 ns
 * from the first event, a bigint or negative error code. The caller stops feeding it when the trace turns out not
 * to be in time order, since the pages are in file order.
 */
export class FaultPageEncoder {
  private readonly buf = new Uint8Array(PAGE_FAULTS * MAX_RECORD)
  private pos = 0
  private n = 0
  private pages = 0
  private failed = false
  // the previous fault's values, from 0 at each page's start
  private prevId = 0
  private prevT = 0
  private prevAddr = 0
  /** tid → index of its latest (tid, tgid) in this page; tgids[index] its tgid. */
  private readonly threads = new Map<number, number>()
  private readonly tgids: number[] = []
  /** The previous fault's tid (NaN at a page's start) and thread index: most faults come in runs from one thread. */
  private lastTid = NaN
  private lastThread = 0
  /** The previous fault's time relative to the trace's first event, across pages. */
  private lastT = 0

  constructor(private readonly out: PageSink) {}

  /** One fault event, `id` its event_id, `first` the trace's first timestamp. */
  fault(id: number, e: TraceEvent, first: U64): void {
    if (this.failed) return
    const ts = e.ts
    let t: number
    if (typeof ts === 'number' && typeof first === 'number') t = ts - first
    else {
      // SQL subtracts the signed 64-bit values it stores: they agree with this only below 2^63
      if (BigInt(ts) > I64_MAX) return this.fail()
      t = Number(BigInt(ts) - BigInt(first))
    }
    if (!(t >= this.lastT) || t > Number.MAX_SAFE_INTEGER) return this.fail()
    const c = e.c ?? 0
    if (typeof c !== 'number' || c < 0) return this.fail()
    this.lastT = t

    const b = this.buf
    let p = this.pos
    const tid = e.tid
    const tgid = e.tgid ?? tid
    let thread = tid === this.lastTid ? this.lastThread : this.threads.get(tid)
    let fresh = false
    if (thread === undefined || this.tgids[thread] !== tgid) {
      if (!(
        Number.isInteger(tid) &&
        Number.isInteger(tgid) &&
        Math.abs(tid) < ZIGZAG_LIMIT &&
        Math.abs(tgid) < ZIGZAG_LIMIT
      ))
        return this.fail()
      thread = this.tgids.length
      this.tgids.push(tgid)
      this.threads.set(tid, thread)
      fresh = true
    }
    this.lastTid = tid
    this.lastThread = thread
    const a = e.a ?? -1
    let raw = true
    let dAddr = 0
    if (typeof a === 'number' && a >= 0) {
      dAddr = a - this.prevAddr
      raw = !(dAddr < ZIGZAG_LIMIT && dAddr > -ZIGZAG_LIMIT)
    }
    const start = p++
    b[start] =
      (e.kind === Kind.FaultKernel ? KERNEL : 0) | (raw ? RAW : 0) | (Math.min(thread, THREAD_INLINE) << THREAD_SHIFT)
    if (thread >= THREAD_INLINE) p = putVarint(b, p, thread - THREAD_INLINE)
    if (fresh) {
      p = putVarint(b, p, zigzag(tid))
      p = putVarint(b, p, zigzag(tgid))
    }
    p = putVarint(b, p, id - this.prevId)
    this.prevId = id
    p = putVarint(b, p, t - this.prevT)
    this.prevT = t
    if (!raw) {
      p = putVarint(b, p, zigzag(dAddr))
      this.prevAddr = a as number
    } else {
      let hi: number
      let lo: number
      if (typeof a === 'number') {
        hi = Math.floor(a / TWO32)
        lo = a - hi * TWO32
      } else {
        const s = BigInt.asIntN(64, a) // as SQLite stores it
        hi = Number(s >> 32n)
        lo = Number(s & 0xffffffffn)
      }
      b[p++] = hi
      b[p++] = hi >> 8
      b[p++] = hi >> 16
      b[p++] = hi >> 24
      b[p++] = lo
      b[p++] = lo >>> 8
      b[p++] = lo >>> 16
      b[p++] = lo >>> 24
    }
    p = putVarint(b, p, c)
    this.pos = p
    if (++this.n === PAGE_FAULTS) this.flush()
  }

  /** Writes the last page; returns the number of pages, or null if the trace cannot have them. */
  end(): number | null {
    if (this.failed) return null
    if (this.n > 0) this.flush()
    return this.pages
  }

  private fail(): void {
    this.failed = true
  }

  private flush(): void {
    this.out(this.pages++, this.n, this.buf.slice(0, this.pos))
    this.pos = 0
    this.n = 0
    this.prevId = 0
    this.prevT = 0
    this.prevAddr = 0
    this.threads.clear()
    this.tgids.length = 0
    this.lastTid = NaN
  }
}

/** Decodes pages one fault at a time into its fields (no allocation per fault). */
export class FaultPageReader {
  eventId = 0
  t = 0
  tid = 0
  tgid = 0
  /** As better-sqlite3 reads the stored INTEGER: a double, rounded past 2^53 (kernel-half addresses). */
  address = 0
  errorCode = 0
  kernel = false
  private b: Uint8Array = new Uint8Array(0)
  private p = 0
  private left = 0
  private prevAddr = 0
  private readonly tids: number[] = []
  private readonly tgids: number[] = []

  /** Starts reading a page of `faults` faults. */
  load(data: Uint8Array, faults: number): void {
    this.b = data
    this.p = 0
    this.left = faults
    this.eventId = 0
    this.t = 0
    this.prevAddr = 0
    this.tids.length = 0
    this.tgids.length = 0
  }

  /** Moves to the page's next fault; false at its end. */
  next(): boolean {
    if (this.left === 0) return false
    this.left--
    const b = this.b
    const h = b[this.p++]!
    let thread = h >>> THREAD_SHIFT
    if (thread === THREAD_INLINE) thread += this.varint()
    if (thread === this.tids.length) {
      this.tids.push(unzigzag(this.varint()))
      this.tgids.push(unzigzag(this.varint()))
    }
    this.tid = this.tids[thread]!
    this.tgid = this.tgids[thread]!
    this.eventId += this.varint()
    this.t += this.varint()
    if ((h & RAW) === 0) this.address = this.prevAddr += unzigzag(this.varint())
    else {
      const p = this.p
      const hi = b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)
      const lo = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) >>> 0
      // one rounding of the exact sum, as the C conversion of the int64 better-sqlite3 does
      this.address = hi * TWO32 + lo
      this.p = p + 8
    }
    this.errorCode = this.varint()
    this.kernel = (h & KERNEL) !== 0
    return true
  }

  private varint(): number {
    const b = this.b
    let x = b[this.p++]!
    if (x < 128) return x
    let v = x & 127
    let scale = 128
    do {
      x = b[this.p++]!
      v += (x & 127) * scale
      scale *= 128
    } while (x >= 128)
    return v
  }
}

function unzigzag(z: number): number {
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2
}
