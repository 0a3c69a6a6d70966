import {BaseCommand, dbFlag, jsonFlag} from '../cli/base.js'
import {openDbReadOnly} from '../store/db.js'
import {json, table} from '../report/output.js'

export default class Traces extends BaseCommand {
  static override description =
    'List the traces in the database: format, the recording kernel (its release, or the range its text format allows), clock, size, malformed lines and lost events.'
  static override examples = ['<%= config.bin %> traces', '<%= config.bin %> traces --db node.db --json']
  static override flags = {db: dbFlag, json: jsonFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(Traces)
    const db = openDbReadOnly(flags.db)
    try {
      const rows = db
        .prepare(
          `SELECT trace_id, path, format, kernel_version, format_variant, clock, events, faults, kernel_faults, malformed_lines, lost_events,
             lost_windows, round((last_ts_ns - first_ts_ns) / 1e9, 3) AS span_s, sha256 FROM traces ORDER BY trace_id`,
        )
        .all() as Record<string, unknown>[]
      this.log(flags.json ? json(rows) : table(rows.map((r) => ({...r, sha256: String(r.sha256).slice(0, 12)}))))
    } finally {
      db.close()
    }
  }
}
