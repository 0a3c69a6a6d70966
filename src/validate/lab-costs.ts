// The one place where the cost table for replaying a lab trace is chosen (docs/validation.md): today the default
// table, overridden by --costs; a table calibrated from the trace's own mmap_lock events plugs in here.
import type {Db} from '../store/db.js'
import type {CostTable} from '../kernel/index.js'

export function costsForTrace(_db: Db, _traceId: number, override: Partial<CostTable>): Partial<CostTable> {
  return override
}
