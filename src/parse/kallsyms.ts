// Symbol lookup in a saved /proc/kallsyms (trace.dat keeps one), for the `%ps` fields TP_printk would have printed
// as names: like the kernel's kallsyms_lookup, an address resolves to the code symbol at or below it, the first
// listed of aliases at one address, as long as the next symbol starts above it; addresses outside every symbol
// (user space) stay numbers.

import type {U64} from '../model/events.js'

export class Kallsyms {
  private readonly addrs: BigUint64Array
  private readonly names: string[]
  private readonly min: bigint
  private readonly minNum: number

  constructor(text: string) {
    const rows: {addr: bigint; name: string | null; i: number}[] = []
    let i = 0
    for (const line of text.split('\n')) {
      const m = /^([0-9a-f]+) (\S) (\S+)/.exec(line)
      if (m === null) continue
      const code = 'tTwW'.includes(m[2]!)
      rows.push({addr: BigInt('0x' + m[1]), name: code ? m[3]! : null, i: i++})
    }
    rows.sort((x, y) => (x.addr < y.addr ? -1 : x.addr > y.addr ? 1 : x.i - y.i))
    // one entry per address: the first listed code symbol there (null: only data symbols start there)
    const addrs: bigint[] = []
    const names: (string | null)[] = []
    for (const r of rows) {
      if (addrs.length > 0 && addrs[addrs.length - 1] === r.addr) {
        if (names[names.length - 1] === null) names[names.length - 1] = r.name
        continue
      }
      addrs.push(r.addr)
      names.push(r.name)
    }
    // kptr_restrict hides the addresses (all zero): then nothing resolves
    const usable = addrs.length > 1
    this.addrs = BigUint64Array.from(usable ? addrs : [])
    this.names = (usable ? names : []) as string[]
    this.min = usable ? addrs[0]! : 0n
    this.minNum = Number(this.min)
  }

  /** The code symbol containing `addr`, or null. */
  lookup(addr: U64): string | null {
    const a = this.addrs
    if (a.length === 0 || (typeof addr === 'number' && addr < this.minNum)) return null
    const v = BigInt(addr)
    if (v < this.min) return null
    let lo = 0
    let hi = a.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (a[mid]! <= v) lo = mid
      else hi = mid - 1
    }
    if (lo === a.length - 1) return null // past the last symbol: its end is unknown
    return this.names[lo] ?? null
  }
}
