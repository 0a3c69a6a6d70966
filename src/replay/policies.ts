// Locking policies: a kernel generation plus knobs (docs/kernel.md, docs/replay.md). The replay engine builds one
// simulated kernel per policy; nothing else in the tool knows what a policy changes.
import {readFileSync} from 'node:fs'
import {
  GENERATIONS,
  policyFromGeneration,
  type FaultPolicy,
  type Generation,
  type GenerationName,
  type KernelOptions,
} from '../kernel/index.js'

export interface Policy {
  name: string
  summary: string
  description: string
  generation: Generation
  knobs: Partial<FaultPolicy>
}

const gen = (name: GenerationName, over: Partial<Generation> = {}): Generation =>
  Object.freeze({...GENERATIONS[name], ...over})

const BUILTIN: Policy[] = [
  {
    name: 'mmap-lock',
    summary: 'every fault under mmap_lock (before 6.4)',
    description:
      'Kernels without CONFIG_PER_VMA_LOCK (6.3 and older): do_user_addr_fault always takes mmap_read_lock (trylock, ' +
      'then the sleeping lock). Every fault contends with every mmap/munmap/mprotect writer of its mm.',
    generation: gen('6.1'),
    knobs: {},
  },
  {
    name: 'v6.4',
    summary: 'the seed patch: anonymous VMAs with an anon_vma only',
    description:
      'lock_vma_under_rcu as merged in 6.4 ("mm: introduce lock_vma_under_rcu to be used from arch-specific code"): ' +
      'file-backed VMAs, anonymous VMAs without an anon_vma and uffd-armed VMAs are rejected at lookup; the per-VMA ' +
      'rwsem is only trylocked; swap faults RETRY. Fork does not yet write-lock the parent (fixed in 6.4.3).',
    generation: gen('6.4'),
    knobs: {},
  },
  {
    name: 'v6.6',
    summary: 'file VMAs via fault-around, swap and uffd under the VMA lock',
    description:
      '6.6 ("Per-VMA lock support for swap and userfaults", "Handle most file-backed faults under the VMA lock"): file ' +
      'faults served by ->map_pages stay on the VMA lock; ->fault, COW and shared writes RETRY; an anonymous VMA ' +
      'without anon_vma is still rejected at lookup. Stack growth and fork as in 6.5 (StackRot fix, fork write-locks).',
    generation: gen('6.6'),
    knobs: {},
  },
  {
    name: 'v6.7',
    summary: '->fault, COW and page_mkwrite under the VMA lock',
    description:
      '6.7 ("Handle more faults under the VMA lock"): ->fault is called under the VMA lock when the VMA has ' +
      '->map_pages (vmf_can_call_fault); a fault that needs an anon_vma RETRYs (vmf_anon_prepare).',
    generation: gen('6.7'),
    knobs: {},
  },
  {
    name: 'v6.10',
    summary: 'anon_vma attached by mmap_read_trylock; hugetlb and access errors handled',
    description:
      '6.10 ("Improve anon_vma scalability for anon VMAs"): lookup no longer checks anon_vma; __vmf_anon_prepare takes ' +
      'mmap_read_trylock just to attach one and RETRYs only if the trylock fails. hugetlb faults and access errors ' +
      'are handled under the VMA lock.',
    generation: gen('6.10'),
    knobs: {},
  },
  {
    name: 'v6.15',
    summary: 'VMA lock as a refcount; freed VMAs reused at once',
    description:
      '6.15 ("reimplement per-vma lock as a refcount"): vm_refcnt replaces the per-VMA rwsem and VMAs come from a ' +
      'SLAB_TYPESAFE_BY_RCU cache, so a freed VMA may be reused immediately (even by another mm) and lookups ' +
      'revalidate. Same fault coverage as 6.10.',
    generation: gen('6.15'),
    knobs: {},
  },
  {
    name: 'v6.18',
    summary: 'this machine: 6.15 plus MADV_DONTNEED/FREE under the VMA lock',
    description:
      '6.18: the 6.15 fault path; madvise(MADV_DONTNEED/FREE) on a single VMA takes only the per-VMA read lock ' +
      '(6.17/6.18). Falls back for kernel-mode faults, write-locked/detached/reused VMAs, ->fault without ' +
      '->map_pages, a failed anon_vma trylock, I/O and uffd waits, stack growth.',
    generation: gen('6.18'),
    knobs: {},
  },
  {
    name: 'spf',
    summary: 'speculative page faults (never merged): no lock, validated by the mm sequence count',
    description:
      'Speculative page faults (Laurent Dufour v11 2018, Michel Lespinasse 2021): the fault runs without any lock and ' +
      'is discarded and retried under mmap_lock if the mm was written meanwhile; a VMA without an anon_vma aborts. ' +
      'Modelled on the 6.18 kernel otherwise.',
    generation: gen('6.18'),
    knobs: {fastPath: 'speculative'},
  },
  {
    name: 'spf-rcu-file',
    summary: "what-if: every file fault under the VMA lock, vm_file's fput deferred by RCU (2021 SPF)",
    description:
      "The per-VMA lock series' open question (Michal Hocko on patch 28/41, January 2023: why only anonymous VMAs; " +
      "Suren Baghdasaryan's answer: ->fault handlers must not rely on mmap_lock, and vm_file must be freed after an " +
      'RCU grace period like the VMA, which makes fops->release() run asynchronously — a problem he had hit with ' +
      'snd_pcm_release() in an out-of-tree SPF). 6.18 with ->fault called under the VMA lock even without ' +
      "->map_pages, and each removed VMA's fput run in an RCU callback as in Michel Lespinasse's \"mm: rcu safe " +
      'vma->vm_file freeing" (2021), which Ted Ts\'o found to break xfstests generic/619 (umount: target is busy). ' +
      'Reports the deferred releases next to the faults it moves off mmap_lock.',
    generation: gen('6.18'),
    knobs: {fileFaults: 'any', rcuDeferredFput: true},
  },
  {
    name: 'ideal',
    summary: 'lower bound: every user fault on the per-VMA path, nothing falls back',
    description:
      'Every fault — kernel-mode too — takes the per-VMA path: anon_vma is attached without mmap_lock, any file ' +
      'fault may call ->fault, waits keep the VMA lock. Faults still wait for VMA writers and on stack growth.',
    generation: gen('6.18'),
    knobs: {
      anonVmaPrepare: 'unlocked',
      fileFaults: 'any',
      kernelFaultsFast: true,
      waitsDropVmaLock: false,
      swapUnderVmaLock: true,
      hugetlbUnderVmaLock: true,
      accessErrorUnderVmaLock: true,
    },
  },
]

export function builtinPolicies(): readonly Policy[] {
  return BUILTIN
}

export class PolicyError extends Error {}

export function policyByName(name: string): Policy {
  const p = BUILTIN.find((x) => x.name === name || x.name === `v${name}`)
  if (p === undefined)
    throw new PolicyError(
      `unknown policy '${name}'; known: ${BUILTIN.map((x) => x.name).join(', ')} (or --policy-file)`,
    )
  return p
}

/** The knobs a policy file may set: every FaultPolicy field (read off one, so a new field is a knob at once), with
 * the type of its value. */
const KNOB_TYPES: ReadonlyMap<string, string> = new Map(
  Object.entries(policyFromGeneration(GENERATIONS['6.18']))
    .filter(([k]) => k !== 'name')
    .map(([k, v]) => [k, typeof v]),
)
const KNOB_KEYS = [...KNOB_TYPES.keys()]

/**
 * A user policy file (JSON): {"name": "...", "base": "v6.18", "description": "...",
 *   "knobs": {FaultPolicy fields}, "kernel": {Generation fields, e.g. "forkWriteLocksParent": false},
 *   "rcuGracePeriodNs": 20000000}
 */
export function loadPolicyFile(path: string): Policy {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new PolicyError(`--policy-file ${path}: ${(error as Error).message}`)
  }
  if (typeof raw !== 'object' || raw === null) throw new PolicyError(`--policy-file ${path}: expected a JSON object`)
  const o = raw as Record<string, unknown>
  if (typeof o.name !== 'string' || o.name === '')
    throw new PolicyError(`--policy-file ${path}: "name" (a string) is required`)
  const base = policyByName(typeof o.base === 'string' ? o.base : 'v6.18')
  const knobs = (o.knobs ?? {}) as Record<string, unknown>
  for (const [k, v] of Object.entries(knobs)) {
    const type = KNOB_TYPES.get(k)
    if (type === undefined)
      throw new PolicyError(`--policy-file ${path}: unknown knob '${k}'; known: ${KNOB_KEYS.join(', ')}`)
    if (typeof v !== type)
      throw new PolicyError(`--policy-file ${path}: knob '${k}' must be a ${type}, not ${JSON.stringify(v)}`)
  }
  const kernel = (o.kernel ?? {}) as Record<string, unknown>
  for (const k of Object.keys(kernel))
    if (!(k in base.generation) || k === 'name')
      throw new PolicyError(
        `--policy-file ${path}: unknown kernel field '${k}'; known: ${Object.keys(base.generation)
          .filter((x) => x !== 'name')
          .join(', ')}`,
      )
  if (o.rcuGracePeriodNs !== undefined) kernel.rcuGracePeriodNs = o.rcuGracePeriodNs
  return {
    name: o.name,
    summary:
      typeof o.description === 'string'
        ? o.description
        : `${base.name} with ${Object.keys({...knobs, ...kernel}).join(', ')} changed`,
    description: typeof o.description === 'string' ? o.description : `User policy from ${path}, based on ${base.name}.`,
    generation: Object.freeze({...base.generation, ...(kernel as Partial<Generation>)}),
    knobs: {...base.knobs, ...(knobs as Partial<FaultPolicy>)},
  }
}

export function kernelOptions(p: Policy): KernelOptions {
  return {generation: p.generation, knobs: p.knobs}
}

/** What a run stores as policy_json: everything that decides its behaviour. */
export function policyJson(p: Policy): string {
  return JSON.stringify({name: p.name, generation: p.generation, knobs: p.knobs})
}
