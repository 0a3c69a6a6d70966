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
/**
 * The slot layout of an events row, defined once: its numeric columns in slot order, each beside the TraceEvent
 * field it holds, then its one string column (text). SlotWriter.event encodes by this list, and TraceWriter names
 * the INSERT's columns by it and decodes every slot row in the same order, so a field cannot move on one side only.
 */
export const EVENT_SLOT_COLUMNS = [
  ['line', 'line'],
  ['ts_ns', 'ts'],
  ['tid', 'tid'],
  ['tgid', 'tgid'],
  ['cpu', 'cpu'],
  ['kind', 'kind'],
  ['a', 'a'],
  ['b', 'b'],
  ['c', 'c'],
  ['d', 'd'],
  ['e', 'e'],
  ['f', 'f'],
] as const satisfies readonly (readonly [string, keyof TraceEvent])[]
const EVENT_FIELDS = EVENT_SLOT_COLUMNS.map(([, field]) => field)
/** Numeric columns per events row. */
export const EV_NUM = EVENT_SLOT_COLUMNS.length
/** Numeric columns per syscalls row (SYSCALL_COLUMNS, named as the row's fields), then its string column, name. */
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

/** One table's rows in a slot: `width` numeric columns per row (value, tag, bigint), then one string index. */
export class SlotRows {
  readonly num: Float64Array
  readonly tag: Uint8Array
  readonly big: BigInt64Array
  readonly txt: Int32Array

  constructor(
    num: SharedArrayBuffer,
    tag: SharedArrayBuffer,
    big: SharedArrayBuffer,
    txt: SharedArrayBuffer,
    readonly width: number,
  ) {
    this.num = new Float64Array(num)
    this.tag = new Uint8Array(tag)
    this.big = new BigInt64Array(big)
    this.txt = new Int32Array(txt)
  }

  /** Stores value v at numeric column i (row × width + column). */
  put(i: number, v: U64 | null): void {
    if (typeof v === 'number') {
      this.num[i] = v
      this.tag[i] = TAG_NUMBER
    } else if (v === null) {
      this.tag[i] = TAG_NULL
    } else {
      this.big[i] = BigInt.asIntN(64, v) // SQLite INTEGER is signed 64-bit: two's complement, as toSql
      this.tag[i] = TAG_BIGINT
    }
  }

  /** The value put at numeric column i, as bound to SQLite. */
  get(i: number): number | bigint | null {
    const t = this.tag[i]
    return t === TAG_NUMBER ? this.num[i]! : t === TAG_NULL ? null : this.big[i]!
  }
}

export class Slot {
  readonly events: SlotRows
  readonly syscalls: SlotRows

  constructor(b: SlotBuffers) {
    this.events = new SlotRows(b.evNum, b.evTag, b.evBig, b.evTxt, EV_NUM)
    this.syscalls = new SlotRows(b.scNum, b.scTag, b.scBig, b.scTxt, SC_NUM)
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
    const rows = this.slot.events
    const r = this.nEv++
    const o = r * EV_NUM
    for (let j = 0; j < EV_NUM; j++) rows.put(o + j, e[EVENT_FIELDS[j]!] as U64 | null)
    rows.txt[r] = e.text === null ? -1 : this.str(e.text)
  }

  syscall(row: SyscallRow): void {
    if (this.nSc === SLOT_SYSCALLS) this.flush()
    const rows = this.slot.syscalls
    const r = this.nSc++
    const o = r * SC_NUM
    for (let j = 0; j < SC_NUM; j++) rows.put(o + j, row[SYSCALL_COLUMNS[j]!])
    rows.txt[r] = this.str(row.name)
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
