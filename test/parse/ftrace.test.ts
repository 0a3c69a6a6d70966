import assert from 'node:assert/strict'
import {test} from 'node:test'
import {Kind} from '../../src/model/events.js'
import {importLines} from './helpers.js'

const ftrace = (lines: string[]) => importLines('ftrace', lines)

const HEADER = [
  '# tracer: nop',
  '#',
  '# entries-in-buffer/entries-written: 5/5   #P:2',
  '#',
  '#           TASK-PID       TGID    CPU#  |||||  TIMESTAMP  FUNCTION',
  '#              | |           |       |   |||||     |         |',
]

test('standard layout: every field of a user fault, header facts into meta', () => {
  const s = ftrace([
    ...HEADER,
    '         python3-8505    (   8502) [000] d....   748.347969: page_fault_user: address=0x7fcf8d8e8000 ip=0x7fcfa79df345 error_code=0x6',
  ])
  assert.deepEqual(s.problems, [])
  assert.deepEqual(s.events, [
    {
      kind: Kind.FaultUser,
      line: 7,
      ts: 748347969000,
      tid: 8505,
      tgid: 8502,
      cpu: 0,
      comm: 'python3',
      a: 0x7fcf8d8e8000,
      b: 0x7fcfa79df345,
      c: 6,
      d: null,
      e: null,
      f: null,
      text: null,
    },
  ])
  assert.equal(s.metas.get('tracer'), 'nop')
  assert.equal(s.metas.get('entries_written'), '5')
  assert.equal(s.metas.get('cpus'), '2')
  assert.equal(s.metas.get('tgid_source'), 'printed')
})

test('kernel fault with a symbolised ip keeps the symbol in text and b = null', () => {
  const [e] = ftrace([
    '         python3-13697   (  13697) [001] d....  2024.397298: page_fault_kernel: address=0xa84278 ip=elf_load error_code=0x2',
  ]).events
  assert.equal(e!.kind, Kind.FaultKernel)
  assert.equal(e!.a, 0xa84278)
  assert.equal(e!.b, null)
  assert.equal(e!.text, 'elf_load')
})

test('no TGID column: TGID comes from task_newtask (CLONE_THREAD) or is the TID itself', () => {
  const s = ftrace([
    '         python3-100     [001] .....     1.000001: task_newtask: pid=101 comm=python3 clone_flags=3d0f00 oom_score_adj=0',
    '         python3-100     [001] .....     1.000002: task_newtask: pid=102 comm=python3 clone_flags=1200000 oom_score_adj=0',
    '         python3-101     [000] d....     1.000003: page_fault_user: address=0x1000 ip=0x2000 error_code=0x6',
    '         python3-102     [000] d....     1.000004: page_fault_user: address=0x1000 ip=0x2000 error_code=0x6',
    '            bash-7       [000] d....     1.000005: page_fault_user: address=0x1000 ip=0x2000 error_code=0x6',
  ])
  assert.deepEqual(s.problems, [])
  assert.deepEqual(
    s.events.map((e) => [e.tid, e.tgid]),
    [
      [100, 100],
      [100, 100],
      [101, 100],
      [102, 102],
      [7, 7],
    ],
  )
  assert.equal(s.metas.get('tgid_source'), 'inferred')
})

test('`(-------)` TGID is inferred like a missing column', () => {
  const s = ftrace([
    '            node-10  (     10) [000] .....     1.000001: task_newtask: pid=11 comm=node clone_flags=3d0f00 oom_score_adj=0',
    '           <...>-11  (-------) [001] d....     1.000002: page_fault_user: address=0x1000 ip=0x2000 error_code=0x6',
  ])
  assert.deepEqual(s.problems, [])
  assert.equal(s.events[1]!.comm, '<...>')
  assert.equal(s.events[1]!.tgid, 10)
})

test('no irq-flags column, with and without TGID; 4-char flags of older kernels', () => {
  const s = ftrace([
    '         python3-13697   (  13697) [001]  2024.398183: sys_exit: NR 9 = 4096',
    '         python3-13697   [001]  2024.398184: sys_exit: NR 9 = 4096',
    '         python3-13697   [001] d...  2024.398185: sys_exit: NR 9 = 4096',
  ])
  assert.deepEqual(s.problems, [])
  assert.deepEqual(
    s.events.map((e) => [e.ts, e.tid, e.tgid, e.cpu, e.b]),
    [
      [2024398183000, 13697, 13697, 1, 4096],
      [2024398184000, 13697, 13697, 1, 4096],
      [2024398185000, 13697, 13697, 1, 4096],
    ],
  )
})

test('trace-cmd report layout: preamble, padded event names, format-file syscall args', () => {
  const s = ftrace([
    'cpus=2',
    'version = 6',
    'CPU 1 is empty',
    '         python3-13697 [000]  2024.396510: sys_exit:             NR 257 = 3',
    '         python3-13697 [000]  2024.396511: sys_enter_mmap:       addr: 0x00000000, len: 0x00002000, prot: 0x00000003, flags: 0x00000022, fd: 0xffffffff, off: 0x00000000',
    '         python3-13697 [000]  2024.396512: sys_exit_mmap:        0x7f12f7b6a000',
  ])
  assert.deepEqual(s.problems, [])
  assert.equal(s.metas.get('cpus'), '2')
  assert.equal(s.metas.get('trace_cmd_version'), '6')
  assert.deepEqual(
    s.events.map((e) => [e.kind, e.a, e.b, e.c, e.text]),
    [
      [Kind.SysExit, 257, 3, null, null],
      [Kind.SysArgs, 9, 0, 0x2000, 'mmap'],
      [Kind.SysRet, 9, 0x7f12f7b6a000, null, 'mmap'],
    ],
  )
  assert.equal(s.events[1]!.f, 0xffffffff)
  assert.equal(s.metas.get('kernel_hint')?.includes('6.17') ?? false, false) // format-file rendering is no hint
})

test('comm with spaces, dashes, slashes, # and <...>; a line starting with # that is an event', () => {
  const s = ftrace([
    '  my prog-x-2-1234  (   1234) [000] .....     1.000001: sys_exit: NR 0 = 0',
    '     kworker/0:1-55      (     55) [001] .....     1.000002: sys_exit: NR 0 = 0',
    '  stress-ng-mmap-14285   (  14285) [001] .....     1.000003: sys_exit: NR 0 = 0',
    '      #1 thread#-99      (     98) [001] .....     1.000004: sys_exit: NR 0 = 0',
    '           <...>-7       (      7) [001] .....     1.000005: sys_exit: NR 0 = 0',
    '#hash-5 [000] .....     1.000006: sys_exit: NR 0 = 0',
    '(weird) [1]-6 (      6) [000] .....     1.000007: sys_exit: NR 0 = 0',
  ])
  assert.deepEqual(s.problems, [])
  assert.deepEqual(
    s.events.map((e) => [e.comm, e.tid, e.tgid]),
    [
      ['my prog-x-2', 1234, 1234],
      ['kworker/0:1', 55, 55],
      ['stress-ng-mmap', 14285, 14285],
      ['#1 thread#', 99, 98],
      ['<...>', 7, 7],
      ['#hash', 5, 5],
      ['(weird) [1]', 6, 6],
    ],
  )
})

test('comm is re-read when it changes at the same width', () => {
  const s = ftrace([
    '            node-1  (      1) [000] .....     1.000001: sys_exit: NR 0 = 0',
    '         my node-2  (      2) [000] .....     1.000002: sys_exit: NR 0 = 0',
    '            nodf-3  (      3) [000] .....     1.000003: sys_exit: NR 0 = 0',
  ])
  assert.deepEqual(
    s.events.map((e) => e.comm),
    ['node', 'my node', 'nodf'],
  )
})

test('LOST markers (with and without a count), buffer-started and overwritten entries become lost windows', () => {
  const s = ftrace([
    '# entries-in-buffer/entries-written: 90/100   #P:2',
    '         python3-1       (      1) [000] .....     5.000001: sys_exit: NR 0 = 0',
    'CPU:1 [LOST 42 EVENTS]',
    '         python3-1       (      1) [001] .....     5.000002: sys_exit: NR 0 = 0',
    'CPU:0 [LOST EVENTS]',
    '##### CPU 1 buffer started ####',
    'CPU:1 [7 EVENTS DROPPED]',
    'CPU:x [LOST 1 EVENTS]',
  ])
  assert.deepEqual(s.losts, [
    {line: 1, cpu: null, count: 10, ts: 0},
    {line: 3, cpu: 1, count: 42, ts: 5000001000},
    {line: 5, cpu: 0, count: null, ts: 5000002000},
    {line: 6, cpu: 1, count: null, ts: 5000002000},
    {line: 7, cpu: 1, count: 7, ts: 5000002000},
  ])
  assert.deepEqual(
    s.problems.map((p) => [p.line, p.reason]),
    [[8, 'malformed lost-events marker']],
  )
  assert.equal(s.metas.get('buffer_started.cpu1'), '6')
})

test('syscall args: <= 6.17 bare hex and 6.18 style give the same values, and the kernel hint says which', () => {
  const old = ftrace([
    '            a-1 (  1) [000] .....  1.000001: sys_mmap(addr: 0, len: 2000, prot: 3, flags: 22, fd: ffffffff, off: 0)',
  ])
  const neu = ftrace([
    '            a-1 (  1) [000] .....  1.000001: sys_mmap(addr: 0, len: 0x2000, prot: 3, flags: 0x22, fd: 0xffffffff, off: 0)',
  ])
  for (const s of [old, neu]) {
    assert.deepEqual(s.problems, [])
    assert.deepEqual(
      s.events.map((e) => [e.kind, e.a, e.b, e.c, e.d, e.e, e.f]),
      [
        [Kind.SysEnter, 9, 0, 0x2000, 3, 0x22, 0xffffffff], // no raw_syscalls in these traces: the named enter opens it
        [Kind.SysArgs, 9, 0, 0x2000, 3, 0x22, 0xffffffff],
      ],
    )
  }
  assert.match(old.metas.get('kernel_hint')!, /<= 6\.17/)
  assert.match(neu.metas.get('kernel_hint')!, />= 6\.18/)
  // a two-digit value without 0x can only be <= 6.17 bare hex
  const ten = ftrace(['            a-1 (  1) [000] .....  1.000001: sys_munmap(addr: 7f0000000000, len: 10)'])
  assert.equal(ten.events[1]!.c, 16)
  assert.equal(ten.events[1]!.b, 0x7f0000000000)
  // single digits read the same in both styles, so they are no hint; a lone a-f digit is bare hex
  assert.equal(
    ftrace(['            a-1 (  1) [000] .....  1.000001: sys_brk(brk: 0)']).metas.get('kernel_hint'),
    undefined,
  )
  const a = ftrace(['            a-1 (  1) [000] .....  1.000001: sys_madvise(start: 0, len_in: 0, behavior: a)'])
  assert.equal(a.events[1]!.d, 10)
  assert.match(a.metas.get('kernel_hint')!, /<= 6\.17/)
})

test('mremap has five args in declaration order; a syscall-specific line takes its nr from the raw enter', () => {
  const s = ftrace([
    '         sqlite3-13831   (  13831) [000] .....  2027.175499: sys_enter: NR 25 (7f53d5b70000, 41000, 81000, 1, 0, 0)',
    '         sqlite3-13831   (  13831) [000] .....  2027.175499: sys_mremap(addr: 0x7f53d5b70000, old_len: 0x41000, new_len: 0x81000, flags: 1, new_addr: 0)',
    '         sqlite3-13831   (  13831) [000] .....  2027.175539: sys_mremap -> 0x7f53cf77f000',
    '         sqlite3-13831   (  13831) [000] .....  2027.175539: sys_exit: NR 25 = 139997939314688',
  ])
  assert.deepEqual(s.problems, [])
  const [enter, args, ret, exit] = s.events
  assert.deepEqual([enter!.kind, enter!.a, enter!.text], [Kind.SysEnter, 25, '7f53d5b70000, 41000, 81000, 1, 0, 0'])
  assert.deepEqual(
    [args!.kind, args!.a, args!.b, args!.c, args!.d, args!.e, args!.f, args!.text],
    [Kind.SysArgs, 25, 0x7f53d5b70000, 0x41000, 0x81000, 1, 0, 'mremap'],
  )
  assert.deepEqual([ret!.kind, ret!.a, ret!.b], [Kind.SysRet, 25, 0x7f53cf77f000])
  assert.deepEqual([exit!.kind, exit!.a, exit!.b], [Kind.SysExit, 25, 139997939314688])
})

test('64-bit values stay exact: addresses and args >= 2^53 are bigint, error returns are negative', () => {
  const s = ftrace([
    '               a-1 (      1) [000] d....     1.000001: page_fault_user: address=0xffffffffff600000 ip=0xffffffffff600400 error_code=0x15',
    '               a-1 (      1) [000] .....     1.000002: sys_enter: NR 257 (ffffffffffffff9c, 7ffd3c226f80, 80000, 0, 0, 0)',
    '               a-1 (      1) [000] .....     1.000003: sys_exit: NR 257 = -2',
    '               a-1 (      1) [000] .....     1.000004: sys_mmap -> 0xfffffffffffffff4',
    '               a-1 (      1) [000] .....     1.000005: sys_exit: NR 9 = -9223372036854775808',
  ])
  assert.deepEqual(s.problems, [])
  assert.equal(s.events[0]!.a, 0xffffffffff600000n)
  assert.equal(s.events[0]!.b, 0xffffffffff600400n)
  assert.equal(s.events[1]!.b, 0xffffffffffffff9cn)
  assert.equal(s.events[1]!.text, 'ffffffffffffff9c, 7ffd3c226f80, 80000, 0, 0, 0')
  assert.equal(s.events[2]!.b, -2)
  assert.equal(s.events[3]!.b, -12)
  assert.equal(s.events[4]!.b, -(2n ** 63n))
})

test('timestamps beyond 2^53 ns stay exact (bigint); 9-digit fractions are ns', () => {
  const s = ftrace([
    '               a-1 (      1) [000] .....  9999999.123456: sys_exit: NR 0 = 0',
    '               a-1 (      1) [000] .....     1.123456789: sys_exit: NR 0 = 0',
  ])
  assert.equal(s.events[0]!.ts, 9999999123456000n)
  assert.equal(s.events[1]!.ts, 1123456789)
})

test('mmap_lock events: mm kept as printed, write/success flags, memcg_id', () => {
  const s = ftrace([
    '         python3-8505    (   8502) [000] .....   748.347973: mmap_lock_start_locking: mm=00000000ff572df2 memcg_id=5414 write=false',
    '         python3-8505    (   8502) [000] .....   748.347974: mmap_lock_acquire_returned: mm=00000000ff572df2 memcg_id=5414 write=false success=false',
    '         python3-8505    (   8502) [000] .....   748.347975: mmap_lock_released: mm=00000000ff572df2 memcg_id=1 write=true',
  ])
  assert.deepEqual(s.problems, [])
  assert.deepEqual(
    s.events.map((e) => [e.kind, e.a, e.b, e.c, e.d, e.text]),
    [
      [Kind.LockStart, 0, null, 5414, null, '00000000ff572df2'],
      [Kind.LockAcquire, 0, 0, 5414, null, '00000000ff572df2'],
      [Kind.LockRelease, 1, null, 1, null, '00000000ff572df2'],
    ],
  )
  assert.match(s.metas.get('kernel_hint')!, />= 6\.14/)
})

test('memcg_path form (<= 6.13): c = null, d numbers the path, meta names it', () => {
  const s = ftrace([
    '               a-1 (      1) [000] .....     1.000001: mmap_lock_start_locking: mm=00000000ff572df2 memcg_path=/user.slice/user-0.slice/session 1.scope write=true',
    '               a-1 (      1) [000] .....     1.000002: mmap_lock_acquire_returned: mm=00000000ff572df2 memcg_path=/user.slice/user-0.slice/session 1.scope write=true success=true',
    '               a-1 (      1) [000] .....     1.000003: mmap_lock_released: mm=00000000ff572df2 memcg_path= write=true',
  ])
  assert.deepEqual(s.problems, [])
  assert.deepEqual(
    s.events.map((e) => [e.a, e.b, e.c, e.d]),
    [
      [1, null, null, 1],
      [1, 1, null, 1],
      [1, null, null, 2],
    ],
  )
  assert.equal(s.metas.get('memcg_path.1'), '/user.slice/user-0.slice/session 1.scope')
  assert.equal(s.metas.get('memcg_path.2'), '')
  assert.match(s.metas.get('kernel_hint')!, /<= 6\.13/)
})

test('vm_unmapped_area, exit_mmap, sched_*, task_newtask (comm with spaces), ma_write (TAB), markers', () => {
  const s = ftrace([
    '              ls-7056    (   7056) [001] .....   463.054884: vm_unmapped_area: addr=0x7f2b9dafe000 err=0 total_vm=0x161 flags=0x1 len=0x35000 lo=0x1000 hi=0x7f2b9db33000 mask=0x0 ofs=0x0',
    '              ls-7056    (   7056) [001] .....   463.054603: exit_mmap: mt_mod 000000002e680eb9, DESTROY',
    '         python3-13697   (  13697) [001] .....  2024.435105: sched_process_fork: comm=my app pid=13697 child_comm=my app child_pid=13702',
    '             gcc-14355   (  14355) [000] .N...  2046.743984: sched_process_exec: filename=/opt/my tools/gcc pid=14355 old_pid=14356',
    '             cc1-14360   (  14360) [000] .N...  2047.364623: sched_process_exit: comm=cc1 pid=14360 prio=120 group_dead=true',
    '             cc1-14360   (  14360) [000] .N...  2047.364624: sched_process_exit: comm=cc1 pid=14360 prio=120',
    '         python3-13697   (  13697) [001] .....  2024.435098: task_newtask: pid=13702 comm=my thread clone_flags=3d0f00 oom_score_adj=0',
    '             gcc-11044   (  11044) [001] .....  1238.698634: ma_write: mas_store_prealloc\tNode 0000000036cd6943 (0 18446744073709551615) range:140560001884160-18446744073709551615 piv (0) val 000000007637ca70',
    '         python3-10842   (  10842) [000] ...1.  1217.294873: tracing_mark_write: maps_snapshot_begin pid=10812',
    '         python3-10842   (  10842) [000] ...1.  1217.294874: print: tracing_mark_write: hello: world',
  ])
  assert.deepEqual(s.problems, [])
  assert.deepEqual(
    s.events.map((e) => [e.kind, e.a, e.b, e.c, e.d, e.e, e.f, e.text]),
    [
      [Kind.UnmappedArea, 0x7f2b9dafe000, 0, 0x35000, 1, 0x1000, 0x7f2b9db33000, null],
      [Kind.ExitMmap, null, null, null, null, null, null, '000000002e680eb9'],
      [Kind.Fork, 13697, 13702, null, null, null, null, 'my app'],
      [Kind.Exec, 14355, 14356, null, null, null, null, '/opt/my tools/gcc'],
      [Kind.Exit, 14360, 1, null, null, null, null, null],
      [Kind.Exit, 14360, null, null, null, null, null, null],
      [Kind.NewTask, 13702, 0x3d0f00, null, null, null, null, 'my thread'],
      [Kind.MapleWrite, 140560001884160, 2n ** 64n - 1n, null, null, null, null, 'mas_store_prealloc'],
      [Kind.Marker, null, null, null, null, null, null, 'maps_snapshot_begin pid=10812'],
      [Kind.Marker, null, null, null, null, null, null, 'hello: world'],
    ],
  )
})

test('other events are counted by name; stack traces and function-tracer lines are unknown, not problems', () => {
  const s = ftrace([
    '         python3-1       (      1) [000] .....     1.000001: sched_switch: prev_comm=python3 prev_pid=1',
    '         python3-1       (      1) [000] .....     1.000002: <stack trace>',
    ' => trace_event_raw_event_mmap_lock',
    ' => __mmap_lock_do_trace_start_locking',
    '         python3-1       (      1) [000] .....     1.000003: do_syscall_64 <-entry_SYSCALL_64_after_hwframe',
    '         python3-1       (      1) [000] .....     1.000004: sys_enter_openat: dfd: 0xffffff9c, filename: 0x7ffd3c226f80 "/etc/ld.so.cache", flags: 0x80000, mode: 0x0',
  ])
  assert.deepEqual(s.problems, [])
  assert.deepEqual(s.unknowns, [
    {name: 'sched_switch', line: 1},
    {name: '<stack trace>', line: 2},
    {name: '<stack frame>', line: 3},
    {name: '<stack frame>', line: 4},
    {name: 'function', line: 5},
  ])
  assert.deepEqual(
    [s.events[1]!.kind, s.events[1]!.a, s.events[1]!.b, s.events[1]!.c, s.events[1]!.d],
    [Kind.SysArgs, 257, 0xffffff9c, 0x7ffd3c226f80, 0x80000],
  )
})

test('garbage between good lines: problems with line numbers and excerpts, good lines still parsed', () => {
  const s = ftrace([
    '         python3-1       (      1) [000] .....     1.000001: sys_exit: NR 0 = 0',
    'this is not a trace line',
    '         python3-1       (      1) [000] .....     1.000002: sys_exit: NR 0 = banana',
    '         python3-1       (      1) [000] .....     1.000003: page_fault_user: address=0x10 error_code=0x6',
    '         python3-1       (      1) [000] .....     1.000004: sys_enter: NR 9 (0, 10000000000000000, 0, 0, 0, 0)',
    '         python3-1       (      1) [000] .....     1.000005: sys_exit: NR 0 = 0',
  ])
  assert.deepEqual(
    s.events.map((e) => e.line),
    [1, 6],
  )
  assert.deepEqual(
    s.problems.map((p) => [p.line, p.reason]),
    [
      [2, 'not an ftrace event line (expected COMM-TID [(TGID)] [CPU] [FLAGS] TIMESTAMP: EVENT: ...)'],
      [3, 'bad syscall return value'],
      [4, 'page fault without ip='],
      [5, 'bad syscall argument 1'],
    ],
  )
  assert.equal(s.problems[0]!.excerpt, 'this is not a trace line')
})

test('NUL bytes, invalid UTF-8 replacement chars and a 10 MB line become problems without throwing', () => {
  const big = 'x'.repeat(10 << 20)
  const s = ftrace([
    '\u0000\u0000\u0000garbage\u0000',
    '         python3-1       (      1) [000] .....     1.000001: sys_exit: NR 0 = \u0000',
    '\ufffd\ufffd-1 (1) [000] .....     1.000002: sys_exit: NR 0 = 0',
    big,
    '   [001] [' + '['.repeat(1000),
  ])
  assert.deepEqual(
    s.problems.map((p) => p.line),
    [1, 2, 4, 5],
  )
  assert.equal(s.problems[0]!.excerpt, '\\x00\\x00\\x00garbage\\x00')
  assert.ok(s.problems[2]!.excerpt.length <= 201)
  assert.deepEqual([s.events[0]!.comm, s.events[0]!.tid], ['\ufffd\ufffd', 1]) // a non-ASCII comm is decoded, not mangled
})

test('empty input: no events, no problems', () => {
  const s = ftrace([])
  assert.deepEqual([s.events, s.problems, s.losts], [[], [], []])
})
