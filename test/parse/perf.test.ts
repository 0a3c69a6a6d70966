import assert from 'node:assert/strict'
import {test} from 'node:test'
import {Kind} from '../../src/model/events.js'
import {importLines} from './helpers.js'

const perf = (lines: string[]) => importLines('perf', lines)

test('default fields (no PID column): fields, %5d/%7d TID widths, comm with spaces', () => {
  const s = perf([
    '              xz  9481 [001]   910.445405:    mmap_lock:mmap_lock_start_locking: mm=0xffff888104313200 memcg_id=5414 write=true',
    '         python3 1234567 [000]   910.445406:           exceptions:page_fault_user: address=0x7f8f429f7b70 ip=0x7f8f429f7b70 error_code=0x14',
    '    V8 Worker 2    77 [001]   910.445407:                raw_syscalls:sys_exit: NR 12 = 94082241511424',
  ])
  assert.deepEqual(s.problems, [])
  assert.deepEqual(s.events, [
    {
      kind: Kind.LockStart,
      line: 1,
      ts: 910445405000,
      tid: 9481,
      tgid: 9481,
      cpu: 1,
      comm: 'xz',
      a: 1,
      b: null,
      c: 5414,
      d: null,
      e: null,
      f: null,
      text: '0xffff888104313200',
    },
    {
      kind: Kind.FaultUser,
      line: 2,
      ts: 910445406000,
      tid: 1234567,
      tgid: 1234567,
      cpu: 0,
      comm: 'python3',
      a: 0x7f8f429f7b70,
      b: 0x7f8f429f7b70,
      c: 0x14,
      d: null,
      e: null,
      f: null,
      text: null,
    },
    {
      kind: Kind.SysExit,
      line: 3,
      ts: 910445407000,
      tid: 77,
      tgid: 77,
      cpu: 1,
      comm: 'V8 Worker 2',
      a: 12,
      b: 94082241511424,
      c: null,
      d: null,
      e: null,
      f: null,
      text: null,
    },
  ])
  assert.equal(s.metas.get('tgid_source'), 'inferred')
})

test('without -F +pid the TGID is inferred from task_newtask and PERF_RECORD pid/tid pairs', () => {
  const s = perf([
    '              xz  9481 [001]   910.449684:                    task:task_newtask: pid=9483 comm=xz clone_flags=3d0f00 oom_score_adj=0',
    '              xz  9481 [001]   910.449685:                    task:task_newtask: pid=9490 comm=sh clone_flags=1200011 oom_score_adj=0',
    '              xz  9483 [000]   910.449690:           exceptions:page_fault_user: address=0x1000 ip=0x2000 error_code=0x6',
    '              xz  9490 [000]   910.449691:           exceptions:page_fault_user: address=0x1000 ip=0x2000 error_code=0x6',
    '              xz  9600 [001]   910.449692: PERF_RECORD_MMAP2 9500/9600: [0x400000(0x1f000) @ 0 fe:00 260811 0]: r--p /usr/bin/xz',
    '              xz  9600 [001]   910.449693:           exceptions:page_fault_user: address=0x1000 ip=0x2000 error_code=0x6',
    '         python3  9701 [001]   910.449694: PERF_RECORD_FORK(9700:9701):(9700:9700)',
    '         python3  9701 [001]   910.449695:           exceptions:page_fault_user: address=0x1000 ip=0x2000 error_code=0x6',
    '         python3  9702 [001]   910.449696:           exceptions:page_fault_user: address=0x1000 ip=0x2000 error_code=0x6',
  ])
  assert.deepEqual(s.problems, [])
  const faults = s.events.filter((e) => e.kind === Kind.FaultUser)
  assert.deepEqual(
    faults.map((e) => [e.tid, e.tgid]),
    [
      [9483, 9481],
      [9490, 9490],
      [9600, 9500],
      [9701, 9700],
      [9702, 9702],
    ],
  )
})

test('with -F +pid the printed PID is the TGID', () => {
  const s = perf([
    '         python3 11163/11165 [000]  1244.825123:            syscalls:sys_enter_munmap: addr: 0x7fedc1200000, len: 0x02e00000',
    '         swapper     0/0     [000]     0.000000:             sched:sched_process_exit: comm=swapper pid=0 prio=120 group_dead=false',
  ])
  assert.deepEqual(s.problems, [])
  assert.deepEqual(
    s.events.map((e) => [e.kind, e.tid, e.tgid, e.comm]),
    [
      [Kind.SysEnter, 11165, 11163, 'python3'],
      [Kind.SysArgs, 11165, 11163, 'python3'],
      [Kind.Exit, 0, 0, 'swapper'],
    ],
  )
  assert.equal(s.metas.get('tgid_source'), 'printed')
})

test('zero-padded format-file syscall args and sys_exit_X returns', () => {
  const s = perf([
    '         python3 11163/11163 [001]  1244.765125:               raw_syscalls:sys_enter: NR 9 (0, 2000, 3, 22, ffffffff, 0)',
    '         python3 11163/11163 [001]  1244.765125:              syscalls:sys_enter_mmap: addr: 0x00000000, len: 0x00002000, prot: 0x00000003, flags: 0x00000022, fd: 0xffffffff, off: 0x00000000',
    '         python3 11163/11163 [001]  1244.765152:               syscalls:sys_exit_mmap: 0x7fedca1db000',
    '         python3 11163/11163 [001]  1244.765152:                raw_syscalls:sys_exit: NR 9 = 140659274919936',
    '         python3 11163/11163 [001]  1244.765153:           syscalls:sys_exit_munmap: 0xffffffffffffffea',
  ])
  assert.deepEqual(s.problems, [])
  assert.deepEqual(
    s.events.map((e) => [e.kind, e.a, e.b, e.c, e.d, e.e, e.f, e.text]),
    [
      [Kind.SysEnter, 9, 0, 0x2000, 3, 0x22, 0xffffffff, '0, 2000, 3, 22, ffffffff, 0'],
      [Kind.SysArgs, 9, 0, 0x2000, 3, 0x22, 0xffffffff, 'mmap'],
      [Kind.SysRet, 9, 0x7fedca1db000, null, null, null, null, 'mmap'],
      [Kind.SysExit, 9, 140659274919936, null, null, null, null, null],
      [Kind.SysRet, 11, -22, null, null, null, null, 'munmap'],
    ],
  )
  assert.equal(s.metas.get('kernel_hint'), undefined) // perf's format-file rendering says nothing about the kernel
})

test('PERF_RECORD_MMAP2: dev/inode and build-id variants; PERF_RECORD_MMAP (kernel) is counted', () => {
  const s = perf([
    '         swapper     0/0     [000]     0.000000: PERF_RECORD_MMAP -1/0: [0xffffffff81000000(0x1276f48) @ 0xffffffff81000000]: x [kernel.kallsyms]_text',
    '         python3 11163/11163 [001]  1244.759289: PERF_RECORD_MMAP2 11163/11163: [0x400000(0x1f000) @ 0 fe:00 260811 0]: r--p /usr/bin/python3.11',
    '         python3 11163/11164 [001]  1244.759290: PERF_RECORD_MMAP2 11163/11164: [0x7f0000000000(0x2000) @ 0x1f000 <0123456789abcdef0123456789abcdef01234567>]: r-xs /home/user/my lib.so (deleted)',
    '         python3 11163/11163 [001]  1244.759291: PERF_RECORD_MMAP2 11163/11163: [0x7fff98ad7000(0x21000) @ 0x7ffffffde000 00:00 0 0]: rw-p [stack]',
  ])
  assert.deepEqual(s.problems, [])
  assert.deepEqual(s.unknowns, [{name: 'PERF_RECORD_MMAP', line: 1}])
  assert.deepEqual(
    s.events.map((e) => [e.kind, e.tid, e.tgid, e.a, e.b, e.c, e.d, e.e, e.f, e.text]),
    [
      [Kind.Mmap2, 11163, 11163, 0x400000, 0x1f000, 0, 260811, 1, 2, 'r--p /usr/bin/python3.11'],
      [Kind.Mmap2, 11164, 11163, 0x7f0000000000, 0x2000, 0x1f000, null, 5, 1, 'r-xs /home/user/my lib.so (deleted)'],
      [Kind.Mmap2, 11163, 11163, 0x7fff98ad7000, 0x21000, 0x7ffffffde000, 0, 3, 2, 'rw-p [stack]'],
    ],
  )
})

test('PERF_RECORD_COMM renames become Comm events; COMM exec, FORK and EXIT only count (tracepoints carry them)', () => {
  const s = perf([
    '       perf-exec     0/0     [000]     0.000000: PERF_RECORD_COMM: perf-exec:11163/11163',
    '         python3 11163/11163 [001]  1244.759198: PERF_RECORD_COMM exec: python3:11163/11163',
    '         python3 11163/11163 [001]  1244.824655: PERF_RECORD_FORK(11163:11165):(11163:11163)',
    '         python3 11163/11167 [001]  1246.127237: PERF_RECORD_EXIT(11163:11167):(11162:11162)',
    '         python3 11163/11165 [001]  1246.127238: PERF_RECORD_COMM: worker: 1:11163/11165',
    '         python3 11163/11165 [001]  1246.127239: PERF_RECORD_SWITCH_CPU_WIDE OUT',
    '         python3 11163/11165 [001]  1246.127240: PERF_RECORD_FORK(garbage)',
  ])
  assert.deepEqual(
    s.events.map((e) => [e.kind, e.tid, e.tgid, e.a, e.comm, e.text]),
    [
      [Kind.Comm, 11163, 11163, 11163, 'perf-exec', 'perf-exec'],
      [Kind.Comm, 11165, 11163, 11163, 'worker: 1', 'worker: 1'],
    ],
  )
  assert.deepEqual(
    s.unknowns.map((u) => u.name),
    ['PERF_RECORD_COMM exec', 'PERF_RECORD_FORK', 'PERF_RECORD_EXIT', 'PERF_RECORD_SWITCH_CPU_WIDE'],
  )
  assert.deepEqual(
    s.problems.map((p) => [p.line, p.reason]),
    [[7, 'malformed PERF_RECORD_FORK']],
  )
})

test('perf lost records, ns timestamps, non-tracepoint samples, call chains, headers and garbage', () => {
  const s = perf([
    '# ========',
    '# captured on    : Mon Jan  1 00:00:00 2024',
    '',
    '         python3  1234 [001]  1244.123456789:           exceptions:page_fault_user: address=0x1000 ip=0x2000 error_code=0x6',
    '         python3  1234 [001]  1244.123456790: PERF_RECORD_LOST lost: 17',
    '         python3  1234 [001]  1244.123456791:     250000 cpu-clock:u: ',
    '\t    7f0000001000 main+0x10 (/usr/bin/python3)',
    'definitely not perf',
  ])
  assert.equal(s.events[0]!.ts, 1244123456789)
  assert.deepEqual(s.losts, [{line: 5, cpu: 1, count: 17, ts: 1244123456790}])
  assert.deepEqual(
    s.unknowns.map((u) => u.name),
    ['cpu-clock:u', '<callchain>'],
  )
  assert.deepEqual(
    s.problems.map((p) => p.line),
    [8],
  )
})

test('perf without the CPU column still parses', () => {
  const s = perf([
    '         python3 11163/11165  1244.825123:           exceptions:page_fault_user: address=0x1000 ip=0x2000 error_code=0x6',
  ])
  assert.deepEqual(s.problems, [])
  assert.deepEqual(
    [s.events[0]!.tid, s.events[0]!.tgid, s.events[0]!.cpu, s.events[0]!.comm, s.events[0]!.a],
    [11165, 11163, null, 'python3', 0x1000],
  )
})

test('long pathological lines are rejected in linear time (no regex backtracking blow-up)', () => {
  const lines = [
    'x' + ' '.repeat(300000) + 'y',
    '1 [0] '.repeat(60000),
    'x 1 [000] 1.0: PERF_RECORD_LOST ' + '1'.repeat(300000) + 'x',
  ]
  const t0 = performance.now()
  const s = perf(lines)
  assert.ok(performance.now() - t0 < 3000, `took ${performance.now() - t0} ms`)
  assert.deepEqual(
    s.problems.map((p) => p.line),
    [1, 2],
  )
  assert.equal(s.losts.length, 1)
})
