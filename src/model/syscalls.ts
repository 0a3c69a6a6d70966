// x86-64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl) for the calls the tool names in reports.
const X86_64: Record<number, string> = {
  0: 'read', 1: 'write', 2: 'open', 3: 'close', 4: 'stat', 5: 'fstat', 6: 'lstat', 7: 'poll', 8: 'lseek',
  9: 'mmap', 10: 'mprotect', 11: 'munmap', 12: 'brk', 13: 'rt_sigaction', 14: 'rt_sigprocmask',
  15: 'rt_sigreturn', 16: 'ioctl', 17: 'pread64', 18: 'pwrite64', 19: 'readv', 20: 'writev', 21: 'access',
  22: 'pipe', 23: 'select', 24: 'sched_yield', 25: 'mremap', 26: 'msync', 27: 'mincore', 28: 'madvise',
  29: 'shmget', 30: 'shmat', 31: 'shmctl', 32: 'dup', 33: 'dup2', 35: 'nanosleep', 39: 'getpid',
  41: 'socket', 42: 'connect', 44: 'sendto', 45: 'recvfrom', 56: 'clone', 57: 'fork', 58: 'vfork',
  59: 'execve', 60: 'exit', 61: 'wait4', 62: 'kill', 63: 'uname', 67: 'shmdt', 72: 'fcntl', 78: 'getdents',
  79: 'getcwd', 89: 'readlink', 96: 'gettimeofday', 97: 'getrlimit', 102: 'getuid', 158: 'arch_prctl',
  149: 'mlock', 150: 'munlock', 151: 'mlockall', 152: 'munlockall', 157: 'prctl', 186: 'gettid',
  202: 'futex', 204: 'sched_getaffinity', 216: 'remap_file_pages', 217: 'getdents64', 218: 'set_tid_address',
  228: 'clock_gettime', 230: 'clock_nanosleep', 231: 'exit_group', 232: 'epoll_wait', 233: 'epoll_ctl',
  234: 'tgkill', 237: 'mbind', 257: 'openat', 262: 'newfstatat', 270: 'pselect6', 273: 'set_robust_list',
  280: 'utimensat', 281: 'epoll_pwait', 290: 'eventfd2', 293: 'pipe2', 302: 'prlimit64', 318: 'getrandom',
  319: 'memfd_create', 322: 'execveat', 323: 'userfaultfd', 325: 'mlock2', 329: 'pkey_mprotect',
  330: 'pkey_alloc', 331: 'pkey_free', 332: 'statx', 334: 'rseq', 435: 'clone3', 439: 'faccessat2',
  440: 'process_madvise', 441: 'epoll_pwait2', 447: 'memfd_secret', 449: 'futex_waitv', 453: 'map_shadow_stack',
  462: 'mseal',
}

const BY_NAME = new Map(Object.entries(X86_64).map(([nr, name]) => [name, Number(nr)]))
const nr = (name: string): number => BY_NAME.get(name)!

/** The numbers the replay dispatches on, by name (from the table above, so each number is written once). */
export const NR = Object.freeze({
  close: nr('close'),
  mmap: nr('mmap'),
  mprotect: nr('mprotect'),
  munmap: nr('munmap'),
  brk: nr('brk'),
  mremap: nr('mremap'),
  madvise: nr('madvise'),
  clone: nr('clone'),
  fork: nr('fork'),
  vfork: nr('vfork'),
  execve: nr('execve'),
  mlock: nr('mlock'),
  munlock: nr('munlock'),
  mlockall: nr('mlockall'),
  munlockall: nr('munlockall'),
  execveat: nr('execveat'),
  mlock2: nr('mlock2'),
  pkey_mprotect: nr('pkey_mprotect'),
  clone3: nr('clone3'),
})

export function syscallName(nr: number): string {
  return X86_64[nr] ?? `nr_${nr}`
}

export function syscallNr(name: string): number | undefined {
  return BY_NAME.get(name)
}
