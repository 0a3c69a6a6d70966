// perf lock contention / lock_stat habits in `report contention`, checked against the run tables directly.
import {test, before, after} from 'node:test'
import assert from 'node:assert/strict'
import {smallDb, type Fixture} from './fixture.js'
import {selectRuns} from '../../src/report/runs.js'
import {contentionReport} from '../../src/report/contention.js'
import {SORT_KEYS} from '../../src/report/lockstat.js'
import {lockContentionSeparated, renderContention} from '../../src/report/text.js'
import {cli} from '../cli.js'

let fx: Fixture
before(async () => {
  fx = await smallDb()
})
after(() => fx.db.close())

const report = (runId: number, top: number, opts = {}) =>
  contentionReport(fx.db, selectRuns(fx.db, fx.path, {runs: [runId]}), top, opts)

/** A wait's class computed in JS from its event, independently of the SQL in lockstat.ts. */
function classOf(op: string | null, ev: {kind: number; c: number | null} | undefined): string {
  if (op === null) return '(VMA readers)'
  if (op !== 'fault') return op
  return `${ev!.kind === 2 ? 'kernel fault' : 'fault'} ${(Number(ev!.c ?? 0) & 2) !== 0 ? 'write' : 'read'}`
}

function waitsOf(
  runId: number,
): {lock: string; mode: string; tgid: number; tid: number; wait_ns: number; waiter: string; holder: string}[] {
  const ev = fx.db.prepare('SELECT kind, c FROM events WHERE event_id = ?')
  return (fx.db.prepare('SELECT * FROM lock_waits WHERE run_id = ?').all(runId) as Record<string, never>[]).map(
    (w) => ({
      lock: w['lock'],
      mode: w['mode'],
      tgid: w['tgid'],
      tid: w['waiter_tid'],
      wait_ns: w['wait_ns'],
      waiter: classOf(
        w['waiter_op'],
        w['waiter_event_id'] === null ? undefined : (ev.get(w['waiter_event_id']) as {kind: number; c: number | null}),
      ),
      holder: classOf(
        w['holder_op'],
        w['holder_event_id'] === null ? undefined : (ev.get(w['holder_event_id']) as {kind: number; c: number | null}),
      ),
    }),
  )
}

test('lock contention rows are the waits grouped by lock, mode and waiting class, in each -k order', () => {
  const runId = fx.runIds['mmap-lock']!
  const waits = waitsOf(runId)
  assert.ok(waits.length > 20, 'the slow-fault fixture has waits')
  for (const key of SORT_KEYS) {
    const r = report(runId, 1000, {key})
    assert.equal(r.sort_key, key)
    // every wait is in exactly one row, with the right totals
    assert.equal(
      r.locks.reduce((s, l) => s + l.contended, 0),
      waits.length,
    )
    for (const l of r.locks) {
      const mine = waits.filter(
        (w) => w.lock === l.lock && `rwsem:${w.mode === 'read' ? 'R' : 'W'}` === l.type && w.waiter === l.caller,
      )
      assert.equal(l.contended, mine.length)
      assert.equal(
        l.wait_total_ns,
        mine.reduce((s, w) => s + w.wait_ns, 0),
      )
      assert.equal(l.wait_max_ns, Math.max(...mine.map((w) => w.wait_ns)))
      assert.equal(l.avg_wait_ns, Math.floor(l.wait_total_ns / l.contended))
    }
    const col = {contended: 'contended', wait_total: 'wait_total_ns', wait_max: 'wait_max_ns', avg_wait: 'avg_wait_ns'}[
      key
    ] as 'contended'
    for (let i = 1; i < r.locks.length; i++) assert.ok(r.locks[i - 1]![col] >= r.locks[i]![col], `${key} order`)
    // the blockers follow the same key
    const bcol = {contended: 'waits', wait_total: 'total_wait_ns', wait_max: 'max_wait_ns', avg_wait: null}[key] as
      'waits' | null
    if (bcol !== null)
      for (let i = 1; i < r.blockers.length; i++)
        assert.ok(r.blockers[i - 1]![bcol] >= r.blockers[i]![bcol], `blockers by ${key}`)
  }
  assert.ok(
    report(runId, 1000).locks.some((l) => l.caller.startsWith('fault ')),
    'faults are classed by their kind',
  )
  assert.equal(report(runId, 2).locks.length, 2, '-E limits the rows')
})

test('lock_stat splits waits and holds into read and write; the classes side by side add up', () => {
  const runId = fx.runIds['mmap-lock']!
  const waits = waitsOf(runId)
  const r = report(runId, 1000)
  for (const mode of ['read', 'write']) {
    const row = r.lockstat.find((l) => l.class === `mmap_lock-${mode === 'read' ? 'R' : 'W'}`)!
    const mine = waits.filter((w) => w.lock === 'mmap_lock' && w.mode === mode)
    assert.equal(row.contentions, mine.length)
    assert.equal(
      row.waittime_total_ns,
      mine.reduce((s, w) => s + w.wait_ns, 0),
    )
    const holds = fx.db
      .prepare(
        `SELECT count(*) AS n, sum(hold_ns) AS t FROM (SELECT hold_ns FROM op_lock_holds WHERE run_id = @r AND lock = 'mmap_lock' AND mode = @m
           UNION ALL SELECT hold_ns FROM fault_results WHERE run_id = @r AND hold_ns > 0 AND @m = 'read')`,
      )
      .get({r: runId, m: mode}) as {n: number; t: number}
    assert.equal(row.acquisitions, holds.n)
    assert.equal(row.holdtime_total_ns, holds.t)
    const classes = r.lockstat_classes.filter((c) => c.class === row.class)
    assert.equal(
      classes.reduce((s, c) => s + (c.waiter_waits ?? 0), 0),
      mine.length,
    )
    assert.equal(
      classes.reduce((s, c) => s + (c.holder_waits ?? 0), 0),
      mine.length,
    )
    for (const c of classes.filter((x) => x.holder_class !== null))
      assert.equal(
        c.holder_waits,
        mine.filter((w) => w.holder === c.holder_class).length,
        `${row.class} held by ${c.holder_class}`,
      )
  }
})

test('--pid, --tid and --read/--write keep only those waits (and holds), everywhere they apply', () => {
  const runId = fx.runIds['mmap-lock']!
  const waits = waitsOf(runId)
  const tid = waits[0]!.tid
  const byTid = report(runId, 1000, {filter: {tid}})
  assert.equal(
    byTid.locks.reduce((s, l) => s + l.contended, 0),
    waits.filter((w) => w.tid === tid).length,
  )
  assert.ok(byTid.threads.every((t) => t.tid === tid) && byTid.threads.length === 1)
  const heldWaits = fx.db
    .prepare('SELECT count(*) FROM lock_waits WHERE run_id = ? AND waiter_tid = ? AND holder_event_id IS NOT NULL')
    .pluck()
    .get(runId, tid) as number
  assert.equal(
    byTid.blockers.reduce((s, b) => s + b.waits, 0),
    heldWaits,
  )
  const ownHolds = fx.db
    .prepare(`SELECT count(*) FROM op_lock_holds WHERE run_id = ? AND tid = ? AND mode = 'write'`)
    .pluck()
    .get(runId, tid) as number
  assert.equal(byTid.lockstat.find((l) => l.class === 'mmap_lock-W')?.acquisitions ?? 0, ownHolds)
  const pid = waits[0]!.tgid
  assert.equal(
    report(runId, 1000, {filter: {pid}}).locks.reduce((s, l) => s + l.contended, 0),
    waits.filter((w) => w.tgid === pid).length,
  )
  const reads = report(runId, 1000, {filter: {mode: 'read'}})
  assert.ok(reads.locks.length > 0 && reads.locks.every((l) => l.type === 'rwsem:R'))
  assert.ok(reads.lockstat.every((l) => l.class.endsWith('-R')))
  assert.match(renderContention(reads, 5), /^Filtered to read waits/)
  const none = report(runId, 10, {filter: {tid: 999999}})
  assert.deepEqual([none.locks, none.lockstat, none.blockers, none.threads], [[], [], [], []])
})

test("-x SEP prints the lock contention rows with SEP between fields, raw ns; the CLI takes perf's flags", () => {
  const runId = fx.runIds['mmap-lock']!
  const r = report(runId, 3)
  const lines = lockContentionSeparated(r, ';').trimEnd().split('\n')
  assert.equal(lines[0], 'run_id;policy;contended;wait_total_ns;wait_max_ns;avg_wait_ns;type;lock;caller')
  assert.deepEqual(
    lines.slice(1),
    r.locks.map((l) =>
      [runId, l.policy, l.contended, l.wait_total_ns, l.wait_max_ns, l.avg_wait_ns, l.type, l.lock, l.caller].join(';'),
    ),
  )
  const r2 = cli(
    'report',
    'contention',
    '--db',
    fx.path,
    '--run',
    String(runId),
    '-k',
    'contended',
    '-E',
    '2',
    '-x',
    ',',
    '--write',
  )
  assert.equal(r2.code, 0, r2.err)
  const out = r2.out.trimEnd().split('\n')
  assert.equal(out.length, 3)
  assert.ok(out.slice(1).every((l) => l.split(',')[6] === 'rwsem:W'))
  assert.ok(Number(out[1]!.split(',')[2]) >= Number(out[2]!.split(',')[2]))
  const bad = cli('report', 'contention', '--db', fx.path, '-k', 'wait_min')
  assert.equal(bad.code, 2)
  assert.match(bad.err, /--key=wait_min to be one of: contended, wait_total, wait_max, avg_wait/)
})
