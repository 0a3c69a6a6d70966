// The one place where the cost table for replaying a lab trace is chosen (docs/validation.md): the table calibrated
// from the trace's own mmap_lock holds (calibrate.ts), so that a what-if waits on the time scale of the machine that
// recorded it; --costs fields override it; without calibration, the default table.
import type {Db} from '../store/db.js'
import type {CostTable} from '../kernel/index.js'
import {calibrateCosts} from './calibrate.js'

export function costsForTrace(
  dbPath: string,
  db: Db,
  traceId: number,
  calibrate: boolean,
  override: Partial<CostTable>,
): Partial<CostTable> {
  return calibrate ? {...calibrateCosts(dbPath, db, traceId).costs, ...override} : override
}
