// Flags and parsing shared by the commands that replay (replay, analyze, validate).
import {Flags} from '@oclif/core'
import {readFileSync} from 'node:fs'
import {DEFAULT_COSTS, type CostTable} from '../kernel/index.js'
import {loadPolicyFile, policyByName, PolicyError, type Policy} from '../replay/policies.js'
import {UserError} from './base.js'

export const replayFlags = {
  mode: Flags.string({description: 'faithful: each operation starts at its recorded time; what-if: waits push later operations', options: ['faithful', 'what-if'], default: 'faithful'}),
  costs: Flags.string({description: 'JSON file overriding the cost table (ns per kernel step; see docs/kernel.md)'}),
  'policy-file': Flags.string({description: 'JSON file defining a policy: a base generation plus knobs (see `vmareplay policies`)', multiple: true}),
}

export function resolvePolicies(list: string | undefined, files: string[] | undefined, fallback: string): Policy[] {
  try {
    const named = (list ?? (files !== undefined && files.length > 0 ? '' : fallback)).split(',').map((s) => s.trim()).filter((s) => s !== '')
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
  if (typeof raw !== 'object' || raw === null) throw new UserError(`--costs ${path}: expected a JSON object of cost fields`)
  for (const [k, v] of Object.entries(raw)) {
    if (!(k in DEFAULT_COSTS)) throw new UserError(`--costs ${path}: unknown field '${k}'; known: ${Object.keys(DEFAULT_COSTS).join(', ')}`)
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new UserError(`--costs ${path}: '${k}' must be a non-negative number of ns`)
  }
  return raw as Partial<CostTable>
}
