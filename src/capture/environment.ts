// The kernel settings a replay needs besides the trace: they decide which faults need an anon_vma, take a huge page
// or go through ->fault (THP), how ticks slice time (HZ), whether NUMA hinting faults appear, the page size.
// Read once per capture into meta.environment; every value is null when its file is absent or unreadable.

import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {gunzipSync} from 'node:zlib'

export interface CaptureEnvironment {
  thp: {
    /** /sys/kernel/mm/transparent_hugepage/enabled: the bracketed choice (always | madvise | never). */
    enabled: string | null
    defrag: string | null
    shmem_enabled: string | null
    use_zero_page: number | null
    /** Per-size (mTHP, 6.8+) hugepages-<size>/enabled, e.g. {"64kB": "never", "2048kB": "inherit"}. */
    sizes: Record<string, string>
  }
  /** CONFIG_HZ from the kernel's config, and the file it was read from. */
  hz: number | null
  hz_source: string | null
  /** CONFIG_BSD_PROCESS_ACCT (acct_collect read-locks the mm when a thread group dies), from the same file. */
  bsd_process_acct: boolean | null
  /** /proc/sys/kernel/numa_balancing (0 off, 1 NUMA hinting faults on, 2 memory tiering, …). */
  numa_balancing: number | null
  /** AT_PAGESZ from /proc/self/auxv. */
  page_size: number | null
}

const readText = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/** `always [madvise] never` -> `madvise`; a file without brackets (use_zero_page: `1`) is returned trimmed. */
export function selected(text: string | undefined): string | null {
  if (text === undefined) return null
  const m = /\[([^\]]+)\]/.exec(text)
  return m ? m[1]! : text.trim() || null
}

const int = (text: string | undefined): number | null =>
  text !== undefined && /^\s*\d+\s*$/.test(text) ? Number(text) : null

interface KernelConfig {
  hz: number | null
  bsdProcessAcct: boolean | null
  source: string | null
}

/** CONFIG_HZ and CONFIG_BSD_PROCESS_ACCT from /boot/config-RELEASE (Debian) or /proc/config.gz (CONFIG_IKCONFIG_PROC). */
export function readKernelConfig(root: string, release: string): KernelConfig {
  const fromText = (t: string, source: string): KernelConfig => ({
    hz: int(/^CONFIG_HZ=(\d+)$/m.exec(t)?.[1]),
    // a config file lists an unset option as "# CONFIG_X is not set"
    bsdProcessAcct: /^CONFIG_BSD_PROCESS_ACCT=y$/m.test(t),
    source,
  })
  const boot = path.join(root, 'boot', `config-${release}`)
  const t = readText(boot)
  if (t !== undefined) return fromText(t, boot)
  const gz = path.join(root, 'proc', 'config.gz')
  try {
    return fromText(gunzipSync(fs.readFileSync(gz)).toString('utf8'), gz)
  } catch {
    return {hz: null, bsdProcessAcct: null, source: null}
  }
}

/** AT_PAGESZ (6) in an auxv dump: 64-bit little-endian (type, value) pairs, ended by AT_NULL. */
export function auxvPageSize(auxv: Buffer): number | null {
  for (let at = 0; at + 16 <= auxv.length; at += 16) {
    const type = auxv.readBigUInt64LE(at)
    if (type === 0n) break
    if (type === 6n) return Number(auxv.readBigUInt64LE(at + 8))
  }
  return null
}

/** `root` is "/" except in tests (a fake tree with the same layout). */
export function readEnvironment(root = '/', release = os.release()): CaptureEnvironment {
  const thpDir = path.join(root, 'sys/kernel/mm/transparent_hugepage')
  const sizes: Record<string, string> = {}
  let dirs: string[] = []
  try {
    dirs = fs.readdirSync(thpDir).filter((d) => /^hugepages-\d+kB$/.test(d))
  } catch {
    // no THP
  }
  for (const d of dirs.sort((a, b) => parseInt(a.slice(10)) - parseInt(b.slice(10)))) {
    const v = selected(readText(path.join(thpDir, d, 'enabled')))
    if (v !== null) sizes[d.slice('hugepages-'.length)] = v
  }
  const {hz, bsdProcessAcct, source} = readKernelConfig(root, release)
  let pageSize: number | null = null
  try {
    pageSize = auxvPageSize(fs.readFileSync(path.join(root, 'proc/self/auxv')))
  } catch {
    // unreadable
  }
  return {
    thp: {
      enabled: selected(readText(path.join(thpDir, 'enabled'))),
      defrag: selected(readText(path.join(thpDir, 'defrag'))),
      shmem_enabled: selected(readText(path.join(thpDir, 'shmem_enabled'))),
      use_zero_page: int(readText(path.join(thpDir, 'use_zero_page'))),
      sizes,
    },
    hz,
    hz_source: source,
    bsd_process_acct: bsdProcessAcct,
    numa_balancing: int(readText(path.join(root, 'proc/sys/kernel/numa_balancing'))),
    page_size: pageSize,
  }
}
