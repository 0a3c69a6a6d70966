// Number formatting for people: durations stored in ns shown in µs or ms, sizes in KiB, addresses in hex.
// Renderers call these; JSON and CSV keep the raw integers.

/** ns → µs with one decimal ("12.3"). */
export function us(ns: number | null | undefined): string {
  if (ns === null || ns === undefined) return ''
  return (ns / 1e3).toFixed(1)
}

/** ns → ms with three decimals ("1.234"). */
export function ms(ns: number | null | undefined): string {
  if (ns === null || ns === undefined) return ''
  return (ns / 1e6).toFixed(3)
}

/** A duration with its own unit, for prose and chart labels: 850 ns, 12.3 µs, 4.56 ms, 1.23 s. */
export function dur(ns: number): string {
  const a = Math.abs(ns)
  if (a < 1e3) return `${Math.round(ns)} ns`
  if (a < 1e6) return `${(ns / 1e3).toFixed(a < 1e4 ? 2 : 1)} µs`
  if (a < 1e9) return `${(ns / 1e6).toFixed(a < 1e7 ? 2 : 1)} ms`
  return `${(ns / 1e9).toFixed(2)} s`
}

/** Bytes with a binary unit: 512 B, 4.0 KiB, 1.0 MiB. */
export function bytes(n: number): string {
  const a = Math.abs(n)
  if (a < 1024) return `${n} B`
  if (a < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  if (a < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`
  return `${(n / 1024 ** 3).toFixed(2)} GiB`
}

/** A stored address (signed two's complement of the unsigned value) as unsigned hex. */
export function hex(v: number | bigint | null | undefined): string {
  if (v === null || v === undefined) return ''
  const b = BigInt(v)
  return '0x' + (b < 0n ? b + (1n << 64n) : b).toString(16)
}

/** Thousands separators for counts (keeps table columns scannable). */
export function count(n: number | null | undefined): string {
  if (n === null || n === undefined) return ''
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(3)
}

/** Signed difference, "+12" / "−3" / "0", in the same formatting as the value. */
export function signed(d: number, fmt: (n: number) => string): string {
  if (d === 0) return '0'
  return d > 0 ? `+${fmt(d)}` : `−${fmt(-d)}`
}

/** Percentage of a total, "12.3%" ("" when the total is 0). */
export function pct(part: number, total: number): string {
  return total === 0 ? '' : `${((100 * part) / total).toFixed(1)}%`
}
