// One CPU's ring-buffer pages from a trace.dat, read page by page (memory stays flat however long the trace):
// each page is a header (timestamp, commit = bytes used + flags) and 4-byte-aligned entries whose 32-bit header
// holds type_len (5 bits) and time_delta (27 bits). type_len 1..28: data of type_len*4 bytes; 0: length in the next
// word; 29: padding (time_delta 0: the rest of the page); 30: time extend (delta += next word << 27); 31: absolute
// timestamp. The timestamp rules follow the kernel's reader (rb_update_iter_read_stamp, kernel/trace/ring_buffer.c,
// v6.18): data adds its delta, a time extend adds its delta, padding adds nothing, an absolute stamp replaces
// the time (rb_fix_abs_ts restores its 5 top bits).

import type {U64} from '../model/events.js'
import type {CpuRegion} from './tracedat-header.js'
import {InputError} from '../base/errors.js'
import {badFile, Cursor, inflate, type Codec, type DatFile} from './tracedat-io.js'

/** Where the page header's fields are (events/header_page). */
export interface PageLayout {
  tsOffset: number
  commitOffset: number
  commitSize: number // the kernel's long: 8 on 64-bit kernels
  dataOffset: number
}

export function pageLayout(headerPage: string, path: string): PageLayout {
  const f = (name: string): [number, number] => {
    const m = new RegExp(`field:[^;]*\\b${name};\\s*offset:(\\d+);\\s*size:(\\d+);`).exec(headerPage)
    if (m === null) throw badFile(path, `the ring-buffer page header (header_page) has no "${name}" field`)
    return [Number(m[1]), Number(m[2])]
  }
  const [tsOffset] = f('timestamp')
  const [commitOffset, commitSize] = f('commit')
  const [dataOffset] = f('data')
  return {tsOffset, commitOffset, commitSize, dataOffset}
}

const COMMIT_MASK = (1 << 27) - 1
const MISSED_EVENTS = 1 << 31 // RB_MISSED_EVENTS: events were lost before this page (as int32, like `&` reads it)
const MISSED_STORED = 1 << 30 // RB_MISSED_STORED: their count follows the page's data
const TYPE_PADDING = 29
const TYPE_TIME_EXTEND = 30
const TYPE_TIME_STAMP = 31
const TS_SHIFT = 27
const BATCH_PAGES = 64
const MAX_SAFE = Number.MAX_SAFE_INTEGER
const TWO32 = 4294967296
const TWO21 = 2097152
const TS_MSB = 0xf8n << 56n
const TWO59 = 1n << 59n

/** ts + delta, exact: a number while it stays below 2^53. */
function addTs(ts: U64, delta: U64): U64 {
  if (typeof ts === 'number' && typeof delta === 'number') {
    const s = ts + delta
    if (s <= MAX_SAFE) return s
  }
  const s = BigInt(ts) + BigInt(delta)
  return s <= BigInt(MAX_SAFE) ? Number(s) : s
}

/** rb_fix_abs_ts: an absolute stamp keeps 59 bits; the top 5 come from the current time. */
function fixAbsTs(abs: U64, save: U64): U64 {
  if (typeof save === 'number') return abs
  const top = save & TS_MSB
  if (top === 0n) return abs
  let v = BigInt(abs) | top
  if (v < save) v += TWO59
  return v
}

/** Supplies one CPU's pages in order: uncompressed (read in batches) or from compressed chunks. */
interface PageSource {
  /** Loads the next page; false at the end. */
  next(): boolean
  buf: Buffer
  at: number // the page's first byte in buf
  len: number // bytes of the page present (the last may be short)
  where(): string // the page's place in the file, for problem reports
}

class PlainPages implements PageSource {
  buf: Buffer
  at = 0
  len = 0
  private fileAt: number // file offset of the next page to hand out
  private readonly end: number
  private batchAt = 0 // file offset of buf[0]
  private batchLen = 0

  constructor(
    private readonly f: DatFile,
    region: CpuRegion,
    private readonly pageSize: number,
    private readonly onRead: () => void,
  ) {
    this.fileAt = region.offset
    this.end = region.offset + region.size
    this.buf = Buffer.allocUnsafe(Math.min(region.size, pageSize * BATCH_PAGES))
  }

  next(): boolean {
    if (this.fileAt >= this.end) return false
    if (this.fileAt >= this.batchAt + this.batchLen) {
      const want = Math.min(this.buf.length, this.end - this.fileAt)
      this.batchAt = this.fileAt
      this.batchLen = this.f.readInto(this.buf, 0, want, this.fileAt)
      this.onRead()
      if (this.batchLen === 0)
        throw badFile(this.f.path, `CPU data ends at 0x${this.fileAt.toString(16)}, before the size its header gives`)
    }
    this.at = this.fileAt - this.batchAt
    this.len = Math.min(this.pageSize, this.batchAt + this.batchLen - this.fileAt)
    this.fileAt += this.pageSize
    return true
  }

  where(): string {
    return `page at file offset 0x${(this.batchAt + this.at).toString(16)}`
  }
}

/** Version 7 compressed CPU data: a chunk count, then chunks of (compressed size, size, data), each whole pages. */
class ChunkPages implements PageSource {
  buf: Buffer = Buffer.alloc(0)
  at = 0
  len = 0
  private fileAt: number
  private chunks = -1 // chunks left; -1 until the count is read
  private chunkAt = 0
  private page = 0

  constructor(
    private readonly f: DatFile,
    region: CpuRegion,
    private readonly pageSize: number,
    private readonly codec: Codec,
    private readonly le: boolean,
    private readonly onRead: () => void,
  ) {
    this.fileAt = region.offset
  }

  next(): boolean {
    if (this.at + this.pageSize < this.buf.length) {
      this.at += this.pageSize
      this.page++
      this.len = Math.min(this.pageSize, this.buf.length - this.at)
      return true
    }
    const cursor = (n: number): Cursor => {
      const c = new Cursor(
        this.f.read(this.fileAt, n),
        this.le,
        () => `${this.f.path}: CPU data at 0x${this.fileAt.toString(16)}`,
      )
      this.fileAt += n
      return c
    }
    if (this.chunks < 0) this.chunks = cursor(4).u32()
    if (this.chunks === 0) return false
    this.chunks--
    this.chunkAt = this.fileAt
    const h = cursor(8)
    const csize = h.u32()
    const usize = h.u32()
    const data = this.f.read(this.fileAt, csize)
    this.fileAt += csize
    this.onRead()
    this.buf = inflate(this.codec, data, usize, `${this.f.path}: CPU data chunk at 0x${this.chunkAt.toString(16)}`)
    this.at = 0
    this.page = 0
    this.len = Math.min(this.pageSize, this.buf.length)
    return this.buf.length > 0 || this.next()
  }

  where(): string {
    return `page ${this.page} of the ${this.codec} chunk at file offset 0x${this.chunkAt.toString(16)}`
  }
}

export type ProblemHandler = (reason: string, where: string) => void

/** Iterates one CPU's records in buffer order with their timestamps. */
export class CpuStream {
  ts: U64 = 0
  /** Events lost before the current record (reported once, on a page's first record): -1 none, 0 unknown count. */
  missed = -1
  /** The current record's payload: recBuf[recStart, recStart + recLen). */
  recBuf: Buffer = Buffer.alloc(0)
  recStart = 0
  recLen = 0
  private entry = 0 // where the current entry starts in src.buf
  private readonly src: PageSource
  private pos = 0 // next entry, as an index into src.buf
  private end = 0 // end of the current page's committed data in src.buf
  private pageMissed = -1
  private broken = false

  constructor(
    readonly cpu: number,
    f: DatFile,
    region: CpuRegion,
    private readonly pageSize: number,
    private readonly layout: PageLayout,
    private readonly le: boolean,
    codec: Codec | null,
    private readonly problem: ProblemHandler,
    onRead: () => void,
  ) {
    this.src =
      codec === null
        ? new PlainPages(f, region, pageSize, onRead)
        : new ChunkPages(f, region, pageSize, codec, le, onRead)
  }

  /** Where the current record is, for problem reports. */
  where(): string {
    return `CPU ${this.cpu}, ${this.src.where()}, entry at +0x${(this.entry - this.src.at).toString(16)}`
  }

  private u32(p: number): number {
    return this.le ? this.src.buf.readUInt32LE(p) : this.src.buf.readUInt32BE(p)
  }

  private long(p: number, size: number): number {
    if (size === 4) return this.u32(p)
    // only the low 32 bits matter: commit sizes and flags, missed-event counts far below 2^32
    return this.le ? this.src.buf.readUInt32LE(p) : this.src.buf.readUInt32BE(p + 4)
  }

  /** The next page; a chunk that cannot be read or decompressed ends this CPU's data with a problem. */
  private nextPage(): boolean {
    if (this.broken) return false
    try {
      return this.src.next()
    } catch (err) {
      if (!(err instanceof InputError)) throw err
      this.problem(
        `${err.message}; the rest of this CPU's data is skipped`,
        `CPU ${this.cpu}, after ${this.src.where()}`,
      )
      this.broken = true
      return false
    }
  }

  private loadPage(): boolean {
    const L = this.layout
    for (;;) {
      if (!this.nextPage()) return false
      const s = this.src
      if (s.len < L.dataOffset) {
        this.problem(`page shorter than its header (${s.len} bytes)`, `CPU ${this.cpu}, ${s.where()}`)
        continue
      }
      const lo = this.le ? s.buf.readUInt32LE(s.at + L.tsOffset) : s.buf.readUInt32BE(s.at + L.tsOffset + 4)
      const hi = this.le ? s.buf.readUInt32LE(s.at + L.tsOffset + 4) : s.buf.readUInt32BE(s.at + L.tsOffset)
      const commit = this.long(s.at + L.commitOffset, L.commitSize)
      const size = commit & COMMIT_MASK
      if (L.dataOffset + size > s.len) {
        this.problem(
          `page commit of ${size} bytes overruns the ${s.len - L.dataOffset} data bytes of the page`,
          `CPU ${this.cpu}, ${s.where()}`,
        )
        continue
      }
      this.ts = hi < TWO21 ? hi * TWO32 + lo : (BigInt(hi) << 32n) | BigInt(lo)
      this.pos = s.at + L.dataOffset
      this.end = this.pos + size
      if ((commit & MISSED_EVENTS) !== 0) {
        const stored = (commit & MISSED_STORED) !== 0 && this.end + L.commitSize <= s.at + s.len
        this.pageMissed = stored ? this.long(this.end, L.commitSize) : 0
      }
      if (size === 0) continue
      return true
    }
  }

  /** Advances to the next data record; false when the CPU has no more. */
  next(): boolean {
    this.missed = -1
    for (;;) {
      if (this.pos >= this.end && !this.loadPage()) return false
      const p = this.pos
      this.entry = p
      if (p + 4 > this.end) {
        this.problem('entry header cut by the end of the page data', this.where())
        this.pos = this.end
        continue
      }
      const word = this.u32(p)
      const type = this.le ? word & 31 : word >>> 27
      const delta = this.le ? word >>> 5 : word & COMMIT_MASK
      if (type === TYPE_PADDING) {
        if (delta === 0 || p + 8 > this.end) {
          this.pos = this.end // the rest of the page is padding
          continue
        }
        this.pos = p + 4 + this.u32(p + 4) // a discarded event: its delta is not added (as the kernel reads it)
        continue
      }
      if (type === TYPE_TIME_EXTEND || type === TYPE_TIME_STAMP) {
        if (p + 8 > this.end) {
          this.problem('time extend cut by the end of the page data', this.where())
          this.pos = this.end
          continue
        }
        const hi = this.u32(p + 4)
        const v: U64 = hi < 1 << 26 ? hi * 2 ** TS_SHIFT + delta : (BigInt(hi) << 27n) + BigInt(delta)
        this.ts = type === TYPE_TIME_EXTEND ? addTs(this.ts, v) : fixAbsTs(v, this.ts)
        this.pos = p + 8
        continue
      }
      let len: number
      let data: number
      if (type === 0) {
        if (p + 8 > this.end) {
          this.problem('record length cut by the end of the page data', this.where())
          this.pos = this.end
          continue
        }
        len = ((this.u32(p + 4) - 4 + 3) & ~3) >>> 0
        data = p + 8
      } else {
        len = type * 4
        data = p + 4
      }
      if (data + len > this.end || len > this.pageSize) {
        this.problem(`record of ${len} bytes overruns the page data`, this.where())
        this.pos = this.end
        continue
      }
      this.ts = addTs(this.ts, delta)
      this.pos = data + len
      this.recBuf = this.src.buf
      this.recStart = data
      this.recLen = len
      if (this.pageMissed >= 0) {
        this.missed = this.pageMissed
        this.pageMissed = -1
      }
      return true
    }
  }
}
