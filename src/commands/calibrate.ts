import {Args, Flags} from '@oclif/core'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {BaseCommand, jsonFlag, UserError} from '../cli/base.js'
import {TOOL_VERSION} from '../cli/version.js'
import {loadTrace} from '../ingest/load.js'
import {openDb} from '../store/db.js'
import {calibrateCosts, MIN_SAMPLES} from '../validate/calibrate.js'
import {hasLockEvents} from '../validate/score.js'
import {csv, json, keyValues, table} from '../report/output.js'

export default class Calibrate extends BaseCommand {
  static override description = `Fit the cost table to the machine that recorded a trace, from the trace's own mmap_lock holds.

A fault that takes mmap_lock holds it for its whole handling (every fault on 6.1), so the trace measures fault
service times by kind; the mm syscalls' holds size their critical sections. The trace is replayed faithfully
under its recording kernel's policy to learn each fault's kind; each kind's cost is shifted by the difference
between the trace's and the model's median hold over faults handled in one uncontended read section (at least
${MIN_SAMPLES}). Fields the trace cannot measure are scaled by the geometric-mean speed factor of those it can\n(fault-path steps by the fault kinds', the rest by the syscalls').
-o writes the table as the JSON that \`replay --costs\` takes, so a what-if runs on the recording machine's time
scale (docs/calibrate.md).`

  static override examples = [
    '<%= config.bin %> calibrate traces/lab/py_threads_small-6.1.trace.txt.xz -o tcg-6.1.costs.json',
    '<%= config.bin %> replay app-6.1.trace.txt --policy v6.10 --mode what-if --costs tcg-6.1.costs.json',
    '<%= config.bin %> calibrate app.trace.txt --db app.db --json',
  ]

  static override args = {
    trace: Args.string({description: 'trace file recorded with the mmap_lock tracepoints', required: true}),
  }

  static override flags = {
    db: Flags.string({description: 'keep the ingested trace in this database (default: a temporary one)'}),
    output: Flags.string({
      char: 'o',
      helpValue: 'FILE',
      description: 'write the fitted cost table here (JSON for --costs)',
    }),
    json: jsonFlag,
    csv: Flags.boolean({description: 'print CSV', exclusive: ['json']}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Calibrate)
    const tmp = flags.db === undefined ? mkdtempSync(join(tmpdir(), 'vmareplay-calibrate-')) : null
    const dbPath = flags.db ?? join(tmp!, 'calibrate.db')
    const db = openDb(dbPath)
    try {
      const loaded = await loadTrace(db, args.trace, {toolVersion: TOOL_VERSION})
      const traceId = loaded.status === 'duplicate' ? loaded.traceId : loaded.summary.traceId
      if (!hasLockEvents(db, traceId))
        throw new UserError(
          `${args.trace} has no mmap_lock events: record it with them (vmareplay capture records them by default) to calibrate from it`,
        )
      const cal = calibrateCosts(dbPath, db, traceId)
      if (flags.output !== undefined) writeFileSync(flags.output, json(cal.costs) + '\n')
      const rows = cal.fields.map((f) => ({
        field: f.field,
        default: f.defaultValue,
        calibrated: f.value,
        source: f.source,
        samples: f.samples,
        'trace median ns': f.observedMedianNs ?? '',
        'model median ns (defaults)': f.modelMedianNs ?? '',
      }))
      if (flags.json) this.log(json(cal))
      else if (flags.csv) process.stdout.write(csv(rows))
      else {
        this.log(table(rows))
        this.log(
          keyValues([
            ['trace', args.trace],
            ['policy (recording kernel)', cal.policy],
            ['speed factor, fault path', cal.speedFactor.faultPath.toFixed(3)],
            ['speed factor, syscalls', cal.speedFactor.syscalls.toFixed(3)],
            ...(flags.output === undefined ? [] : ([['written', flags.output]] as [string, unknown][])),
          ]),
        )
      }
    } finally {
      db.close()
      if (tmp !== null) rmSync(tmp, {recursive: true, force: true})
    }
  }
}
