// What a kernel's build says about the behaviour the replay depends on: from its .config and its bzImage header.

/** `CONFIG_X=y` / `CONFIG_X="s"` / `# CONFIG_X is not set` -> X -> value ('n' for not set). */
export function parseKernelConfig(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    let m = /^CONFIG_(\w+)=(.*)$/.exec(line)
    if (m) {
      out.set(m[1]!, m[2]!.replace(/^"(.*)"$/, '$1'))
      continue
    }
    m = /^# CONFIG_(\w+) is not set$/.exec(line)
    if (m) out.set(m[1]!, 'n')
  }
  return out
}

export interface ConfigSummary {
  hz: number | null
  per_vma_lock: boolean | null
  per_vma_lock_stats: boolean | null
  /** Boot default of /sys/kernel/mm/transparent_hugepage/enabled (TRANSPARENT_HUGEPAGE_ALWAYS/MADVISE/NEVER). */
  thp_default: 'always' | 'madvise' | 'never' | null
  preempt: 'none' | 'voluntary' | 'full' | 'rt' | 'dynamic' | null
  module_compression: 'none' | 'xz' | 'gzip' | 'zstd' | null
}

export function summarizeConfig(c: Map<string, string>): ConfigSummary {
  const bool = (k: string): boolean | null => (c.size === 0 ? null : c.get(k) === 'y')
  const hz = c.get('HZ')
  const pick = <T extends string>(pairs: ReadonlyArray<[string, T]>): T | null =>
    pairs.find(([k]) => c.get(k) === 'y')?.[1] ?? null
  return {
    hz: hz !== undefined && /^\d+$/.test(hz) ? Number(hz) : null,
    per_vma_lock: bool('PER_VMA_LOCK'),
    per_vma_lock_stats: bool('PER_VMA_LOCK_STATS'),
    thp_default: pick([
      ['TRANSPARENT_HUGEPAGE_ALWAYS', 'always'],
      ['TRANSPARENT_HUGEPAGE_MADVISE', 'madvise'],
      ['TRANSPARENT_HUGEPAGE_NEVER', 'never'],
    ]),
    preempt: pick([
      ['PREEMPT_RT', 'rt'],
      ['PREEMPT_DYNAMIC', 'dynamic'],
      ['PREEMPT', 'full'],
      ['PREEMPT_VOLUNTARY', 'voluntary'],
      ['PREEMPT_NONE', 'none'],
    ]),
    module_compression:
      c.size === 0
        ? null
        : (pick([
            ['MODULE_COMPRESS_XZ', 'xz'],
            ['MODULE_COMPRESS_GZIP', 'gzip'],
            ['MODULE_COMPRESS_ZSTD', 'zstd'],
          ]) ?? 'none'),
  }
}

/**
 * The version string of an x86 bzImage (`6.12.118+deb12-amd64 (debian-kernel@…) #1 SMP …`): the setup header has
 * the "HdrS" magic at 0x202 and, at 0x20e, the offset of that string minus 0x200 (Documentation/arch/x86/boot.rst).
 */
export function bzImageVersion(b: Buffer): string | undefined {
  if (b.length < 0x210 || b.toString('latin1', 0x202, 0x206) !== 'HdrS') return undefined
  const at = b.readUInt16LE(0x20e) + 0x200
  if (at >= b.length) return undefined
  const end = b.indexOf(0, at)
  return b.toString('latin1', at, end === -1 ? Math.min(b.length, at + 256) : end)
}

/** The release (`uname -r`) from a bzImage version string: its first word. */
export const releaseOf = (version: string): string => version.split(' ')[0]!
