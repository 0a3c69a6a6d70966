// Exact nearest-rank percentiles computed in SQLite: the reports and the validation both need them, and only the
// requested ranks reach JavaScript, so memory does not grow with the number of values.
import type {Db} from './db.js'

export interface Distribution {
  n: number
  /** values > 0 */
  nonzero: number
  totalNs: number
  maxNs: number
  /** one value per requested percentile, nearest-rank */
  values: number[]
}

/**
 * Exact nearest-rank percentiles of the integer column `v` of `valuesSql` (a SELECT yielding `v`, with named
 * parameters `params`): the p-th percentile is the value at rank ceil(p/100 · n) of the sorted values (rank 1 at
 * least). Zeros (most fault waits) are counted, not sorted: only values > 0 go through one window-function sort.
 */
export function exactPercentiles(
  db: Db,
  valuesSql: string,
  params: Record<string, unknown>,
  ps: readonly number[],
): Distribution {
  const agg = db
    .prepare(
      `SELECT count(*) AS n, coalesce(sum(v > 0), 0) AS nz, coalesce(sum(v), 0) AS tot, coalesce(max(v), 0) AS mx FROM (${valuesSql})`,
    )
    .get(params) as {n: number; nz: number; tot: number; mx: number}
  const zeros = agg.n - agg.nz
  const ranks = ps.map((p) => Math.min(agg.n, Math.max(1, Math.ceil((p * agg.n) / 100 - 1e-9))))
  const need = [...new Set(ranks.filter((r) => r > zeros).map((r) => r - zeros))]
  const byRank = new Map<number, number>()
  if (need.length > 0) {
    const rows = db
      .prepare(
        `SELECT rn, v FROM (SELECT v, row_number() OVER (ORDER BY v) AS rn FROM (${valuesSql}) WHERE v > 0) WHERE rn IN (${need.join(',')})`,
      )
      .all(params) as {rn: number; v: number}[]
    for (const r of rows) byRank.set(r.rn, r.v)
  }
  const values = ranks.map((r) => (agg.n === 0 || r <= zeros ? 0 : (byRank.get(r - zeros) ?? 0)))
  return {n: agg.n, nonzero: agg.nz, totalNs: agg.tot, maxNs: agg.mx, values}
}
