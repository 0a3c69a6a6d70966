// x86-64 syscall numbers for the syscall-specific tracepoints (syscalls:sys_enter_X / ftrace `sys_X(...)`), whose
// lines name the syscall but not its number. Covers the address-space and task-lifetime calls; other names get
// nr = null (the raw sys_enter that precedes them carries the number anyway).

const X86_64: Record<string, number> = {
  read: 0,
  write: 1,
  close: 3,
  mmap: 9,
  mprotect: 10,
  munmap: 11,
  brk: 12,
  mremap: 25,
  msync: 26,
  mincore: 27,
  madvise: 28,
  shmat: 30,
  clone: 56,
  fork: 57,
  vfork: 58,
  execve: 59,
  exit: 60,
  shmdt: 67,
  mlock: 149,
  munlock: 150,
  mlockall: 151,
  munlockall: 152,
  prctl: 157,
  futex: 202,
  remap_file_pages: 216,
  exit_group: 231,
  mbind: 237,
  set_mempolicy: 238,
  migrate_pages: 256,
  openat: 257,
  move_pages: 279,
  memfd_create: 319,
  execveat: 322,
  userfaultfd: 323,
  membarrier: 324,
  mlock2: 325,
  pkey_mprotect: 329,
  pkey_alloc: 330,
  pkey_free: 331,
  clone3: 435,
  process_madvise: 440,
  memfd_secret: 447,
  process_mrelease: 448,
  set_mempolicy_home_node: 450,
  map_shadow_stack: 453,
  mseal: 462,
}

const BY_NAME = new Map<string, number>(Object.entries(X86_64))

/** x86-64 number of a syscall by name (`mmap`, not `sys_mmap`), or null when not in the table. */
export function syscallNr(name: string): number | null {
  return BY_NAME.get(name) ?? null
}

/** The table's names, for interning names read from bytes (see internedSyscall). */
export const SYSCALL_NAMES: readonly string[] = Object.keys(X86_64)
