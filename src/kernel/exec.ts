// exec's address-space switch (fs/exec.c exec_mmap) and load_elf_binary's write locks (fs/binfmt_elf.c).
import type {Step} from '../sim/scheduler.js'
import type {Kernel} from './kernel.js'
import {mmapReadLock, mmapReadUnlock, mmapWriteLock, mmapWriteUnlock, TASK_SIZE, type Mm} from './mm.js'
import type {Task} from './task.js'
import {anonVmaPrepare, insertRange} from './vma-ops.js'
import {PAGE_SHIFT, PAGE_SIZE, VM_GROWSDOWN, VM_READ, VM_WRITE} from './vma.js'
import {mmput} from './fork.js'
import {type Traced, holdOf} from './syscall-common.js'

export interface ExecArgs extends Traced {
  /** Top of the new stack VMA (default: just below TASK_SIZE). */
  stackTop?: number
  /** Initial stack VMA size (default 128 KiB, setup_arg_pages' stack_expand). */
  stackSize?: number
}

/**
 * execve's mm switch: bprm_mm_init builds the new mm with its stack VMA under the new mm's write lock;
 * the arguments are copied onto it (copyStringsLocks); exec_mmap read-locks the old mm, switches, and mmput()s it (exit_mmap if it was the last user). ELF mappings
 * are left to the caller (replay them as mmaps, or install them).
 */
export function* execMmap(k: Kernel, t: Task, a: ExecArgs = {}): Step<Mm> {
  const mm = k.createMm()
  const top = a.stackTop ?? TASK_SIZE - PAGE_SIZE
  const size = a.stackSize ?? 128 * 1024
  yield* mmapWriteLock(k, t, mm)
  const stack = yield* insertRange(k, t, mm, top - size, top, {
    flags: VM_READ | VM_WRITE | VM_GROWSDOWN,
    file: null,
    pgoff: (top - size) >> PAGE_SHIFT,
    anonVma: null,
    uffdCtx: 0,
  })
  anonVmaPrepare(k, stack) // argv/envp are copied into it
  mmapWriteUnlock(k, t, mm)
  yield* copyStringsLocks(k, t, mm)
  const old = t.mm
  if (old !== null) {
    yield* mmapReadLock(k, t, old)
    mmapReadUnlock(k, t, old)
  }
  t.mm = mm
  mm.users++
  if (old !== null) yield* mmput(k, t, old)
  yield* loadElfLocks(k, t, mm)
  yield holdOf(a, k.costs.execNs)
  return mm
}

/**
 * The read-lock sections of copying the filename, envp and argv onto the new stack (fs/exec.c
 * do_execveat_common, 6.1–6.18): copy_string_kernel(bprm->filename), copy_strings(envc), copy_strings(argc) (or
 * copy_string_kernel("") when argv is empty) each call get_arg_page for the first page they touch, and
 * get_arg_page takes mmap_read_lock(bprm->mm) around get_user_pages_remote. A trace does not show the strings'
 * sizes, so each counts as one page, as for an environment under 4 KiB; real 6.1 and 6.12 execs show these three.
 */
export const ARG_PAGE_READ_LOCKS = 3

function* copyStringsLocks(k: Kernel, t: Task, mm: Mm): Step<void> {
  for (let i = 0; i < ARG_PAGE_READ_LOCKS; i++) {
    yield* mmapReadLock(k, t, mm)
    mmapReadUnlock(k, t, mm)
  }
}

/**
 * The write-lock sections load_elf_binary (fs/binfmt_elf.c, 6.1–6.18) takes on the new mm after the switch, each an
 * mmap_write_lock_killable: setup_arg_pages; for the binary and for its interpreter, one vm_mmap per PT_LOAD (4 in
 * a dynamically linked x86-64 PIE and in ld.so) plus the vm_munmap of the tail of the first one, mapped at
 * total_mapping_size; the bss brk (vm_brk_flags); map_vdso. Real 6.1 and 6.12 execs of /bin/true and /bin/sh take
 * 14–15 write locks, bprm_mm_init's included. Their time is part of execNs; the mappings themselves come from the
 * trace (exec's vm_unmapped_area events) or are inferred.
 */
export const ELF_LOAD_WRITE_LOCKS = 1 + 2 * (4 + 1) + 1 + 1

function* loadElfLocks(k: Kernel, t: Task, mm: Mm): Step<void> {
  for (let i = 0; i < ELF_LOAD_WRITE_LOCKS; i++) {
    yield* mmapWriteLock(k, t, mm)
    mmapWriteUnlock(k, t, mm)
  }
}
