// `lab suite`: every workload, N runs, on each kernel, with the same VM settings; one `lab run` series per
// kernel and workload (OUT/KERNEL/WORKLOAD/run-N) and OUT/index.json naming every trace.
// Runs are interleaved (run 1 of every kernel and workload, then run 2, …) so that a slow phase of a shared host
// does not fall on one kernel; an interrupted suite resumes where it stopped (existing runs count).

import * as fs from 'node:fs'
import * as path from 'node:path'

import {LabError, LabExit} from './errors.js'
import {findKernel, type Kernel} from './kernels.js'
import {existingRuns, runLab, type LabRunInfo, type LabRunOptions} from './run.js'
import {workloadContext, type Workload} from './workloads.js'

export const SUITE_FORMAT = 'vmareplay-lab-suite/1'
export const INDEX_FILE = 'index.json'

export interface SuiteRunEntry {
  kernel: string
  release: string
  workload: string
  run: number
  /** Paths relative to the suite directory. */
  dir: string
  trace: string
  meta: string
  lab: string
  attempt: number
  boot_s: number | null
  guest_run_s: number | null
}

export interface SuiteIndex {
  format: typeof SUITE_FORMAT
  runs_per_kernel: number
  kernels: {name: string; release: string; source: Kernel['info']['source']}[]
  workloads: {name: string; description: string; command: string[]}[]
  vm: {accel: string; cpu: string; smp: number; memory_mb: number; buffer_kb: number}
  runs: SuiteRunEntry[]
  failures: {kernel: string; workload: string; run: number; exit_code: number; error: string}[]
}

export type SuiteOptions = Omit<LabRunOptions, 'kernel' | 'command' | 'out' | 'runs'> & {
  kernels: readonly string[]
  workloads: readonly Workload[]
  out: string
  runs: number
}

function entryOf(out: string, dir: string, info: LabRunInfo, workload: string): SuiteRunEntry {
  const rel = (f: string): string => path.relative(out, path.join(dir, f))
  return {
    kernel: info.kernel.name,
    release: info.kernel.release,
    workload,
    run: info.run,
    dir: path.relative(out, dir),
    trace: rel(info.files.trace),
    meta: rel(info.files.meta),
    lab: rel('lab.json'),
    attempt: info.attempt,
    boot_s: info.times.boot_s,
    guest_run_s: info.times.guest_run_s,
  }
}

/** The index from what is on disk (so a resumed suite lists the runs of earlier invocations too). */
function scanRuns(out: string, kernels: readonly Kernel[], workloads: readonly Workload[]): SuiteRunEntry[] {
  const runs: SuiteRunEntry[] = []
  for (const k of kernels) {
    for (const w of workloads) {
      const series = path.join(out, k.info.name, w.name)
      for (const n of existingRuns(series)) {
        const dir = path.join(series, `run-${n}`)
        runs.push(
          entryOf(out, dir, JSON.parse(fs.readFileSync(path.join(dir, 'lab.json'), 'utf8')) as LabRunInfo, w.name),
        )
      }
    }
  }
  return runs
}

function writeIndex(out: string, index: SuiteIndex): void {
  const tmp = path.join(out, `.${INDEX_FILE}.tmp-${process.pid}`)
  fs.writeFileSync(tmp, JSON.stringify(index, null, 2) + '\n')
  fs.renameSync(tmp, path.join(out, INDEX_FILE))
}

export async function runSuite(o: SuiteOptions): Promise<SuiteIndex> {
  const kernels = o.kernels.map((k) => findKernel(o.lab, k))
  const ctx = workloadContext()
  fs.mkdirSync(o.out, {recursive: true})
  const failures: SuiteIndex['failures'] = []
  const index = (): SuiteIndex => ({
    format: SUITE_FORMAT,
    runs_per_kernel: o.runs,
    kernels: kernels.map((k) => ({name: k.info.name, release: k.info.release, source: k.info.source})),
    workloads: o.workloads.map((w) => ({name: w.name, description: w.description, command: w.command(ctx)})),
    vm: {
      accel: o.accel ?? 'tcg',
      cpu: o.cpu ?? 'qemu64',
      smp: o.smp ?? 2,
      memory_mb: o.memoryMb ?? 2048,
      buffer_kb: o.bufferKb,
    },
    runs: scanRuns(o.out, kernels, o.workloads),
    failures,
  })
  for (let run = 1; run <= o.runs; run++) {
    for (const k of kernels) {
      for (const w of o.workloads) {
        if (o.signal?.aborted) break
        const series = path.join(o.out, k.info.name, w.name)
        if (existingRuns(series).length >= run) continue
        o.log(`suite: ${k.info.name} ${w.name} run ${run}/${o.runs}`)
        try {
          await runLab({...o, kernel: k, command: w.command(ctx), out: series, runs: 1})
        } catch (error) {
          if (!(error instanceof LabError) || error.exitCode === LabExit.NO_TOOL || error.exitCode === LabExit.USAGE)
            throw error
          failures.push({kernel: k.info.name, workload: w.name, run, exit_code: error.exitCode, error: error.message})
          o.log(`suite: ${k.info.name} ${w.name} run ${run} failed: ${error.message.split('\n')[0]}`)
        }
        writeIndex(o.out, index())
      }
    }
  }
  const final = index()
  writeIndex(o.out, final)
  return final
}
