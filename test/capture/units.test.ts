// Pure helpers of the capture: parsing tracefs values, loss accounting, paths, perf arguments, events.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {
  KFAULT_EVENTS,
  PAGECACHE_EVENTS,
  STD_EVENTS,
  parseAvailableEvents,
  requestedEvents,
  resolveEvents,
  splitEvent,
} from '../../src/capture/events.js'
import {defaultBufferKb} from '../../src/capture/ftrace.js'
import {normalize, writeValue} from '../../src/capture/journal.js'
import {FtraceScanner, defaultOut, lossOf, outputPaths, parseCpuStats} from '../../src/capture/output.js'
import {parsePerfStats, perfMmapPages, perfRecordArgs} from '../../src/capture/perf.js'
import {bufferKb, listOf, selected} from '../../src/capture/tracefs.js'

describe('tracefs value parsing', () => {
  it('selected / bufferKb / listOf', () => {
    assert.equal(selected('[local] global counter uptime perf mono\n'), 'local')
    assert.equal(selected('local global [mono] boot\n'), 'mono')
    assert.equal(selected('nop\n'), 'nop')
    assert.equal(bufferKb('7 (expanded: 1408)\n'), '1408')
    assert.equal(bufferKb('16384\n'), '16384')
    assert.equal(bufferKb('X\n'), 'X')
    assert.deepEqual(listOf('12 13\n14\n'), ['12', '13', '14'])
    assert.deepEqual(listOf('\n'), [])
  })

  it('normalize and writeValue per file kind', () => {
    assert.equal(normalize('trace_clock', '[mono] local'), 'mono')
    assert.equal(normalize('instances/x/buffer_size_kb', '7 (expanded: 1408)'), '1408')
    assert.equal(normalize('set_event_pid', '3\n1 2\n'), '3 1 2')
    assert.equal(normalize('events/a/b/filter', 'none\n'), 'none')
    assert.equal(normalize('options/record-tgid', '1\n'), '1')
    assert.equal(writeValue('events/a/b/filter', 'none'), '0')
    assert.equal(writeValue('events/a/b/filter', 'pid == 3'), 'pid == 3')
  })
})

describe('loss accounting', () => {
  it('parses per-CPU stats', () => {
    const s = parseCpuStats(
      1,
      'entries: 46990\noverrun: 2\ncommit overrun: 1\nbytes: 3\noldest event ts:  2024.3\nnow ts:  2025.8\ndropped events: 7\nread events: 0\n',
    )
    assert.deepEqual(s, {cpu: 1, entries: 46990, overrun: 2, commit_overrun: 1, dropped: 7})
  })

  it('scans header, LOST markers and buffer-started lines across chunk boundaries', () => {
    const sc = new FtraceScanner()
    const text =
      '# tracer: nop\n#\n# entries-in-buffer/entries-written: 10/12   #P:2\n##### CPU 1 buffer started ####\n a-1 [000] x\nCPU:0 [LOST 5 EVENTS]\nCPU:1 [LOST EVENTS]\nlast line without newline'
    for (let i = 0; i < text.length; i += 7) sc.push(Buffer.from(text.slice(i, i + 7)))
    const r = sc.end()
    assert.equal(r.lines, 8)
    assert.equal(r.bytes, text.length)
    assert.equal(r.entries_in_buffer, 10)
    assert.equal(r.entries_written, 12)
    assert.equal(r.lost_markers, 2)
    assert.equal(r.lost_marker_events, 5)
    assert.equal(r.buffer_started_markers, 1)
    const loss = lossOf(r, [{cpu: 0, entries: 1, overrun: 0, commit_overrun: 0, dropped: 3}])
    assert.equal(loss.lost, true)
    assert.equal(loss.reasons.length, 4)
  })

  it('no loss when the counters agree', () => {
    const sc = new FtraceScanner()
    sc.push(Buffer.from('# entries-in-buffer/entries-written: 94407/94407   #P:2\n'))
    assert.deepEqual(lossOf(sc.end(), [{cpu: 0, entries: 1, overrun: 0, commit_overrun: 0, dropped: 0}]), {
      lost: false,
      reasons: [],
    })
  })
})

describe('output names', () => {
  it('derives .meta.json and .maps like the corpus (node_attach.trace.txt + node_attach.maps)', () => {
    assert.deepEqual(outputPaths('traces/a.trace.txt'), {
      trace: 'traces/a.trace.txt',
      meta: 'traces/a.meta.json',
      maps: 'traces/a.maps',
    })
    assert.deepEqual(outputPaths('x.perf.txt'), {trace: 'x.perf.txt', meta: 'x.meta.json', maps: 'x.maps'})
    assert.deepEqual(outputPaths('x.log'), {trace: 'x.log', meta: 'x.log.meta.json', maps: 'x.log.maps'})
    assert.equal(defaultOut('perf', new Date(2025, 0, 2, 3, 4, 5)), 'vmareplay-20250102-030405.perf.txt')
    assert.equal(defaultOut('ftrace', new Date(2025, 0, 2, 3, 4, 5)), 'vmareplay-20250102-030405.trace.txt')
  })
})

describe('events', () => {
  it('std set is the corpus set: 12 + 24 syscall events', () => {
    assert.equal(STD_EVENTS.length, 36)
    assert.ok(STD_EVENTS.some((e) => e.name === 'syscalls:sys_exit_munlockall'))
    assert.equal(KFAULT_EVENTS[0].name, 'exceptions:page_fault_kernel')
    const all = requestedEvents({kfault: true, pagecache: true, extra: ['maple_tree:ma_write', 'mmap:exit_mmap']})
    assert.equal(all.length, 36 + 1 + PAGECACHE_EVENTS.length + 1)
    assert.equal(requestedEvents({kfault: false, pagecache: false, extra: []}).length, 36)
  })

  it('resolves against available_events', () => {
    const avail = parseAvailableEvents('exceptions:page_fault_user\nraw_syscalls:sys_enter\n')
    const r = resolveEvents(STD_EVENTS.slice(0, 3), avail)
    assert.deepEqual(
      r.enabled.map((e) => e.name),
      ['exceptions:page_fault_user', 'raw_syscalls:sys_enter'],
    )
    assert.deepEqual(
      r.missing.map((e) => e.name),
      ['raw_syscalls:sys_exit'],
    )
  })

  it('splitEvent validates names', () => {
    assert.deepEqual(splitEvent('mmap_lock:mmap_lock_released'), ['mmap_lock', 'mmap_lock_released'])
    for (const bad of ['x', ':y', 'x:', 'a:b:c', 'a:b c', '../x:y']) assert.throws(() => splitEvent(bad))
  })
})

describe('perf arguments', () => {
  it('mmap pages are a power of two', () => {
    assert.equal(perfMmapPages(131072), 32768)
    assert.equal(perfMmapPages(100), 32)
    assert.equal(perfMmapPages(4), 1)
  })

  it('launch and attach command lines', () => {
    assert.deepEqual(perfRecordArgs(['a:b', 'c:d'], {bufferKb: 65536, data: '/t/p.data', command: ['xz', '-T2']}), [
      'record',
      '-k',
      'mono',
      '-e',
      'a:b',
      '-e',
      'c:d',
      '-d',
      '-m',
      '16384',
      '-o',
      '/t/p.data',
      '--',
      'xz',
      '-T2',
    ])
    assert.deepEqual(perfRecordArgs(['a:b'], {bufferKb: 4096, data: 'd', pid: 42, ctl: ['c', 'k']}), [
      'record',
      '-k',
      'mono',
      '-e',
      'a:b',
      '-d',
      '-m',
      '1024',
      '-o',
      'd',
      '-p',
      '42',
      '-D',
      '-1',
      '--control',
      'fifo:c,k',
    ])
  })

  it('parses perf report --stats', () => {
    const text =
      '\nAggregated stats:\n           TOTAL events:      14777\n            LOST events:          3  ( 0.0%)\n    LOST_SAMPLES events:          9\n'
    assert.deepEqual(parsePerfStats(text), {total: 14777, lost: 3, lost_samples: 9})
    assert.deepEqual(parsePerfStats('TOTAL events: 5\n'), {total: 5, lost: 0, lost_samples: 0})
  })
})

describe('buffer default', () => {
  it('128 MiB per CPU unless memory is short, never below 4 MiB', () => {
    assert.equal(defaultBufferKb(2, 24_000_000), 131072)
    assert.equal(defaultBufferKb(2, 1_000_000), 122 * 1024)
    assert.equal(defaultBufferKb(64, 1_000_000), 4096)
  })
})
