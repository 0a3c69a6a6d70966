// Exact number parsing of text ranges, for the string-side parsers (CSV, maps, rare payloads, perf side-band);
// the hot ftrace/perf paths use the byte versions in bytes.ts. Values are U64 (number below 2^53, bigint above);
// invalid input returns null, which callers turn into a ParseProblem.

import type {U64} from '../model/events.js'
import {Ch} from './chars.js'

const TWO32 = 4294967296
const TWO21 = 2097152 // hi * 2^32 + lo stays below 2^53 while hi < 2^21
const MAX_SAFE_SECONDS = 9007198 // 9007198 * 1e9 + 999999999 < 2^53
const U64_MAX = (1n << 64n) - 1n
const I64_MIN = -(1n << 63n)
const I64_MAX = (1n << 63n) - 1n
const TWO63 = 1n << 63n
const TWO64 = 1n << 64n
const POW10 = [1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 100, 10, 1]

/** A bigint as U64: a number when it is exactly representable, else the bigint itself. */
export function normalize(v: bigint): U64 {
  return v < 9007199254740992n && v > -9007199254740992n ? Number(v) : v
}

function hexDigit(c: number): number {
  if (c >= Ch.DIGIT_0 && c <= Ch.DIGIT_9) return c - Ch.DIGIT_0
  if (c >= Ch.LOWER_A && c <= Ch.LOWER_F) return c - (Ch.LOWER_A - 10)
  if (c >= Ch.UPPER_A && c <= Ch.UPPER_F) return c - (Ch.UPPER_A - 10)
  return -1
}

/** Hex digits (no 0x) in s[start, end); null if empty, not hex, or wider than 64 bits. */
export function hexToU64(s: string, start: number, end: number): U64 | null {
  if (start >= end) return null
  while (start < end - 1 && s.charCodeAt(start) === Ch.DIGIT_0) start++ // leading zeros (perf pads to 8)
  const n = end - start
  if (n > 16) return null
  if (n <= 13) {
    let v = 0
    for (let i = start; i < end; i++) {
      const d = hexDigit(s.charCodeAt(i))
      if (d < 0) return null
      v = v * 16 + d
    }
    return v
  }
  let hi = 0
  let lo = 0
  const mid = end - 8
  for (let i = start; i < mid; i++) {
    const d = hexDigit(s.charCodeAt(i))
    if (d < 0) return null
    hi = hi * 16 + d
  }
  for (let i = mid; i < end; i++) {
    const d = hexDigit(s.charCodeAt(i))
    if (d < 0) return null
    lo = lo * 16 + d
  }
  return hi < TWO21 ? hi * TWO32 + lo : (BigInt(hi) << 32n) | BigInt(lo)
}

/** Unsigned decimal digits in s[start, end); null if empty, not decimal, or above 2^64-1. */
export function decToU64(s: string, start: number, end: number): U64 | null {
  const n = end - start
  if (n <= 0) return null
  if (n <= 15) {
    let v = 0
    for (let i = start; i < end; i++) {
      const c = s.charCodeAt(i) - 48
      if (c < 0 || c > 9) return null
      v = v * 10 + c
    }
    return v
  }
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i) - 48
    if (c < 0 || c > 9) return null
  }
  const b = BigInt(s.slice(start, end))
  return b > U64_MAX ? null : normalize(b)
}

/** Optionally negative decimal in s[start, end) within the signed 64-bit range; null otherwise. */
export function decToI64(s: string, start: number, end: number): U64 | null {
  if (s.charCodeAt(start) !== Ch.DASH) {
    const v = decToU64(s, start, end)
    return v === null || (typeof v === 'bigint' && v > I64_MAX) ? null : v
  }
  const m = decToU64(s, start + 1, end)
  if (m === null) return null
  if (typeof m === 'number') return m === 0 ? 0 : -m
  return -m < I64_MIN ? null : normalize(-m)
}

/** Decimal integer small enough for a JS number (pids, cpus, counts); null otherwise. */
export function decToInt(s: string, start: number, end: number): number | null {
  const v = decToI64(s, start, end)
  return typeof v === 'number' ? v : null
}

/** A 64-bit register value read as two's complement (syscall return values printed as 0x%lx). */
export function toSigned64(v: U64): U64 {
  return typeof v === 'bigint' && v >= TWO63 ? normalize(v - TWO64) : v
}

/** A free-standing token: `0x`-prefixed hex, or decimal with an optional minus sign. */
export function parseInteger(token: string): U64 | null {
  const t = token.trim()
  if (t.length > 2 && t.charCodeAt(0) === Ch.DIGIT_0 && (t.charCodeAt(1) | 32) === Ch.LOWER_X)
    return hexToU64(t, 2, t.length)
  return decToI64(t, 0, t.length)
}

/**
 * A trace timestamp `SECONDS.FRACTION` in s[start, end) as nanoseconds: 6 fraction digits are µs (ftrace, perf),
 * 9 are ns (`perf script --ns`); any 1..9 digits scale accordingly. Without a dot the value is taken as-is
 * (counter/TSC trace clocks print a bare integer). Exact: bigint once the result reaches 2^53.
 */
export function tsToNs(s: string, start: number, end: number): U64 | null {
  let i = start
  let sec = 0
  while (i < end) {
    const c = s.charCodeAt(i) - 48
    if (c < 0 || c > 9) break
    sec = sec * 10 + c
    i++
  }
  const secDigits = i - start
  if (secDigits === 0) return null
  if (i === end) return decToU64(s, start, end)
  if (s.charCodeAt(i) !== Ch.DOT) return null
  const fracStart = ++i
  let frac = 0
  while (i < end) {
    const c = s.charCodeAt(i) - 48
    if (c < 0 || c > 9) return null
    frac = frac * 10 + c
    i++
  }
  const fracDigits = end - fracStart
  if (fracDigits === 0 || fracDigits > 9) return null
  frac *= POW10[fracDigits]
  if (sec <= MAX_SAFE_SECONDS) return sec * 1e9 + frac
  const whole = secDigits > 15 ? BigInt(s.slice(start, fracStart - 1)) : BigInt(sec)
  const ns = whole * 1000000000n + BigInt(frac)
  return ns > U64_MAX ? null : normalize(ns)
}
