// The lab's built-in workload suite: real programs whose recipes are committed in traces/recipes/lab/.

import * as fs from 'node:fs'
import * as path from 'node:path'

import {LabError, LabExit} from './errors.js'
import {repoRoot} from './paths.js'
import {which} from './tools.js'

export interface Workload {
  name: string
  description: string
  /** The command the capture launches in the guest. */
  command(ctx: WorkloadContext): string[]
}

export interface WorkloadContext {
  recipes: string
  python: string
  node: string
}

export const RECIPES_DIR = (): string => path.join(repoRoot(), 'traces', 'recipes', 'lab')

export const WORKLOADS: readonly Workload[] = [
  {
    name: 'anon_threads',
    description:
      'multi-threaded anonymous faulting: 4 threads memset fresh 3 MiB mappings, MADV_DONTNEED half, fault it again',
    command: (c) => [c.python, '-S', path.join(c.recipes, 'anon_threads.py')],
  },
  {
    name: 'file_mmap_scan',
    description:
      'file-backed mmap scan: one read per page of the first 24 MiB of the node binary (cold over 9p, then warm)',
    command: (c) => [c.python, '-S', path.join(c.recipes, 'file_mmap_scan.py'), c.node],
  },
  {
    name: 'fork_exec',
    description: 'fork/exec loop: 30 iterations of /bin/true and a two-process pipeline from /bin/sh',
    command: (c) => ['/bin/sh', path.join(c.recipes, 'fork_exec.sh')],
  },
  {
    name: 'mmap_stress',
    description:
      'mmap/munmap/mprotect/mremap stress: 3 threads split, merge, grow and unmap small anonymous VMAs while faulting',
    command: (c) => [c.python, '-S', path.join(c.recipes, 'mmap_stress.py')],
  },
  {
    name: 'node_gc',
    description:
      "a GC runtime: node's main thread and 2 worker_threads churning young/old-generation objects and ArrayBuffers",
    command: (c) => [c.node, path.join(c.recipes, 'node_gc.cjs')],
  },
]

/** Host paths the workloads use (seen unchanged in the guest). */
export function workloadContext(): WorkloadContext {
  const python = ['/usr/bin/python3'].find((p) => fs.existsSync(p)) ?? which('python3')
  if (python === undefined) throw new LabError(LabExit.NO_TOOL, 'the suite needs python3 (apt-get install python3)')
  return {recipes: RECIPES_DIR(), python, node: process.execPath}
}

/** `--workload a,b` -> the workloads, in suite order. */
export function selectWorkloads(names?: readonly string[]): Workload[] {
  if (names === undefined || names.length === 0) return [...WORKLOADS]
  const unknown = names.filter((n) => !WORKLOADS.some((w) => w.name === n))
  if (unknown.length > 0)
    throw new LabError(
      LabExit.USAGE,
      `unknown workload(s) ${unknown.join(', ')}; the suite has ${WORKLOADS.map((w) => w.name).join(', ')}`,
    )
  return WORKLOADS.filter((w) => names.includes(w.name))
}
