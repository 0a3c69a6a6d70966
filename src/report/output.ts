// Rendering rows for people (tables), spreadsheets (RFC 4180 CSV) and programs (JSON).
import Table from 'cli-table3'

export type Row = Record<string, unknown>

const useColor = (): boolean => process.stdout.isTTY === true && !('NO_COLOR' in process.env)

function cell(v: unknown): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'number' && !Number.isInteger(v)) return v.toFixed(3)
  return String(v)
}

export function table(rows: Row[], columns?: string[]): string {
  const cols = columns ?? (rows.length > 0 ? Object.keys(rows[0]!) : [])
  if (cols.length === 0) return '(no rows)'
  const t = new Table({head: cols, style: useColor() ? {head: ['cyan']} : {head: [], border: []}})
  for (const r of rows) t.push(cols.map((c) => cell(r[c])))
  return t.toString()
}

/** Key/value pairs as a two-column table (headline numbers). */
export function keyValues(pairs: [string, unknown][]): string {
  const t = new Table({style: useColor() ? {head: ['cyan']} : {head: [], border: []}})
  for (const [k, v] of pairs) t.push({[k]: cell(v)})
  return t.toString()
}

function csvField(v: unknown): string {
  const s = cell(v)
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}

export function csvLine(values: unknown[]): string {
  return values.map(csvField).join(',') + '\r\n'
}

export function csv(rows: Row[], columns?: string[]): string {
  const cols = columns ?? (rows.length > 0 ? Object.keys(rows[0]!) : [])
  return csvLine(cols) + rows.map((r) => csvLine(cols.map((c) => r[c]))).join('')
}

/** JSON that keeps 64-bit integers exact: bigints print as plain numbers. */
export function json(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `__big__${v}` : v), 2).replace(
    /"__big__(-?\d+)"/g,
    '$1',
  )
}
