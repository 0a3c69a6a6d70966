// The CSV event format (docs/csv-format.md): a header row naming the columns, then one event per row.
// Lines are grouped into records (a quoted field may span lines), batched, and parsed with csv-parse's sync API;
// a batch that csv-parse rejects is re-parsed record by record so one bad row costs one problem, not the batch.

import {parse} from 'csv-parse/sync'
import {KIND_NAMES, Kind, type ImportSink, type LineImporter, type U64} from '../model/events.js'
import {Emitter} from './emit.js'
import {InputError} from '../base/errors.js'
import {decToU64, parseInteger, toSigned64} from './numbers.js'
import {Ch} from './chars.js'

/** Columns every row has; the rest are per event (see EVENT_COLUMNS). */
const COMMON_COLUMNS = ['ts_ns', 'tid', 'tgid', 'cpu', 'comm', 'event'] as const
const REQUIRED = ['ts_ns', 'tid', 'event'] as const

type Slot = 'a' | 'b' | 'c' | 'd' | 'e' | 'f' | 'text'
type ColType = 'int' | 'bool' | 'str'
interface ColSpec {
  slot: Slot
  col: string
  type: ColType
  required?: boolean
}

const LOCK: ColSpec[] = [
  {slot: 'a', col: 'write', type: 'bool'},
  {slot: 'c', col: 'memcg_id', type: 'int'},
  {slot: 'text', col: 'mm', type: 'str', required: true},
]
const FAULT: ColSpec[] = [
  {slot: 'a', col: 'address', type: 'int'},
  {slot: 'b', col: 'ip', type: 'int'},
  {slot: 'c', col: 'error_code', type: 'int'},
  {slot: 'text', col: 'ip_symbol', type: 'str'},
]
const ARG_SLOTS: Slot[] = ['b', 'c', 'd', 'e', 'f']
const argCols = (): ColSpec[] => ARG_SLOTS.map((slot, i) => ({slot, col: `arg${i}`, type: 'int'}))

/** Per event name (KIND_NAMES): which column fills which TraceEvent field. */
const EVENT_COLUMNS: Partial<Record<Kind, ColSpec[]>> = {
  [Kind.FaultUser]: FAULT,
  [Kind.FaultKernel]: FAULT,
  [Kind.SysEnter]: [{slot: 'a', col: 'nr', type: 'int', required: true}, ...argCols()], // + arg5, into text
  [Kind.SysExit]: [
    {slot: 'a', col: 'nr', type: 'int', required: true},
    {slot: 'b', col: 'ret', type: 'int'},
  ],
  [Kind.SysArgs]: [
    {slot: 'a', col: 'nr', type: 'int'},
    ...argCols(),
    {slot: 'text', col: 'name', type: 'str', required: true},
  ],
  [Kind.SysRet]: [
    {slot: 'a', col: 'nr', type: 'int'},
    {slot: 'b', col: 'ret', type: 'int'},
    {slot: 'text', col: 'name', type: 'str', required: true},
  ],
  [Kind.LockStart]: LOCK,
  [Kind.LockAcquire]: [...LOCK, {slot: 'b', col: 'success', type: 'bool'}],
  [Kind.LockRelease]: LOCK,
  [Kind.UnmappedArea]: [
    {slot: 'a', col: 'addr', type: 'int'},
    {slot: 'b', col: 'err', type: 'int'},
    {slot: 'c', col: 'len', type: 'int'},
    {slot: 'd', col: 'flags', type: 'int'},
    {slot: 'e', col: 'lo', type: 'int'},
    {slot: 'f', col: 'hi', type: 'int'},
  ],
  [Kind.ExitMmap]: [{slot: 'text', col: 'mt', type: 'str'}],
  [Kind.Fork]: [
    {slot: 'a', col: 'parent_pid', type: 'int'},
    {slot: 'b', col: 'child_pid', type: 'int', required: true},
    {slot: 'text', col: 'child_comm', type: 'str'},
  ],
  [Kind.Exec]: [
    {slot: 'a', col: 'pid', type: 'int', required: true},
    {slot: 'b', col: 'old_pid', type: 'int'},
    {slot: 'text', col: 'filename', type: 'str'},
  ],
  [Kind.Exit]: [
    {slot: 'a', col: 'pid', type: 'int', required: true},
    {slot: 'b', col: 'group_dead', type: 'bool'},
  ],
  [Kind.NewTask]: [
    {slot: 'a', col: 'pid', type: 'int', required: true},
    {slot: 'b', col: 'clone_flags', type: 'int', required: true},
    {slot: 'text', col: 'child_comm', type: 'str'},
  ],
  [Kind.Mmap2]: [
    {slot: 'a', col: 'start', type: 'int', required: true},
    {slot: 'b', col: 'len', type: 'int', required: true},
    {slot: 'c', col: 'pgoff', type: 'int'},
    {slot: 'd', col: 'ino', type: 'int'},
  ], // + perms, path → e (prot), f (flags), text
  [Kind.Comm]: [
    {slot: 'a', col: 'pid', type: 'int'},
    {slot: 'text', col: 'new_comm', type: 'str', required: true},
  ],
  [Kind.MapleWrite]: [
    {slot: 'a', col: 'range_min', type: 'int'},
    {slot: 'b', col: 'range_max', type: 'int'},
    {slot: 'text', col: 'fn', type: 'str'},
  ],
  [Kind.Marker]: [{slot: 'text', col: 'message', type: 'str'}],
}

const EXTRA_COLUMNS = ['arg5', 'perms', 'path', 'count']
const KIND_BY_NAME = new Map<string, Kind>(Object.entries(KIND_NAMES).map(([k, name]) => [name, Number(k) as Kind]))
const KNOWN_COLUMNS = new Set<string>([
  ...COMMON_COLUMNS,
  ...EXTRA_COLUMNS,
  ...Object.values(EVENT_COLUMNS).flatMap((specs) => specs.map((s) => s.col)),
])

const BATCH = 2000

/** Whether a line is a CSV header this importer accepts (used by detection). */
export function isCsvHeader(line: string): boolean {
  const cols = line.split(',').map((c) => c.trim().replace(/^"|"$/g, ''))
  return REQUIRED.every((c) => cols.includes(c))
}

/** Whether a line ends inside a quoted field, given whether it started inside one (RFC 4180 quoting). */
function endsInQuote(line: string, inQuote: boolean): boolean {
  if (!inQuote && line.indexOf('"') < 0) return false
  let fieldStart = !inQuote
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i)
    if (inQuote) {
      if (c === Ch.QUOTE) {
        if (i + 1 < line.length && line.charCodeAt(i + 1) === Ch.QUOTE) i++
        else inQuote = false
      }
    } else if (c === Ch.QUOTE && fieldStart) inQuote = true
    else fieldStart = c === Ch.COMMA
  }
  return inQuote
}

export class CsvImporter implements LineImporter {
  readonly format = 'csv' as const
  private readonly em: Emitter
  private header: string[] | null = null
  private readonly idx = new Map<string, number>()
  private record = '' // current record when a quoted field spans lines
  private recordLine = 0
  private inQuote = false
  private readonly batch: string[] = []
  private readonly batchLines: number[] = []

  constructor(private readonly sink: ImportSink) {
    this.em = new Emitter(sink)
  }

  feed(line: string, lineNo: number): void {
    if (this.inQuote) {
      this.record += '\n' + line
    } else {
      if (line.length === 0 || line.charCodeAt(0) === Ch.HASH || line.trim() === '') return // blank, # comment
      this.record = line
      this.recordLine = lineNo
    }
    this.inQuote = endsInQuote(line, this.inQuote)
    if (this.inQuote) return
    if (this.header === null) {
      this.readHeader(this.record, this.recordLine)
      return
    }
    this.batch.push(this.record)
    this.batchLines.push(this.recordLine)
    if (this.batch.length >= BATCH) this.flush()
  }

  finish(): void {
    if (this.inQuote && this.header === null)
      throw new InputError(
        'BAD_HEADER',
        `CSV header (line ${this.recordLine}) opens a quoted field that is never closed`,
      )
    if (this.inQuote) this.em.problem(this.recordLine, 'quoted field not closed at end of file', this.record)
    this.flush()
    this.em.finish()
  }

  private readHeader(text: string, lineNo: number): void {
    let cols: string[]
    try {
      cols = parse(text, {trim: true})[0] ?? []
    } catch (err) {
      throw new InputError('BAD_HEADER', `CSV header (line ${lineNo}) is not valid CSV: ${(err as Error).message}`)
    }
    const missing = REQUIRED.filter((c) => !cols.includes(c))
    if (missing.length > 0)
      throw new InputError(
        'BAD_HEADER',
        `CSV header (line ${lineNo}) lacks required column(s) ${missing.join(', ')}; the header must name ts_ns, tid and event (see docs/csv-format.md)`,
      )
    const ignored: string[] = []
    cols.forEach((c, i) => {
      if (this.idx.has(c)) throw new InputError('BAD_HEADER', `CSV header (line ${lineNo}) names column ${c} twice`)
      this.idx.set(c, i)
      if (!KNOWN_COLUMNS.has(c)) ignored.push(c)
    })
    if (ignored.length > 0) this.sink.meta('csv_ignored_columns', ignored.join(','))
    this.header = cols
  }

  private flush(): void {
    if (this.batch.length === 0) return
    let rows: string[][] | null
    try {
      rows = parse(this.batch.join('\n'), {relax_column_count: true})
    } catch {
      rows = null // find the bad record(s) one by one below
    }
    if (rows === null || rows.length !== this.batch.length) {
      for (let i = 0; i < this.batch.length; i++) {
        let one: string[][]
        try {
          one = parse(this.batch[i]!, {relax_column_count: true})
        } catch (err) {
          this.em.problem(this.batchLines[i]!, `invalid CSV: ${(err as Error).message}`, this.batch[i]!)
          continue
        }
        this.row(one[0] ?? [], this.batchLines[i]!, this.batch[i]!)
      }
    } else for (let i = 0; i < rows.length; i++) this.row(rows[i]!, this.batchLines[i]!, this.batch[i]!)
    this.batch.length = 0
    this.batchLines.length = 0
  }

  private col(row: string[], name: string): string | null {
    const i = this.idx.get(name)
    if (i === undefined) return null
    const v = row[i]
    return v === undefined || v === '' ? null : v
  }

  private row(row: string[], lineNo: number, text: string): void {
    const why = this.rowWhy(row, lineNo)
    if (why !== null) this.em.problem(lineNo, why, text)
  }

  private rowWhy(row: string[], lineNo: number): string | null {
    const width = this.header!.length
    if (row.length !== width) return `expected ${width} fields, found ${row.length}`
    const tsText = this.col(row, 'ts_ns')
    const ts = tsText === null ? null : decToU64(tsText, 0, tsText.length)
    if (ts === null) return 'ts_ns must be an unsigned integer (nanoseconds)'
    const tid = intCol(this.col(row, 'tid'))
    if (tid === null) return 'tid must be an integer'
    const tgidText = this.col(row, 'tgid')
    const tgid = intCol(tgidText)
    if (tgidText !== null && tgid === null) return 'tgid must be an integer or empty'
    const cpuText = this.col(row, 'cpu')
    const cpu = intCol(cpuText)
    if (cpuText !== null && cpu === null) return 'cpu must be an integer or empty'
    const event = this.col(row, 'event')
    if (event === null) return 'empty event'
    const em = this.em
    em.line = lineNo
    em.ts = ts
    em.cpu = cpu
    em.comm = this.col(row, 'comm') ?? ''
    em.task(tid, tgid)
    if (event === 'lost') {
      const countText = this.col(row, 'count')
      const count = intCol(countText)
      if (countText !== null && count === null) return 'count must be an integer or empty'
      em.lost(lineNo, cpu, count)
      return null
    }
    const kind = KIND_BY_NAME.get(event)
    if (kind === undefined) {
      this.sink.unknown(event, lineNo)
      return null
    }
    const v: Record<Slot, U64 | string | null> = {a: null, b: null, c: null, d: null, e: null, f: null, text: null}
    for (const spec of EVENT_COLUMNS[kind] ?? []) {
      const raw = this.col(row, spec.col)
      if (raw === null) {
        if (spec.required) return `${event} needs a value in column ${spec.col}`
        continue
      }
      const val = spec.type === 'str' ? raw : spec.type === 'bool' ? boolCol(raw) : parseInteger(raw)
      if (val === null) return `bad ${spec.type === 'bool' ? 'boolean' : 'integer'} in column ${spec.col}: ${raw}`
      v[spec.slot] = val
    }
    if (kind === Kind.SysEnter) {
      // text as raw_syscalls prints it: all six args, bare hex; an empty argN is 0 once any arg is given
      const args: string[] = []
      let given = false
      for (let i = 0; i < 6; i++) {
        const raw = this.col(row, `arg${i}`)
        const val = raw === null ? 0 : parseInteger(raw)
        if (val === null) return `bad integer in column arg${i}: ${raw}`
        given ||= raw !== null
        args.push(BigInt.asUintN(64, BigInt(val)).toString(16))
      }
      if (given) v.text = args.join(', ')
    } else if (kind === Kind.SysArgs || kind === Kind.SysRet) {
      if (v.a === null) v.a = em.syscallNr(v.text as string, kind === Kind.SysArgs)
    } else if (kind === Kind.Mmap2) {
      const perms = this.col(row, 'perms') ?? '---p'
      if (!/^[r-][w-][x-][sp]$/.test(perms)) return `bad perms ${perms} (expected e.g. r-xp)`
      v.e = (perms[0] === 'r' ? 1 : 0) | (perms[1] === 'w' ? 2 : 0) | (perms[2] === 'x' ? 4 : 0)
      v.f = perms[3] === 's' ? 1 : 2
      v.text = `${perms} ${this.col(row, 'path') ?? ''}`
    }
    if ((kind === Kind.SysRet || kind === Kind.SysExit) && v.b !== null) v.b = toSigned64(v.b as U64)
    em.event(
      kind,
      v.a as U64 | null,
      v.b as U64 | null,
      v.c as U64 | null,
      v.d as U64 | null,
      v.e as U64 | null,
      v.f as U64 | null,
      v.text as string | null,
    )
    return null
  }
}

function intCol(raw: string | null): number | null {
  if (raw === null) return null
  const v = parseInteger(raw)
  return typeof v === 'number' ? v : null
}

function boolCol(raw: string): U64 | null {
  switch (raw.toLowerCase()) {
    case 'true':
    case '1':
      return 1
    case 'false':
    case '0':
      return 0
    default:
      return null
  }
}
