// readOps: the merge of the paged fault scan with the other events and the syscalls comes out in exactly the
// order SQL gives for (ts_ns, event_id), across page boundaries, with ties and with timestamps that go backwards.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {openDb} from '../../src/store/db.js'
import {loadTrace} from '../../src/store/load.js'
import {readOps, TIME_INDEX_SQL, traceInfo} from '../../src/replay/stream.js'

const dir = mkdtempSync(join(tmpdir(), 'vmareplay-stream-'))
/** ftrace timestamps with 9 decimals (as perf --ns and some clocks print): exact ns past 2^53, as BigInt */
const line = (ns: bigint, body: string): string =>
  `           synth-100     (    100) [000] d....  ${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}: ${body}`
const fault = (ns: bigint, i: number): string => line(ns, `page_fault_user: address=0x${(0x7f0000000000 + i * 4096).toString(16)} ip=0x401000 error_code=0x6`)

/**
 * ~3 pages of faults, 7 per timestamp (ties straddle page ends), and syscalls between them, at epoch-scale
 * nanoseconds (1.7e18, where a double is 256 ns coarse) that differ in the last digit.
 */
function trace(name: string, backwards: boolean): string {
  const lines = ['# tracer: nop', '#']
  const N = 10_000
  for (let i = 0; i < N; i++) {
    // backwards: blocks of 1,000 faults in reverse time order, so the file order is not the time order
    const block = backwards ? 9 - Math.floor(i / 1000) : Math.floor(i / 1000)
    const us = 1_700_000_000_000_000_001n + BigInt(block * 1000 + Math.floor((i % 1000) / 7))
    lines.push(fault(us, i))
    if (i % 2500 === 1234) {
      lines.push(line(us, 'sys_enter: NR 11 (7f0000000000, 1000, 0, 0, 0, 0)'))
      lines.push(line(us, 'sys_exit: NR 11 = 0'))
    }
  }
  const path = join(dir, name)
  writeFileSync(path, lines.join('\n') + '\n')
  return path
}

for (const backwards of [false, true]) {
  test(`readOps gives (ts, event id) order across fault pages${backwards ? ', timestamps going backwards' : ''}`, async () => {
    const db = openDb(join(dir, `s-${backwards}.db`))
    const r = await loadTrace(db, trace(`t-${backwards}.txt`, backwards), {toolVersion: 'test'})
    assert.equal(r.status, 'ingested')
    const info = traceInfo(db, 1)
    assert.equal(info.monotonic, !backwards)
    if (backwards) db.exec(TIME_INDEX_SQL)
    const got: [string, number, number][] = []
    readOps(db, info, (op) => got.push([op.type, op.eventId, op.t]))
    const want = db
      .prepare(
        `SELECT CASE WHEN e.kind = 1 THEN 'fault' ELSE 'syscall' END, e.event_id, e.ts_ns - ? FROM events e
         WHERE e.kind = 1 OR e.event_id IN (SELECT enter_event_id FROM syscalls) ORDER BY e.ts_ns, e.event_id`,
      )
      .raw(true)
      .all(info.firstTsNs) as [string, number, number][]
    assert.equal(got.filter((o) => o[0] === 'fault').length, 10_000)
    assert.equal(got.filter((o) => o[0] === 'syscall').length, 4)
    assert.deepEqual(got, want)
    db.close()
  })
}
