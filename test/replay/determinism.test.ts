// Same trace and options in two separate processes → identical run digests (and a different policy → different).
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

function digests(policy: string, mode = 'faithful'): Record<string, string> {
  const db = join(mkdtempSync(join(tmpdir(), 'vmareplay-det-')), 'd.db')
  execFileSync('node', ['bin/run.js', 'ingest', 'traces/py_threads_small.trace.txt', '--db', db])
  const runs = JSON.parse(
    execFileSync('node', ['bin/run.js', 'replay', '--db', db, '--policy', policy, '--mode', mode, '--json']).toString(),
  ) as {policy: string; digest: string}[]
  return Object.fromEntries(runs.map((r) => [r.policy, r.digest]))
}

test('two separate processes replaying the same trace produce identical digests', () => {
  const a = digests('mmap-lock,v6.4,v6.18,spf,ideal', 'what-if')
  const b = digests('mmap-lock,v6.4,v6.18,spf,ideal', 'what-if')
  assert.deepEqual(a, b)
  assert.equal(new Set(Object.values(a)).size, 5, 'each policy gives its own outcome')
})
