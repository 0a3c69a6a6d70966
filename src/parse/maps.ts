// /proc/PID/maps snapshots: `start-end perms offset dev inode [path]`, the path padded to a column and possibly
// containing spaces or ending in ` (deleted)` (kept as part of the path). A snapshot is small: an array.

import type {MapsEntry, ParseProblem} from '../model/events.js'
import {excerpt} from './emit.js'
import {LONG_LINE_REASON, readLines} from './lines.js'
import {decToInt, hexToU64} from './numbers.js'

const LINE =
  /^([0-9a-fA-F]+)-([0-9a-fA-F]+) ([r-][w-][x-][psm]) ([0-9a-fA-F]+) ([0-9a-fA-F]+:[0-9a-fA-F]+) (\d+)(?: +(.*))?$/

export interface MapsResult {
  entries: MapsEntry[]
  problems: ParseProblem[]
}

/** Parses one maps line; returns the reason when it is not one. */
function parseMapsLine(line: string): MapsEntry | string {
  const m = LINE.exec(line)
  if (m === null) return 'not a /proc/PID/maps line (expected start-end perms offset dev inode [path])'
  const start = hexToU64(m[1]!, 0, m[1]!.length)
  const end = hexToU64(m[2]!, 0, m[2]!.length)
  const offset = hexToU64(m[4]!, 0, m[4]!.length)
  const inode = decToInt(m[6]!, 0, m[6]!.length)
  if (start === null || end === null || offset === null) return 'address or offset wider than 64 bits'
  if (inode === null) return 'inode out of range'
  if (end < start) return 'end below start'
  return {start, end, perms: m[3]!, offset, dev: m[5]!, inode, path: m[7] ?? ''}
}

export function parseMaps(text: string): MapsResult {
  const entries: MapsEntry[] = []
  const problems: ParseProblem[] = []
  text.split('\n').forEach((line, i) => add(line.endsWith('\r') ? line.slice(0, -1) : line, i + 1, entries, problems))
  return {entries, problems}
}

/** Reads a maps snapshot file (plain, .gz or .xz). */
export async function readMapsFile(path: string): Promise<MapsResult> {
  const entries: MapsEntry[] = []
  const problems: ParseProblem[] = []
  await readLines(
    path,
    (line, lineNo) => add(line, lineNo, entries, problems),
    (lineNo, head) => problems.push({line: lineNo, reason: LONG_LINE_REASON, excerpt: excerpt(head)}),
  )
  return {entries, problems}
}

function add(line: string, lineNo: number, entries: MapsEntry[], problems: ParseProblem[]): void {
  if (line.trim() === '') return
  const r = parseMapsLine(line)
  if (typeof r === 'string') problems.push({line: lineNo, reason: r, excerpt: excerpt(line)})
  else entries.push(r)
}
