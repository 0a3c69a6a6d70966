// The "newc" cpio format the kernel unpacks as initramfs (Documentation/driver-api/early-userspace/buffer-format.rst),
// written here so the image is byte-for-byte reproducible (fixed inodes, owner root, mtime 0) and needs no cpio binary.

export type CpioEntry =
  | {type: 'dir'; path: string; mode?: number}
  | {type: 'file'; path: string; data: Buffer; mode?: number}
  | {type: 'symlink'; path: string; target: string}
  | {type: 'char'; path: string; major: number; minor: number; mode?: number}

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000
const S_IFCHR = 0o020000

const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4)
const hex8 = (n: number): string => n.toString(16).padStart(8, '0')

function record(ino: number, mode: number, name: string, data: Buffer, rdev: [number, number] = [0, 0]): Buffer[] {
  const nameBuf = Buffer.from(name + '\0', 'utf8')
  const fields = [ino, mode, 0, 0, mode & S_IFDIR ? 2 : 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBuf.length, 0]
  const header = Buffer.from('070701' + fields.map(hex8).join(''), 'latin1')
  return [header, nameBuf, pad4(header.length + nameBuf.length), data, pad4(data.length)]
}

/** A newc archive of `entries` (in the order given; parents must come before their children) and the trailer. */
export function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = []
  entries.forEach((e, i) => {
    const name = e.path.replace(/^\/+/, '')
    const ino = i + 1
    if (e.type === 'dir') parts.push(...record(ino, S_IFDIR | (e.mode ?? 0o755), name, Buffer.alloc(0)))
    else if (e.type === 'file') parts.push(...record(ino, S_IFREG | (e.mode ?? 0o644), name, e.data))
    else if (e.type === 'symlink') parts.push(...record(ino, S_IFLNK | 0o777, name, Buffer.from(e.target, 'utf8')))
    else parts.push(...record(ino, S_IFCHR | (e.mode ?? 0o600), name, Buffer.alloc(0), [e.major, e.minor]))
  })
  parts.push(...record(0, 0, 'TRAILER!!!', Buffer.alloc(0)))
  return Buffer.concat(parts)
}

export interface CpioListing {
  path: string
  mode: number
  size: number
}

/** The entries of a newc archive (for `lab kernels --json` and the tests). */
export function listCpio(b: Buffer): CpioListing[] {
  const out: CpioListing[] = []
  let at = 0
  while (at + 110 <= b.length) {
    if (b.toString('latin1', at, at + 6) !== '070701') throw new Error(`cpio: bad magic at offset ${at}`)
    const field = (i: number): number => parseInt(b.toString('latin1', at + 6 + i * 8, at + 14 + i * 8), 16)
    const mode = field(1)
    const size = field(6)
    const nameSize = field(11)
    const name = b.toString('utf8', at + 110, at + 110 + nameSize - 1)
    at += 110 + nameSize
    at += (4 - (at % 4)) % 4
    if (name === 'TRAILER!!!') break
    out.push({path: name, mode, size})
    at += size
    at += (4 - (at % 4)) % 4
  }
  return out
}
