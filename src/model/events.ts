// The one normalised event stream every importer (ftrace, perf script, CSV) produces and the store persists.
// Times are absolute trace-clock nanoseconds; 64-bit values that may exceed 2^53 are bigint, never a lossy number.

/** A 64-bit quantity: a number while it is exactly representable (< 2^53), else a bigint. */
export type U64 = number | bigint

export const enum Kind {
  FaultUser = 1,
  FaultKernel = 2,
  SysEnter = 3, // raw_syscalls:sys_enter, or a syscalls:sys_enter_X when raw events are absent
  SysExit = 4,
  SysArgs = 5, // syscalls:sys_enter_X: named arguments of the syscall the preceding SysEnter opened
  SysRet = 6, // syscalls:sys_exit_X
  LockStart = 7, // mmap_lock_start_locking
  LockAcquire = 8, // mmap_lock_acquire_returned
  LockRelease = 9, // mmap_lock_released
  UnmappedArea = 10, // mmap:vm_unmapped_area
  ExitMmap = 11, // mmap:exit_mmap
  Fork = 12, // sched_process_fork (perf's PERF_RECORD_FORK/EXIT/COMM exec duplicate 12-14: they only resolve TGIDs)
  Exec = 13, // sched_process_exec
  Exit = 14, // sched_process_exit
  NewTask = 15, // task:task_newtask
  Mmap2 = 16, // PERF_RECORD_MMAP2
  Comm = 17, // PERF_RECORD_COMM (rename, not exec)
  MapleWrite = 18, // maple_tree:ma_write
  Marker = 19, // ftrace:print / tracing_mark_write
  Readahead = 20, // readahead:page_cache_sync_ra / page_cache_async_ra: filemap_fault dropped its lock for I/O
  PageCacheAdd = 21, // filemap:mm_filemap_add_to_page_cache: a page-cache miss was filled
  FilemapFault = 22, // filemap:mm_filemap_fault (6.3+): filemap_fault was called (fault-around did not map the page)
  FilemapMapPages = 23, // filemap:mm_filemap_map_pages (6.3+): filemap_map_pages mapped cached pages of this range
}

export const KIND_NAMES: Record<Kind, string> = {
  [Kind.FaultUser]: 'fault_user',
  [Kind.FaultKernel]: 'fault_kernel',
  [Kind.SysEnter]: 'sys_enter',
  [Kind.SysExit]: 'sys_exit',
  [Kind.SysArgs]: 'sys_args',
  [Kind.SysRet]: 'sys_ret',
  [Kind.LockStart]: 'lock_start',
  [Kind.LockAcquire]: 'lock_acquire',
  [Kind.LockRelease]: 'lock_release',
  [Kind.UnmappedArea]: 'vm_unmapped_area',
  [Kind.ExitMmap]: 'exit_mmap',
  [Kind.Fork]: 'fork',
  [Kind.Exec]: 'exec',
  [Kind.Exit]: 'exit',
  [Kind.NewTask]: 'task_newtask',
  [Kind.Mmap2]: 'mmap2',
  [Kind.Comm]: 'comm',
  [Kind.MapleWrite]: 'ma_write',
  [Kind.Marker]: 'marker',
  [Kind.Readahead]: 'readahead',
  [Kind.PageCacheAdd]: 'page_cache_add',
  [Kind.FilemapFault]: 'filemap_fault',
  [Kind.FilemapMapPages]: 'filemap_map_pages',
}

/**
 * One trace event. `a`..`f` and `text` carry kind-specific fields (see FIELD_NAMES); this flat shape keeps the
 * hot parse → insert path free of per-kind allocation, and the store's typed views give the fields their names.
 */
export interface TraceEvent {
  kind: Kind
  line: number // 1-based source line
  ts: U64 // ns on the trace clock
  tid: number
  tgid: number | null // null when the format does not say (perf without -F +pid); resolved later
  cpu: number | null
  comm: string
  a: U64 | null
  b: U64 | null
  c: U64 | null
  d: U64 | null
  e: U64 | null
  f: U64 | null
  text: string | null
}

/** What a..f and text mean per kind; drives the store's views and docs/schema.md. */
export const FIELD_NAMES: Partial<Record<Kind, Partial<Record<'a' | 'b' | 'c' | 'd' | 'e' | 'f' | 'text', string>>>> = {
  [Kind.FaultUser]: {a: 'address', b: 'ip', c: 'error_code', text: 'ip_symbol'},
  [Kind.FaultKernel]: {a: 'address', b: 'ip', c: 'error_code', text: 'ip_symbol'},
  [Kind.SysEnter]: {a: 'nr', b: 'arg0', c: 'arg1', d: 'arg2', e: 'arg3', f: 'arg4', text: 'args_hex'},
  [Kind.SysExit]: {a: 'nr', b: 'ret'},
  [Kind.SysArgs]: {a: 'nr', b: 'arg0', c: 'arg1', d: 'arg2', e: 'arg3', f: 'arg4', text: 'name'},
  [Kind.SysRet]: {a: 'nr', b: 'ret', text: 'name'},
  // kernels <= 6.13 print memcg_path instead of memcg_id: d numbers the paths, meta 'memcg_path.<d>' names them
  [Kind.LockStart]: {a: 'write', c: 'memcg_id', d: 'memcg_path_id', text: 'mm'},
  [Kind.LockAcquire]: {a: 'write', b: 'success', c: 'memcg_id', d: 'memcg_path_id', text: 'mm'},
  [Kind.LockRelease]: {a: 'write', c: 'memcg_id', d: 'memcg_path_id', text: 'mm'},
  [Kind.UnmappedArea]: {a: 'addr', b: 'err', c: 'len', d: 'flags', e: 'lo', f: 'hi'},
  [Kind.ExitMmap]: {text: 'mt'},
  [Kind.Fork]: {a: 'parent_pid', b: 'child_pid', text: 'child_comm'},
  [Kind.Exec]: {a: 'pid', b: 'old_pid', text: 'filename'},
  [Kind.Exit]: {a: 'pid', b: 'group_dead'},
  [Kind.NewTask]: {a: 'pid', b: 'clone_flags', text: 'comm'},
  [Kind.Mmap2]: {a: 'start', b: 'len', c: 'pgoff', d: 'ino', e: 'prot', f: 'flags', text: 'perms_path'},
  [Kind.Comm]: {a: 'pid', text: 'comm'},
  [Kind.MapleWrite]: {a: 'range_min', b: 'range_max', text: 'fn'},
  [Kind.Marker]: {text: 'message'},
  [Kind.Readahead]: {a: 'ino', b: 'page_index'},
  [Kind.PageCacheAdd]: {a: 'ino', b: 'file_offset'},
  [Kind.FilemapFault]: {a: 'ino', b: 'file_offset'},
  [Kind.FilemapMapPages]: {a: 'ino', b: 'file_offset', c: 'last_offset'},
}

/** A window in which the tracer dropped events (`CPU:N [LOST M EVENTS]`): outcomes inside it are low confidence. */
export interface LostWindow {
  line: number
  cpu: number | null
  count: number | null // null: the tracer did not know how many
  ts: U64 // first event after the marker on the trace clock, or the marker's position
}

/** A line the importer could not use. */
export interface ParseProblem {
  line: number
  reason: string
  excerpt: string
}

/** A VMA from a /proc/PID/maps snapshot (or a PERF_RECORD_MMAP2 line). */
export interface MapsEntry {
  start: U64
  end: U64
  perms: string // e.g. "rw-p"
  offset: U64
  dev: string
  inode: number
  path: string // "" for anonymous; "[heap]", "[stack]", "[vdso]", file path
}

/** Where an importer delivers what it reads, in file order (a sink keeps the hot path free of wrapper objects). */
export interface ImportSink {
  event(e: TraceEvent): void
  lost(l: LostWindow): void
  problem(p: ParseProblem): void
  unknown(name: string, line: number): void // a well-formed event the model does not use: counted by name
  meta(key: string, value: string): void // header facts: tracer, entries-written, kernel version, clock
}

/** One importer per format: fed one line at a time (without its newline), synchronously. */
export interface LineImporter {
  readonly format: TraceFormat
  feed(line: string, lineNo: number): void
  finish(): void
}

/** Every input format, once: `--format`'s choices come from here, and parse/detect.ts must map each to its reader
 * (the compiler checks the map is complete). */
export const TRACE_FORMATS = ['ftrace', 'perf', 'csv', 'tracedat'] as const
export type TraceFormat = (typeof TRACE_FORMATS)[number]
