import {Flags} from '@oclif/core'
import {createWriteStream, openSync} from 'node:fs'
import {BaseCommand, dbFlag, UserError} from '../cli/base.js'
import {openDbReadOnly} from '../store/db.js'
import {Sink, SinkClosed} from '../export/sink.js'
import {exportCsv} from '../export/csv.js'
import {exportPerfetto} from '../export/perfetto.js'

export default class Export extends BaseCommand {
  static override description = `Export a replay run for Perfetto, or any table or view as CSV.

perfetto: Perfetto's protobuf trace format (TrackEvent), opened by https://ui.perfetto.dev (Open trace file) and trace_processor; perfetto-json: the same as Chrome JSON trace events (also read by chrome://tracing). One process per thread group, one track per thread with slices for faults (named path/reason; args: address, error_code, wait) and for syscalls that took or waited for mmap_lock; waits are child slices with a flow arrow from the hold (a child slice too) of the operation that held the lock; counter tracks per process (mmap_lock readers holding, writer holding, waiting readers and writers, faults and fallbacks per bucket). Times are the replay's, since the trace's first event. Written as a stream; use --faults slow or a time window for very large runs.

csv: every row of one table or view (docs/schema.md), RFC 4180, integers exact (ns, addresses), header row.`

  static override examples = [
    '<%= config.bin %> export --format perfetto --out run.perfetto-trace',
    '<%= config.bin %> export --format perfetto --run 3 --faults slow --from-ms 200 --to-ms 400 --out slice.perfetto-trace',
    '<%= config.bin %> export --format perfetto-json --out run.json',
    '<%= config.bin %> export --format csv --table fault_outcomes --run 3 --out faults.csv',
    '<%= config.bin %> export --format csv --table lock_waits > waits.csv',
  ]

  static override flags = {
    db: dbFlag,
    format: Flags.string({description: 'output format', options: ['perfetto', 'perfetto-json', 'csv'], required: true}),
    run: Flags.integer({
      description: 'run id (perfetto: default the most recent run; csv: filter tables with a run_id column)',
    }),
    trace: Flags.integer({description: 'csv: filter tables with a trace_id column'}),
    table: Flags.string({description: 'csv: the table or view to export'}),
    out: Flags.string({description: 'output file (default: stdout)'}),
    faults: Flags.string({
      description: 'perfetto: which faults get slices (slow = fell back, took mmap_lock or waited)',
      options: ['all', 'slow', 'none'],
      default: 'all',
    }),
    'from-ms': Flags.string({description: "perfetto: start of the time window, ms since the trace's first event"}),
    'to-ms': Flags.string({description: "perfetto: end of the time window, ms since the trace's first event"}),
    limit: Flags.integer({description: 'perfetto: at most this many fault slices', min: 1}),
    'bucket-us': Flags.integer({description: 'perfetto: counter bucket width in µs', default: 1000, min: 1}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Export)
    const ms = (name: string, v: string | undefined): number | undefined => {
      if (v === undefined) return undefined
      const n = Number(v)
      if (!Number.isFinite(n) || n < 0) throw new UserError(`--${name}: expected a non-negative number of ms`)
      return Math.round(n * 1e6)
    }
    const fromNs = ms('from-ms', flags['from-ms'])
    const toNs = ms('to-ms', flags['to-ms'])
    if (flags.format === 'csv' && flags.table === undefined)
      throw new UserError('--format csv needs --table NAME (any table or view of docs/schema.md, e.g. fault_outcomes)')
    const perfetto = flags.format !== 'csv'
    if (perfetto && flags.table !== undefined) throw new UserError('--table is for --format csv')
    const db = openDbReadOnly(flags.db)
    try {
      let runId = flags.run
      if (perfetto && runId === undefined) {
        runId = (db.prepare('SELECT max(run_id) FROM runs').pluck().get() as number | null) ?? undefined
        if (runId === undefined)
          throw new UserError(`no replay run in ${flags.db}: run \`vmareplay replay --db ${flags.db}\` first`)
      }
      if (
        runId !== undefined &&
        (db.prepare('SELECT count(*) FROM runs WHERE run_id = ?').pluck().get(runId) as number) === 0
      )
        throw new UserError(`no run ${runId} in ${flags.db}`)
      const out = flags.out === undefined ? process.stdout : createWriteStream('', {fd: openOut(flags.out)})
      const sink = new Sink(out)
      try {
        if (flags.format === 'csv') {
          const rows = await exportCsv(db, sink, {table: flags.table!, runId, traceId: flags.trace})
          if (flags.out !== undefined) this.logToStderr(`${flags.out}: ${rows} rows of ${flags.table}`)
        } else {
          const encoding = flags.format === 'perfetto' ? 'proto' : 'json'
          if (encoding === 'proto' && flags.out === undefined && process.stdout.isTTY)
            throw new UserError('--format perfetto writes binary protobuf: give --out FILE (or pipe it)')
          const s = await exportPerfetto(db, sink, {
            runId: runId!,
            fromNs,
            toNs,
            faults: flags.faults as 'all' | 'slow' | 'none',
            limit: flags.limit,
            bucketNs: flags['bucket-us'] * 1000,
            encoding,
          })
          this.logToStderr(
            `${flags.out ?? 'stdout'}: run ${runId}, ${s.events} events: ${s.faultSlices} fault and ${s.opSlices} syscall slices, ${s.waitSlices} waits, ${s.holdSlices} holds, ${s.flows} flows` +
              (s.flowsNoHolder + s.flowsNoOverlap > 0
                ? ` (not drawn: ${s.flowsNoHolder} whose holder is outside the export, ${s.flowsNoOverlap} too short to anchor)`
                : '') +
              `, ${s.counters} counter samples${s.truncated ? `; stopped at --limit ${flags.limit}` : ''}. Open in https://ui.perfetto.dev`,
          )
        }
      } catch (error) {
        if (!(error instanceof SinkClosed)) throw error // the reader stopped reading (| head): done
      } finally {
        await sink.close()
      }
    } finally {
      db.close()
    }
  }
}

function openOut(path: string): number {
  try {
    return openSync(path, 'w')
  } catch (error) {
    throw new UserError(`--out ${path}: ${(error as Error).message}`)
  }
}
