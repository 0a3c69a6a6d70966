// The replay-side commands as a user runs them: analyze, replay with a policy file and costs, policies.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {cli} from '../cli.js'

const tmp = (): string => mkdtempSync(join(tmpdir(), 'vmareplay-cli-'))

test('analyze ingests, replays the default policies and reports them; a second run reuses the trace', () => {
  const db = join(tmp(), 'a.db')
  const first = cli('analyze', 'traces/py_threads_small.trace.txt', '--db', db, '--json')
  assert.equal(first.code, 0, first.err)
  const r = JSON.parse(first.out) as {runs: {policy: string; faults: number}[]}
  assert.deepEqual(
    r.runs.map((x) => x.policy),
    ['mmap-lock', 'v6.4', 'v6.18', 'ideal'],
  )
  assert.ok(r.runs.every((x) => x.faults === r.runs[0]!.faults && x.faults > 3000))
  const second = cli('analyze', 'traces/py_threads_small.trace.txt', '--db', db, '--policy', 'v6.18')
  assert.equal(second.code, 0, second.err)
  const traces = JSON.parse(cli('traces', '--db', db, '--json').out) as unknown[]
  assert.equal(traces.length, 1, 'the same trace is not ingested twice')
})

test('a policy file changes what it says: fork no longer write-locks the parent VMAs', () => {
  const dir = tmp()
  const db = join(dir, 'p.db')
  const file = join(dir, 'nofork.json')
  writeFileSync(file, JSON.stringify({name: 'no-fork-lock', base: 'v6.18', kernel: {forkWriteLocksParent: false}}))
  assert.equal(cli('ingest', 'traces/py_threads_small.trace.txt', '--db', db).code, 0)
  const out = cli('replay', '--db', db, '--policy', 'v6.18', '--policy-file', file, '--json')
  assert.equal(out.code, 0, out.err)
  const runs = JSON.parse(out.out) as {policy: string; runId: number}[]
  assert.deepEqual(
    runs.map((x) => x.policy),
    ['v6.18', 'no-fork-lock'],
  )
  const pj = JSON.parse(
    cli('query', '--db', db, '--json', `SELECT policy_json FROM runs WHERE run_id = ${runs[1]!.runId}`).out,
  ) as {policy_json: string}[]
  assert.equal(
    (JSON.parse(pj[0]!.policy_json) as {generation: {forkWriteLocksParent: boolean}}).generation.forkWriteLocksParent,
    false,
  )
})

test('bad policy names, policy files and cost files are refused with a message, not a stack trace', () => {
  const dir = tmp()
  const db = join(dir, 'b.db')
  assert.equal(cli('ingest', 'traces/py_threads_small.trace.txt', '--db', db).code, 0)
  const unknown = cli('replay', '--db', db, '--policy', 'v9.99')
  assert.equal(unknown.code, 2)
  assert.match(unknown.err, /unknown policy 'v9.99'; known: mmap-lock/)
  const badKnob = join(dir, 'bad.json')
  writeFileSync(badKnob, JSON.stringify({name: 'x', knobs: {fastPth: 'none'}}))
  const k = cli('replay', '--db', db, '--policy-file', badKnob)
  assert.equal(k.code, 2)
  assert.match(k.err, /unknown knob 'fastPth'/)
  assert.match(k.err, /known: .*retryUnderVmaLock.*stackGrowth/, 'the known knobs are every FaultPolicy field')
  writeFileSync(badKnob, JSON.stringify({name: 'x', knobs: {waitsDropVmaLock: 'no'}}))
  const t = cli('replay', '--db', db, '--policy-file', badKnob)
  assert.equal(t.code, 2)
  assert.match(t.err, /knob 'waitsDropVmaLock' must be a boolean/)
  const costs = join(dir, 'costs.json')
  writeFileSync(costs, JSON.stringify({anonFaultNs: -5}))
  const c = cli('replay', '--db', db, '--costs', costs)
  assert.equal(c.code, 2)
  assert.match(c.err, /'anonFaultNs' must be a non-negative number/)
  for (const r of [unknown, k, c]) assert.doesNotMatch(r.err, /at .*\.js:\d+/)
})

test('policies lists every built-in policy with its generation', () => {
  const out = cli('policies', '--json')
  assert.equal(out.code, 0)
  const list = JSON.parse(out.out) as {name: string; generation: {name: string}}[]
  assert.deepEqual(
    list.map((p) => p.name),
    ['mmap-lock', 'v6.4', 'v6.6', 'v6.7', 'v6.10', 'v6.15', 'v6.18', 'spf', 'spf-rcu-file', 'ideal'],
  )
  assert.equal(list.find((p) => p.name === 'v6.4')!.generation.name, '6.4')
})

test("--calibrate-holds sizes syscall holds from the trace's mmap_lock events, and says so when a trace has none", () => {
  const dir = tmp()
  const db = join(dir, 'c.db')
  assert.equal(cli('ingest', 'traces/py_threads_small.trace.txt', '--db', db).code, 0)
  const model = cli('replay', '--db', db, '--policy', 'mmap-lock', '--json')
  const calibrated = cli('replay', '--db', db, '--policy', 'mmap-lock', '--calibrate-holds', '--json')
  assert.equal(calibrated.code, 0, calibrated.err)
  assert.doesNotMatch(calibrated.err, /calibrate/)
  const [m, c] = [model, calibrated].map((r) => (JSON.parse(r.out) as {runId: number}[])[0]!.runId)
  const q = (sql: string): unknown[] => JSON.parse(cli('query', '--db', db, '--json', sql).out) as unknown[]
  assert.deepEqual(
    q(
      `SELECT json_extract(options_json, '$.calibrateHolds') AS c FROM runs WHERE run_id IN (${m}, ${c}) ORDER BY run_id`,
    ),
    [{c: null}, {c: 1}],
  )
  // the calibrated write holds are what the trace's lock events measured, to the ns: every write-locking syscall
  // there is replayed, and no fault takes mmap_lock for write
  const measured = q(
    `SELECT sum(lock_hold_ns) AS ns FROM syscalls WHERE name IN ('mmap', 'mprotect', 'brk') AND exit_ts_ns IS NOT NULL`,
  )[0] as {ns: number}
  const held = (run: number, op: string): number =>
    (q(`SELECT total(hold_ns) AS ns FROM op_lock_holds WHERE run_id = ${run} AND op = '${op}'`)[0] as {ns: number}).ns
  assert.equal(held(c, 'mmap') + held(c, 'mprotect') + held(c, 'brk'), measured.ns)
  assert.ok(held(m, 'mmap') < held(c, 'mmap'), 'the cost table holds mmap for less than this trace measured')
  // reports tell the two runs of one policy apart
  const cmp = cli('compare', '--db', db, '--runs', `${m},${c}`)
  assert.match(
    cmp.out,
    new RegExp(
      `= run ${m} \\(trace 1, mmap-lock, faithful\\);.*= run ${c} \\(trace 1, mmap-lock, faithful, calibrated holds\\)`,
    ),
  )

  const bare = join(dir, 'nolocks.trace.txt')
  writeFileSync(
    bare,
    [
      '# tracer: nop',
      '           app-100   (    100) [000] .....   1.000000: sys_enter: NR 9 (0, 1000, 3, 22, ffffffff, 0)',
      '           app-100   (    100) [000] .....   1.000010: sys_exit: NR 9 = 139719139581952',
      '',
    ].join('\n'),
  )
  const warned = cli('analyze', bare, '--db', join(dir, 'n.db'), '--policy', 'v6.18', '--calibrate-holds')
  assert.equal(warned.code, 0, warned.err)
  assert.match(warned.err, /--calibrate-holds: trace 1 has no mmap_lock events inside its syscalls/)
})

test('analyze --policy v6.18,spf-rcu-file prints both sides of the trade: faults moved off mmap_lock and the deferred releases', () => {
  const db = join(tmp(), 'rcu.db')
  const r = cli('analyze', 'traces/py_threads_small.trace.txt', '--db', db, '--policy', 'v6.18,spf-rcu-file')
  assert.equal(r.code, 0, r.err)
  assert.match(r.out, /RCU-deferred vm_file release/)
  // the trace's two ->fault-without-->map_pages fallbacks under v6.18 complete under the VMA lock instead
  assert.match(
    r.out,
    /spf-rcu-file \(run 2\) vs v6\.18 \(run 1\), faithful: buys 2 fewer faults under mmap_lock \(49 → 47; v6\.18 had 2 file_no_map_pages fallbacks\)/,
  )
  assert.match(r.out, /costs \d+ deferred fputs, [1-9]\d* ->release calls run late on the last reference/)
  const j = JSON.parse(cli('report', 'contention', '--db', db, '--json').out) as {
    rcu_file: {runs: {deferred_fputs: number; delay_p50_ns: number; delay_max_ns: number; last_ref_late: number}[]}
  }
  const x = j.rcu_file.runs[0]!
  assert.ok(x.deferred_fputs > 0 && x.last_ref_late > 0)
  // every deferred fput waits at least the 10 ms minimum grace period, at most two of them (it queues behind a running one)
  assert.ok(x.delay_p50_ns >= 10_000_000 && x.delay_max_ns <= 20_000_000, JSON.stringify(x))
  const rows = JSON.parse(
    cli(
      'query',
      '--db',
      db,
      '--json',
      'SELECT count(*) AS n, sum(late_ns > 0) AS late FROM file_releases WHERE run_id = 1',
    ).out,
  ) as {n: number}[]
  assert.equal(rows[0]!.n, 0, 'the v6.18 run stores no file releases')
  const plain = JSON.parse(cli('report', 'contention', '--db', db, '--run', '1', '--json').out) as Record<
    string,
    unknown
  >
  assert.equal('rcu_file' in plain, false, 'a report without a deferring run has no rcu_file section')
})
