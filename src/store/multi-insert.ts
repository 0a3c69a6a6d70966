// Multi-row INSERTs: one prepared statement for a full batch of rows, one for single rows at the end. Binding
// many rows per call is what makes per-event and per-fault tables affordable.
import type {Db} from './db.js'

type Value = number | bigint | string | null

export class BatchInsert {
  private readonly full
  private readonly one
  private readonly buf: Value[] = []
  private readonly width: number

  constructor(db: Db, table: string, columns: string[], private readonly rows = 64) {
    this.width = columns.length
    const row = `(${Array(this.width).fill('?').join(',')})`
    const sql = `INSERT INTO ${table} (${columns.join(', ')}) VALUES `
    this.full = db.prepare(sql + Array(rows).fill(row).join(','))
    this.one = db.prepare(sql + row)
  }

  /** Adds one row (exactly one value per column); writes when a batch is full. */
  add(...values: Value[]): void {
    for (const v of values) this.buf.push(v)
    if (this.buf.length === this.rows * this.width) this.flush()
  }

  flush(): void {
    const b = this.buf
    if (b.length === this.rows * this.width) this.full.run(b)
    else for (let i = 0; i < b.length; i += this.width) this.one.run(b.slice(i, i + this.width))
    b.length = 0
  }
}
