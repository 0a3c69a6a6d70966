// The tracepoints a capture enables, why, and their resolution against the running kernel.

export interface EventSpec {
  /** `subsystem:event` as in available_events / perf -e. */
  name: string
  /** Group, for docs and the meta file. */
  group: 'std' | 'kfault' | 'pagecache' | 'extra'
  why: string
}

export const MM_SYSCALLS = [
  'mmap',
  'munmap',
  'mprotect',
  'pkey_mprotect',
  'mremap',
  'brk',
  'madvise',
  'mlock',
  'mlock2',
  'munlock',
  'mlockall',
  'munlockall',
] as const

/** The corpus' standard set ("std", /work/shared/traces/real/README.md), same order as cap.sh. */
export const STD_EVENTS: readonly EventSpec[] = [
  {
    name: 'exceptions:page_fault_user',
    group: 'std',
    why: 'every user-mode fault: the replay drives the fault path (per-VMA lock or mmap_lock) from these',
  },
  {
    name: 'raw_syscalls:sys_enter',
    group: 'std',
    why: 'every syscall entry by number: syscall context of lock events (read/clone/execve also take mmap_lock)',
  },
  {name: 'raw_syscalls:sys_exit', group: 'std', why: 'every syscall exit with its return value'},
  {
    name: 'mmap_lock:mmap_lock_start_locking',
    group: 'std',
    why: 'mmap_lock acquisition attempts (read/write); validation of the lock model',
  },
  {
    name: 'mmap_lock:mmap_lock_acquire_returned',
    group: 'std',
    why: 'mmap_lock acquired or trylock failed (success=false); downgrades',
  },
  {name: 'mmap_lock:mmap_lock_released', group: 'std', why: 'mmap_lock release: hold times'},
  {
    name: 'mmap:vm_unmapped_area',
    group: 'std',
    why: 'address chosen by get_unmapped_area (exec/ELF mappings without mmap syscalls)',
  },
  {name: 'mmap:exit_mmap', group: 'std', why: 'address-space teardown (exit, execve of the old mm)'},
  {name: 'sched:sched_process_fork', group: 'std', why: 'new processes/threads (dup_mmap copies VMAs)'},
  {name: 'sched:sched_process_exec', group: 'std', why: 'execve: new address space'},
  {name: 'sched:sched_process_exit', group: 'std', why: 'thread/process exit (exit_mm lock, exit_mmap)'},
  {name: 'task:task_newtask', group: 'std', why: 'clone flags: CLONE_THREAD/CLONE_VM tell threads from processes'},
  ...MM_SYSCALLS.flatMap((s): EventSpec[] => [
    {name: `syscalls:sys_enter_${s}`, group: 'std', why: `${s}(2) arguments: the VMA changes the replay applies`},
    {name: `syscalls:sys_exit_${s}`, group: 'std', why: `${s}(2) result (mapped address, error)`},
  ]),
]

export const KFAULT_EVENTS: readonly EventSpec[] = [
  {
    name: 'exceptions:page_fault_kernel',
    group: 'kfault',
    why: 'kernel-mode faults on user memory (copy_to_user in read(), execve, fork child) never use the per-VMA lock on x86: they always take mmap_lock',
  },
]

/** Page-cache and readahead events: tell the replay whether a file fault hit the page cache or needed I/O. */
export const PAGECACHE_EVENTS: readonly EventSpec[] = [
  {
    name: 'filemap:mm_filemap_add_to_page_cache',
    group: 'pagecache',
    why: 'a folio entered the page cache (it was read from disk): the fault/read that caused it waited for I/O (VM_FAULT_RETRY drops the lock)',
  },
  {
    name: 'filemap:mm_filemap_delete_from_page_cache',
    group: 'pagecache',
    why: 'a folio left the page cache (reclaim, truncate): later faults on it miss again',
  },
  {
    name: 'filemap:mm_filemap_fault',
    group: 'pagecache',
    why: 'filemap_fault() was called for a file page (fault-around did not map it); the handler running again after it is a VM_FAULT_RETRY for I/O',
  },
  {
    name: 'filemap:mm_filemap_map_pages',
    group: 'pagecache',
    why: 'fault-around mapped a range of already cached pages (no I/O, no lock drop); after mm_filemap_fault in one fault, the retry',
  },
  {
    name: 'filemap:mm_filemap_get_pages',
    group: 'pagecache',
    why: 'read(2)-path page-cache lookups: file ranges that become warm without faults',
  },
  {
    name: 'readahead:page_cache_sync_ra',
    group: 'pagecache',
    why: 'synchronous readahead on a cache miss: the fault/read blocks on I/O',
  },
  {
    name: 'readahead:page_cache_async_ra',
    group: 'pagecache',
    why: 'asynchronous readahead triggered by a PG_readahead page',
  },
]

export interface EventChoice {
  kfault: boolean
  pagecache: boolean
  extra: readonly string[]
}

export function requestedEvents(choice: EventChoice): EventSpec[] {
  const out: EventSpec[] = [...STD_EVENTS]
  if (choice.kfault) out.push(...KFAULT_EVENTS)
  if (choice.pagecache) out.push(...PAGECACHE_EVENTS)
  for (const name of choice.extra) {
    if (!out.some((e) => e.name === name)) out.push({name, group: 'extra', why: 'requested with --event'})
  }
  return out
}

export interface ResolvedEvents {
  enabled: EventSpec[]
  missing: EventSpec[]
}

/** Split the requested events into those this kernel has and those it does not. */
export function resolveEvents(requested: readonly EventSpec[], available: ReadonlySet<string>): ResolvedEvents {
  const enabled: EventSpec[] = []
  const missing: EventSpec[] = []
  for (const e of requested) (available.has(e.name) ? enabled : missing).push(e)
  return {enabled, missing}
}

/** `sys:event` -> [`sys`, `event`]; throws on a malformed name. */
export function splitEvent(name: string): [string, string] {
  const i = name.indexOf(':')
  if (i <= 0 || i === name.length - 1 || name.indexOf(':', i + 1) !== -1 || /[\s/]/.test(name)) {
    throw new Error(`bad event name ${JSON.stringify(name)} (expected subsystem:event)`)
  }
  return [name.slice(0, i), name.slice(i + 1)]
}

export function parseAvailableEvents(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.includes(':')),
  )
}
