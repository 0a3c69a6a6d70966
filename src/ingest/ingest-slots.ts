// Rows from the parse worker to the main thread through a SlotRing (slots.ts). A few fixed slots, each holding up
// to SLOT_EVENTS `events` rows and SLOT_SYSCALLS `syscalls` rows as columns: every numeric value is a Float64 with
// a tag byte beside it (number / null / bigint, the bigint's exact signed 64 bits in a BigInt64Array), strings are
// indexes into a per-slot list of distinct strings sent with the slot's message. The worker fills a slot and posts
// its message; the main thread inserts the rows and hands the slot back.
import type {TraceEvent, U64} from '../model/events.js'
import {SlotRing} from '../store/slots.js'
import {SYSCALL_COLUMNS, type RowSink, type SyscallRow} from './track.js'

export const SLOTS = 4
export const SLOT_EVENTS = 8192
export const SLOT_SYSCALLS = 4096
/** Numeric columns per events row: line, ts_ns, tid, tgid, cpu, kind, a..f (the text column is separate). */
export const EV_NUM = 12
/** Numeric columns per syscalls row (SYSCALL_COLUMNS). */
export const SC_NUM = SYSCALL_COLUMNS.length

export const TAG_NUMBER = 0
export const TAG_NULL = 1
export const TAG_BIGINT = 2

/** The shared buffers of one slot; posted once in workerData, then reused. */
export interface SlotBuffers {
  evNum: SharedArrayBuffer
  evTag: SharedArrayBuffer
  evBig: SharedArrayBuffer
  evTxt: SharedArrayBuffer
  scNum: SharedArrayBuffer
  scTag: SharedArrayBuffer
  scBig: SharedArrayBuffer
  scTxt: SharedArrayBuffer
}

export class Slot {
  readonly evNum: Float64Array
  readonly evTag: Uint8Array
  readonly evBig: BigInt64Array
  readonly evTxt: Int32Array
  readonly scNum: Float64Array
  readonly scTag: Uint8Array
  readonly scBig: BigInt64Array
  readonly scTxt: Int32Array

  constructor(b: SlotBuffers) {
    this.evNum = new Float64Array(b.evNum)
    this.evTag = new Uint8Array(b.evTag)
    this.evBig = new BigInt64Array(b.evBig)
    this.evTxt = new Int32Array(b.evTxt)
    this.scNum = new Float64Array(b.scNum)
    this.scTag = new Uint8Array(b.scTag)
    this.scBig = new BigInt64Array(b.scBig)
    this.scTxt = new Int32Array(b.scTxt)
  }
}

/** The slots, and their ring's control words (SlotRing). */
export function allocate(): {slots: SlotBuffers[]; ctl: SharedArrayBuffer} {
  const slots: SlotBuffers[] = []
  for (let i = 0; i < SLOTS; i++)
    slots.push({
      evNum: new SharedArrayBuffer(SLOT_EVENTS * EV_NUM * 8),
      evTag: new SharedArrayBuffer(SLOT_EVENTS * EV_NUM),
      evBig: new SharedArrayBuffer(SLOT_EVENTS * EV_NUM * 8),
      evTxt: new SharedArrayBuffer(SLOT_EVENTS * 4),
      scNum: new SharedArrayBuffer(SLOT_SYSCALLS * SC_NUM * 8),
      scTag: new SharedArrayBuffer(SLOT_SYSCALLS * SC_NUM),
      scBig: new SharedArrayBuffer(SLOT_SYSCALLS * SC_NUM * 8),
      scTxt: new SharedArrayBuffer(SLOT_SYSCALLS * 4),
    })
  return {slots, ctl: SlotRing.allocate(SLOTS)}
}

/** What the worker posts per filled slot (the rare rows travel in the message itself). */
export interface BatchMessage {
  type: 'batch'
  slot: number
  events: number
  syscalls: number
  strings: string[]
  problems: [line: number, reason: string, excerpt: string][]
  lost: [line: number, cpu: number | null, count: number | null, start: number | bigint, end: number | bigint][]
  pages: [pageNo: number, faults: number, data: Uint8Array][]
}

function put(num: Float64Array, tag: Uint8Array, big: BigInt64Array, i: number, v: U64 | null): void {
  if (typeof v === 'number') {
    num[i] = v
    tag[i] = TAG_NUMBER
  } else if (v === null) {
    tag[i] = TAG_NULL
  } else {
    big[i] = BigInt.asIntN(64, v) // SQLite INTEGER is signed 64-bit: two's complement, as toSql
    tag[i] = TAG_BIGINT
  }
}

/** The worker's RowSink: fills the shared slots and posts each full one. */
export class SlotWriter implements RowSink {
  private readonly slots: Slot[]
  private readonly ring: SlotRing
  private cur = 0
  private slot: Slot
  private nEv = 0
  private nSc = 0
  private strings: string[] = []
  private dict = new Map<string, number>()
  private problems: BatchMessage['problems'] = []
  private lostRows: BatchMessage['lost'] = []
  private pages: BatchMessage['pages'] = []

  constructor(
    buffers: SlotBuffers[],
    ctl: SharedArrayBuffer,
    private readonly post: (m: BatchMessage) => void,
  ) {
    this.slots = buffers.map((b) => new Slot(b))
    this.ring = new SlotRing(ctl)
    this.slot = this.slots[0]!
    this.ring.claim(0)
  }

  private str(s: string): number {
    let i = this.dict.get(s)
    if (i === undefined) {
      i = this.strings.length
      this.strings.push(s)
      this.dict.set(s, i)
    }
    return i
  }

  event(e: TraceEvent): void {
    if (this.nEv === SLOT_EVENTS) this.flush()
    const s = this.slot
    const num = s.evNum
    const tag = s.evTag
    const r = this.nEv++
    const o = r * EV_NUM
    num[o] = e.line
    tag[o] = TAG_NUMBER
    put(num, tag, s.evBig, o + 1, e.ts)
    num[o + 2] = e.tid
    tag[o + 2] = TAG_NUMBER
    put(num, tag, s.evBig, o + 3, e.tgid)
    put(num, tag, s.evBig, o + 4, e.cpu)
    num[o + 5] = e.kind
    tag[o + 5] = TAG_NUMBER
    put(num, tag, s.evBig, o + 6, e.a)
    put(num, tag, s.evBig, o + 7, e.b)
    put(num, tag, s.evBig, o + 8, e.c)
    put(num, tag, s.evBig, o + 9, e.d)
    put(num, tag, s.evBig, o + 10, e.e)
    put(num, tag, s.evBig, o + 11, e.f)
    s.evTxt[r] = e.text === null ? -1 : this.str(e.text)
  }

  syscall(row: SyscallRow): void {
    if (this.nSc === SLOT_SYSCALLS) this.flush()
    const s = this.slot
    const r = this.nSc++
    const o = r * SC_NUM
    for (let j = 0; j < SC_NUM; j++) put(s.scNum, s.scTag, s.scBig, o + j, row[SYSCALL_COLUMNS[j]!])
    s.scTxt[r] = this.str(row.name)
  }

  problem(line: number, reason: string, excerpt: string): void {
    this.problems.push([line, reason, excerpt])
  }

  lost(line: number, cpu: number | null, count: number | null, start: U64, end: U64): void {
    this.lostRows.push([
      line,
      cpu,
      count,
      typeof start === 'bigint' ? BigInt.asIntN(64, start) : start,
      typeof end === 'bigint' ? BigInt.asIntN(64, end) : end,
    ])
  }

  faultPage(pageNo: number, faults: number, data: Uint8Array): void {
    this.pages.push([pageNo, faults, data])
  }

  /** Posts the current slot (if it holds anything) and waits for the next one to be free. */
  flush(): void {
    if (
      this.nEv === 0 &&
      this.nSc === 0 &&
      this.problems.length === 0 &&
      this.lostRows.length === 0 &&
      this.pages.length === 0
    )
      return
    this.ring.publish(this.cur)
    this.post({
      type: 'batch',
      slot: this.cur,
      events: this.nEv,
      syscalls: this.nSc,
      strings: this.strings,
      problems: this.problems,
      lost: this.lostRows,
      pages: this.pages,
    })
    this.nEv = 0
    this.nSc = 0
    this.strings = []
    this.dict = new Map()
    this.problems = []
    this.lostRows = []
    this.pages = []
    this.cur = (this.cur + 1) % this.slots.length
    this.slot = this.slots[this.cur]!
    this.ring.claim(this.cur) // until the main thread has inserted what this slot last held
  }
}
