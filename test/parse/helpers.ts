// Shared by the parse tests: a sink that keeps everything, feeding text through an importer, temp files.

import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {ImportSink, LostWindow, ParseProblem, TraceEvent, TraceFormat} from '../../src/model/events.js'
import {createImporter} from '../../src/parse/detect.js'

export class CollectSink implements ImportSink {
  events: TraceEvent[] = []
  losts: LostWindow[] = []
  problems: ParseProblem[] = []
  unknowns: {name: string; line: number}[] = []
  metas = new Map<string, string>()

  event(e: TraceEvent): void {
    this.events.push(e)
  }
  lost(l: LostWindow): void {
    this.losts.push(l)
  }
  problem(p: ParseProblem): void {
    this.problems.push(p)
  }
  unknown(name: string, line: number): void {
    this.unknowns.push({name, line})
  }
  meta(key: string, value: string): void {
    this.metas.set(key, value)
  }
}

/** Feeds lines (no trailing newline each) to a fresh importer of `format` and finishes it. */
export function importLines(format: TraceFormat, lines: string[]): CollectSink {
  const sink = new CollectSink()
  const imp = createImporter(format, sink)
  lines.forEach((l, i) => imp.feed(l, i + 1))
  imp.finish()
  return sink
}

let dir: string | null = null

/** Writes a file into a per-process temp directory (removed at exit) and returns its path. */
export function tmpFile(name: string, data: string | Buffer): string {
  if (dir === null) {
    const d = (dir = mkdtempSync(join(tmpdir(), 'vmareplay-parse-')))
    process.on('exit', () => rmSync(d, {recursive: true, force: true}))
  }
  const path = join(dir, name)
  writeFileSync(path, data)
  return path
}
