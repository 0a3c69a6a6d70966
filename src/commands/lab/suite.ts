import * as path from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand, jsonFlag} from '../../cli/base.js'
import {interruptSignal, labDirFlag, vmFlags, vmOptions} from '../../cli/lab-flags.js'
import {exitCodeHelp, LabError} from '../../lab/errors.js'
import {labDir} from '../../lab/paths.js'
import {INDEX_FILE, runSuite} from '../../lab/suite.js'
import {selectWorkloads, WORKLOADS} from '../../lab/workloads.js'

export default class LabSuite extends BaseCommand {
  static override summary = 'Run the built-in workload suite N times on each kernel and index the traces.'

  static override description = [
    `Workloads (recipes in traces/recipes/lab/):\n${WORKLOADS.map((w) => `  ${w.name.padEnd(15)} ${w.description}`).join('\n')}`,
    `Each run is a fresh boot with the same VM settings (see lab run). Layout: OUT/KERNEL/WORKLOAD/run-N/{trace.txt, trace.meta.json, lab.json, console.log, …} and OUT/${INDEX_FILE} (format vmareplay-lab-suite/1: kernels, workloads and their commands, VM settings, every run with its trace, meta and lab.json paths relative to OUT, and the failures). Runs are interleaved across kernels and workloads; running the suite again on the same OUT resumes: existing runs count. A run that fails is listed under failures and the suite goes on; the exit code is then the last failure's. See docs/lab.md.`,
    exitCodeHelp(),
  ].join('\n\n')

  static override usage = ['lab suite [--kernel LIST] [--runs N] [--out DIR] [--workload LIST]']

  static override examples = [
    {
      description: 'Five runs of every workload on 6.1 and 6.12',
      command: '<%= config.bin %> <%= command.id %> --kernel 6.1,6.12 --runs 5 --out lab/suite',
    },
    {
      description: 'One workload, once, on 6.12',
      command: '<%= config.bin %> <%= command.id %> --kernel 6.12 --workload node_gc --out lab/try',
    },
  ]

  static override flags = {
    kernel: Flags.string({
      char: 'k',
      default: '6.1,6.12',
      helpValue: 'LIST',
      description: 'comma-separated kernels (names, directories or bzImages)',
    }),
    runs: Flags.integer({char: 'n', min: 1, default: 5, description: 'runs of each workload on each kernel'}),
    out: Flags.string({char: 'o', helpValue: 'DIR', default: 'lab-suite', description: 'output directory'}),
    workload: Flags.string({
      char: 'w',
      helpValue: 'LIST',
      description: `comma-separated subset of: ${WORKLOADS.map((w) => w.name).join(', ')}`,
    }),
    ...vmFlags,
    'lab-dir': labDirFlag,
    json: jsonFlag,
  }

  public async run(): Promise<void> {
    const {flags} = await this.parse(LabSuite)
    const split = (s: string | undefined): string[] | undefined =>
      s
        ?.split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    const out = path.resolve(flags.out)
    const log = (m: string): void => this.logToStderr(`vmareplay lab: ${m}`)
    const intr = interruptSignal((sig) => log(`${sig}: killing the VM and stopping the suite`))
    try {
      const index = await runSuite({
        lab: labDir(flags['lab-dir']),
        kernels: split(flags.kernel) ?? [],
        workloads: selectWorkloads(split(flags.workload)),
        out,
        runs: flags.runs,
        ...vmOptions(flags),
        signal: intr.signal,
        log,
      })
      if (flags.json) this.log(JSON.stringify(index, null, 2))
      else {
        for (const r of index.runs)
          this.log(
            `${r.kernel}\t${r.workload}\trun-${r.run}\tboot ${r.boot_s} s\tguest run ${r.guest_run_s} s\t${r.trace}`,
          )
        this.log(`${index.runs.length} runs, ${index.failures.length} failed; index: ${path.join(out, INDEX_FILE)}`)
      }
      const last = index.failures.at(-1)
      if (last !== undefined)
        throw new LabError(
          last.exit_code as LabError['exitCode'],
          `${index.failures.length} run(s) failed, the last: ${last.error}`,
        )
    } finally {
      intr.dispose()
    }
  }
}
