// One-line descriptions of traced operations for reports: "munmap 0x7f3a… 1.0 MiB", "madvise … DONTNEED".
import {Kind} from '../model/events.js'
import {bytes, hex} from './units.js'

const MADV_NAMES: Record<number, string> = {
  0: 'NORMAL',
  1: 'RANDOM',
  2: 'SEQUENTIAL',
  3: 'WILLNEED',
  4: 'DONTNEED',
  8: 'FREE',
  9: 'REMOVE',
  10: 'DONTFORK',
  11: 'DOFORK',
  12: 'MERGEABLE',
  13: 'UNMERGEABLE',
  14: 'HUGEPAGE',
  15: 'NOHUGEPAGE',
  16: 'DONTDUMP',
  17: 'DODUMP',
  18: 'WIPEONFORK',
  19: 'KEEPONFORK',
  20: 'COLD',
  21: 'PAGEOUT',
  22: 'POPULATE_READ',
  23: 'POPULATE_WRITE',
  24: 'DONTNEED_LOCKED',
  25: 'COLLAPSE',
  100: 'HWPOISON',
  101: 'SOFT_OFFLINE',
  102: 'GUARD_INSTALL',
  103: 'GUARD_REMOVE',
}

function prot(p: number): string {
  return p === 0 ? 'PROT_NONE' : `${p & 1 ? 'r' : '-'}${p & 2 ? 'w' : '-'}${p & 4 ? 'x' : '-'}`
}

/** mmap flags as the few bits that decide locking: shared/private, anonymous, fixed, populate, stack. */
export function mmapKind(flags: number, fd: number | null): string {
  const anon = (flags & 0x20) !== 0 || fd === null || fd < 0 || fd > 0x7fffffff
  const shared = (flags & 0x3) === 0x1 || (flags & 0x3) === 0x3
  const parts = [anon ? (shared ? 'shmem' : 'anon') : shared ? `file shared (fd ${fd})` : `file (fd ${fd})`]
  if (flags & 0x10) parts.push('FIXED')
  if (flags & 0x8000) parts.push('POPULATE')
  if (flags & 0x100) parts.push('GROWSDOWN')
  return parts.join(' ')
}

export interface EventFacts {
  kind: number
  a: number | null
  b: number | null
  text: string | null
  name: string | null // syscall name when the event opens a syscall
  args: (number | null)[] // arg0..arg5
  ret: number | null
}

/** A short description of what the operation did, for a table cell. */
export function describeOp(op: string, f: EventFacts): string {
  const [a0, a1, a2, a3, a4] = f.args
  const size = (n: number | null): string => (n === null ? '?' : bytes(n))
  switch (f.name ?? op) {
    case 'mmap':
      return `mmap ${size(a1)} ${prot(a2 ?? 0)} ${mmapKind(a3 ?? 0, a4)}${f.ret !== null && f.ret >= 0 ? ` → ${hex(f.ret)}` : ''}`
    case 'munmap':
      return `munmap ${hex(a0)} ${size(a1)}`
    case 'mprotect':
    case 'pkey_mprotect':
      return `${f.name ?? op} ${hex(a0)} ${size(a1)} ${prot(a2 ?? 0)}`
    case 'madvise':
      return `madvise ${hex(a0)} ${size(a1)} ${MADV_NAMES[a2 ?? -1] ?? `advice ${a2}`}`
    case 'brk':
      return `brk ${hex(a0)}${f.ret !== null ? ` → ${hex(f.ret)}` : ''}`
    case 'mremap':
      return `mremap ${hex(a0)} ${size(a1)} → ${size(a2)}`
    case 'mlock':
    case 'mlock2':
    case 'munlock':
      return `${f.name ?? op} ${hex(a0)} ${size(a1)}`
    default:
      break
  }
  switch (f.kind) {
    case Kind.FaultUser:
    case Kind.FaultKernel:
      return `${f.kind === Kind.FaultKernel ? 'kernel ' : ''}fault ${hex(f.a)}`
    case Kind.Fork:
      return `fork → pid ${f.b ?? '?'}`
    case Kind.Exec:
      return `exec ${f.text ?? ''}`.trim()
    case Kind.Exit:
      return 'exit'
    default:
      return f.name ?? op
  }
}
