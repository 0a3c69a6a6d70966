import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {test} from 'node:test'
import {Kind} from '../../src/model/events.js'
import {InputError} from '../../src/base/errors.js'
import {importLines} from './helpers.js'

const csv = (text: string) => importLines('csv', text.split('\n'))

test('the example in docs/csv-format.md imports cleanly, with the fields it documents', () => {
  const doc = readFileSync(new URL('../../../docs/csv-format.md', import.meta.url), 'utf8')
  const block = /```csv\n([\s\S]*?)```/.exec(doc)![1]!
  const s = csv(block)
  assert.deepEqual(s.problems, [])
  assert.deepEqual(
    s.events.map((e) => [e.kind, e.ts, e.tid, e.tgid, e.a, e.b, e.c, e.text]),
    [
      [Kind.SysEnter, 2024398183000, 13697, 13697, 9, 0, 0x2000, '0, 2000, 3, 22, ffffffff, 0'],
      [Kind.SysArgs, 2024398183000, 13697, 13697, 9, 0, 0x2000, 'mmap'],
      [Kind.LockStart, 2024398184000, 13697, 13697, 1, null, 5414, '00000000ff572df2'],
      [Kind.LockAcquire, 2024398185000, 13697, 13697, 1, 1, 5414, '00000000ff572df2'],
      [Kind.LockRelease, 2024398187000, 13697, 13697, 1, null, 5414, '00000000ff572df2'],
      [Kind.SysRet, 2024398188000, 13697, 13697, 9, 0x7f12f7b6a000, null, 'mmap'],
      [Kind.SysExit, 2024398188000, 13697, 13697, 9, 139719139581952, null, null],
      [Kind.FaultUser, 748347969000, 8505, 8502, 0x7fcf8d8e8000, 0x7fcfa79df345, 6, null],
    ],
  )
  assert.equal(s.events[7]!.comm, 'python 3, worker')
})

test('happy path: any column order, quoted newlines, comments, inferred TGID, 64-bit values, lost rows', () => {
  const s = csv(
    [
      '# converted by my-tool',
      'event,tid,ts_ns,comm,pid,clone_flags,child_comm,address,ip,error_code,cpu,count,start,len,perms,path',
      'task_newtask,100,1000,main,101,0x3d0f00,"worker ""a""",,,,,,,,,',
      '',
      'fault_user,101,1001,"multi',
      'line",,,,0xffffffffff600000,0x2000,0x15,1,,,,,',
      'lost,101,1002,,,,,,,,1,,,,,',
      'mmap2,100,1003,main,,,,,,,,,0x400000,0x1000,r-xs,/usr/lib/my lib.so',
      'sched_switch,100,1004,main,,,,,,,,,,,,',
    ].join('\n'),
  )
  assert.deepEqual(s.problems, [])
  assert.deepEqual(
    s.events.map((e) => [e.kind, e.line, e.tid, e.tgid, e.comm, e.a, e.b, e.c, e.e, e.f, e.text]),
    [
      [Kind.NewTask, 3, 100, 100, 'main', 101, 0x3d0f00, null, null, null, 'worker "a"'],
      [Kind.FaultUser, 5, 101, 100, 'multi\nline', 0xffffffffff600000n, 0x2000, 0x15, null, null, null],
      [Kind.Mmap2, 8, 100, 100, 'main', 0x400000, 0x1000, null, 5, 1, 'r-xs /usr/lib/my lib.so'],
    ],
  )
  assert.deepEqual(s.losts, [{line: 7, cpu: 1, count: null, ts: 1002}])
  assert.deepEqual(s.unknowns, [{name: 'sched_switch', line: 9}])
  assert.equal(s.metas.get('csv_ignored_columns'), undefined)
})

test('syscall rows: nr from the table when empty, signed returns, named rows open syscalls when raw ones are absent', () => {
  const s = csv(
    [
      'ts_ns,tid,event,name,nr,arg0,arg1,ret',
      '1,5,sys_args,munmap,,0x7f0000000000,0x1000,',
      '2,5,sys_ret,munmap,,,,0xffffffffffffffea',
    ].join('\n'),
  )
  assert.deepEqual(s.problems, [])
  assert.deepEqual(
    s.events.map((e) => [e.kind, e.a, e.b, e.c]),
    [
      [Kind.SysEnter, 11, 0x7f0000000000, 0x1000],
      [Kind.SysArgs, 11, 0x7f0000000000, 0x1000],
      [Kind.SysRet, 11, -22, null],
      [Kind.SysExit, 11, -22, null],
    ],
  )
})

test('bad rows are problems with their line numbers; the import goes on', () => {
  const s = csv(
    [
      'ts_ns,tid,event,address,ip,error_code,mm,write,unused_col',
      '1,1,fault_user,0x1000,0x2000,0x6,,,',
      '2,1,fault_user,0x1000,0x2000',
      '3,1,fault_user,0xzz,0x2000,0x6,,,',
      '-4,1,fault_user,0x1000,0x2000,0x6,,,',
      '5,x,fault_user,0x1000,0x2000,0x6,,,',
      '6,1,lock_start,,,,,true,',
      '7,1,lock_start,,,,00ff,maybe,',
      '8,1,fault_user,0x10000000000000000,0x2000,0x6,,,',
      '9,1,"fault_user"x,0x1000,0x2000,0x6,,,',
      '10,1,,0x1000,0x2000,0x6,,,',
      '11,1,fault_user,0x1000,0x2000,0x6,,,',
    ].join('\n'),
  )
  assert.deepEqual(
    s.events.map((e) => e.line),
    [2, 12],
  )
  assert.deepEqual(
    s.problems.map((p) => [p.line, p.reason]),
    [
      [3, 'expected 9 fields, found 5'],
      [4, 'bad integer in column address: 0xzz'],
      [5, 'ts_ns must be an unsigned integer (nanoseconds)'],
      [6, 'tid must be an integer'],
      [7, 'lock_start needs a value in column mm'],
      [8, 'bad boolean in column write: maybe'],
      [9, 'bad integer in column address: 0x10000000000000000'],
      [10, s.problems[7]!.reason],
      [11, 'empty event'],
    ],
  )
  assert.match(s.problems[7]!.reason, /^invalid CSV: /)
  assert.equal(s.metas.get('csv_ignored_columns'), 'unused_col')
})

test('a quoted field left open at the end of the file is a problem on its first line', () => {
  const s = csv(['ts_ns,tid,event,message', '1,1,marker,"never closed', 'more text'].join('\n'))
  assert.deepEqual(s.events, [])
  assert.deepEqual(
    s.problems.map((p) => [p.line, p.reason]),
    [[2, 'quoted field not closed at end of file']],
  )
})

test('header errors stop the import with a clear InputError', () => {
  assert.throws(
    () => csv('ts_ns,tid,address\n1,2,3'),
    (e: unknown) =>
      e instanceof InputError && e.code === 'BAD_HEADER' && /lacks required column\(s\) event/.test(e.message),
  )
  assert.throws(
    () => csv('ts_ns,tid,event,tid\n1,2,x,3'),
    (e: unknown) => e instanceof InputError && /names column tid twice/.test(e.message),
  )
  assert.throws(
    () => csv('ts_ns,tid,ev"ent'),
    (e: unknown) => e instanceof InputError && /not valid CSV/.test(e.message),
  )
  assert.throws(
    () => csv('ts_ns,"tid,event\n1,2,3'),
    (e: unknown) => e instanceof InputError && /line 1\) opens a quoted field that is never closed/.test(e.message),
  )
})

test('many rows are batched without losing order or line numbers', () => {
  const rows = ['ts_ns,tid,event,address,ip,error_code']
  for (let i = 0; i < 5000; i++) rows.push(i === 2500 ? 'garbage' : `${i},1,fault_user,${i},0x2000,0x6`)
  const s = csv(rows.join('\n'))
  assert.equal(s.events.length, 4999)
  assert.deepEqual(
    s.problems.map((p) => p.line),
    [2502],
  )
  assert.ok(s.events.every((e, i) => e.line === (i < 2500 ? i + 2 : i + 3) && e.a === (i < 2500 ? i : i + 1)))
})
