// The driver both text tracers share: a line is `PREFIX EVENT`, the prefix (task, CPU, time) parsed by the
// format's own parser from bytes, then the event body by the importer. Lines without the prefix are `other`.
import type {ImportSink, TraceFormat, U64} from '../model/events.js'
import {Line} from './bytes.js'
import {Emitter, type ByteLineImporter} from './emit.js'

/** A format's line-prefix parser: returns where the event body starts, or -1 if the line has no prefix. */
export interface LinePrefix {
  ts: U64
  cpu: number | null
  comm: string
  parse(L: Line): number
}

export abstract class PrefixedImporter<P extends LinePrefix> implements ByteLineImporter {
  abstract readonly format: TraceFormat
  protected readonly em: Emitter
  protected readonly L = new Line()

  constructor(
    protected readonly sink: ImportSink,
    protected readonly pre: P,
  ) {
    this.em = new Emitter(sink)
  }

  feed(line: string, lineNo: number): void {
    this.L.setString(line, lineNo)
    this.parseLine()
  }

  feedBytes(buf: Buffer, start: number, end: number, text: string, base: number, lineNo: number): void {
    this.L.set(buf, start, end, text, base, lineNo)
    this.parseLine()
  }

  private parseLine(): void {
    const L = this.L
    const pre = this.pre
    const bs = pre.parse(L)
    if (bs < 0) {
      this.other(L.line(), L.no)
      return
    }
    const em = this.em
    em.line = L.no
    em.ts = pre.ts
    em.cpu = pre.cpu
    em.comm = pre.comm
    const why = this.event(bs)
    if (why !== null) em.problem(L.no, why, L.line())
  }

  /** The event starting at byte `bs` of this.L, after the prefix; returns why it is malformed, or null. */
  protected abstract event(bs: number): string | null
  /** A line without the prefix (headers, markers, side lines). */
  protected abstract other(s: string, lineNo: number): void
  abstract finish(): void
}
