// Interrupted runs: `ingest` and `replay` killed (SIGKILL) at fixed delays, and ingest interrupted with SIGINT.
// Afterwards the database opens, integrity_check is ok and no partial trace or run is visible.
import {test, before} from 'node:test'
import assert from 'node:assert/strict'
import {join} from 'node:path'
import {openDb} from '../../src/store/db.js'
import {loadTrace} from '../../src/store/load.js'
import {assertNoStack, BIG, cli, exited, integrity, needsReal, PY_SMALL, sleep, spawnCli, tmp, totals} from './helpers.js'

const DELAYS = [200, 600, 1200]
const dir = tmp('interrupt')
const ingestDb = join(dir, 'ingest.db')
const replayDb = join(dir, 'replay.db')

before(async () => {
  if (needsReal().skip !== undefined) return
  let db = openDb(ingestDb)
  await loadTrace(db, PY_SMALL, {toolVersion: 'test'})
  db.close()
  db = openDb(replayDb)
  await loadTrace(db, BIG, {toolVersion: 'test'})
  db.close()
})

async function killAfter(args: string[], ms: number, signal: NodeJS.Signals): Promise<{code: number | null; signal: NodeJS.Signals | null; err: string}> {
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
    const before = totals(ingestDb)
    const r = await killAfter(['ingest', BIG, '--db', ingestDb], ms, 'SIGKILL')
    assert.equal(r.signal, 'SIGKILL', `ingest finished before the kill (code ${r.code})`)
    assert.equal(integrity(ingestDb), 'ok')
    assert.deepEqual(totals(ingestDb), before)
  })

for (const ms of [...DELAYS, 2000])
  test(`replay SIGKILLed after ${ms} ms leaves no partial run`, needsReal(), async () => {
    const before = totals(replayDb)
    const r = await killAfter(['replay', '--db', replayDb, '--policy', 'mmap-lock,v6.18,ideal'], ms, 'SIGKILL')
    assert.equal(r.signal, 'SIGKILL', `replay finished before the kill (code ${r.code})`)
    assert.equal(integrity(replayDb), 'ok')
    assert.deepEqual(totals(replayDb), before)
  })

test('ingest interrupted with SIGINT exits non-zero (or finishes), prints no stack trace, leaves the database consistent', needsReal(), async () => {
  const before = totals(ingestDb)
  const r = await killAfter(['ingest', BIG, '--db', ingestDb], 1000, 'SIGINT')
  assertNoStack(r.err, 'ingest after SIGINT')
  assert.equal(integrity(ingestDb), 'ok')
  const after = totals(ingestDb)
  if (r.code === 0) assert.equal(after.traces, before.traces + 1)
  else {
    assert.ok(r.signal === 'SIGINT' || (r.code !== null && r.code !== 0), `code ${r.code} signal ${r.signal}`)
    assert.deepEqual(after, before)
  }
})

test('after the interruptions the same trace ingests and replays completely (no stale lock or half-row blocks it)', needsReal(), () => {
  const before = totals(ingestDb)
  const r = cli('ingest', BIG, '--db', ingestDb, '--json')
  assert.equal(r.code, 0, r.err)
  const s = JSON.parse(r.out) as {status: string; events: number}
  assert.equal(s.status, 'ingested')
  const after = totals(ingestDb)
  assert.equal(after.traces, before.traces + 1)
  assert.equal(after.events, before.events + s.events)
  const rp = cli('replay', '--db', replayDb, '--policy', 'v6.18', '--json')
  assert.equal(rp.code, 0, rp.err)
  assert.equal(integrity(ingestDb), 'ok')
  assert.equal(integrity(replayDb), 'ok')
})
