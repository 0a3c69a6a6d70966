// Every real capture in the shared corpus must import with exactly the counts its figures/<name>.json records
// (computed independently by recipes/analyze.py). The corpus lives outside the repository: set
// VMAREPLAY_REAL_TRACES to its directory, else the sibling ../shared/traces/real of this checkout is used.

import assert from 'node:assert/strict'
import {existsSync, readFileSync, readdirSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {test} from 'node:test'
import {Kind, type ImportSink, type LostWindow, type ParseProblem, type TraceEvent} from '../../src/model/events.js'
import {parseTrace} from '../../src/parse/detect.js'
import {readMapsFile} from '../../src/parse/maps.js'

const DIR =
  process.env.VMAREPLAY_REAL_TRACES ?? fileURLToPath(new URL('../../../../shared/traces/real/', import.meta.url))
const skip = existsSync(join(DIR, 'figures')) ? false : `real traces not found at ${DIR} (set VMAREPLAY_REAL_TRACES)`

/** Figure names (subsystem:event) of the kinds whose name does not depend on the event's text. */
const FIGURE_NAME: Partial<Record<Kind, string>> = {
  [Kind.FaultUser]: 'exceptions:page_fault_user',
  [Kind.FaultKernel]: 'exceptions:page_fault_kernel',
  [Kind.SysEnter]: 'raw_syscalls:sys_enter',
  [Kind.SysExit]: 'raw_syscalls:sys_exit',
  [Kind.LockStart]: 'mmap_lock:mmap_lock_start_locking',
  [Kind.LockAcquire]: 'mmap_lock:mmap_lock_acquire_returned',
  [Kind.LockRelease]: 'mmap_lock:mmap_lock_released',
  [Kind.UnmappedArea]: 'mmap:vm_unmapped_area',
  [Kind.ExitMmap]: 'mmap:exit_mmap',
  [Kind.Fork]: 'sched:sched_process_fork',
  [Kind.Exec]: 'sched:sched_process_exec',
  [Kind.Exit]: 'sched:sched_process_exit',
  [Kind.NewTask]: 'task:task_newtask',
  [Kind.MapleWrite]: 'maple_tree:ma_write',
  [Kind.Marker]: 'ftrace:tracing_mark_write',
}

/** Counts what the figures count, the way analyze.py does (markers and perf side-band excluded from tids/time). */
class FigureSink implements ImportSink {
  counts = new Map<string, number>()
  perfRecords = new Map<string, number>()
  unknowns = new Map<string, number>()
  tids = new Set<number>()
  tgids = new Set<number | null>()
  problems: ParseProblem[] = []
  losts: LostWindow[] = []
  metas = new Map<string, string>()
  first: number | bigint | null = null
  last: number | bigint | null = null

  private add(m: Map<string, number>, k: string): void {
    m.set(k, (m.get(k) ?? 0) + 1)
  }
  event(e: TraceEvent): void {
    if (e.kind === Kind.Mmap2) return this.add(this.perfRecords, 'PERF_RECORD_MMAP2')
    if (e.kind === Kind.Comm) return this.add(this.perfRecords, 'PERF_RECORD_COMM')
    const name =
      e.kind === Kind.SysArgs
        ? `syscalls:sys_enter_${e.text}`
        : e.kind === Kind.SysRet
          ? `syscalls:sys_exit_${e.text}`
          : FIGURE_NAME[e.kind]!
    this.add(this.counts, name)
    if (e.kind === Kind.Marker) return
    this.tids.add(e.tid)
    this.tgids.add(e.tgid)
    this.first ??= e.ts
    if (this.last === null || e.ts > this.last) this.last = e.ts
  }
  lost(l: LostWindow): void {
    this.losts.push(l)
  }
  problem(p: ParseProblem): void {
    this.problems.push(p)
  }
  unknown(name: string): void {
    this.add(
      name.startsWith('PERF_RECORD_') ? this.perfRecords : this.unknowns,
      name === 'PERF_RECORD_COMM exec' ? 'PERF_RECORD_COMM' : name,
    )
  }
  meta(key: string, value: string): void {
    this.metas.set(key, value)
  }
}

interface Figures {
  format: 'ftrace' | 'perf'
  total_lines: number
  event_counts: Record<string, number>
  lost_marker_count: number
  perf_records: Record<string, number>
  distinct_tids: number
  distinct_tgids: number
  first_ts: number
  last_ts: number
  ftrace_header_entries_in_buffer_written: [number, number] | null
}

const figureNames = skip
  ? []
  : readdirSync(join(DIR, 'figures'))
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -5))
      .sort()

for (const name of skip ? ['(corpus)'] : figureNames) {
  test(`real trace ${name} imports with exactly the figures' counts`, {skip}, async () => {
    const fig = JSON.parse(readFileSync(join(DIR, 'figures', `${name}.json`), 'utf8')) as Figures
    const file = readdirSync(DIR).find((f) => f.startsWith(`${name}.`) && !f.endsWith('.maps'))!
    const sink = new FigureSink()
    const stats = await parseTrace(join(DIR, file), sink)
    assert.equal(stats.format, fig.format)
    assert.equal(stats.lines, fig.total_lines)
    assert.deepEqual(sink.problems, [])
    assert.deepEqual(Object.fromEntries([...sink.counts].sort()), fig.event_counts)
    assert.deepEqual(
      Object.fromEntries([...sink.perfRecords].sort()),
      Object.fromEntries(Object.entries(fig.perf_records).sort()),
    )
    assert.deepEqual(Object.fromEntries(sink.unknowns), {})
    assert.equal(sink.losts.length, fig.lost_marker_count)
    assert.equal(sink.tids.size, fig.distinct_tids)
    assert.equal(sink.tgids.size, fig.distinct_tgids)
    assert.equal(sink.first, Math.round(fig.first_ts * 1e6) * 1000)
    assert.equal(sink.last, Math.round(fig.last_ts * 1e6) * 1000)
    if (fig.ftrace_header_entries_in_buffer_written !== null)
      assert.deepEqual(
        [sink.metas.get('entries_in_buffer'), sink.metas.get('entries_written')],
        fig.ftrace_header_entries_in_buffer_written.map(String),
      )
    assert.match(
      sink.metas.get('kernel_hint')!,
      fig.format === 'ftrace' ? />= 6\.18.*>= 6\.14|>= 6\.14.*>= 6\.18/ : /^>= 6\.14/,
    )
  })
}

test(
  'supplementary stack-trace captures parse: stack lines are counted as unknown, never problems',
  {skip},
  async () => {
    for (const file of ['stacks_py_threads.trace.txt', 'stacks_sqlite_scans.trace.txt']) {
      const path = join(DIR, 'supplementary', file)
      const text = readFileSync(path, 'utf8').split('\n')
      const sink = new FigureSink()
      await parseTrace(path, sink)
      assert.deepEqual(sink.problems, [])
      assert.deepEqual(Object.fromEntries(sink.unknowns), {
        '<stack trace>': text.filter((l) => l.endsWith(': <stack trace>')).length,
        '<stack frame>': text.filter((l) => l.startsWith(' => ')).length,
      })
      assert.equal(sink.counts.get('mmap_lock:mmap_lock_start_locking'), sink.unknowns.get('<stack trace>'))
    }
  },
)

test('the attach-mode maps snapshot parses completely', {skip}, async () => {
  const {entries, problems} = await readMapsFile(join(DIR, 'node_attach.maps'))
  assert.deepEqual(problems, [])
  assert.equal(entries.length, 1164)
  assert.ok(entries.some((e) => e.path === '[heap]'))
})
