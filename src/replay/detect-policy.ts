// The policy of the kernel that recorded a trace, from its version string ("6.18.44-…", or ">=6.18" when only
// the text format revealed it): the newest built-in generation not newer than it.
import {builtinPolicies, policyByName, type Policy} from './policies.js'

export function policyForKernel(version: string | null, fallback = 'v6.18'): Policy {
  const m = version === null ? null : /(\d+)\.(\d+)/.exec(version)
  if (m === null) return policyByName(fallback)
  // ">=6.10": only a lower bound from the text format; the default kernel qualifies unless the bound is newer
  if (version!.startsWith('>=') && policyForKernel(fallback.slice(1)).name === fallback) {
    const f = /^v(\d+)\.(\d+)$/.exec(fallback)
    if (f !== null && Number(f[1]) * 1000 + Number(f[2]) >= Number(m[1]) * 1000 + Number(m[2])) return policyByName(fallback)
  }
  const v = Number(m[1]) * 1000 + Number(m[2])
  let best: Policy | null = null
  let bestV = -1
  for (const p of builtinPolicies()) {
    const g = /^v(\d+)\.(\d+)$/.exec(p.name)
    if (g === null) continue
    const pv = Number(g[1]) * 1000 + Number(g[2])
    if (pv <= v && pv > bestV) {
      best = p
      bestV = pv
    }
  }
  return best ?? policyByName('mmap-lock')
}
