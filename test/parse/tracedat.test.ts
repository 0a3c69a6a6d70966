// trace.dat input against the text of the same buffer: each fixture pair in test/fixtures/tracedat was recorded
// once (traces/recipes/record_twins.py: one tracefs instance, `cat trace` then `trace-cmd extract -B`), so both
// files hold exactly the same ring-buffer records and must ingest to the same tables. The text prints mono-clock
// times rounded to microseconds (ns2usecs), so those are compared at that resolution; the x86-tsc twin's text
// prints raw counts and is compared exactly, derived tables (lock waits, ts columns) included.

import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {test} from 'node:test'
import {deflateSync} from 'node:zlib'
import {Kind} from '../../src/model/events.js'
import {parseTrace} from '../../src/parse/detect.js'
import {InputError} from '../../src/base/errors.js'
import {readDatMeta} from '../../src/parse/tracedat-header.js'
import {DatFile, inflate} from '../../src/parse/tracedat-io.js'
import {openDb, type Db} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'
import {CollectSink, tmpFile} from './helpers.js'

const FIX = fileURLToPath(new URL('../../../test/fixtures/tracedat/', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'vmareplay-tracedat-'))

/** A fixture decompressed into the temp directory. */
function unxz(name: string): string {
  const out = join(dir, name.replace(/\.xz$/, ''))
  writeFileSync(out, execFileSync('xz', ['-dc', join(FIX, name)], {maxBuffer: 1 << 28}))
  return out
}

const TWINS = [
  {name: 'py_threads', dat: 'py_threads.v6.dat.xz', version: '6', exact: false}, // 5 threads: mprotect splits, DONTNEED
  {name: 'py_mmap_cold', dat: 'py_mmap_cold.v7none.dat.xz', version: '7', exact: false}, // cold page cache: readahead
  {name: 'xz_T2', dat: 'xz_T2.v7zstd.dat.xz', version: '7', exact: false}, // 2 worker threads, a trace_marker write
  {name: 'py_threads_tsc', dat: 'py_threads_tsc.v7zstd.dat.xz', version: '7', exact: true}, // x86-tsc clock
]

async function ingest(db: Db, path: string): Promise<number> {
  const r = await loadTrace(db, path, {toolVersion: 'test'})
  assert.equal(r.status, 'ingested')
  return r.status === 'ingested' ? r.summary.traceId : -1
}

/** Rows of a per-trace table as JSON lines, in a stable order; `us` rounds the *ts* columns to µs as ns2usecs does. */
function rows(db: Db, sql: string, id: number): string[] {
  return (db.prepare(sql).all(id) as Record<string, unknown>[]).map((r) =>
    JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
  )
}

const US = (col: string): string => `((${col} + 500) / 1000) * 1000 AS ${col}`

for (const t of TWINS) {
  test(`trace.dat twin ${t.name}: the binary ingests to the same tables as the text of the same buffer`, async () => {
    const text = unxz(`${t.name}.trace.txt.xz`)
    const dat = unxz(t.dat)
    const db = openDb(join(dir, `${t.name}.db`))
    const a = await ingest(db, text)
    const b = await ingest(db, dat)
    const ts = (col: string): string => (t.exact ? col : US(col))
    const tsText = (col: string): string => col // the text's times are already whole µs (or raw counts)
    const cmp = (label: string, sql: (tsCol: (c: string) => string) => string): void => {
      const x = rows(db, sql(tsText), a)
      const y = rows(db, sql(ts), b)
      assert.ok(x.length > 0, `${label}: no rows`)
      assert.deepEqual(y, x, label)
    }
    cmp(
      'events',
      (c) =>
        `SELECT ${c('ts_ns')}, tid, tgid, cpu, kind, a, b, c, d, e, f, text FROM events WHERE trace_id = ? ORDER BY event_id`,
    )
    cmp('event_counts', () => `SELECT name, known, count FROM event_counts WHERE trace_id = ? ORDER BY name`)
    cmp('threads', () => `SELECT tid, tgid, comm, events FROM threads WHERE trace_id = ? ORDER BY tid`)
    cmp(
      'processes',
      () => `SELECT tgid, parent_tgid, comm, exec_filename, threads FROM processes WHERE trace_id = ? ORDER BY tgid`,
    )
    cmp('mms', () => `SELECT mm, owner_tgid, lock_events FROM mms WHERE trace_id = ? ORDER BY mm, first_ts_ns`)
    cmp(
      'syscalls',
      () =>
        `SELECT tid, tgid, nr, name, arg0, arg1, arg2, arg3, arg4, arg5, ret, clone_flags FROM syscalls WHERE trace_id = ? ORDER BY syscall_id`,
    )
    if (t.exact) {
      cmp(
        'syscalls, exact',
        () =>
          `SELECT enter_ts_ns, exit_ts_ns, lock_wait_ns, lock_hold_ns FROM syscalls WHERE trace_id = ? ORDER BY syscall_id`,
      )
      cmp('threads, exact', () => `SELECT tid, first_ts_ns, last_ts_ns FROM threads WHERE trace_id = ? ORDER BY tid`)
    }
    const [ta, tb] = [a, b].map(
      (id) => db.prepare('SELECT * FROM traces WHERE trace_id = ?').get(id) as Record<string, unknown>,
    )
    // every ring-buffer record is one line: the count the text's header gives (entries-in-buffer), read independently
    const header = /entries-in-buffer\/entries-written: (\d+)\/(\d+)/.exec(readFileSync(text, 'utf8'))!
    assert.equal(tb!.lines, Number(header[1]))
    assert.equal(header[1], header[2], 'nothing was lost in this recording')
    for (const k of ['events', 'faults', 'kernel_faults', 'unknown_events', 'lost_events', 'malformed_lines'])
      assert.equal(tb![k], ta![k], k)
    assert.equal(ta!.malformed_lines, 0)
    assert.equal(tb!.format, 'tracedat')
    // trace-cmd 3.1 writes the top-level buffer's clock for an instance; the recording used `local` there
    assert.equal(tb!.clock, 'local')
    // the release in the file's UNAME option (strings(1) shows "Linux vm 6.18.44-fc-v1098 x86_64"): replay's default policy
    assert.equal(tb!.kernel_version, '6.18.44-fc-v1098')
    db.close()
  })
}

test('trace.dat: overwritten events are one lost window where the kernel marked the page, with the count it stored', async () => {
  const text = unxz('py_threads_overwrite.trace.txt.xz')
  const sink = new CollectSink()
  const stats = await parseTrace(unxz('py_threads_overwrite.v7zstd.dat.xz'), sink)
  // the text header's entries-written minus entries-in-buffer is the same loss, counted by the kernel
  const [, inBuf, written] = /entries-in-buffer\/entries-written: (\d+)\/(\d+)/
    .exec(readFileSync(text, 'utf8'))!
    .map(Number)
  assert.equal(sink.losts.length, 1)
  assert.equal(sink.losts[0]!.count, written! - inBuf!)
  assert.equal(sink.losts[0]!.cpu, 1) // the text's `##### CPU 1 buffer started ####`
  const first = sink.events.find((e) => e.cpu === 1)!
  assert.equal(sink.losts[0]!.line, first.line) // reported before CPU 1's first record
  assert.equal(stats.lines, inBuf) // the records that survived
  assert.equal(sink.problems.length, 0)
})

test('trace.dat twins exercise what the decoders cover', async () => {
  const sink = new CollectSink()
  await parseTrace(unxz('xz_T2.v7zstd.dat.xz'), sink)
  const kinds = new Set(sink.events.map((e) => e.kind))
  for (const k of [
    Kind.FaultUser,
    Kind.FaultKernel,
    Kind.SysEnter,
    Kind.SysExit,
    Kind.SysArgs,
    Kind.SysRet,
    Kind.LockStart,
    Kind.LockAcquire,
    Kind.LockRelease,
    Kind.UnmappedArea,
    Kind.ExitMmap,
    Kind.Exec,
    Kind.Exit,
    Kind.NewTask,
    Kind.Marker,
  ])
    assert.ok(kinds.has(k), `kind ${k}`)
  assert.deepEqual(
    sink.events.filter((e) => e.kind === Kind.Marker).map((e) => e.text),
    ['xz start: -T2 -1'],
  )
  const kfault = sink.events.find((e) => e.kind === Kind.FaultKernel)!
  assert.equal(kfault.b, null) // %ps printed a symbol: the ip is the name, as in the text
  assert.match(kfault.text!, /^[a-z_]\w+$/)
  assert.equal(sink.metas.get('tracedat_buffer')?.startsWith('vmr-twins-'), true)
  assert.equal(sink.metas.get('tracedat_compression'), 'zstd 1.5.4')
  assert.equal(sink.metas.get('trace_cmd_version'), '7')
  const cold = new CollectSink()
  await parseTrace(unxz('py_mmap_cold.v7none.dat.xz'), cold)
  const ra = cold.events.filter((e) => e.kind === Kind.Readahead || e.kind === Kind.PageCacheAdd)
  assert.ok(ra.length > 100)
  // add_to_page_cache's ofs= is index << PAGE_SHIFT: a multiple of the page size
  assert.ok(cold.events.filter((e) => e.kind === Kind.PageCacheAdd).every((e) => Number(e.b) % 4096 === 0))
})

/** The v7 uncompressed fixture with `edit` applied to its bytes; `at` gives the first page of a CPU with data. */
function corrupted(name: string, edit: (b: Buffer, firstPage: number, le: boolean) => void): string {
  const src = unxz('py_mmap_cold.v7none.dat.xz')
  const f = new DatFile(src)
  const meta = readDatMeta(f)
  f.close()
  const cpu = meta.buffers.flatMap((b) => b.cpus).find((c) => c.size > 0)!
  const b = readFileSync(src)
  edit(b, cpu.offset, meta.le)
  const out = join(dir, name)
  writeFileSync(out, b)
  return out
}

/** File offsets of the first data record's entry header and payload on the page at `page` (after time extends). */
function firstRecord(b: Buffer, page: number): {hdr: number; payload: number} {
  let p = page + 16
  for (;;) {
    const type = b.readUInt32LE(p) & 31
    if (type === 30 || type === 31) p += 8
    else return {hdr: p, payload: type === 0 ? p + 8 : p + 4}
  }
}

test('trace.dat: a page whose commit overruns it is a problem with its CPU and offset; the rest imports', async () => {
  const good = new CollectSink()
  await parseTrace(unxz('py_mmap_cold.v7none.dat.xz'), good)
  const sink = new CollectSink()
  await parseTrace(
    corrupted('bad-commit.dat', (b, page) => b.writeUInt32LE(0x7ffffff, page + 8)),
    sink,
  )
  assert.equal(sink.problems.length, 1)
  assert.match(sink.problems[0]!.reason, /page commit of 134217727 bytes overruns the 4080 data bytes/)
  assert.match(sink.problems[0]!.excerpt, /^CPU \d, page at file offset 0x[0-9a-f]+000$/)
  assert.ok(sink.events.length > 0 && sink.events.length < good.events.length)
})

test('trace.dat: a record of an unknown event id and a record overrunning its page are counted, not fatal', async () => {
  const sink = new CollectSink()
  await parseTrace(
    corrupted('bad-id.dat', (b, page) => b.writeUInt16LE(0xfffe, firstRecord(b, page).payload)),
    sink,
  )
  assert.deepEqual(
    sink.problems.map((p) => [p.line, p.reason]),
    [[sink.problems[0]!.line, 'record of event id 65534, which has no format in the file']],
  )
  assert.match(sink.problems[0]!.excerpt, /^CPU \d, page at file offset 0x[0-9a-f]+, entry at \+0x[0-9a-f]+$/)
  const over = new CollectSink()
  await parseTrace(
    corrupted('bad-len.dat', (b, page) => {
      // make the entry a type_len 0 record whose length word says 64 KiB
      const {hdr} = firstRecord(b, page)
      b.writeUInt32LE((b.readUInt32LE(hdr) & ~31) >>> 0, hdr)
      b.writeUInt32LE(65536, hdr + 4)
    }),
    over,
  )
  assert.ok(
    over.problems.some((p) => /record of 65532 bytes overruns the page data/.test(p.reason)),
    JSON.stringify(over.problems),
  )
})

test('trace.dat: a file cut inside the CPU data imports what is there and says where it was cut', async () => {
  // version 6 keeps the CPU data last (version 7 writes each buffer's options after its data: cut, it has none)
  const full = readFileSync(unxz('py_threads.v6.dat.xz'))
  const path = tmpFile('cut.dat', full.subarray(0, full.length - 3 * 4096 - 100))
  const sink = new CollectSink()
  await parseTrace(path, sink)
  assert.ok(
    sink.problems.some((p) =>
      /data is cut short: it should end at offset 0x[0-9a-f]+, the file ends at 0x[0-9a-f]+/.test(p.reason),
    ),
  )
  assert.ok(sink.events.length > 1000)
})

test('trace.dat: --format mismatches, compressed files and other versions get errors that say what to do', async () => {
  const dat = unxz('xz_T2.v7zstd.dat.xz')
  await assert.rejects(
    parseTrace(dat, new CollectSink(), {format: 'ftrace'}),
    (e: unknown) => e instanceof InputError && /binary trace\.dat.*drop --format/.test(e.message),
  )
  await assert.rejects(
    parseTrace(tmpFile('t.txt', 'ts_ns,tid,event\n1,2,marker\n'), new CollectSink(), {format: 'tracedat'}),
    (e: unknown) => e instanceof InputError && /not a trace\.dat/.test(e.message),
  )
  await assert.rejects(
    parseTrace(join(FIX, 'xz_T2.v7zstd.dat.xz'), new CollectSink()),
    (e: unknown) => e instanceof InputError && /compressed trace\.dat: decompress it first/.test(e.message),
  )
  const v5 = Buffer.from(readFileSync(dat))
  v5[10] = 0x35
  await assert.rejects(
    parseTrace(tmpFile('v5.dat', v5), new CollectSink()),
    (e: unknown) => e instanceof InputError && /file version 5; vmareplay reads versions 6 and 7/.test(e.message),
  )
  await assert.rejects(
    parseTrace(tmpFile('short.dat', v5.subarray(0, 30)), new CollectSink()),
    (e: unknown) => e instanceof InputError,
  )
})

test('trace.dat codecs: zlib blocks are compress2 (zlib) streams; a size mismatch is an error', () => {
  const data = Buffer.from('header_page\0'.repeat(50))
  assert.deepEqual(inflate('zlib', deflateSync(data), data.length, 'x'), data)
  assert.throws(
    () => inflate('zlib', deflateSync(data), data.length + 1, 'sec'),
    /sec: zlib data decompressed to 600 bytes, the header says 601/,
  )
  assert.throws(
    () => inflate('zstd', Buffer.from('not zstd at all'), 10, 'sec'),
    (e: unknown) => e instanceof InputError && e.code === 'DECOMPRESS',
  )
})
