import {test, before, after} from 'node:test'
import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {openDb} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'
import {SMALL_TRACE, smallDb, type Fixture} from './fixture.js'
import {checkTrace} from '../export/validate-trace.js'
import {cli} from '../cli.js'

let fx: Fixture
const dir = mkdtempSync(join(tmpdir(), 'vmareplay-cli-'))
before(async () => {
  fx = await smallDb(['mmap-lock', 'v6.18'])
  fx.db.close()
})
after(() => undefined)

test('every new command has --help with examples', () => {
  for (const cmd of [['report', 'contention'], ['report', 'html'], ['compare'], ['export']]) {
    const r = cli(...cmd, '--help')
    assert.equal(r.code, 0, r.err)
    assert.match(r.out, /EXAMPLES/, cmd.join(' '))
    assert.ok(r.out.includes(`vmareplay ${cmd.join(' ')}`), cmd.join(' '))
  }
})

test('empty database, database without runs, unknown run, unknown table: clear errors, exit 2', async () => {
  const empty = join(dir, 'empty.db')
  openDb(empty).close()
  let r = cli('report', 'contention', '--db', empty)
  assert.equal(r.code, 2)
  assert.match(r.err, /no trace in .*vmareplay ingest/)
  const noRuns = join(dir, 'noruns.db')
  const db = openDb(noRuns)
  await loadTrace(db, SMALL_TRACE, {toolVersion: 'test'})
  db.close()
  r = cli('compare', '--db', noRuns)
  assert.equal(r.code, 2)
  assert.match(r.err, /no replay run .*vmareplay replay/)
  r = cli('report', 'contention', '--db', fx.path, '--run', '99')
  assert.equal(r.code, 2)
  assert.match(r.err, /no run 99/)
  r = cli('export', '--db', fx.path, '--format', 'csv', '--table', 'nope')
  assert.equal(r.code, 2)
  assert.match(r.err, /no such table or view/)
  r = cli('compare', '--db', join(dir, 'missing.db'))
  assert.equal(r.code, 2)
  assert.match(r.err, /no database at/)
  r = cli('compare', '--db', fx.path, '--policies', 'v6.4')
  assert.equal(r.code, 2)
  assert.match(r.err, /no run with policy 'v6.4'/)
})

test('report contention and compare print tables with units, JSON and CSV; no colour codes', () => {
  const t = cli('report', 'contention', '--db', fx.path, '--top', '3')
  assert.equal(t.code, 0, t.err)
  assert.match(t.out, /p99 \(µs\)/)
  assert.ok(!t.out.includes('\x1b['))
  const j = JSON.parse(cli('report', 'contention', '--db', fx.path, '--json').out) as {
    runs: unknown[]
    blockers: unknown[]
    vmas: unknown[]
    threads: unknown[]
    processes: unknown[]
    waits: unknown[]
    paths: unknown[]
  }
  assert.equal(j.runs.length, 2)
  for (const k of ['paths', 'waits', 'blockers', 'vmas', 'threads', 'processes'] as const)
    assert.ok(Array.isArray(j[k]), k)
  const csv = cli('report', 'contention', '--db', fx.path, '--csv', 'blockers').out
  assert.match(csv.split('\r\n')[0]!, /^run_id,policy,rank,holder_event_id/)
  const c = cli('compare', '--db', fx.path, '--baseline', 'v6.18')
  assert.equal(c.code, 0, c.err)
  assert.match(c.out, /mmap-lock \(Δ\)/)
  assert.match(c.out, /v6\.18 \(baseline\)/)
  const cj = JSON.parse(cli('compare', '--db', fx.path, '--json').out) as {baseline: string; rows: unknown[]}
  assert.equal(cj.baseline, 'mmap-lock')
})

test('export writes a Perfetto file and says how to open it', () => {
  const out = join(dir, 'run.json')
  const r = cli('export', '--db', fx.path, '--format', 'perfetto-json', '--faults', 'slow', '--out', out)
  assert.equal(r.code, 0, r.err)
  assert.match(r.err, /ui\.perfetto\.dev/)
  assert.ok(existsSync(out))
  checkTrace(readFileSync(out, 'utf8'))
})
