import assert from 'node:assert/strict'
import {test} from 'node:test'
import {gzipSync} from 'node:zlib'
import {Kind} from '../../src/model/events.js'
import {detectLine, parseTrace} from '../../src/parse/detect.js'
import {InputError} from '../../src/base/errors.js'
import {MAX_LINE_BYTES} from '../../src/parse/lines.js'
import {CollectSink, tmpFile} from './helpers.js'

test('detectLine recognises each format and stays undecided on neutral lines', () => {
  assert.equal(detectLine('# tracer: nop'), 'ftrace')
  assert.equal(detectLine('cpus=2'), 'ftrace')
  assert.equal(detectLine('         python3-13697   (  13697) [001] .....  2024.398183: sys_exit: NR 9 = 0'), 'ftrace')
  assert.equal(detectLine('  python3-13697 [000]  2024.396510: sys_exit: NR 257 = 3'), 'ftrace')
  assert.equal(
    detectLine(
      '              xz  9481 [001]   910.445405:    mmap_lock:mmap_lock_start_locking: mm=0xffff888104313200 memcg_id=5414 write=true',
    ),
    'perf',
  )
  assert.equal(
    detectLine('         python3 11163/11163 [001]  1244.759198: PERF_RECORD_COMM exec: python3:11163/11163'),
    'perf',
  )
  assert.equal(detectLine('ts_ns,tid,tgid,cpu,comm,event,address'), 'csv')
  assert.equal(detectLine('event,"tid",ts_ns'), 'csv')
  for (const neutral of ['', '   ', '#', '# ========', 'Attaching 3 probes...', 'ts,tid,event'])
    assert.equal(detectLine(neutral), null, neutral)
})

test('parseTrace: detects past a preamble, feeds the held-back lines with their numbers, reports stats', async () => {
  const text = [
    '',
    '# captured by hand',
    '         python3-1       (      1) [000] d....     1.000001: page_fault_user: address=0x1000 ip=0x2000 error_code=0x6',
    '',
  ].join('\n')
  const sink = new CollectSink()
  const stats = await parseTrace(tmpFile('pre.txt.gz', gzipSync(text)), sink)
  assert.deepEqual(stats, {
    format: 'ftrace',
    lines: 3,
    bytes: text.length,
    fileBytes: stats.fileBytes,
    compression: 'gzip',
    unterminatedLastLine: false,
  })
  assert.deepEqual(
    sink.events.map((e) => [e.kind, e.line]),
    [[Kind.FaultUser, 3]],
  )
  assert.equal(sink.metas.get('format'), 'ftrace')
  assert.equal(sink.metas.get('compression'), 'gzip')
})

test('parseTrace: byte fast path and string path agree on a perf trace with a non-ASCII comm', async () => {
  const lines = [
    '         python3 11163/11163 [001]  1244.759198: PERF_RECORD_COMM exec: python3:11163/11163',
    '       naïve thr 11163/11164 [001]  1244.765125:           exceptions:page_fault_user: address=0x7f0000001000 ip=0x400000 error_code=0x6',
    '         python3 11163/11163 [000]  1244.765126:    mmap_lock:mmap_lock_start_locking: mm=0xffff8881043144c0 memcg_id=5414 write=true',
  ]
  const sink = new CollectSink()
  await parseTrace(tmpFile('p.perf.txt', lines.join('\n') + '\n'), sink)
  assert.deepEqual(sink.problems, [])
  assert.deepEqual(
    sink.events.map((e) => [e.line, e.comm, e.tid, e.tgid, e.a, e.text]),
    [
      [2, 'naïve thr', 11164, 11163, 0x7f0000001000, null],
      [3, 'python3', 11163, 11163, 1, '0xffff8881043144c0'],
    ],
  )
})

test('parseTrace: --format skips detection; an unterminated last line is flagged in the stats', async () => {
  const sink = new CollectSink()
  const stats = await parseTrace(tmpFile('forced.csv', 'ts_ns,tid,event\n1,2,marker'), sink, {format: 'csv'})
  assert.equal(stats.format, 'csv')
  assert.deepEqual(
    sink.events.map((e) => e.kind),
    [Kind.Marker],
  )
  assert.equal(stats.unterminatedLastLine, true)
})

test('parseTrace: a line over MAX_LINE_BYTES is a problem with its line number, not a cut event', async () => {
  const good =
    '         python3-11163   (  11163) [001] .....  2024.398183: page_fault_user: address=0x7f0000001000 ip=0x1 error_code=0x6'
  const sink = new CollectSink()
  const stats = await parseTrace(
    tmpFile('long-event.trace', `${good}\n${good} ${'x'.repeat(MAX_LINE_BYTES)}\n${good}\n`),
    sink,
  )
  assert.deepEqual(
    sink.events.map((e) => e.line),
    [1, 3],
  )
  assert.deepEqual(
    sink.problems.map((p) => p.line),
    [2],
  )
  assert.match(sink.problems[0]!.reason, /longer than 4 MiB/)
  assert.match(sink.problems[0]!.excerpt, /^\s*python3-11163 /)
  assert.equal(stats.unterminatedLastLine, false)
  // before the format is known too: the lines held back for detection keep their own numbers
  const early = new CollectSink()
  await parseTrace(
    tmpFile('long-first.trace', `# captured by hand\n${'y'.repeat(MAX_LINE_BYTES + 10)}\n${good}\n${good}\n`),
    early,
  )
  assert.deepEqual(
    early.problems.map((p) => p.line),
    [2],
  )
  assert.deepEqual(
    early.events.map((e) => e.line),
    [3, 4],
  )
})

test('parseTrace: unknown format and empty files are InputErrors with guidance', async () => {
  await assert.rejects(
    parseTrace(tmpFile('junk.txt', 'hello\nworld\n'), new CollectSink()),
    (e: unknown) =>
      e instanceof InputError && e.code === 'UNKNOWN_FORMAT' && /--format/.test(e.message) && /"hello"/.test(e.message),
  )
  await assert.rejects(
    parseTrace(tmpFile('empty.trace', ''), new CollectSink()),
    (e: unknown) => e instanceof InputError && e.code === 'EMPTY',
  )
  await assert.rejects(
    parseTrace(tmpFile('blank.trace', '\n\n  \n'), new CollectSink()),
    (e: unknown) => e instanceof InputError && e.code === 'EMPTY',
  )
  await assert.rejects(
    parseTrace(tmpFile('empty-forced.trace', ''), new CollectSink(), {format: 'ftrace'}),
    (e: unknown) => e instanceof InputError && e.code === 'EMPTY',
  )
  const many = Array(1500).fill('not a trace').join('\n')
  await assert.rejects(
    parseTrace(tmpFile('junk-long.txt', many), new CollectSink()),
    (e: unknown) => e instanceof InputError && /first 1000 lines/.test(e.message),
  )
})
