// The filemap tracepoints of 6.3+ (mm_filemap_fault, mm_filemap_map_pages) are stored with their file and offsets,
// and a fault whose handler ran again after filemap_fault (VM_FAULT_RETRY for I/O, then do_read_fault's
// fault-around once more) is marked as having waited for I/O. Lines from a real 6.12 lab trace (file_mmap_scan).
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {openDb} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'
import {readOps, traceInfo} from '../../src/replay/stream.js'
import type {Op} from '../../src/model/ops.js'

const P = '         python3-187     (    187) [001]'
const LINES = [
  '# tracer: nop',
  '#',
  // fault-around mapped nothing usable, filemap_fault found the folio not ready and RETRYed: under mmap_lock the
  // retry faults around again (its mmap_lock events are left out here, as validate leaves them out)
  `${P} d....    13.475550: page_fault_user: address=0x964448 ip=0x4fcf20 error_code=0x4`,
  `${P} .....    13.475558: mm_filemap_map_pages: dev=0:23 ino=7f599 ofs=5632000-5697535`,
  `${P} .....    13.475565: mm_filemap_fault: dev=0:23 ino=7f599 ofs=5648384`,
  `${P} .....    13.475632: mm_filemap_map_pages: dev=0:23 ino=7f599 ofs=5632000-5697535`,
  // a write fault on a cached page: filemap_fault once, no second pass
  `${P} d....    13.475641: page_fault_user: address=0x964458 ip=0x4fdb09 error_code=0x7`,
  `${P} .....    13.475650: mm_filemap_fault: dev=0:23 ino=7f599 ofs=5648384`,
  // fault-around mapped the page: no filemap_fault at all
  `${P} d....    13.475667: page_fault_user: address=0x9a5078 ip=0x4fdb09 error_code=0x4`,
  `${P} .....    13.475670: mm_filemap_map_pages: dev=0:23 ino=7f599 ofs=5906432-5971967`,
  // a syscall ends the window: a filemap event after it belongs to no fault
  `${P} .....    13.475700: sys_enter: NR 0 (3, 7fe8931e2000, 1000, 0, 0, 0)`,
  `${P} .....    13.475710: mm_filemap_fault: dev=0:23 ino=7f599 ofs=0`,
  `${P} .....    13.475712: mm_filemap_map_pages: dev=0:23 ino=7f599 ofs=0-4095`,
  `${P} .....    13.475720: sys_exit: NR 0 = 4096`,
]

test('mm_filemap_fault / mm_filemap_map_pages: stored with file and byte offsets; a second handler pass after filemap_fault is I/O', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmareplay-filemap-'))
  const file = join(dir, 'filemap.trace.txt')
  writeFileSync(file, LINES.join('\n') + '\n')
  const db = openDb(join(dir, 'f.db'))
  const r = await loadTrace(db, file, {toolVersion: 'test'})
  assert.equal(r.status, 'ingested')
  const traceId = r.status === 'ingested' ? r.summary.traceId : 0
  assert.equal(r.status === 'ingested' ? r.summary.malformedLines : -1, 0)
  // include/trace/events/filemap.h prints index << PAGE_SHIFT, the range's end inclusive
  assert.deepEqual(
    db.prepare('SELECT ino, file_offset, last_offset FROM ev_filemap_map_pages ORDER BY event_id').raw(true).all()[0],
    [0x7f599, 5632000, 5697535],
  )
  assert.deepEqual(
    db.prepare('SELECT ino, file_offset FROM ev_filemap_fault ORDER BY event_id').raw(true).all()[0],
    [0x7f599, 5648384],
  )
  const faults: Op[] = []
  readOps(db, traceInfo(db, traceId), (op) => {
    if (op.type === 'fault') faults.push(op)
  })
  assert.deepEqual(
    faults.map((f) => (f.type === 'fault' ? [f.address, f.io] : null)),
    [
      [0x964448, true],
      [0x964458, false],
      [0x9a5078, false],
    ],
  )
  db.close()
})
