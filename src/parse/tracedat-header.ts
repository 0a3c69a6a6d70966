// The metadata of a trace-cmd trace.dat (file versions 6 and 7, trace-cmd.dat.v6(5) / .v7(5)): byte order, page
// size, the ring-buffer page header, every event's format file, saved cmdlines, kallsyms, options and where each
// CPU's ring-buffer pages are. Version 6 lays the metadata out in a fixed order; version 7 puts each part in a
// section (optionally compressed) found through chained OPTIONS sections. Only metadata is read here: the CPU data
// is streamed by tracedat-ring.ts.

import {badFile, codecOf, Cursor, DatFile, inflate, TRACEDAT_MAGIC, type Codec} from './tracedat-io.js'
import {InputError} from '../base/errors.js'

/** Where one CPU's ring-buffer pages are in the file (`size` bytes from `offset`, compressed in chunks or not). */
export interface CpuRegion {
  cpu: number
  offset: number
  size: number
}

/** One tracefs buffer saved in the file: the top-level one (name "") or an instance (`trace-cmd extract -B`). */
export interface DatBuffer {
  name: string
  clock: string | null
  cpus: CpuRegion[]
  compressed: boolean // version 7: the flyrecord section's flag; the CPU data is in compressed chunks
  stats: string[] // CPUSTAT options: per_cpu/cpuN/stats at the time of recording
}

export interface DatMeta {
  version: number
  le: boolean
  longSize: number // user-space long of the recording machine (the kernel's comes from the page header)
  pageSize: number
  codec: Codec
  codecVersion: string
  headerPage: string // events/header_page: layout of each ring-buffer page's header
  formats: {system: string; text: string}[] // every events/SYSTEM/EVENT/format (ftrace's own under "ftrace")
  cmdlines: string // saved_cmdlines: "PID COMM" per line
  printk: string // printk_formats: "ADDR : "string"" per line
  loadKallsyms: () => string // /proc/kallsyms as saved (read on demand: megabytes)
  cpuCount: number | null
  buffers: DatBuffer[]
  uname: string | null
  traceCmdVersion: string | null
  offsets: string[] // DATE / OFFSET options: adjustments trace-cmd report adds; the raw trace clock is kept
}

const OPT_DONE = 0
const OPT_DATE = 1
const OPT_CPUSTAT = 2
const OPT_BUFFER = 3
const OPT_TRACECLOCK = 4
const OPT_UNAME = 5
const OPT_OFFSET = 7
const OPT_CPUCOUNT = 8
const OPT_VERSION = 9
const OPT_HEADER_INFO = 16
const OPT_FTRACE_EVENTS = 17
const OPT_EVENT_FORMATS = 18
const OPT_KALLSYMS = 19
const OPT_PRINTK = 20
const OPT_CMDLINES = 21
const OPT_BUFFER_TEXT = 22
const SECTION_COMPRESSED = 1
const CPU_ENTRY = 20 // version 7 BUFFER option, per CPU: id (4), offset (8), size (8)

/** Sequential reads of the file from a position (version 6 metadata, section headers). */
class FileCursor {
  constructor(
    private readonly f: DatFile,
    public pos: number,
    private readonly le: boolean,
  ) {}

  cursor(n: number, what: string): Cursor {
    const c = new Cursor(this.f.read(this.pos, n), this.le, () => `${this.f.path}: ${what}`)
    this.pos += n
    return c
  }
  u16(): number {
    return this.cursor(2, 'header').u16()
  }
  u32(): number {
    return this.cursor(4, 'header').u32()
  }
  u64(): number {
    return this.cursor(8, 'header').u64()
  }
  cstr(): string {
    let s = ''
    for (;;) {
      const n = Math.min(256, this.f.size - this.pos)
      if (n <= 0)
        throw badFile(this.f.path, `string at offset 0x${this.pos.toString(16)} runs past the end of the file`)
      const b = this.f.read(this.pos, n)
      const z = b.indexOf(0)
      if (z >= 0) {
        this.pos += z + 1
        return s + b.toString('utf8', 0, z)
      }
      s += b.toString('utf8')
      this.pos += n
    }
  }
}

/** The format files of events/header_page and events/header_event, then the ftrace and all event formats. */
function readHeaderInfo(c: Cursor | FileCursor, meta: DatMeta, path: string): void {
  const tag = (want: string): void => {
    const got = c instanceof Cursor ? c.bytes(want.length + 1) : c.cursor(want.length + 1, 'header').buf
    if (got.toString('latin1') !== want + '\0') throw badFile(path, `"${want}" expected in the header`)
  }
  tag('header_page')
  meta.headerPage = blob(c, c.u64(), 'header_page').toString('utf8')
  tag('header_event')
  blob(c, c.u64(), 'header_event')
}

function blob(c: Cursor | FileCursor, n: number, what: string): Buffer {
  return c instanceof Cursor ? c.bytes(n) : c.cursor(n, what).buf
}

function readFtraceFormats(c: Cursor | FileCursor, meta: DatMeta): void {
  const count = c.u32()
  for (let i = 0; i < count; i++)
    meta.formats.push({system: 'ftrace', text: blob(c, c.u64(), 'ftrace format').toString('utf8')})
}

function readEventFormats(c: Cursor | FileCursor, meta: DatMeta): void {
  const systems = c.u32()
  for (let s = 0; s < systems; s++) {
    const system = c.cstr()
    const count = c.u32()
    for (let i = 0; i < count; i++)
      meta.formats.push({system, text: blob(c, c.u64(), `${system} format`).toString('utf8')})
  }
}

/** The string part of an option (NUL-terminated text). */
function optText(b: Buffer): string {
  const z = b.indexOf(0)
  return b.toString('utf8', 0, z < 0 ? b.length : z)
}

/** `[mono] local global …` (the trace_clock file) → "mono". */
function selectedClock(file: string): string | null {
  return /\[([^\]]+)\]/.exec(file)?.[1] ?? null
}

/**
 * The options both versions share. CPUSTAT options after one whose text is "\nBuffer: NAME\n\n" belong to that
 * instance (trace-cmd writes them so), the ones before it to the top-level buffer.
 */
class Options {
  statsOf = new Map<string, string[]>([['', []]])
  private statsFor = ''
  traceClockFile: string | null = null

  constructor(
    private readonly meta: DatMeta,
    private readonly f: DatFile,
  ) {}

  /** Handles one option; returns false for the ones the caller handles itself (BUFFER, DONE, sections). */
  common(id: number, b: Buffer): boolean {
    const meta = this.meta
    switch (id) {
      case OPT_DATE:
      case OPT_OFFSET:
        meta.offsets.push(`${id === OPT_DATE ? 'date' : 'offset'} ${optText(b).trim()}`)
        return true
      case OPT_CPUSTAT: {
        const t = optText(b)
        const m = /^\s*Buffer: (.*)\n/.exec(t)
        if (m !== null) {
          this.statsFor = m[1]!
          this.statsOf.set(this.statsFor, [])
        } else this.statsOf.get(this.statsFor)!.push(t)
        return true
      }
      case OPT_TRACECLOCK:
        this.traceClockFile = optText(b)
        return true
      case OPT_UNAME:
        meta.uname = optText(b)
        return true
      case OPT_VERSION:
        meta.traceCmdVersion = optText(b)
        return true
      case OPT_CPUCOUNT:
        if (b.length >= 4) meta.cpuCount = meta.le ? b.readUInt32LE(0) : b.readUInt32BE(0)
        return true
      case OPT_BUFFER_TEXT:
        throw new InputError(
          'UNSUPPORTED_INPUT',
          `${this.f.path} holds a latency-tracer text buffer, not event records: read it with trace-cmd report -i ${this.f.path} > trace.txt`,
        )
      default:
        return false
    }
  }
}

/** Version 6: everything in order after the initial format, then "options  ", "flyrecord" and the CPU table. */
function readV6(f: DatFile, c: FileCursor, meta: DatMeta): void {
  readHeaderInfo(c, meta, f.path)
  readFtraceFormats(c, meta)
  readEventFormats(c, meta)
  const ksize = c.u32()
  const kat = c.pos
  c.pos += ksize
  meta.loadKallsyms = () => f.read(kat, ksize).toString('utf8')
  meta.printk = blob(c, c.u32(), 'printk').toString('utf8')
  meta.cmdlines = blob(c, c.u64(), 'cmdlines').toString('utf8')
  const cpus = c.u32()
  meta.cpuCount = cpus
  const opts = new Options(meta, f)
  const instances: {name: string; offset: number}[] = []
  let kind = c.cursor(10, 'header').buf.toString('latin1')
  if (kind.startsWith('options')) {
    for (;;) {
      const id = c.u16()
      if (id === OPT_DONE) break
      const b = blob(c, c.u32(), 'option')
      if (opts.common(id, b)) continue
      if (id === OPT_BUFFER) {
        const oc = new Cursor(b, meta.le, () => `${f.path}: BUFFER option`)
        const offset = oc.u64()
        instances.push({name: oc.cstr(), offset})
      }
    }
    kind = c.cursor(10, 'header').buf.toString('latin1')
  }
  if (kind.startsWith('latency'))
    throw new InputError(
      'UNSUPPORTED_INPUT',
      `${f.path} holds a latency-tracer text buffer, not event records: read it with trace-cmd report -i ${f.path} > trace.txt`,
    )
  if (!kind.startsWith('flyrecord'))
    throw badFile(f.path, `"flyrecord" expected after the options, found ${JSON.stringify(kind)}`)
  const n = meta.cpuCount ?? cpus
  const table = (at: FileCursor, name: string): DatBuffer => {
    const regions: CpuRegion[] = []
    for (let cpu = 0; cpu < n; cpu++) regions.push({cpu, offset: at.u64(), size: at.u64()})
    // the trace_clock file follows each CPU table when the TRACECLOCK option was written
    const clock =
      opts.traceClockFile !== null ? selectedClock(blob(at, at.u64(), 'trace clock').toString('utf8')) : null
    return {name, clock, cpus: regions, compressed: false, stats: opts.statsOf.get(name) ?? []}
  }
  meta.buffers.push(table(c, ''))
  for (const inst of instances) {
    const ic = new FileCursor(f, inst.offset, meta.le)
    if (!ic.cursor(10, 'header').buf.toString('latin1').startsWith('flyrecord'))
      throw badFile(f.path, `buffer ${inst.name}: "flyrecord" expected at 0x${inst.offset.toString(16)}`)
    meta.buffers.push(table(ic, inst.name))
  }
}

/** Version 7: a section at `offset`: id (2), flags (2), description string id (4), size (8), then its body. */
function sectionAt(f: DatFile, meta: DatMeta, offset: number, id: number): Cursor {
  const h = new FileCursor(f, offset, meta.le)
  const got = h.u16()
  const flags = h.u16()
  h.u32()
  const size = h.u64()
  if (got !== id) throw badFile(f.path, `section ${id} expected at 0x${offset.toString(16)}, found section ${got}`)
  const where = `${f.path}: section ${id} at 0x${offset.toString(16)}`
  let body = f.read(h.pos, size)
  if (flags & SECTION_COMPRESSED) {
    const c = new Cursor(body, meta.le, () => where)
    const csize = c.u32()
    const usize = c.u32()
    body = inflate(meta.codec, c.bytes(csize), usize, where)
  }
  return new Cursor(body, meta.le, () => where)
}

/** The flags of the version 7 section at `offset` (the BUFFER option points at its flyrecord section). */
function sectionFlags(f: DatFile, meta: DatMeta, offset: number): number {
  const h = new FileCursor(f, offset, meta.le)
  h.u16()
  return h.u16()
}

function readV7(f: DatFile, c: FileCursor, meta: DatMeta): void {
  meta.codec = codecOf(c.cstr(), f.path)
  meta.codecVersion = c.cstr()
  let next = c.u64()
  const opts = new Options(meta, f)
  const sections = new Map<number, number>()
  const buffers: {b: Buffer}[] = []
  const seen = new Set<number>()
  while (next !== 0) {
    if (seen.has(next)) throw badFile(f.path, `options sections loop at 0x${next.toString(16)}`)
    seen.add(next)
    const s = sectionAt(f, meta, next, OPT_DONE)
    next = 0
    while (s.left > 0) {
      const id = s.u16()
      const b = s.bytes(s.u32())
      if (opts.common(id, b)) continue
      if (id === OPT_DONE) {
        next = new Cursor(b, meta.le, () => `${f.path}: DONE option`).u64()
        break
      }
      if (id === OPT_BUFFER) buffers.push({b})
      else if (id >= OPT_HEADER_INFO && id <= OPT_CMDLINES)
        sections.set(id, new Cursor(b, meta.le, () => `${f.path}: option ${id}`).u64())
    }
  }
  const section = (id: number): Cursor => {
    const at = sections.get(id)
    if (at === undefined)
      throw badFile(
        f.path,
        `no section ${id} (${['header info', 'ftrace events', 'event formats', 'kallsyms', 'printk', 'cmdlines'][id - OPT_HEADER_INFO]})`,
      )
    return sectionAt(f, meta, at, id)
  }
  readHeaderInfo(section(OPT_HEADER_INFO), meta, f.path)
  readFtraceFormats(section(OPT_FTRACE_EVENTS), meta)
  readEventFormats(section(OPT_EVENT_FORMATS), meta)
  if (sections.has(OPT_PRINTK)) {
    const p = section(OPT_PRINTK)
    meta.printk = p.bytes(p.u32()).toString('utf8')
  }
  if (sections.has(OPT_CMDLINES)) {
    const p = section(OPT_CMDLINES)
    meta.cmdlines = p.bytes(p.u64()).toString('utf8')
  }
  meta.loadKallsyms = () => {
    if (!sections.has(OPT_KALLSYMS)) return ''
    const k = section(OPT_KALLSYMS)
    return k.bytes(k.u32()).toString('utf8')
  }
  for (const {b} of buffers) {
    const oc = new Cursor(b, meta.le, () => `${f.path}: BUFFER option`)
    const offset = oc.u64()
    const name = oc.cstr()
    const clock = oc.cstr()
    let n = oc.u32()
    // trace-cmd >= 3.2 writes the buffer's page size before the CPU count
    if (oc.left !== n * CPU_ENTRY) n = oc.u32()
    const cpus: CpuRegion[] = []
    for (let i = 0; i < n; i++) cpus.push({cpu: oc.u32(), offset: oc.u64(), size: oc.u64()})
    const compressed = (sectionFlags(f, meta, offset) & SECTION_COMPRESSED) !== 0
    meta.buffers.push({
      name,
      clock: clock || selectedClock(opts.traceClockFile ?? ''),
      cpus,
      compressed,
      stats: opts.statsOf.get(name) ?? [],
    })
  }
}

/** Reads the metadata of the trace.dat at `f`; throws InputError when it is not one or is damaged. */
export function readDatMeta(f: DatFile): DatMeta {
  const head = f.read(0, Math.min(f.size, 64))
  if (head.length < TRACEDAT_MAGIC.length || !head.subarray(0, TRACEDAT_MAGIC.length).equals(TRACEDAT_MAGIC))
    throw badFile(f.path, 'no trace-cmd magic at the start')
  const c = new FileCursor(f, TRACEDAT_MAGIC.length, true)
  const version = Number(c.cstr())
  if (version !== 6 && version !== 7)
    throw new InputError(
      'UNSUPPORTED_INPUT',
      `${f.path} is a trace.dat of file version ${version}; vmareplay reads versions 6 and 7 (trace-cmd convert -i ${f.path} -o v7.dat --file-version 7)`,
    )
  const endian = f.read(c.pos, 2)
  c.pos += 2
  const le = endian[0] === 0
  const meta: DatMeta = {
    version,
    le,
    longSize: endian[1]!,
    pageSize: 0,
    codec: 'none',
    codecVersion: '',
    headerPage: '',
    formats: [],
    cmdlines: '',
    printk: '',
    loadKallsyms: () => '',
    cpuCount: null,
    buffers: [],
    uname: null,
    traceCmdVersion: null,
    offsets: [],
  }
  const fc = new FileCursor(f, c.pos, le)
  meta.pageSize = fc.u32()
  if (meta.pageSize < 64 || (meta.pageSize & (meta.pageSize - 1)) !== 0)
    throw badFile(f.path, `page size ${meta.pageSize} is not a power of two`)
  if (version === 6) readV6(f, fc, meta)
  else readV7(f, fc, meta)
  return meta
}
