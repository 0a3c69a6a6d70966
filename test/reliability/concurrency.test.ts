// Concurrent use of one database: a reader while an ingest writes (WAL), two ingests at once, a writer that
// finds the database locked for longer than the busy timeout.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {join} from 'node:path'
import {openDb} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'
import {
  assertHandled,
  assertNoStack,
  BIG,
  integrity,
  needsReal,
  PY_SMALL,
  sleep,
  tmp,
  totals,
  XZ_SMALL,
} from './helpers.js'
import {cli, cliAsync, exited, spawnCli} from '../cli.js'

const dir = tmp('concurrency')

test('query while an ingest writes returns a consistent snapshot every time', needsReal(), async () => {
  const path = join(dir, 'reader.db')
  const db = openDb(path)
  await loadTrace(db, PY_SMALL, {toolVersion: 'test'})
  db.close()
  const writer = spawnCli(['ingest', BIG, '--db', path])
  writer.stdout!.resume()
  writer.stderr!.resume()
  const seen: number[] = []
  const sql =
    'SELECT (SELECT count(*) FROM traces) AS traces, (SELECT count(*) FROM events) AS events, (SELECT coalesce(sum(events), 0) FROM traces) AS declared'
  let running = true
  void exited(writer).then(() => (running = false))
  for (let i = 0; i < 8 && (running || i < 2); i++) {
    const r = await cliAsync('query', '--db', path, '--json', sql)
    assertHandled(r, 'query during ingest', [0])
    const [row] = JSON.parse(r.out) as {traces: number; events: number; declared: number}[]
    assert.equal(
      row!.events,
      row!.declared,
      'events rows match the traces they belong to: no half-written trace is visible',
    )
    seen.push(Number(row!.traces))
  }
  const w = await exited(writer)
  assert.equal(w.code, 0)
  assert.ok(seen.includes(1), `a reader saw the database before the ingest committed (${seen})`)
  const final = JSON.parse(cli('query', '--db', path, '--json', sql).out) as {traces: number}[]
  assert.equal(Number(final[0]!.traces), 2)
  assert.equal(integrity(path), 'ok')
})

test('two ingests into one new database at the same time: both succeed, or one fails with a clear busy error (exit 3)', async () => {
  for (let round = 0; round < 3; round++) {
    const path = join(dir, `two-${round}.db`)
    const [a, b] = await Promise.all([
      cliAsync('ingest', PY_SMALL, '--db', path),
      cliAsync('ingest', XZ_SMALL, '--db', path),
    ])
    for (const r of [a, b]) {
      assertNoStack(r.err, 'concurrent ingest')
      assert.ok(r.code === 0 || (r.code === 3 && /busy|locked/i.test(r.err)), `exit ${r.code}: ${r.err}`)
    }
    assert.equal(integrity(path), 'ok')
    assert.equal(totals(path).traces, [a, b].filter((r) => r.code === 0).length)
  }
})

test(
  'two ingests of large traces into one existing database: both succeed, never corruption',
  needsReal(),
  async () => {
    const path = join(dir, 'two-big.db')
    openDb(path).close()
    const [a, b] = await Promise.all([
      cliAsync('ingest', BIG, '--db', path),
      (async () => (await sleep(100), cliAsync('ingest', PY_SMALL, '--db', path)))(),
    ])
    for (const r of [a, b]) assertHandled(r, 'concurrent ingest', [0, 3])
    assert.equal(integrity(path), 'ok')
    assert.equal(totals(path).traces, [a, b].filter((r) => r.code === 0).length)
  },
)

test('a writer blocked past the busy timeout exits 3 with a clear message, no stack trace', async () => {
  const path = join(dir, 'busy.db')
  const holder = openDb(path)
  holder.exec('BEGIN IMMEDIATE') // another writer holds the write lock for longer than the 5 s busy timeout
  try {
    const r = await cliAsync('ingest', PY_SMALL, '--db', path)
    assertHandled(r, 'ingest into a locked database', [3])
    assert.match(r.err, /busy|locked/i)
  } finally {
    holder.exec('ROLLBACK')
    holder.close()
  }
  assert.equal(integrity(path), 'ok')
  assert.equal(totals(path).traces, 0)
})
