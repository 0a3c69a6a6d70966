// Flags and parsing shared by the commands that replay (replay, analyze, validate).
import {Flags} from '@oclif/core'
import {readFileSync} from 'node:fs'
import {DEFAULT_COSTS, type CostTable, type ThpMode} from '../kernel/index.js'
import type {Mode} from '../replay/engine.js'
import {loadPolicyFile, policyByName, PolicyError, type Policy} from '../replay/policies.js'
import {replayTrace, type RunSummary} from '../replay/run.js'
import {hasTracedHolds} from '../replay/stream.js'
import type {Db} from '../store/db.js'
import {UserError} from './base.js'
import {progressBar} from './progress.js'
import {TOOL_VERSION} from './version.js'

export const replayFlags = {
  mode: Flags.string({
    description: 'faithful: each operation starts at its recorded time; what-if: waits push later operations',
    options: ['faithful', 'what-if'],
    default: 'faithful',
  }),
  costs: Flags.string({description: 'JSON file overriding the cost table (ns per kernel step; see docs/kernel.md)'}),
  'policy-file': Flags.string({
    description: 'JSON file defining a policy: a base generation plus knobs (see `vmareplay policies`)',
    multiple: true,
  }),
  thp: Flags.string({
    description:
      "transparent_hugepage/enabled to replay under (a what-if); default: the recording machine's, from the capture's meta file (traces.environment), else madvise. With always, a first read of a 2 MiB-aligned range of a fresh anonymous VMA needs an anon_vma (do_huge_pmd_anonymous_page → vmf_anon_prepare)",
    options: ['always', 'madvise', 'never'],
  }),
  'calibrate-holds': Flags.boolean({
    description:
      "size each mm syscall's mmap_lock hold from the trace's own mmap_lock events (syscalls.lock_hold_ns) instead of the cost table; fault paths are still never read from them",
    default: false,
  }),
}

/** The values of replayFlags after parsing. */
export interface ReplayFlagValues {
  mode: string
  thp?: string
  'calibrate-holds': boolean
}

/**
 * Replays one trace as the flags say, with a progress bar; warns first when --calibrate-holds has nothing to
 * calibrate from.
 */
export function replayWithFlags(
  warn: (message: string) => void,
  target: {dbPath: string; db: Db; traceId: number},
  policies: Policy[],
  flags: ReplayFlagValues,
  costs: Partial<CostTable>,
  label: string,
): RunSummary[] {
  const {dbPath, db, traceId} = target
  if (flags['calibrate-holds'] && !hasTracedHolds(db, traceId)) {
    warn(
      `--calibrate-holds: trace ${traceId} has no mmap_lock events inside its syscalls (recorded without the mmap_lock tracepoints, or ingested by a vmareplay before schema 3: ingest it into a new --db); its holds come from the cost table`,
    )
  }
  const bar = progressBar(label)
  try {
    return replayTrace(dbPath, db, traceId, policies, {
      mode: flags.mode as Mode,
      costs,
      calibrateHolds: flags['calibrate-holds'],
      thp: flags.thp as ThpMode | undefined,
      toolVersion: TOOL_VERSION,
      onProgress: (d, t) => bar.update(d, t),
    })
  } finally {
    bar.stop()
  }
}

export function resolvePolicies(list: string | undefined, files: string[] | undefined, fallback: string): Policy[] {
  try {
    const named = (list ?? (files !== undefined && files.length > 0 ? '' : fallback))
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
    const policies = [...named.map(policyByName), ...(files ?? []).map(loadPolicyFile)]
    const names = new Set<string>()
    for (const p of policies) {
      if (names.has(p.name)) throw new PolicyError(`policy '${p.name}' given twice`)
      names.add(p.name)
    }
    return policies
  } catch (error) {
    if (error instanceof PolicyError) throw new UserError(error.message)
    throw error
  }
}

export function loadCosts(path: string | undefined): Partial<CostTable> {
  if (path === undefined) return {}
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new UserError(`--costs ${path}: ${(error as Error).message}`)
  }
  if (typeof raw !== 'object' || raw === null)
    throw new UserError(`--costs ${path}: expected a JSON object of cost fields`)
  for (const [k, v] of Object.entries(raw)) {
    if (!(k in DEFAULT_COSTS))
      throw new UserError(`--costs ${path}: unknown field '${k}'; known: ${Object.keys(DEFAULT_COSTS).join(', ')}`)
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw new UserError(`--costs ${path}: '${k}' must be a non-negative number of ns`)
  }
  return raw as Partial<CostTable>
}
