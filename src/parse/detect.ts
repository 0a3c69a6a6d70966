// Format detection from the first lines, importer construction, and parseTrace(): the openLines → detect →
// importer driver the ingest command calls (binary trace.dat files go to tracedat.ts instead).

import {open} from 'node:fs/promises'
import type {ImportSink, LineImporter, TraceFormat} from '../model/events.js'
import {CsvImporter, isCsvHeader} from './csv.js'
import {FtraceImporter, isFtraceEventLine} from './ftrace.js'
import {excerpt, type ByteLineImporter} from './emit.js'
import {InputError} from '../base/errors.js'
import {LONG_LINE_REASON, readLineBytes, type Compression} from './lines.js'
import {PerfImporter, isPerfEventLine} from './perf.js'
import {isTraceDat, parseTraceDat} from './tracedat.js'

/** Undecided lines (blank, `#` comments, preamble) tolerated before the format must be clear. */
const DETECT_LIMIT = 1000

/** The text formats: what proves a line is one (in this order of precedence) and the importer of its lines. */
const TEXT_FORMATS: ReadonlyArray<{
  format: Exclude<TraceFormat, 'tracedat'>
  proves: (line: string, trimmed: string) => boolean
  importer: (sink: ImportSink) => LineImporter
}> = [
  {format: 'ftrace', proves: (line) => isFtraceEventLine(line), importer: (sink) => new FtraceImporter(sink)},
  {format: 'perf', proves: (line) => isPerfEventLine(line), importer: (sink) => new PerfImporter(sink)},
  {format: 'csv', proves: (_, t) => t.includes(',') && isCsvHeader(t), importer: (sink) => new CsvImporter(sink)},
]

/** How each format is read: its text importer, or (trace.dat) the binary reader parseTrace picks by magic. */
const READERS = {
  ...(Object.fromEntries(TEXT_FORMATS.map((f) => [f.format, f.importer])) as Record<
    Exclude<TraceFormat, 'tracedat'>,
    (sink: ImportSink) => LineImporter
  >),
  tracedat: null,
} satisfies Record<TraceFormat, ((sink: ImportSink) => LineImporter) | null>

/** The format a single line proves, or null when it proves nothing (blank, comment, unrecognised). */
export function detectLine(line: string): TraceFormat | null {
  const t = line.trim()
  if (t === '') return null
  if (t.startsWith('# tracer:') || t.startsWith('# entries-in-buffer/')) return 'ftrace'
  if (/^cpus=\d+$/.test(t) || /^version = \d+$/.test(t)) return 'ftrace' // trace-cmd report preamble
  if (t.startsWith('#')) return null
  return TEXT_FORMATS.find((f) => f.proves(line, t))?.format ?? null
}

function unknownFormat(path: string, lines: readonly string[]): InputError {
  if (lines.every((l) => l.trim() === ''))
    return new InputError('EMPTY', `${path} is empty: there is no trace to import.`)
  if (lines[0]?.startsWith('\x17\x08Dtracing'))
    return new InputError(
      'UNSUPPORTED_INPUT',
      `${path} is a compressed trace.dat: decompress it first (xz -dk / gunzip -k) and ingest the .dat file.`,
    )
  const first = lines.find((l) => l.trim() !== '' && !l.startsWith('#')) ?? lines.find((l) => l.trim() !== '')!
  return new InputError(
    'UNKNOWN_FORMAT',
    `${path}: cannot tell the trace format from its first ${lines.length} lines. Expected ftrace text ` +
      `("COMM-TID (TGID) [CPU] FLAGS TIMESTAMP: event: ..." from /sys/kernel/tracing/trace or trace-cmd report), ` +
      `perf script text ("COMM TID [CPU] TIME: sys:event: ..."), or CSV with a header naming ts_ns,tid,event ` +
      `(docs/csv-format.md). First line: ${JSON.stringify(first.slice(0, 120))}. Use --format to force one.`,
  )
}

export function createImporter(format: TraceFormat, sink: ImportSink): LineImporter {
  const reader = READERS[format]
  if (reader === null)
    throw new InputError('UNSUPPORTED_INPUT', 'trace.dat is binary, not lines: parseTrace reads it (parseTraceDat)')
  return reader(sink)
}

export interface ParseOptions {
  format?: TraceFormat // skip detection
  onProgress?: (bytesRead: number, totalBytes: number) => void
}

export interface ParseStats {
  format: TraceFormat
  lines: number
  bytes: number // decompressed text bytes
  fileBytes: number
  compression: Compression
  unterminatedLastLine: boolean // the file did not end with a newline: it may have been cut short
}

/** The first bytes of a file, or null when it cannot be read (the line reader then says why). */
async function head(path: string): Promise<Buffer | null> {
  try {
    const fh = await open(path, 'r')
    try {
      const {buffer, bytesRead} = await fh.read(Buffer.alloc(16), 0, 16, 0)
      return buffer.subarray(0, bytesRead)
    } finally {
      await fh.close()
    }
  } catch {
    return null
  }
}

/**
 * Reads a trace file: a binary trace.dat (by its magic), or text (plain/.gz/.xz) whose format is detected unless
 * given, every line fed to its importer.
 */
export async function parseTrace(path: string, sink: ImportSink, opts: ParseOptions = {}): Promise<ParseStats> {
  const h = await head(path)
  if (h !== null && isTraceDat(h)) {
    if (opts.format !== undefined && opts.format !== 'tracedat')
      throw new InputError(
        'UNSUPPORTED_INPUT',
        `${path} is a binary trace.dat, not ${opts.format} text: drop --format (or give --format tracedat).`,
      )
    return parseTraceDat(path, sink, opts)
  }
  if (opts.format === 'tracedat')
    throw new InputError(
      'UNKNOWN_FORMAT',
      `${path} is not a trace.dat (it does not start with trace-cmd's magic bytes): drop --format tracedat.`,
    )
  let importer: LineImporter | null = null
  let bytes: ByteLineImporter | null = null // the same importer when it takes lines as bytes (ftrace, perf)
  const use = (imp: LineImporter): void => {
    importer = imp
    bytes = 'feedBytes' in imp ? (imp as ByteLineImporter) : null
  }
  if (opts.format !== undefined) use(createImporter(opts.format, sink))
  const pending: string[] = [] // lines read before the format was clear
  const pendingNos: number[] = [] // their numbers (a long line between them is not among them)
  const stats = await readLineBytes(
    path,
    (buf, start, end, text, base, lineNo) => {
      if (bytes !== null) {
        bytes.feedBytes(buf, start, end, text, base, lineNo)
        return
      }
      const line = base >= 0 ? text.slice(start - base, end - base) : text
      if (importer !== null) {
        importer.feed(line, lineNo)
        return
      }
      pending.push(line)
      pendingNos.push(lineNo)
      const f = detectLine(line)
      if (f === null) {
        if (pending.length >= DETECT_LIMIT) throw unknownFormat(path, pending)
        return
      }
      use(createImporter(f, sink))
      pending.forEach((l, i) => importer!.feed(l, pendingNos[i]!))
      pending.length = 0
      pendingNos.length = 0
    },
    (lineNo, head) => sink.problem({line: lineNo, reason: LONG_LINE_REASON, excerpt: excerpt(head)}),
    {onProgress: opts.onProgress},
  )
  if (importer === null || stats.bytes === 0) throw unknownFormat(path, pending)
  const imp: LineImporter = importer
  imp.finish()
  sink.meta('format', imp.format)
  if (stats.compression !== 'none') sink.meta('compression', stats.compression)
  return {
    format: imp.format,
    lines: stats.lines,
    bytes: stats.bytes,
    fileBytes: stats.fileBytes,
    compression: stats.compression,
    unterminatedLastLine: stats.unterminatedLastLine,
  }
}
