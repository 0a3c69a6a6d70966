// Interrupted runs: `ingest` and `replay` killed (SIGKILL) at fixed delays, and ingest interrupted with SIGINT.
// Afterwards the database opens, integrity_check is ok and no partial trace or run is visible.
import {test, before} from 'node:test'
import assert from 'node:assert/strict'
import {join} from 'node:path'
import {openDb} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'
import {assertNoStack, BIG, integrity, needsReal, PY_SMALL, sleep, tmp, totals} from './helpers.js'
import {cli, exited, spawnCli} from '../cli.js'

// Ingest of BIG takes about a second: the kills land before its end, except on a very fast machine, where the
// test still checks that the trace is then complete (all-or-nothing either way).
const DELAYS = [100, 300, 600]
const dir = tmp('interrupt')
const replayDb = join(dir, 'replay.db')
let dbs = 0

/** A database that already holds another trace, so a kill must leave that one untouched too. */
async function ingestDb(): Promise<string> {
  const path = join(dir, `ingest-${++dbs}.db`)
  const db = openDb(path)
  await loadTrace(db, PY_SMALL, {toolVersion: 'test'})
  db.close()
  return path
}

before(async () => {
  if (needsReal().skip !== undefined) return
  const db = openDb(replayDb)
  await loadTrace(db, BIG, {toolVersion: 'test'})
  db.close()
})

async function killAfter(
  args: string[],
  ms: number,
  signal: NodeJS.Signals,
): Promise<{code: number | null; signal: NodeJS.Signals | null; err: string}> {
  const c = spawnCli(args)
  let err = ''
  c.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  c.stdout!.resume()
  await sleep(ms)
  c.kill(signal)
  const r = await exited(c)
  return {...r, err}
}

for (const ms of DELAYS)
  test(`ingest SIGKILLed after ${ms} ms leaves no partial trace`, needsReal(), async () => {
    const db = await ingestDb()
    const before = totals(db)
    const r = await killAfter(['ingest', BIG, '--db', db], ms, 'SIGKILL')
    assert.equal(integrity(db), 'ok')
    if (r.signal === 'SIGKILL') assert.deepEqual(totals(db), before)
    else {
      assert.equal(r.code, 0, 'ingest finished before the kill')
      assert.equal(totals(db).traces, before.traces + 1)
    }
  })

// All nine policies of BIG take ~4 s here (three took 2.3 s, too close to the last kill): the kills land mid-run.
const ALL_POLICIES = 'mmap-lock,v6.4,v6.6,v6.7,v6.10,v6.15,v6.18,spf,ideal'

for (const ms of [...DELAYS, 2000])
  test(`replay SIGKILLed after ${ms} ms leaves no partial run`, needsReal(), async () => {
    const before = totals(replayDb)
    const r = await killAfter(['replay', '--db', replayDb, '--policy', ALL_POLICIES], ms, 'SIGKILL')
    assert.equal(r.signal, 'SIGKILL', `replay finished before the kill (code ${r.code})`)
    assert.equal(integrity(replayDb), 'ok')
    assert.deepEqual(totals(replayDb), before)
  })

test(
  'ingest interrupted with SIGINT exits non-zero (or finishes), prints no stack trace, leaves the database consistent',
  needsReal(),
  async () => {
    const db = await ingestDb()
    const before = totals(db)
    const r = await killAfter(['ingest', BIG, '--db', db], 300, 'SIGINT')
    assertNoStack(r.err, 'ingest after SIGINT')
    assert.equal(integrity(db), 'ok')
    const after = totals(db)
    if (r.code === 0) assert.equal(after.traces, before.traces + 1)
    else {
      assert.ok(r.signal === 'SIGINT' || (r.code !== null && r.code !== 0), `code ${r.code} signal ${r.signal}`)
      assert.deepEqual(after, before)
    }
  },
)

test(
  'after an interruption the same trace ingests and replays completely (no stale lock or half-row blocks it)',
  needsReal(),
  async () => {
    const db = await ingestDb()
    const k = await killAfter(['ingest', BIG, '--db', db], 100, 'SIGKILL')
    assert.equal(k.signal, 'SIGKILL', 'the kill landed during the ingest')
    const before = totals(db)
    const r = cli('ingest', BIG, '--db', db, '--json')
    assert.equal(r.code, 0, r.err)
    const s = JSON.parse(r.out) as {status: string; events: number}
    assert.equal(s.status, 'ingested')
    const after = totals(db)
    assert.equal(after.traces, before.traces + 1)
    assert.equal(after.events, before.events + s.events)
    const rp = cli('replay', '--db', replayDb, '--policy', 'v6.18', '--json')
    assert.equal(rp.code, 0, rp.err)
    assert.equal(integrity(db), 'ok')
    assert.equal(integrity(replayDb), 'ok')
  },
)
