// A ~1M-event trace generated from real trace lines (bench/large.ts) ingests and replays through the CLI with the
// child's peak RSS under 300 MB. bench/large.ts runs the same for 50M events as a benchmark.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {rmSync} from 'node:fs'
import {join} from 'node:path'
import {writeLargeTrace} from '../../bench/large.js'
import {integrity, tmp} from './helpers.js'
import {runMeasured} from '../cli.js'

const EVENTS = 1_000_000
const RSS_LIMIT_MB = 300

test(`a ${EVENTS.toLocaleString('en-US')}-event trace ingests and replays in under ${RSS_LIMIT_MB} MB peak RSS`, async () => {
  const dir = tmp('large')
  const trace = join(dir, 'large.trace.txt')
  const db = join(dir, 'large.db')
  try {
    const t = writeLargeTrace(trace, EVENTS)
    assert.equal(t.events, EVENTS)
    const ing = await runMeasured(['ingest', trace, '--db', db, '--json'])
    assert.equal(ing.code, 0, ing.err)
    const s = JSON.parse(ing.out) as {events: number; malformedLines: number; unknownEvents: Record<string, number>}
    const rp = await runMeasured(['replay', '--db', db, '--policy', 'v6.18', '--json'])
    assert.equal(rp.code, 0, rp.err)
    const [run] = JSON.parse(rp.out) as {faults: number; ops: number}[]
    console.log(
      `large trace: ${EVENTS} lines (${(t.bytes / 2 ** 20).toFixed(0)} MB, ${t.copies} copies): ingest peak RSS ${ing.peakRssMb.toFixed(0)} MB, replay peak RSS ${rp.peakRssMb.toFixed(0)} MB, ${run!.faults} faults replayed`,
    )
    assert.equal(
      s.events + Object.values(s.unknownEvents).reduce((a, b) => a + b, 0),
      EVENTS,
      'every line is an event (used or unknown)',
    )
    assert.equal(s.malformedLines, 0)
    assert.ok(run!.faults > 300_000, `faults ${run!.faults}`)
    assert.ok(ing.peakRssMb > 0 && ing.peakRssMb < RSS_LIMIT_MB, `ingest peak RSS ${ing.peakRssMb} MB`)
    assert.ok(rp.peakRssMb > 0 && rp.peakRssMb < RSS_LIMIT_MB, `replay peak RSS ${rp.peakRssMb} MB`)
    assert.equal(integrity(db), 'ok')
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})
