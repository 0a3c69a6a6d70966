// Byte-level reading of one trace line for the hot parsers. Reading a Buffer byte costs a fraction of a
// charCodeAt on a sliced string (measured ~1 ns vs ~5 ns on the dev VM), so ftrace/perf lines are parsed from
// their bytes, and strings are sliced from the decoded chunk only for fields that are strings (comm, mm, ...).
// Every read stays inside [start, end): an out-of-range typed-array read would send V8 down a slow path.

import type {U64} from '../model/events.js'
import {decToI64, normalize} from './numbers.js'
import {Ch} from './chars.js'

const EMPTY = Buffer.alloc(0)
const TWO32 = 4294967296
const TWO21 = 2097152
const MAX_SAFE_SECONDS = 9007198
const POW10 = [1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 100, 10, 1]

/** Where the last *At scan stopped: the index of the first byte it did not consume. */
export const scan = {end: 0}

/** Hex digit value per byte, -1 for non-hex. */
const HEX = new Int8Array(256).fill(-1)
for (let i = 0; i < 10; i++) HEX[48 + i] = i
for (let i = 0; i < 6; i++) HEX[97 + i] = HEX[65 + i] = 10 + i

/** The line being parsed (see ByteLineHandler for text/base). */
export class Line {
  b: Buffer = EMPTY
  start = 0
  end = 0
  text = ''
  base = 0
  no = 0

  set(b: Buffer, start: number, end: number, text: string, base: number, no: number): void {
    this.b = b
    this.start = start
    this.end = end
    this.text = text
    this.base = base
    this.no = no
  }

  /** Sets the line from a string (LineImporter.feed: tests, lines held back during format detection). */
  setString(line: string, no: number): void {
    const b = Buffer.from(line, 'utf8')
    this.set(b, 0, b.length, line, b.length === line.length ? 0 : -1, no)
  }

  /** The string of bytes [i, j). */
  str(i: number, j: number): string {
    return this.base >= 0 ? this.text.slice(i - this.base, j - this.base) : this.b.toString('utf8', i, j)
  }

  /** The whole line as a string. */
  line(): string {
    return this.base >= 0 ? this.text.slice(this.start - this.base, this.end - this.base) : this.text
  }

  /** The byte at i, or -1 outside the line. */
  at(i: number): number {
    return i >= this.start && i < this.end ? this.b[i]! : -1
  }

  /** Whether the line holds the bytes of `k` at p. */
  has(p: number, k: Uint8Array): boolean {
    const n = k.length
    if (p < this.start || p + n > this.end) return false
    const b = this.b
    for (let i = 0; i < n; i++) if (b[p + i] !== k[i]) return false
    return true
  }

  /** Index of byte c in [p, end), or -1. */
  find(c: number, p: number): number {
    const b = this.b
    const e = this.end
    for (let i = p < this.start ? this.start : p; i < e; i++) if (b[i] === c) return i
    return -1
  }

  /** Index after the run of spaces starting at p. */
  skipSpaces(p: number): number {
    const b = this.b
    const e = this.end
    while (p < e && b[p] === Ch.SPACE) p++
    return p
  }
}

/** A constant to match with Line.has. */
export function key(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, 'latin1'))
}

/** Hex digits (no 0x) from p up to the first non-hex byte; null if none or wider than 64 bits. Sets scan.end. */
export function hexAt(L: Line, p: number): U64 | null {
  const b = L.b
  const e = L.end
  let v = 0
  let i = p
  for (; i < e; i++) {
    const d = HEX[b[i]!]!
    if (d < 0) break
    v = v * 16 + d
  }
  scan.end = i
  const n = i - p
  if (n <= 13) return n === 0 ? null : v
  let s = p
  while (s < i - 1 && b[s] === Ch.DIGIT_0) s++
  if (i - s > 16) return null
  if (i - s <= 13) {
    v = 0
    for (let k = s; k < i; k++) v = v * 16 + HEX[b[k]!]!
    return v
  }
  let hi = 0
  let lo = 0
  for (let k = s; k < i - 8; k++) hi = hi * 16 + HEX[b[k]!]!
  for (let k = i - 8; k < i; k++) lo = lo * 16 + HEX[b[k]!]!
  return hi < TWO21 ? hi * TWO32 + lo : (BigInt(hi) << 32n) | BigInt(lo)
}

/** Decimal with optional leading minus from p, within signed 64 bits; null if no digits. Sets scan.end. */
export function decAt(L: Line, p: number): U64 | null {
  const b = L.b
  const e = L.end
  let i = p < e && b[p] === Ch.DASH ? p + 1 : p
  const first = i
  let v = 0
  for (; i < e; i++) {
    const c = b[i]! - 48
    if (c < 0 || c > 9) break
    v = v * 10 + c
  }
  scan.end = i
  if (i === first) return null
  if (i - first <= 15) return first === p ? v : v === 0 ? 0 : -v
  const s = b.toString('latin1', p, i)
  return decToI64(s, 0, s.length)
}

/** `0x` hex or (signed) decimal from p, as TP_printk prints %lx / %ld. Sets scan.end. */
export function numAt(L: Line, p: number): U64 | null {
  return L.at(p) === Ch.DIGIT_0 && L.at(p + 1) === Ch.LOWER_X ? hexAt(L, p + 2) : decAt(L, p)
}

const K_TRUE = key('true')
const K_FALSE = key('false')

/** `true`/`false` at p as 1/0, else null. Sets scan.end. */
export function boolAt(L: Line, p: number): U64 | null {
  if (L.has(p, K_TRUE)) {
    scan.end = p + 4
    return 1
  }
  if (L.has(p, K_FALSE)) {
    scan.end = p + 5
    return 0
  }
  return null
}

/** A timestamp `SECONDS.FRACTION` (1..9 fraction digits) or a bare integer in [p, q), as ns; see tsToNs. */
export function tsAt(L: Line, p: number, q: number): U64 | null {
  const b = L.b
  let i = p
  let sec = 0
  for (; i < q; i++) {
    const c = b[i]! - 48
    if (c < 0 || c > 9) break
    sec = sec * 10 + c
  }
  const secDigits = i - p
  if (secDigits === 0) return null
  if (i === q) {
    if (secDigits <= 15) return sec
    return decAt(L, p)
  }
  if (b[i] !== Ch.DOT) return null
  const fracStart = ++i
  let frac = 0
  for (; i < q; i++) {
    const c = b[i]! - 48
    if (c < 0 || c > 9) return null
    frac = frac * 10 + c
  }
  const fracDigits = q - fracStart
  if (fracDigits === 0 || fracDigits > 9) return null
  frac *= POW10[fracDigits]!
  if (sec <= MAX_SAFE_SECONDS) return sec * 1e9 + frac
  const whole = secDigits > 15 ? BigInt(b.toString('latin1', p, fracStart - 1)) : BigInt(sec)
  const ns = whole * 1000000000n + BigInt(frac)
  return ns > 18446744073709551615n ? null : normalize(ns)
}

/** Event-name lookup on a byte range: candidates bucketed by length and compared in place. */
export class NameTable {
  private readonly names: Uint8Array[][] = []
  private readonly codes: number[][] = []

  constructor(entries: [string, number][]) {
    for (const [name, code] of entries) this.add(name, code)
  }

  add(name: string, code: number): void {
    ;(this.names[name.length] ??= []).push(key(name))
    ;(this.codes[name.length] ??= []).push(code)
  }

  /** The code of the name equal to bytes [start, end) of the line, or 0. */
  find(L: Line, start: number, end: number): number {
    const names = this.names[end - start]
    if (names === undefined) return 0
    for (let i = 0; i < names.length; i++) if (L.has(start, names[i]!)) return this.codes[end - start]![i]!
    return 0
  }
}
