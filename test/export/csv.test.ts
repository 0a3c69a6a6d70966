import {test, before, after} from 'node:test'
import assert from 'node:assert/strict'
import {Writable} from 'node:stream'
import {smallDb, type Fixture} from '../report/fixture.js'
import {Sink} from '../../src/export/sink.js'
import {exportCsv, tableNames} from '../../src/export/csv.js'
import {UserError} from '../../src/base/errors.js'

/** RFC 4180 parser (quoted fields, doubled quotes, CRLF records) for checking the output. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let q = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!
    if (q) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"'
        i++
      } else if (ch === '"') q = false
      else field += ch
    } else if (ch === '"') q = true
    else if (ch === ',') {
      row.push(field)
      field = ''
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field)
      rows.push(row)
      row = []
      field = ''
      i++
    } else field += ch
  }
  assert.equal(field, '', 'the last record ends with CRLF')
  return rows
}

async function csvOf(
  fx: Fixture,
  table: string,
  runId?: number,
  traceId?: number,
): Promise<{rows: string[][]; n: number}> {
  let text = ''
  const out = new Writable({write: (c: Buffer, _e, cb) => ((text += c.toString()), cb())})
  const sink = new Sink(out)
  const n = await exportCsv(fx.db, sink, {table, runId, traceId})
  return {rows: parseCsv(text), n}
}

let fx: Fixture
before(async () => {
  fx = await smallDb(['v6.18'])
})
after(() => fx.db.close())

test('a view exports with a header row, one record per row, and exact integers', async () => {
  const runId = fx.runIds['v6.18']!
  const {rows, n} = await csvOf(fx, 'fault_outcomes', runId)
  assert.deepEqual(rows[0], [
    'run_id',
    'policy',
    'ts_ns',
    'pid',
    'tid',
    'address',
    'error_code',
    'path',
    'took_mmap_lock',
    'reason',
    'wait_ns',
    'latency_ns',
    'confidence',
  ])
  const count = fx.db.prepare('SELECT count(*) FROM fault_outcomes WHERE run_id = ?').pluck().get(runId) as number
  assert.equal(n, count)
  assert.equal(rows.length, count + 1)
  const first = fx.db
    .prepare('SELECT ts_ns FROM fault_outcomes WHERE run_id = ? LIMIT 1')
    .safeIntegers(true)
    .pluck()
    .get(runId) as bigint
  assert.equal(rows[1]![2], first.toString())
  assert.match(rows[1]![2]!, /^\d+$/, 'ns as integers, no decimals or exponents')
})

test('fields with commas and quotes are quoted (warnings JSON of traces)', async () => {
  fx.db.prepare(`UPDATE traces SET warnings = ? WHERE trace_id = ?`).run('["a, \\"b\\"", "c"]', fx.traceId)
  const {rows} = await csvOf(fx, 'traces', undefined, fx.traceId)
  const col = rows[0]!.indexOf('warnings')
  assert.equal(rows[1]![col], '["a, \\"b\\"", "c"]')
})

test('unknown tables and filters a table does not have are usage errors', async () => {
  assert.ok(tableNames(fx.db).includes('lock_waits'))
  await assert.rejects(
    csvOf(fx, 'no_such_table'),
    (e: Error) => e instanceof UserError && /no such table or view; one of: .*fault_results/.test(e.message),
  )
  await assert.rejects(csvOf(fx, 'traces; DROP TABLE runs'), UserError)
  await assert.rejects(csvOf(fx, 'events', 1), /events has no run_id column/)
})
