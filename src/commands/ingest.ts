import {Args, Flags} from '@oclif/core'
import {BaseCommand, dbFlag, EXIT, jsonFlag, UserError} from '../cli/base.js'
import {progressBar} from '../cli/progress.js'
import {TOOL_VERSION} from '../cli/version.js'
import {openDb} from '../store/db.js'
import {MalformedLineError} from '../base/errors.js'
import type {IngestSummary} from '../ingest/ingest.js'
import {loadTrace, type LoadResult} from '../ingest/load.js'
import {json, keyValues, table} from '../report/output.js'
import {TRACE_FORMATS, type TraceFormat} from '../model/events.js'

export default class Ingest extends BaseCommand {
  static override description = `Read ftrace or perf script traces (plain, .gz or .xz) or trace-cmd trace.dat files into the database.

Format is detected from the content (a trace.dat by its magic bytes: file versions 6 and 7, compressed or not). Each trace is loaded in one transaction: a failed or interrupted ingest
leaves the database as it was, and ingesting the same content again is a no-op.`

  static override examples = [
    '<%= config.bin %> ingest trace.txt',
    '<%= config.bin %> ingest trace.dat',
    '<%= config.bin %> ingest node_attach.trace.txt.xz --maps 4242=node_attach.maps --db node.db',
    '<%= config.bin %> ingest capture.perf.txt --format perf --json',
    '<%= config.bin %> ingest suspicious.txt --strict',
  ]

  static override args = {traces: Args.string({description: 'trace files', required: true})}
  static override strict = false

  static override flags = {
    db: dbFlag,
    format: Flags.string({description: 'input format (default: detected)', options: [...TRACE_FORMATS]}),
    maps: Flags.string({description: '/proc/PID/maps snapshot taken when tracing began, as PID=FILE', multiple: true}),
    strict: Flags.boolean({description: 'fail on the first malformed line instead of counting it'}),
    json: jsonFlag,
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Ingest)
    const maps = (flags.maps ?? []).map(parseMapsFlag)
    const db = openDb(flags.db)
    const results: LoadResult[] = []
    try {
      for (const path of argv as string[]) {
        const bar = progressBar(`ingest ${path}`)
        try {
          results.push(
            await loadTrace(db, path, {
              format: flags.format as TraceFormat | undefined,
              strict: flags.strict,
              maps,
              toolVersion: TOOL_VERSION,
              onProgress: (done, total) => bar.update(done, total),
            }),
          )
        } catch (error) {
          if (error instanceof MalformedLineError)
            throw new UserError(`${path}: ${error.message} (--strict)`, EXIT.strict)
          throw error
        } finally {
          bar.stop()
        }
      }
    } finally {
      db.close()
    }
    if (flags.json) this.log(json(results.length === 1 ? jsonResult(results[0]!) : results.map(jsonResult)))
    else for (const r of results) this.log(describe(r))
  }
}

function parseMapsFlag(v: string): {pid: number; file: string} {
  const m = /^(\d+)=(.+)$/.exec(v)
  if (m === null) throw new UserError(`--maps ${v}: expected PID=FILE, e.g. --maps 4242=node.maps`)
  return {pid: Number(m[1]), file: m[2]!}
}

function jsonResult(r: LoadResult): object {
  if (r.status === 'duplicate') return {status: r.status, path: r.path, traceId: r.traceId}
  return {status: r.status, path: r.path, ...r.summary}
}

function describe(r: LoadResult): string {
  if (r.status === 'duplicate') return `${r.path}: already ingested as trace ${r.traceId}; nothing to do`
  const s: IngestSummary = r.summary
  const span =
    s.firstTsNs !== null && s.lastTsNs !== null
      ? (Number(BigInt(s.lastTsNs) - BigInt(s.firstTsNs)) / 1e9).toFixed(6) + ' s'
      : '-'
  const out = [
    `${r.path}: trace ${s.traceId}`,
    keyValues([
      ['events', s.events],
      ['user page faults', s.faults],
      ['kernel-mode faults', s.kernelFaults],
      ['processes / threads', `${s.processes} / ${s.threads}`],
      ['time span', span],
      ['kernel', s.kernelVersion ?? 'unknown'],
      ['malformed lines', s.malformedLines],
      ['unknown events', Object.values(s.unknownEvents).reduce((a, b) => a + b, 0)],
      ['lost events', s.lostWindows > 0 ? `${s.lostEvents} in ${s.lostWindows} windows` : 'none'],
    ]),
    table(Object.entries(s.eventsByKind).map(([kind, events]) => ({kind, events}))),
  ]
  if (Object.keys(s.unknownEvents).length > 0)
    out.push(
      'unknown events (counted, not used): ' +
        Object.entries(s.unknownEvents)
          .map(([k, n]) => `${k} ${n}`)
          .join(', '),
    )
  if (s.malformedLines > 0)
    out.push(
      `malformed lines (first ${s.firstMalformed.length}; all in table parse_problems):\n` +
        s.firstMalformed.map((p) => `  line ${p.line}: ${p.reason}: ${p.excerpt}`).join('\n'),
    )
  for (const w of s.warnings) out.push(`warning: ${w}`)
  return out.join('\n')
}
