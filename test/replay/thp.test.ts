// The recording machine as input. THP mode: the capture's meta file says what transparent_hugepage/enabled was; with `always`
// (Debian's 6.1 and 6.12 kernels) the first read of a 2 MiB-aligned range of a fresh anonymous VMA goes through
// do_huge_pmd_anonymous_page, whose vmf_anon_prepare needs an anon_vma (a mmap_read_trylock on 6.10+), where
// THP madvise reads the zero page under the VMA lock alone. CONFIG_BSD_PROCESS_ACCT: acct_collect read-locks a
// dying thread group's mm.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {openDb, type Db} from '../../src/store/db.js'
import {loadTrace, thpMode} from '../../src/ingest/load.js'
import {policyByName} from '../../src/replay/policies.js'
import {replayTrace} from '../../src/replay/run.js'

const line = (ts: string, body: string): string => `         python3-200     (    200) [001] .....   ${ts}: ${body}`
// a fresh 8 MiB anonymous mapping at a 2 MiB-aligned address, then a read of its second 2 MiB block
const TRACE =
  [
    line('10.000001', 'sys_mmap(addr: 0, len: 0x800000, prot: 3, flags: 0x22, fd: 0xffffffff, off: 0)'),
    line('10.000005', 'sys_mmap -> 0x7f0000000000'),
    line('10.000100', 'page_fault_user: address=0x7f0000200010 ip=0x401000 error_code=0x4'),
  ].join('\n') + '\n'

/** Ingests `trace` (beside `meta` as its capture meta file, if any), replays it once and reads from the result. */
async function replayed<T>(
  trace: string,
  meta: object | null,
  policy: string,
  thp: 'always' | 'madvise' | undefined,
  read: (db: Db, runId: number) => T,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'vmareplay-env-'))
  writeFileSync(join(dir, 'app.trace.txt'), trace)
  if (meta !== null) writeFileSync(join(dir, 'app.meta.json'), JSON.stringify(meta))
  const dbPath = join(dir, 'a.db')
  const db = openDb(dbPath)
  try {
    const {summary} = (await loadTrace(db, join(dir, 'app.trace.txt'), {toolVersion: 'test'})) as {
      summary: {traceId: number}
    }
    const [run] = replayTrace(dbPath, db, summary.traceId, [policyByName(policy)], {
      mode: 'faithful',
      costs: {},
      toolVersion: 'test',
      thp,
    })
    return read(db, run!.runId)
  } finally {
    db.close()
  }
}

const environmentOf = (db: Db): unknown => db.prepare('SELECT environment FROM traces').pluck().get()

function reasons(thpLine: string | null, override?: 'always' | 'madvise'): Promise<{env: unknown; reason: string}> {
  const meta =
    thpLine === null ? null : {kernel: {release: '6.12.115+deb12-amd64'}, environment: {thp: {enabled: thpLine}}}
  return replayed(TRACE, meta, 'v6.10', override, (db, runId) => ({
    env: environmentOf(db),
    reason: db.prepare('SELECT reason FROM fault_outcomes WHERE run_id = ?').pluck().get(runId) as string,
  }))
}

test('thpMode reads the bracketed choice as sysfs prints it', () => {
  assert.equal(thpMode('[always] madvise never'), 'always')
  assert.equal(thpMode('always [madvise] never\n'), 'madvise')
  assert.equal(thpMode('never'), 'never')
  assert.equal(thpMode('sometimes'), null)
  assert.equal(thpMode(undefined), null)
})

test('THP always from the capture meta: the aligned first read needs an anon_vma (trylock); madvise: zero page, ok', async () => {
  const always = await reasons('[always] madvise never')
  assert.equal(always.env, '{"thp":"always"}')
  assert.equal(always.reason, 'anon_vma_trylock')
  const madvise = await reasons('always [madvise] never')
  assert.equal(madvise.reason, 'ok')
  const none = await reasons(null)
  assert.equal(none.env, null)
  assert.equal(none.reason, 'ok')
})

test('--thp overrides the recorded mode (a what-if)', async () => {
  assert.equal((await reasons('[always] madvise never', 'madvise')).reason, 'ok')
  assert.equal((await reasons(null, 'always')).reason, 'anon_vma_trylock')
})

test('CONFIG_BSD_PROCESS_ACCT from the capture meta: without it the last exit takes one read section fewer', async () => {
  const trace = TRACE + line('10.000200', 'sched_process_exit: comm=python3 pid=200 prio=120 group_dead=true') + '\n'
  const reads = (acct: boolean | null): Promise<{env: unknown; reads: number; options: string}> =>
    replayed(
      trace,
      acct === null ? null : {kernel: {release: '6.18.4'}, environment: {thp: {enabled: null}, bsd_process_acct: acct}},
      'v6.18',
      undefined,
      (db, runId) => ({
        env: environmentOf(db),
        reads: db
          .prepare("SELECT value FROM run_counters WHERE run_id = ? AND name = 'mmap_lock.acquire.read'")
          .pluck()
          .get(runId) as number,
        options: db.prepare('SELECT options_json FROM runs WHERE run_id = ?').pluck().get(runId) as string,
      }),
    )
  const on = await reads(true)
  const off = await reads(false)
  const unknown = await reads(null)
  assert.equal(on.env, '{"bsdProcessAcct":true}')
  assert.equal(off.env, '{"bsdProcessAcct":false}')
  assert.equal(on.reads, off.reads + 1, 'acct_collect')
  assert.equal(unknown.reads, on.reads, 'unknown: on, as distributions build it')
  assert.match(off.options, /"bsdProcessAcct":false/)
  assert.doesNotMatch(on.options, /bsdProcessAcct/)
})
