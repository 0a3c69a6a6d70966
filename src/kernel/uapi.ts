// The user-space ABI constants the calls take and return (include/uapi/asm-generic/mman-common.h, mman.h,
// errno-base.h; x86-64 values).

export const PROT_READ = 0x1
export const PROT_WRITE = 0x2
export const PROT_EXEC = 0x4
export const PROT_SEM = 0x8
export const PROT_GROWSDOWN = 0x01000000
export const PROT_GROWSUP = 0x02000000
/** arch_validate_prot's generic form (x86 has no override): the bits mprotect accepts. */
export const PROT_VALID = PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM
/** errno values (include/uapi/asm-generic/errno-base.h) the model returns; calls return them negated. */
export const EBADF = 9
export const ENOMEM = 12
export const EFAULT = 14
export const EINVAL = 22
export const MAP_SHARED = 0x01
export const MAP_PRIVATE = 0x02
export const MAP_TYPE = 0x0f
export const MAP_FIXED = 0x10
export const MAP_ANONYMOUS = 0x20
export const MAP_GROWSDOWN = 0x100
export const MAP_LOCKED = 0x2000
export const MAP_NORESERVE = 0x4000
export const MAP_POPULATE = 0x8000
export const MAP_NONBLOCK = 0x10000
export const MAP_STACK = 0x20000
export const MAP_HUGETLB = 0x40000
export const MAP_FIXED_NOREPLACE = 0x100000
export const MREMAP_MAYMOVE = 1
export const MREMAP_FIXED = 2
export const MREMAP_DONTUNMAP = 4
export const MCL_CURRENT = 1
export const MCL_FUTURE = 2
export const MCL_ONFAULT = 4

export const MADV = Object.freeze({
  NORMAL: 0,
  RANDOM: 1,
  SEQUENTIAL: 2,
  WILLNEED: 3,
  DONTNEED: 4,
  FREE: 8,
  REMOVE: 9,
  DONTFORK: 10,
  DOFORK: 11,
  MERGEABLE: 12,
  UNMERGEABLE: 13,
  HUGEPAGE: 14,
  NOHUGEPAGE: 15,
  DONTDUMP: 16,
  DODUMP: 17,
  WIPEONFORK: 18,
  KEEPONFORK: 19,
  COLD: 20,
  PAGEOUT: 21,
  POPULATE_READ: 22,
  POPULATE_WRITE: 23,
  DONTNEED_LOCKED: 24,
  COLLAPSE: 25,
  HWPOISON: 100,
  SOFT_OFFLINE: 101,
  GUARD_INSTALL: 102,
  GUARD_REMOVE: 103,
})
