// The replay-side commands as a user runs them: analyze, replay with a policy file and costs, policies.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

// oclif wraps error messages to the terminal width with a ' ›   ' prefix on each line: unwrap them
const run = (...args: string[]) => {
  const r = spawnSync('node', ['bin/run.js', ...args], {encoding: 'utf8'})
  return {...r, stderr: r.stderr.replace(/\s*\n\s*›\s*/g, ' ')}
}
const tmp = (): string => mkdtempSync(join(tmpdir(), 'vmareplay-cli-'))

test('analyze ingests, replays the default policies and reports them; a second run reuses the trace', () => {
  const db = join(tmp(), 'a.db')
  const first = run('analyze', 'traces/py_threads_small.trace.txt', '--db', db, '--json')
  assert.equal(first.status, 0, first.stderr)
  const r = JSON.parse(first.stdout) as {runs: {policy: string; faults: number}[]}
  assert.deepEqual(r.runs.map((x) => x.policy), ['mmap-lock', 'v6.4', 'v6.18', 'ideal'])
  assert.ok(r.runs.every((x) => x.faults === r.runs[0]!.faults && x.faults > 3000))
  const second = run('analyze', 'traces/py_threads_small.trace.txt', '--db', db, '--policy', 'v6.18')
  assert.equal(second.status, 0, second.stderr)
  const traces = JSON.parse(run('traces', '--db', db, '--json').stdout) as unknown[]
  assert.equal(traces.length, 1, 'the same trace is not ingested twice')
})

test('a policy file changes what it says: fork no longer write-locks the parent VMAs', () => {
  const dir = tmp()
  const db = join(dir, 'p.db')
  const file = join(dir, 'nofork.json')
  writeFileSync(file, JSON.stringify({name: 'no-fork-lock', base: 'v6.18', kernel: {forkWriteLocksParent: false}}))
  assert.equal(run('ingest', 'traces/py_threads_small.trace.txt', '--db', db).status, 0)
  const out = run('replay', '--db', db, '--policy', 'v6.18', '--policy-file', file, '--json')
  assert.equal(out.status, 0, out.stderr)
  const runs = JSON.parse(out.stdout) as {policy: string; runId: number}[]
  assert.deepEqual(runs.map((x) => x.policy), ['v6.18', 'no-fork-lock'])
  const pj = JSON.parse(run('query', '--db', db, '--json', `SELECT policy_json FROM runs WHERE run_id = ${runs[1]!.runId}`).stdout) as {policy_json: string}[]
  assert.equal((JSON.parse(pj[0]!.policy_json) as {generation: {forkWriteLocksParent: boolean}}).generation.forkWriteLocksParent, false)
})

test('bad policy names, policy files and cost files are refused with a message, not a stack trace', () => {
  const dir = tmp()
  const db = join(dir, 'b.db')
  assert.equal(run('ingest', 'traces/py_threads_small.trace.txt', '--db', db).status, 0)
  const unknown = run('replay', '--db', db, '--policy', 'v9.99')
  assert.equal(unknown.status, 2)
  assert.match(unknown.stderr, /unknown policy 'v9.99'; known: mmap-lock/)
  const badKnob = join(dir, 'bad.json')
  writeFileSync(badKnob, JSON.stringify({name: 'x', knobs: {fastPth: 'none'}}))
  const k = run('replay', '--db', db, '--policy-file', badKnob)
  assert.equal(k.status, 2)
  assert.match(k.stderr, /unknown knob 'fastPth'/)
  const costs = join(dir, 'costs.json')
  writeFileSync(costs, JSON.stringify({anonFaultNs: -5}))
  const c = run('replay', '--db', db, '--costs', costs)
  assert.equal(c.status, 2)
  assert.match(c.stderr, /'anonFaultNs' must be a non-negative number/)
  for (const r of [unknown, k, c]) assert.doesNotMatch(r.stderr, /at .*\.js:\d+/)
})

test('policies lists every built-in policy with its generation', () => {
  const out = run('policies', '--json')
  assert.equal(out.status, 0)
  const list = JSON.parse(out.stdout) as {name: string; generation: {name: string}}[]
  assert.deepEqual(list.map((p) => p.name), ['mmap-lock', 'v6.4', 'v6.6', 'v6.7', 'v6.10', 'v6.15', 'v6.18', 'spf', 'ideal'])
  assert.equal(list.find((p) => p.name === 'v6.4')!.generation.name, '6.4')
})
