// Multi-row INSERTs: one prepared statement for a full batch of rows, one for single rows at the end. Binding
// many rows per call is what makes per-event and per-fault tables affordable.
import type {Db} from './db.js'

type Value = number | bigint | string | null

export class BatchInsert {
  private readonly full
  private readonly one
  private readonly buf: Value[]
  private fill = 0
  private readonly width: number

  /**
   * `fixed`: integer columns every row of this inserter has the same value in, written into the statements rather
   * than bound: a bound value costs ~18 ns, a sizeable part of a short row's insert.
   */
  constructor(db: Db, table: string, columns: string[], rows = 64, fixed: Record<string, number> = {}) {
    this.width = columns.length
    this.buf = new Array<Value>(rows * this.width).fill(null)
    const literals = Object.entries(fixed).map(([column, value]) => {
      if (!Number.isSafeInteger(value))
        throw new Error(`internal error: ${table}.${column} fixed to ${value}, not an integer`)
      return [column, String(value)]
    })
    const row = `(${[...literals.map(([, v]) => v), ...Array<string>(this.width).fill('?')].join(',')})`
    const sql = `INSERT INTO ${table} (${[...literals.map(([c]) => c), ...columns].join(', ')}) VALUES `
    this.full = db.prepare(sql + Array(rows).fill(row).join(','))
    this.one = db.prepare(sql + row)
  }

  /** Adds one row (exactly one value per column); writes when a batch is full. */
  add(...values: Value[]): void {
    const b = this.buf
    let k = this.fill
    for (const v of values) b[k++] = v
    if (k === b.length) {
      this.full.run(...b) // spread: binding an array looks each value up as a property, slower
      k = 0
    }
    this.fill = k
  }

  flush(): void {
    const b = this.buf
    for (let i = 0; i < this.fill; i += this.width) this.one.run(b.slice(i, i + this.width))
    this.fill = 0
  }
}
