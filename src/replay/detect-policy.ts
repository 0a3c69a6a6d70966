// The policy of the kernel that recorded a trace, from its version string ("6.18.44-…", or a range such as ">=6.18",
// "<=6.13" or ">=6.14 <=6.17" when only the text format revealed it): the newest built-in generation not newer
// than it, and inside the range.
import {builtinPolicies, policyByName, type Policy} from './policies.js'

const num = (major: string, minor: string): number => Number(major) * 1000 + Number(minor)

/** The built-in generation policies, oldest first, with their version numbers. */
function generations(): {p: Policy; v: number}[] {
  const out: {p: Policy; v: number}[] = []
  for (const p of builtinPolicies()) {
    const g = /^v(\d+)\.(\d+)$/.exec(p.name)
    if (g !== null) out.push({p, v: num(g[1]!, g[2]!)})
  }
  return out.sort((a, b) => a.v - b.v)
}

export function policyForKernel(version: string | null, fallback = 'v6.18'): Policy {
  if (version === null) return policyByName(fallback)
  const lower = /^>=(\d+)\.(\d+)/.exec(version)
  const upper = /<=(\d+)\.(\d+)$/.exec(version)
  if (lower !== null || upper !== null) {
    const lo = lower === null ? 0 : num(lower[1]!, lower[2]!)
    const hi = upper === null ? Infinity : num(upper[1]!, upper[2]!)
    const f = /^v(\d+)\.(\d+)$/.exec(fallback)
    // only bounds from the text format: the default kernel when it is inside them, else the newest generation inside
    if (f !== null && num(f[1]!, f[2]!) >= lo && num(f[1]!, f[2]!) <= hi) return policyByName(fallback)
    const cap = upper === null ? lo : hi
    return (
      generations()
        .filter((g) => g.v <= cap)
        .at(-1)?.p ?? policyByName('mmap-lock')
    )
  }
  const m = /(\d+)\.(\d+)/.exec(version)
  if (m === null) return policyByName(fallback)
  const v = num(m[1]!, m[2]!)
  return (
    generations()
      .filter((g) => g.v <= v)
      .at(-1)?.p ?? policyByName('mmap-lock')
  )
}

/**
 * x86-64 before 6.9 maps the vDSO at vdso_addr(start_stack), within 2 MiB above the stack, by a hint that
 * get_unmapped_area returns without a vm_unmapped_area event (arch/x86/entry/vdso/vma.c of 6.1); "x86/vdso: Move
 * vDSO to mmap region" (6.9) puts it in the mmap region, through vm_unmapped_area. Only a plain version tells.
 */
export function vdsoNearStack(version: string | null): boolean {
  const m = version === null ? null : /^(\d+)\.(\d+)/.exec(version)
  return m !== null && num(m[1]!, m[2]!) < num('6', '9')
}
