// What the trace does not say about the address space, inferred and marked as inferred: VMAs that existed before
// tracing began (maps snapshot, PERF_RECORD_MMAP2, or the first fault that lands outside every known VMA), which
// file a mapping shows, and whether a VMA already has an anon_vma.
import {installVma, PAGE_SIZE, VM_GROWSDOWN, type FileRef, type Kernel, type Mm, type Vma} from '../kernel/index.js'

const PROT_READ = 1
const PROT_WRITE = 2
const PROT_EXEC = 4
const X86_PF_INSTR = 0x10
const X86_PF_WRITE = 0x2
/** An inferred region grows to cover later faults within this distance (an ELF segment or bss is a few MiB). */
const INFER_JOIN_BYTES = 2 * 2 ** 20
/** An inferred region's real protections are unknown: it allows every access, so no fault on it is an access error. */
const INFERRED_PROT = PROT_READ | PROT_WRITE | PROT_EXEC
/** setup_arg_pages expands the new stack by 128 KiB below the argument pages (fs/exec.c stack_expand). */
const EXEC_STACK_EXPAND = 128 * 1024
/**
 * How far above the stack's first user fault the argument pages begin: create_elf_tables puts argc, argv, envp
 * and auxv below bprm->p after arch_align_stack moved it down by a random 0–8 KiB, all in pages the kernel wrote,
 * so the first page user code faults is 1–3 pages below the lowest argument page; 2 is the middle.
 */
const ARG_PAGES_ABOVE_FIRST_FAULT = 2 * PAGE_SIZE

/** The VMAs this replay inferred. VMA objects are reused after free (6.15+), so membership is per incarnation. */
export class InferredVmas {
  // By vma.id (a kernel numbers its VMAs from 1): the incarnation inferred, -1 for none. Asked once per fault,
  // so an array (kept dense) rather than a Map keyed by object.
  private readonly seen: number[] = []
  add(v: Vma): void {
    while (this.seen.length <= v.id) this.seen.push(-1)
    this.seen[v.id] = v.incarnation
  }
  has(v: Vma): boolean {
    return this.seen[v.id] === v.incarnation
  }
  delete(v: Vma): void {
    if (v.id < this.seen.length) this.seen[v.id] = -1
  }
}

/**
 * Special mappings (vdso/vvar) fault through ->fault without ->map_pages; device mappings likewise. `//anon` is
 * what perf names a private anonymous mapping in PERF_RECORD_MMAP2.
 */
export function fileFor(path: string, inode: number, dev: string): FileRef | null {
  if (path === '' || path === '//anon' || path === '[heap]' || path === '[stack]' || path.startsWith('[anon'))
    return null
  if (path.startsWith('[')) return {id: path, mapPages: false}
  const device = path.startsWith('/dev/') && !path.startsWith('/dev/shm/')
  return {id: inode !== 0 ? `${dev}:${inode}` : path, mapPages: !device, path}
}

function protOf(perms: string): number {
  return (perms[0] === 'r' ? PROT_READ : 0) | (perms[1] === 'w' ? PROT_WRITE : 0) | (perms[2] === 'x' ? PROT_EXEC : 0)
}

export interface KnownMapping {
  start: number
  end: number
  perms: string
  offset: number
  dev: string
  inode: number
  path: string
}

/**
 * Where a mapping the trace reports without its mmap comes from: a maps snapshot of memory that existed before
 * tracing ('snapshot'), exec's own mappings (PERF_RECORD_MMAP2 before sched_process_exec: 'exec'), or any other
 * PERF_RECORD_MMAP2 ('mmap').
 */
export type KnownOrigin = 'snapshot' | 'exec' | 'mmap'

/**
 * Installs a mapping the trace reports without its mmap (maps snapshot, PERF_RECORD_MMAP2). A private writable
 * mapping that already existed has been written in all likelihood, so it gets an anon_vma. Of exec's mappings, an
 * ELF segment with a bss has its last file page zeroed by the kernel (elf_load → padzero: a COW write, so the VMA
 * gets an anon_vma); the bss itself (vm_brk_flags) is a fresh anonymous VMA that has none.
 */
export function installKnown(k: Kernel, mm: Mm, m: KnownMapping, origin: KnownOrigin): Vma | null {
  if (m.start < 0 || m.end <= m.start || m.end > 2 ** 47) return null // [vsyscall] and other kernel-half entries
  for (const v of mm.vmasIn(m.start, m.end)) if (v.start < m.start || v.end > m.end) return null // a live VMA the record would cut: keep the live one
  const shared = m.perms[3] === 's'
  const file = fileFor(m.path, m.inode, m.dev)
  const writablePrivate = m.perms[1] === 'w' && !shared
  const vma = installVma(k, mm, {
    start: m.start,
    end: m.end,
    prot: protOf(m.perms),
    shared,
    flags: m.path === '[stack]' ? VM_GROWSDOWN : 0,
    file,
    pgoff: file !== null ? Math.floor(m.offset / PAGE_SIZE) : undefined,
    anonVma:
      m.path === '[stack]' || (writablePrivate && (origin === 'snapshot' || (origin === 'exec' && file !== null))),
  })
  if (m.path === '[heap]') {
    mm.startBrk = m.start
    mm.brk = m.end
  }
  return vma
}

/**
 * Regions exec mapped (load_elf_binary), from the `mmap:vm_unmapped_area` events inside the execve: the ELF
 * interpreter's span first, and last the vDSO with its vvar pages (arch_setup_additional_pages). The vDSO and
 * vvar are special mappings whose faults call ->fault without ->map_pages (vmf_can_call_fault → RETRY).
 */
export function installExecAreas(
  k: Kernel,
  mm: Mm,
  areas: {addr: number; len: number}[],
  inferred: InferredVmas,
  filename?: string,
): void {
  areas.forEach((a, i) => {
    if (a.len <= 0 || a.addr <= 0 || a.addr + a.len > 2 ** 47) return
    const vdso = i === areas.length - 1 && areas.length > 1
    // the program's (or its interpreter's) segments, named after the program exec'd; the parts no PERF_RECORD_MMAP2
    // described (perf records the vDSO's text but not its vvar pages)
    let from = a.addr
    for (const v of [...mm.vmasIn(a.addr, a.addr + a.len), null]) {
      const to = v === null ? a.addr + a.len : v.start
      if (to > from) {
        const vma = installVma(k, mm, {
          start: from,
          end: to,
          prot: vdso ? PROT_READ | PROT_EXEC : PROT_READ | PROT_WRITE | PROT_EXEC,
          file: vdso
            ? {id: `[vdso]@${from}`, mapPages: false}
            : {id: `exec@${from}`, mapPages: true, approximate: true, path: filename},
          anonVma: !vdso, // padzero wrote the interpreter's data segment
        })
        inferred.add(vma)
      }
      if (v !== null) from = Math.max(from, v.end)
    }
  })
}

/**
 * A kernel write fault inside execve outside exec's known mappings: elf_load's padzero zeroing the tail of an ELF
 * segment's last file page, a COW write that gives that (file-backed, private) VMA its anon_vma. The segment's bss
 * starts on the next page: vm_brk_flags made it a fresh anonymous VMA, without anon_vma until its first write.
 * Both are installed one page long and grow with later faults (inferVma).
 */
export function installPadzero(k: Kernel, mm: Mm, address: number, inferred: InferredVmas): void {
  const page = Math.floor(address / PAGE_SIZE) * PAGE_SIZE
  if (page <= 0 || page + 2 * PAGE_SIZE > 2 ** 47 || mm.vmasIn(page, page + 2 * PAGE_SIZE).length > 0) return
  inferred.add(
    installVma(k, mm, {
      start: page,
      end: page + PAGE_SIZE,
      prot: INFERRED_PROT,
      file: {id: `padzero@${page}`, mapPages: true, approximate: true},
      anonVma: true,
    }),
  )
  inferred.add(
    installVma(k, mm, {start: page + PAGE_SIZE, end: page + 2 * PAGE_SIZE, prot: INFERRED_PROT, anonVma: false}),
  )
}

/**
 * The first fault at an address no known VMA covers: the VMA predates the trace (exec-time ELF segments, a
 * mapping made before attach). Its extent grows with later faults nearby. An instruction fetch means text
 * (file-backed, read-only); otherwise private anonymous memory that already has an anon_vma: memory mapped
 * before tracing began has been written, and exec's own mappings are written by the kernel itself (the stack
 * by copy_strings, an ELF data segment's tail by padzero), so none of them takes the anon_vma trylock again.
 * Returns null when the kernel's own stack growth should handle the address.
 */
export function inferVma(
  k: Kernel,
  mm: Mm,
  address: number,
  errorCode: number,
  inferred: InferredVmas,
  vdsoNearStack = false,
): Vma | null {
  if (address < 0 || address >= 2 ** 47) return null
  const page = Math.floor(address / PAGE_SIZE) * PAGE_SIZE
  const above = mm.findVma(address)
  const text = (errorCode & X86_PF_INSTR) !== 0
  if (above !== null && (above.flags & VM_GROWSDOWN) !== 0) {
    if (above.start - page <= k.stackRlimit) return null // the kernel's own stack growth
    if (mm.findVma(page + PAGE_SIZE) === above && !text && mm.vmasIn(page, above.start).length === 0) {
      if (vdsoNearStack && (errorCode & X86_PF_WRITE) === 0) {
        // A read of a page exec never wrote, above every mapping, on a kernel that puts the vDSO within 2 MiB above
        // the stack (map_vdso_randomized → vdso_addr(start_stack), placed by hint: no vm_unmapped_area event): ld.so
        // reading the vDSO's ELF header, not the stack, whose top pages copy_strings/create_elf_tables wrote.
        const vdso = installVma(k, mm, {
          start: page,
          end: page + 2 * PAGE_SIZE,
          prot: PROT_READ | PROT_EXEC,
          file: {id: `[vdso]@${page}`, mapPages: false},
        })
        inferred.add(vdso)
        return vdso
      }
      // Above every mapping: the process stack exec set up (the top of the address space is the stack on x86-64).
      const bottom = page + ARG_PAGES_ABOVE_FIRST_FAULT - EXEC_STACK_EXPAND
      const floor = mm.vmasIn(Math.max(0, bottom), page).at(-1)?.end ?? 0
      const stack = installVma(k, mm, {
        start: Math.max(PAGE_SIZE, bottom, floor),
        end: page + PAGE_SIZE,
        prot: PROT_READ | PROT_WRITE,
        flags: VM_GROWSDOWN,
        anonVma: true,
      })
      inferred.add(stack)
      return stack
    }
  }
  const below = mm.vmasIn(Math.max(0, page - INFER_JOIN_BYTES), page).at(-1)
  if (below !== undefined && inferred.has(below) && (text ? below.file !== null : below.file === null)) {
    // grow the inferred region up to this page, in place: the same VMA as far as the kernel is concerned (one that
    // existed all along), which another thread's fault may be holding under its VMA lock meanwhile
    below.end = page + PAGE_SIZE
    mm.tree.store(below.start, below.end, below)
    return below
  }
  const vma = installVma(k, mm, {
    start: page,
    end: above === null ? page + PAGE_SIZE : Math.min(page + PAGE_SIZE, above.start),
    prot: INFERRED_PROT,
    file: text ? {id: `inferred-text:${page}`, mapPages: true, approximate: true} : null,
    anonVma: !text,
  })
  inferred.add(vma)
  return vma
}
