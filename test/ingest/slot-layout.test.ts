// The ingest slot layout round trip: rows the parse worker's SlotWriter encodes into the shared slots, decoded by
// the main thread's TraceWriter into SQLite, come back with every value in its own column. Each field of each row
// holds a value no other field has, so a field swapped on either side (or in the INSERT's column list) fails.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {openDb} from '../../src/store/db.js'
import {allocate, EVENT_SLOT_COLUMNS, Slot, SlotWriter, type BatchMessage} from '../../src/ingest/ingest-slots.js'
import {TraceWriter} from '../../src/ingest/ingest.js'
import {SYSCALL_COLUMNS, type SyscallRow} from '../../src/ingest/track.js'
import type {TraceEvent} from '../../src/model/events.js'

// full batches of TraceWriter (EVENT_BATCH, SYSCALL_BATCH), so that insertSlot itself writes every row
const EVENTS = 128
const SYSCALLS = 64

test('slot rows round-trip into their own columns (events and syscalls, numbers, nulls, 64-bit values)', () => {
  const db = openDb(join(mkdtempSync(join(tmpdir(), 'vmareplay-slots-')), 's.db'))
  const traceId = Number(
    db
      .prepare(
        `INSERT INTO traces (path, format, sha256, size_bytes, lines, events, faults, kernel_faults, malformed_lines,
           unknown_events, lost_events, lost_windows, monotonic, warnings, ingested_by)
         VALUES ('/t', 'ftrace', 'x', 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, '[]', 'test')`,
      )
      .run().lastInsertRowid,
  )
  const events: TraceEvent[] = Array.from({length: EVENTS}, (_, i) => {
    const v = (j: number): number => i * 1000 + j
    return {
      line: v(1),
      ts: i === 3 ? 2n ** 63n + 5n : v(2), // past 2^53 and 2^63: stored as its two's complement
      tid: v(3),
      tgid: i === 4 ? null : v(4),
      cpu: v(5),
      kind: (i % 20) + 1,
      comm: 'x',
      a: i === 5 ? -(2n ** 60n) : v(7),
      b: v(8),
      c: v(9),
      d: i === 6 ? null : v(10),
      e: v(11),
      f: v(12),
      text: i === 7 ? null : `text ${i}`,
    }
  })
  const syscalls: SyscallRow[] = Array.from({length: SYSCALLS}, (_, i) => {
    const row = {name: `call${i}`} as Record<string, unknown>
    SYSCALL_COLUMNS.forEach((c, j) => (row[c] = i === 2 && j === 7 ? 2n ** 62n + 1n : i * 1000 + j + 1))
    return row as unknown as SyscallRow
  })

  const {slots, ctl} = allocate()
  const sent: BatchMessage[] = []
  const out = new SlotWriter(slots, ctl, (m) => sent.push(m))
  for (const e of events) out.event(e)
  for (const s of syscalls) out.syscall(s)
  out.flush()
  assert.equal(sent.length, 1)
  const writer = new TraceWriter(db, traceId)
  writer.insertSlot(new Slot(slots[sent[0]!.slot]!), sent[0]!)

  const asSql = (v: unknown): unknown => (typeof v === 'bigint' ? BigInt.asIntN(64, v) : v)
  const evCols = [...EVENT_SLOT_COLUMNS.map(([c]) => c), 'text']
  const stored = db
    .prepare(`SELECT ${evCols.join(', ')} FROM events WHERE trace_id = ? ORDER BY event_id`)
    .safeIntegers(true)
    .raw(true)
    .all(traceId) as unknown[][]
  assert.equal(stored.length, EVENTS)
  const num = (v: unknown): unknown => (typeof v === 'bigint' && BigInt.asIntN(53, v) === v ? Number(v) : v)
  stored.forEach((row, i) => {
    const e = events[i]!
    const expected = [...EVENT_SLOT_COLUMNS.map(([, field]) => asSql(e[field])), e.text]
    // by name, not through the layout: a swapped pair in EVENT_SLOT_COLUMNS itself fails here too
    const byName = [e.line, e.ts, e.tid, e.tgid, e.cpu, e.kind, e.a, e.b, e.c, e.d, e.e, e.f, e.text].map(asSql)
    assert.deepEqual(expected, byName)
    assert.deepEqual(row.map(num), byName, `event ${i}`)
  })
  const sc = db
    .prepare(`SELECT name, ${SYSCALL_COLUMNS.join(', ')} FROM syscalls WHERE trace_id = ? ORDER BY syscall_id`)
    .safeIntegers(true)
    .raw(true)
    .all(traceId) as unknown[][]
  assert.equal(sc.length, SYSCALLS)
  sc.forEach((row, i) => {
    const s = syscalls[i]! as unknown as Record<string, unknown>
    assert.deepEqual(row.map(num), [s.name, ...SYSCALL_COLUMNS.map((c) => asSql(s[c]))], `syscall ${i}`)
  })
  db.close()
})
