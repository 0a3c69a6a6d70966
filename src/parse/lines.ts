// Streaming line reader for trace files: plain, gzip (node:zlib) or xz (`xz -dc` child), chosen by magic bytes.
// Each 1 MiB chunk's run of whole lines is decoded once (latin1 when it is ASCII, as traces nearly always are) and
// split with indexOf; lines go to a callback as strings (readLines) or as byte ranges plus that decoded run
// (readLineBytes, for the byte-level parsers). ~5x faster than readline here; nothing is collected.

import {isAscii} from 'node:buffer'
import {spawn} from 'node:child_process'
import {open, stat} from 'node:fs/promises'
import type {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {createGunzip} from 'node:zlib'
import {InputError} from '../base/errors.js'
import {Ch} from './chars.js'

export type Compression = 'none' | 'gzip' | 'xz'

export interface ReadStats {
  lines: number
  bytes: number // decompressed text bytes
  fileBytes: number
  compression: Compression
  unterminatedLastLine: boolean // the file did not end with a newline (possibly truncated)
}

export interface ReadOptions {
  /** Called per chunk read: bytes of the file as stored (compressed for .gz/.xz), and its size (0 if unknown: FIFO). */
  onProgress?: (bytesRead: number, totalBytes: number) => void
}

/**
 * Longer lines are not delivered: only their number and first bytes go to the LongLineHandler (a real trace line
 * is < 1 KB; a cut line could still parse as a wrong record; this bounds memory on garbage input).
 */
export const MAX_LINE_BYTES = 4 << 20
/** What readers report a long line as. */
export const LONG_LINE_REASON = `line longer than ${MAX_LINE_BYTES >> 20} MiB: not parsed`
export type LongLineHandler = (lineNo: number, head: string) => void
const CHUNK = 1 << 20
const LONG_LINE_HEAD = 200

/**
 * One line as bytes buf[start, end) (no newline, no trailing '\r'), plus a string to slice text from: when
 * base >= 0, bytes [i, j) are text.slice(i - base, j - base) (the line is ASCII and `text` is the decoded run it
 * is part of); when base < 0, `text` is the line itself, decoded as UTF-8.
 */
export type ByteLineHandler = (
  buf: Buffer,
  start: number,
  end: number,
  text: string,
  base: number,
  lineNo: number,
) => void

/** Splits byte chunks into lines; a line may span chunks. */
class LineSplitter {
  lines = 0
  bytes = 0
  private carry: Buffer[] = []
  private carryLen = 0
  private carrying = false
  private overflow = false

  constructor(
    private readonly onLine: ByteLineHandler,
    private readonly onLong: LongLineHandler,
  ) {}

  push(chunk: Buffer): void {
    this.bytes += chunk.length
    let start = 0
    if (this.carrying) {
      const nl = chunk.indexOf(10)
      if (nl < 0) {
        this.keep(chunk)
        return
      }
      this.keep(chunk.subarray(0, nl))
      this.flushCarry()
      start = nl + 1
    }
    const last = chunk.lastIndexOf(10)
    if (last >= start) {
      this.emitRun(chunk.subarray(start, last))
      start = last + 1
    }
    if (start < chunk.length) this.keep(chunk.subarray(start))
  }

  end(): boolean {
    if (!this.carrying) return false
    this.flushCarry()
    return true
  }

  /** A run of complete lines without its final '\n'. ASCII runs (the norm) are decoded once and split as a string. */
  private emitRun(run: Buffer): void {
    const onLine = this.onLine
    if (isAscii(run)) {
      const s = run.toString('latin1')
      let p = 0
      for (;;) {
        let i = s.indexOf('\n', p)
        if (i < 0) i = s.length
        onLine(run, p, i > p && s.charCodeAt(i - 1) === Ch.CR ? i - 1 : i, s, 0, ++this.lines)
        if (i === s.length) return
        p = i + 1
      }
    }
    let p = 0
    for (;;) {
      let i = run.indexOf(10, p)
      if (i < 0) i = run.length
      this.emitLine(run, p, i)
      if (i === run.length) return
      p = i + 1
    }
  }

  private emitLine(buf: Buffer, start: number, end: number): void {
    if (end > start && buf[end - 1] === Ch.CR) end--
    const line = buf.subarray(start, end)
    if (isAscii(line)) this.onLine(buf, start, end, line.toString('latin1'), start, ++this.lines)
    else this.onLine(buf, start, end, line.toString('utf8'), -1, ++this.lines)
  }

  private keep(part: Buffer): void {
    this.carrying = true
    if (this.overflow) return
    const room = MAX_LINE_BYTES - this.carryLen
    if (part.length > room) {
      part = part.subarray(0, room)
      this.overflow = true
    }
    this.carry.push(Buffer.from(part)) // copy: a view would pin the whole 1 MB chunk
    this.carryLen += part.length
  }

  private flushCarry(): void {
    const buf = Buffer.concat(this.carry, this.carryLen)
    const cut = this.overflow
    this.carry = []
    this.carryLen = 0
    this.carrying = false
    this.overflow = false
    if (cut) this.onLong(++this.lines, buf.subarray(0, LONG_LINE_HEAD).toString('utf8'))
    else this.emitLine(buf, 0, buf.length)
  }
}

const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]
const GZ_MAGIC = [0x1f, 0x8b]

function startsWith(buf: Buffer, bytes: readonly number[]): boolean {
  if (buf.length < bytes.length) return false
  for (let i = 0; i < bytes.length; i++) if (buf[i] !== bytes[i]) return false
  return true
}

/** The compression of a file from its first bytes; throws for formats we recognise but cannot read. */
function sniffCompression(head: Buffer, path: string): Compression {
  if (startsWith(head, XZ_MAGIC)) return 'xz'
  if (startsWith(head, GZ_MAGIC)) return 'gzip'
  const ascii = head.subarray(0, 16).toString('latin1')
  if (startsWith(head, [0x28, 0xb5, 0x2f, 0xfd]))
    throw new InputError('UNSUPPORTED_INPUT', `${path} is zstd-compressed: decompress it first (zstd -d ${path})`)
  if (/^BZh[1-9]\x31\x41\x59\x26\x53\x59/.test(ascii))
    throw new InputError('UNSUPPORTED_INPUT', `${path} is bzip2-compressed: decompress it first (bzip2 -dk ${path})`)
  if (ascii.startsWith('PERFILE2'))
    throw new InputError(
      'UNSUPPORTED_INPUT',
      `${path} is a binary perf.data file: convert it to text first (perf script --show-mmap-events -F +pid -i ${path} > trace.perf.txt)`,
    )
  if (ascii.startsWith('\x17\x08\x44tracing'))
    throw new InputError(
      'UNSUPPORTED_INPUT',
      `${path} is a binary trace-cmd trace.dat file: convert it to text first (trace-cmd report -i ${path} > trace.txt)`,
    )
  return 'none'
}

function openError(path: string, err: NodeJS.ErrnoException): InputError | NodeJS.ErrnoException {
  switch (err.code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new InputError(
        'NOT_FOUND',
        `${path}: no such file. Check the path (relative paths start at ${process.cwd()}).`,
      )
    case 'EISDIR':
      return new InputError('IS_DIRECTORY', `${path} is a directory: give the trace file inside it.`)
    case 'EACCES':
    case 'EPERM':
      return new InputError(
        'NOT_READABLE',
        `${path}: permission denied. Make the file readable (chmod/chown, or copy it out of tracefs as root) and retry.`,
      )
    default:
      return err
  }
}

/**
 * Reads `path` line by line (without '\n', a trailing '\r' removed), decompressing .gz/.xz by magic bytes.
 * `onLine` runs synchronously for every line in order; if it throws, reading stops and the error propagates.
 */
export async function readLines(
  path: string,
  onLine: (line: string, lineNo: number) => void,
  onLongLine: LongLineHandler,
  opts: ReadOptions = {},
): Promise<ReadStats> {
  return readLineBytes(
    path,
    (_b, start, end, text, base, lineNo) => onLine(base >= 0 ? text.slice(start - base, end - base) : text, lineNo),
    onLongLine,
    opts,
  )
}

/** readLines for byte-level parsers: each line arrives as bytes plus a string to slice text from (ByteLineHandler). */
export async function readLineBytes(
  path: string,
  onLine: ByteLineHandler,
  onLongLine: LongLineHandler,
  opts: ReadOptions = {},
): Promise<ReadStats> {
  let size: number
  try {
    const st = await stat(path)
    if (st.isDirectory()) throw new InputError('IS_DIRECTORY', `${path} is a directory: give the trace file inside it.`)
    size = st.isFile() ? st.size : 0
  } catch (err) {
    throw err instanceof InputError ? err : openError(path, err as NodeJS.ErrnoException)
  }
  let fh
  try {
    fh = await open(path, 'r')
  } catch (err) {
    throw openError(path, err as NodeJS.ErrnoException)
  }
  const raw = fh.createReadStream({highWaterMark: CHUNK}) // closes fh when done or destroyed
  const splitter = new LineSplitter(onLine, onLongLine)
  let bytesRead = 0
  const onProgress = opts.onProgress
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const chunk of raw as AsyncIterable<Buffer>) {
      bytesRead += chunk.length
      onProgress?.(bytesRead, size)
      yield chunk
    }
  }
  const chunks = counted()
  let compression: Compression = 'none'
  try {
    const first = await chunks.next()
    if (!first.done) {
      compression = sniffCompression(first.value, path)
      if (compression === 'none') {
        splitter.push(first.value)
        for await (const c of chunks) splitter.push(c)
      } else {
        const source = (async function* () {
          yield first.value
          yield* chunks
        })()
        if (compression === 'gzip') await gunzipInto(source, splitter, path)
        else await xzInto(source, splitter, path)
      }
    }
  } finally {
    raw.destroy()
  }
  const unterminatedLastLine = splitter.end()
  return {
    lines: splitter.lines,
    bytes: splitter.bytes,
    fileBytes: bytesRead,
    compression,
    unterminatedLastLine,
  }
}

async function gunzipInto(source: AsyncIterable<Buffer>, splitter: LineSplitter, path: string): Promise<void> {
  try {
    await pipeline(source, createGunzip(), async (chunks: AsyncIterable<Buffer>) => {
      for await (const c of chunks) splitter.push(c)
    })
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code?.startsWith('Z_') || e.code === 'ERR_ZLIB_INITIALIZATION_FAILED')
      throw new InputError('DECOMPRESS', `${path}: gzip data is corrupt or truncated (${e.message}).`)
    throw err
  }
}

async function xzInto(source: AsyncIterable<Buffer>, splitter: LineSplitter, path: string): Promise<void> {
  const child = spawn('xz', ['-dc'], {stdio: ['pipe', 'pipe', 'pipe']})
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve)
      child.once('error', reject)
    })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new InputError(
        'NO_XZ',
        `${path} is xz-compressed but the xz program was not found. Install xz-utils (apt-get install xz-utils / dnf install xz) or decompress it first (xz -dk ${path}).`,
      )
    throw err
  }
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 2000) stderr += d
  })
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  let feedError: unknown = null
  // xz may exit before reading all input (corrupt data): the resulting EPIPE is reported through its exit status.
  const feeding = pipeline(source, child.stdin).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_PREMATURE_CLOSE') feedError = err
  })
  try {
    for await (const c of child.stdout as Readable) splitter.push(c as Buffer)
  } finally {
    if (child.exitCode === null) child.kill()
  }
  await feeding
  const code = await exited
  if (feedError) throw feedError
  if (code !== 0)
    throw new InputError('DECOMPRESS', `${path}: xz -dc failed (exit ${code}): ${stderr.trim() || 'no message'}.`)
}
