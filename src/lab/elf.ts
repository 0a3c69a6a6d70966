// Just enough ELF64 reading for the lab: is a binary static (no PT_INTERP), and a kernel module's .modinfo strings.

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46])
const PT_INTERP = 3

function checkElf64(b: Buffer, what: string): void {
  if (b.length < 64 || !b.subarray(0, 4).equals(ELF_MAGIC)) throw new Error(`${what}: not an ELF file`)
  if (b[4] !== 2 || b[5] !== 1) throw new Error(`${what}: not a little-endian ELF64 file`)
}

/** True when the executable has no program interpreter, i.e. runs without a dynamic loader (busybox-static). */
export function isStaticElf(b: Buffer, what = 'file'): boolean {
  checkElf64(b, what)
  const phoff = Number(b.readBigUInt64LE(0x20))
  const phentsize = b.readUInt16LE(0x36)
  const phnum = b.readUInt16LE(0x38)
  for (let i = 0; i < phnum; i++) {
    if (b.readUInt32LE(phoff + i * phentsize) === PT_INTERP) return false
  }
  return true
}

/** The contents of section `name`, or undefined. */
export function elfSection(b: Buffer, name: string, what = 'file'): Buffer | undefined {
  checkElf64(b, what)
  const shoff = Number(b.readBigUInt64LE(0x28))
  const shentsize = b.readUInt16LE(0x3a)
  const shnum = b.readUInt16LE(0x3c)
  const shstrndx = b.readUInt16LE(0x3e)
  const header = (i: number): {name: number; offset: number; size: number} => {
    const h = shoff + i * shentsize
    return {
      name: b.readUInt32LE(h),
      offset: Number(b.readBigUInt64LE(h + 0x18)),
      size: Number(b.readBigUInt64LE(h + 0x20)),
    }
  }
  const strtab = header(shstrndx)
  for (let i = 0; i < shnum; i++) {
    const h = header(i)
    const at = strtab.offset + h.name
    const end = b.indexOf(0, at)
    if (b.toString('latin1', at, end) === name) return b.subarray(h.offset, h.offset + h.size)
  }
  return undefined
}

/** A module's `key=value` .modinfo entries (keys may repeat: alias, parm, …; the first wins here). */
export function modinfo(ko: Buffer, what = 'module'): Map<string, string> {
  const sec = elfSection(ko, '.modinfo', what)
  if (sec === undefined) throw new Error(`${what}: no .modinfo section (not a kernel module?)`)
  const out = new Map<string, string>()
  for (const s of sec.toString('latin1').split('\0')) {
    const eq = s.indexOf('=')
    if (eq > 0 && !out.has(s.slice(0, eq))) out.set(s.slice(0, eq), s.slice(eq + 1))
  }
  return out
}
