// An event's `format` file (tracefs events/SYSTEM/EVENT/format, saved in every trace.dat) and reading a record's
// fields by the offset, size and signedness it declares, the way libtraceevent does: integers of 1/2/4/8 bytes,
// fixed char arrays, __data_loc / __rel_loc strings (a u32: offset in the low 16 bits, length in the high 16),
// pointers. 64-bit values stay exact (number below 2^53, bigint above).

import type {U64} from '../model/events.js'

export interface Field {
  name: string
  type: string // the C type as declared, without the name
  offset: number
  size: number // bytes of the whole field (all elements for an array)
  signed: boolean
  elems: number // array length, 1 for a scalar, 0 for a flexible array (`args[]`)
  loc: 'data' | 'rel' | null // __data_loc / __rel_loc: the field holds where the data is
}

export interface EventFormat {
  id: number
  system: string
  name: string
  fields: Field[] // the event's own fields (common_* excluded)
  byName: Map<string, Field>
  print: string // the `print fmt:` line (TP_printk's format and arguments)
  minLen: number // bytes a record needs for every fixed field
}

const FIELD = /^\s*field:(.*?);\s*offset:(\d+);\s*size:(\d+);(?:\s*signed:(\d+);)?/

/** Parses one format file; null when it has no name or ID (not a format). */
export function parseFormat(system: string, text: string): EventFormat | null {
  const name = /^name: (\S+)/m.exec(text)?.[1]
  const id = /^ID: (\d+)/m.exec(text)?.[1]
  if (name === undefined || id === undefined) return null
  const fields: Field[] = []
  for (const line of text.split('\n')) {
    const m = FIELD.exec(line)
    if (m === null) continue
    const f = field(m[1]!.trim(), Number(m[2]), Number(m[3]), m[4] === '1')
    if (!f.name.startsWith('common_')) fields.push(f)
  }
  const print = /^print fmt: (.*)$/m.exec(text)?.[1] ?? ''
  const minLen = fields.reduce((m, f) => Math.max(m, f.offset + f.size), 0)
  return {id: Number(id), system, name, fields, byName: new Map(fields.map((f) => [f.name, f])), print, minLen}
}

function field(decl: string, offset: number, size: number, signed: boolean): Field {
  let loc: Field['loc'] = null
  if (decl.startsWith('__data_loc ')) loc = 'data'
  else if (decl.startsWith('__rel_loc ')) loc = 'rel'
  const m = /^(.*?)\s*([A-Za-z_]\w*)\s*(?:\[(\d*)\])?$/.exec(decl)
  if (m === null) return {name: decl, type: '', offset, size, signed, elems: 1, loc}
  const elems = m[3] === undefined ? 1 : m[3] === '' ? 0 : Number(m[3])
  return {name: m[2]!, type: m[1]!, offset, size, signed, elems, loc}
}

/** Sizes of the header fields every record starts with (from the common_* fields of any format). */
export interface CommonLayout {
  typeOffset: number
  typeSize: number
  pidOffset: number
}

export function commonLayout(text: string): CommonLayout | null {
  const t = /field:[^;]*\bcommon_type;\s*offset:(\d+);\s*size:(\d+);/.exec(text)
  const p = /field:[^;]*\bcommon_pid;\s*offset:(\d+);\s*size:4;/.exec(text)
  return t === null || p === null ? null : {typeOffset: Number(t[1]), typeSize: Number(t[2]), pidOffset: Number(p[1])}
}

const TWO32 = 4294967296
const TWO21 = 2097152

/** One record's payload: buf[start, start + len), read in the file's byte order. */
export class Record {
  buf: Buffer = Buffer.alloc(0)
  start = 0
  len = 0
  le = true

  /** Whether the field lies inside the record (a truncated record must not read its neighbour's bytes). */
  has(f: Field): boolean {
    return f.offset + f.size <= this.len
  }

  /** Unsigned or signed integer of `size` bytes at record offset `off`. */
  int(off: number, size: number, signed: boolean): U64 {
    const b = this.buf
    const p = this.start + off
    const le = this.le
    switch (size) {
      case 1:
        return signed ? b.readInt8(p) : b[p]!
      case 2:
        return signed ? (le ? b.readInt16LE(p) : b.readInt16BE(p)) : le ? b.readUInt16LE(p) : b.readUInt16BE(p)
      case 4:
        return signed ? (le ? b.readInt32LE(p) : b.readInt32BE(p)) : le ? b.readUInt32LE(p) : b.readUInt32BE(p)
      case 8: {
        const lo = le ? b.readUInt32LE(p) : b.readUInt32BE(p + 4)
        const hi = signed
          ? le
            ? b.readInt32LE(p + 4)
            : b.readInt32BE(p)
          : le
            ? b.readUInt32LE(p + 4)
            : b.readUInt32BE(p)
        if (hi < TWO21 && hi > -TWO21) return hi * TWO32 + lo
        return (BigInt(hi) << 32n) | BigInt(lo)
      }
      default:
        return 0
    }
  }

  /** A scalar field, or element `i` of an array field. */
  num(f: Field, i = 0): U64 {
    const each = f.elems > 1 ? f.size / f.elems : f.size
    return this.int(f.offset + i * each, each, f.signed)
  }

  /** A string field: a fixed char array or a __data_loc/__rel_loc string, up to its first NUL. */
  str(f: Field): string {
    let off = f.offset
    let len = f.size
    if (f.loc !== null) {
      const v = this.int(f.offset, 4, false) as number
      off = (v & 0xffff) + (f.loc === 'rel' ? f.offset + f.size : 0)
      len = v >>> 16
    } else if (f.elems === 0) len = this.len - off // char buf[]: to the end of the record
    if (off + len > this.len) len = Math.max(0, this.len - off)
    const s = this.start + off
    const z = this.buf.indexOf(0, s)
    return this.buf.toString('utf8', s, z >= 0 && z < s + len ? z : s + len)
  }

  /** A pointer as the kernel prints %p unhashed: lowercase hex, zero-padded to the pointer's width, no 0x. */
  ptr(f: Field): string {
    const v = this.num(f)
    return v.toString(16).padStart(f.size * 2, '0')
  }
}
