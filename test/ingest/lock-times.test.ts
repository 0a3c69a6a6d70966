// syscalls.lock_wait_ns / lock_hold_ns: the calling thread's mmap_lock waits and holds inside each syscall, as the
// trace's own mmap_lock events show them (track.ts), on hand-written lines worked out by hand and on a real capture
// against an independent scan of its events.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {openDb, type Db} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'

const REAL =
  process.env.VMAREPLAY_REAL_TRACES ?? fileURLToPath(new URL('../../../../shared/traces/real/', import.meta.url))

async function ingest(name: string, text: string): Promise<Db> {
  const dir = mkdtempSync(join(tmpdir(), 'vmareplay-locktimes-'))
  const file = join(dir, name)
  writeFileSync(file, text)
  const db = openDb(join(dir, 'a.db'))
  await loadTrace(db, file, {toolVersion: 'test'})
  return db
}

const line = (tid: number, ts: string, body: string): string =>
  `           app-${tid}   (    100) [000] .....   ${ts}: ${body}`
const lock = (what: string, write: boolean, extra = '', mm = '00000000deadbeef'): string =>
  `mmap_lock_${what}: mm=${mm} memcg_id=5 write=${write}${extra}`

test('a munmap that waited, took the lock, downgraded and released: wait to the acquire, hold through the downgrade', async () => {
  const db = await ingest(
    'munmap.trace.txt',
    [
      '# tracer: nop',
      line(100, '10.000010', 'sys_enter: NR 11 (7f0000000000, 1000, 0, 0, 0, 0)'),
      line(100, '10.000012', lock('start_locking', true)),
      line(100, '10.000020', lock('acquire_returned', true, ' success=true')), // waited 8 µs
      line(100, '10.000025', lock('acquire_returned', false, ' success=true')), // mmap_write_downgrade
      line(100, '10.000031', lock('released', false)), // held 11 µs in all
      line(100, '10.000040', 'sys_exit: NR 11 = 0'),
      line(101, '10.000050', 'sys_enter: NR 202 (0, 0, 0, 0, 0, 0)'), // futex: no lock events
      line(101, '10.000060', 'sys_exit: NR 202 = 0'),
      '',
    ].join('\n'),
  )
  const rows = db.prepare('SELECT name, lock_wait_ns, lock_hold_ns FROM syscalls ORDER BY syscall_id').all()
  assert.deepEqual(rows, [
    {name: 'munmap', lock_wait_ns: 8_000, lock_hold_ns: 11_000},
    {name: 'futex', lock_wait_ns: null, lock_hold_ns: null},
  ])
  db.close()
})

test("a fork holding the child's mm inside the parent's counts the hold once; a failed killable acquire holds nothing", async () => {
  const child = '00000000cafef00d'
  const db = await ingest(
    'fork.trace.txt',
    [
      '# tracer: nop',
      line(100, '20.000000', 'sys_enter: NR 57 (0, 0, 0, 0, 0, 0)'),
      line(100, '20.000001', lock('start_locking', true)),
      line(100, '20.000003', lock('acquire_returned', true, ' success=true')), // parent: 2 µs wait
      line(100, '20.000004', lock('start_locking', true, '', child)),
      line(100, '20.000005', lock('acquire_returned', true, ' success=true', child)), // child: 1 µs wait
      line(100, '20.000030', lock('released', true, '', child)),
      line(100, '20.000033', lock('released', true)), // held 30 µs, not 30 + 25
      line(100, '20.000040', 'sys_exit: NR 57 = 4242'),
      line(100, '20.000100', 'sys_enter: NR 10 (7f0000000000, 1000, 1, 0, 0, 0)'),
      line(100, '20.000101', lock('start_locking', true)),
      line(100, '20.000150', lock('acquire_returned', true, ' success=false')), // killed while waiting: 49 µs
      line(100, '20.000151', 'sys_exit: NR 10 = -4'),
      '',
    ].join('\n'),
  )
  const rows = db.prepare('SELECT name, lock_wait_ns, lock_hold_ns FROM syscalls ORDER BY syscall_id').all()
  assert.deepEqual(rows, [
    {name: 'fork', lock_wait_ns: 3_000, lock_hold_ns: 30_000},
    {name: 'mprotect', lock_wait_ns: 49_000, lock_hold_ns: 0},
  ])
  db.close()
})

test('a clock that goes backwards inside a call gives a zero wait or hold, never a negative one', async () => {
  const db = await ingest(
    'backwards.trace.txt',
    [
      '# tracer: nop',
      line(100, '30.000010', 'sys_enter: NR 10 (7f0000000000, 1000, 1, 0, 0, 0)'),
      line(100, '30.000012', lock('start_locking', true)),
      line(100, '30.000008', lock('acquire_returned', true, ' success=true')),
      line(100, '30.000005', lock('released', true)),
      line(100, '30.000020', 'sys_exit: NR 10 = 0'),
      '',
    ].join('\n'),
  )
  assert.deepEqual(db.prepare('SELECT lock_wait_ns, lock_hold_ns FROM syscalls').all(), [
    {lock_wait_ns: 0, lock_hold_ns: 0},
  ])
  db.close()
})

test(
  "on a real capture every syscall's lock times equal a scan of its own thread's lock events between its enter and exit",
  {skip: existsSync(REAL) ? false : `no ${REAL}`},
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmareplay-locktimes-'))
    const db = openDb(join(dir, 'a.db'))
    await loadTrace(db, join(REAL, 'sqlite_mmap_scan.trace.txt'), {toolVersion: 'test'})
    const calls = db
      .prepare(
        'SELECT tid, enter_event_id, exit_event_id, lock_wait_ns, lock_hold_ns FROM syscalls WHERE enter_event_id IS NOT NULL AND exit_event_id IS NOT NULL',
      )
      .all() as {
      tid: number
      enter_event_id: number
      exit_event_id: number
      lock_wait_ns: number | null
      lock_hold_ns: number | null
    }[]
    const events = db.prepare(
      `SELECT kind, ts_ns, text AS mm, b AS success FROM events WHERE tid = ? AND event_id > ? AND event_id < ?
       AND kind IN (SELECT kind FROM event_kinds WHERE name IN ('lock_start', 'lock_acquire', 'lock_release')) ORDER BY event_id`,
    )
    const kinds = Object.fromEntries(db.prepare('SELECT name, kind FROM event_kinds').raw().all() as [string, number][])
    let withLocks = 0
    let held = 0
    for (const c of calls) {
      const evs = events.all(c.tid, c.enter_event_id, c.exit_event_id) as {
        kind: number
        ts_ns: number
        mm: string
        success: number | null
      }[]
      if (evs.length === 0) {
        assert.equal(c.lock_hold_ns, null)
        continue
      }
      // the reference: pair each start with the next acquire; hold from the first successful acquire of an mm not
      // held to the release that leaves none held
      let wait = 0
      let hold = 0
      let start: number | null = null
      let since = 0
      const holding = new Set<string>()
      for (const e of evs) {
        if (e.kind === kinds.lock_start) start = e.ts_ns
        else if (e.kind === kinds.lock_acquire) {
          if (start !== null) wait += e.ts_ns - start
          start = null
          if (e.success === 1 && !holding.has(e.mm)) {
            if (holding.size === 0) since = e.ts_ns
            holding.add(e.mm)
          }
        } else if (holding.delete(e.mm) && holding.size === 0) hold += e.ts_ns - since
      }
      withLocks++
      if (hold > 0) held++
      assert.deepEqual([c.lock_wait_ns, c.lock_hold_ns], [wait, hold], `syscall entered at event ${c.enter_event_id}`)
    }
    assert.ok(withLocks > 50 && held > 50, `${withLocks} syscalls with lock events, ${held} with a hold`)
    db.close()
  },
)
