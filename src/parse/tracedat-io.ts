// Byte access for trace.dat files: positioned reads of the file, a cursor over a section's bytes in the file's
// byte order, and the section decompression trace-cmd's file version 7 uses (zlib's compress2 format, zstd).

import {closeSync, fstatSync, openSync, readSync} from 'node:fs'
import {inflateSync} from 'node:zlib'
import {decompress as zstdDecompress} from 'fzstd'
import {InputError} from '../base/errors.js'

/** The first bytes of every trace.dat: 0x17 0x08 'D' "tracing". */
export const TRACEDAT_MAGIC = Buffer.from([0x17, 0x08, 0x44, 0x74, 0x72, 0x61, 0x63, 0x69, 0x6e, 0x67])

/** A trace.dat damaged or cut short: the message names the path and what was expected where. */
export function badFile(path: string, what: string): InputError {
  return new InputError(
    'BAD_HEADER',
    `${path} is not a readable trace.dat: ${what}. Check that trace-cmd finished writing it (trace-cmd report -i ${path}).`,
  )
}

/** Positioned reads of one file (synchronous: the parse runs on its own thread). */
export class DatFile {
  readonly size: number
  private readonly fd: number
  bytesRead = 0

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r')
    this.size = fstatSync(this.fd).size
  }

  /** `len` bytes at `offset`; throws when the file ends first. */
  read(offset: number, len: number): Buffer {
    const buf = Buffer.allocUnsafe(len)
    const n = this.readInto(buf, 0, len, offset)
    if (n < len)
      throw badFile(this.path, `${len} bytes expected at offset 0x${offset.toString(16)}, the file ends after ${n}`)
    return buf
  }

  /** Up to `len` bytes at `offset` into buf[at..]; returns how many were read (fewer only at end of file). */
  readInto(buf: Buffer, at: number, len: number, offset: number): number {
    let done = 0
    while (done < len) {
      const n = readSync(this.fd, buf, at + done, len - done, offset + done)
      if (n === 0) break
      done += n
    }
    this.bytesRead += done
    return done
  }

  close(): void {
    closeSync(this.fd)
  }
}

const TWO32 = 4294967296
const TWO21 = 2097152

/** A read cursor over bytes in the file's byte order; `where` names the bytes in errors. */
export class Cursor {
  pos = 0

  constructor(
    readonly buf: Buffer,
    readonly le: boolean,
    private readonly where: () => string,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length)
      throw new InputError(
        'BAD_HEADER',
        `${this.where()}: ${n} bytes expected at +${this.pos}, only ${this.buf.length - this.pos} left`,
      )
  }

  get left(): number {
    return this.buf.length - this.pos
  }

  u16(): number {
    this.need(2)
    const v = this.le ? this.buf.readUInt16LE(this.pos) : this.buf.readUInt16BE(this.pos)
    this.pos += 2
    return v
  }

  u32(): number {
    this.need(4)
    const v = this.le ? this.buf.readUInt32LE(this.pos) : this.buf.readUInt32BE(this.pos)
    this.pos += 4
    return v
  }

  /** A 64-bit size or file offset: exact as a number (files are far below 2^53 bytes). */
  u64(): number {
    this.need(8)
    const lo = this.le ? this.buf.readUInt32LE(this.pos) : this.buf.readUInt32BE(this.pos + 4)
    const hi = this.le ? this.buf.readUInt32LE(this.pos + 4) : this.buf.readUInt32BE(this.pos)
    this.pos += 8
    if (hi >= TWO21)
      throw new InputError(
        'BAD_HEADER',
        `${this.where()}: size or offset 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')} is not plausible`,
      )
    return hi * TWO32 + lo
  }

  /** A NUL-terminated string. */
  cstr(): string {
    const end = this.buf.indexOf(0, this.pos)
    if (end < 0) throw new InputError('BAD_HEADER', `${this.where()}: string at +${this.pos} has no terminating NUL`)
    const s = this.buf.toString('utf8', this.pos, end)
    this.pos = end + 1
    return s
  }

  bytes(n: number): Buffer {
    this.need(n)
    const b = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return b
  }

  skip(n: number): void {
    this.need(n)
    this.pos += n
  }
}

/** The compression trace-cmd names in a version 7 file header, or why it cannot be read. */
export type Codec = 'none' | 'zlib' | 'zstd'

export function codecOf(name: string, path: string): Codec {
  if (name === 'none' || name === 'zlib' || name === 'zstd') return name
  throw new InputError(
    'UNSUPPORTED_INPUT',
    `${path} is compressed with "${name}", which vmareplay cannot read (zlib and zstd are supported): convert it first (trace-cmd convert -i ${path} -o plain.dat --compression none)`,
  )
}

/** Decompresses one compressed block of `size` bytes (a section's body or one flyrecord chunk). */
export function inflate(codec: Codec, data: Buffer, size: number, where: string): Buffer {
  let out: Buffer
  try {
    if (codec === 'zlib') out = inflateSync(data)
    else if (codec === 'zstd') {
      const u = zstdDecompress(data, new Uint8Array(size))
      out = Buffer.from(u.buffer, u.byteOffset, u.byteLength)
    } else out = data
  } catch (err) {
    throw new InputError('DECOMPRESS', `${where}: ${codec} data is corrupt (${(err as Error).message})`)
  }
  if (out.length !== size)
    throw new InputError(
      'DECOMPRESS',
      `${where}: ${codec} data decompressed to ${out.length} bytes, the header says ${size}`,
    )
  return out
}
