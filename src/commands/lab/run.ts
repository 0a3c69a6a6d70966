import * as path from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand, jsonFlag} from '../../cli/base.js'
import {interruptSignal, labDirFlag, parseEnv, vmFlags, vmOptions} from '../../cli/lab-flags.js'
import {exitCodeHelp, LabError, LabExit} from '../../lab/errors.js'
import {findKernel} from '../../lab/kernels.js'
import {labDir} from '../../lab/paths.js'
import {runLab} from '../../lab/run.js'

export default class LabRun extends BaseCommand {
  static override summary = 'Capture a command inside a VM running another kernel (6.1, 6.12, or your own).'

  static override description = [
    "Boots the kernel under QEMU (TCG by default: -accel tcg,thread=multi -cpu qemu64 -smp 2 -m 2048), with this machine's root shared read-only over virtio-9p and a results share; a busybox initramfs mounts them, gives the guest its own /proc, /sys, /dev, tracefs, /tmp and /run (tmpfs), chroots into the host root and runs `vmareplay capture` of the command (this checkout, this node), then powers off.",
    'Each run is a directory run-N in --out (numbered after the runs already there; --out holds one series of the same settings): trace.txt, trace.meta.json (capture info: kernel release, THP mode, events, losses), lab.json (kernel package, QEMU version and arguments, boot time, run time in the guest, exit status, attempt), console.log, stdout.txt, stderr.txt, job.sh. A run is renamed into place only when the capture succeeded; a failed attempt keeps its logs, without a trace, in failed/. See docs/lab.md.',
    'In the guest, the host filesystem is read-only: the command can write to /tmp (guest memory). PATH is the standard one, HOME=/tmp; --env adds variables. The working directory is the current one.',
    exitCodeHelp(),
  ].join('\n\n')

  static override usage = [
    'lab run --kernel 6.1|6.12|NAME|PATH [--runs N] [--out DIR] [--timeout S] -- COMMAND ARGS...',
  ]

  static override examples = [
    {
      description: 'Three captures of a Python program on Debian 6.12',
      command:
        '<%= config.bin %> <%= command.id %> --kernel 6.12 --runs 3 --out lab/py612 -- python3 traces/recipes/py_threads_small.py',
    },
    {
      description: 'The same on 6.1, watching the guest console',
      command:
        '<%= config.bin %> <%= command.id %> --kernel 6.1 -v --out lab/py61 -- python3 traces/recipes/py_threads_small.py',
    },
    {
      description: 'With KVM, where it works',
      command: '<%= config.bin %> <%= command.id %> --kernel 6.12 --accel kvm -- /bin/ls /',
    },
  ]

  static override strict = false

  static override flags = {
    kernel: Flags.string({
      char: 'k',
      required: true,
      helpValue: '6.1|6.12|NAME|PATH',
      description: 'installed kernel (vmareplay lab kernels), a kernel directory, or a bzImage with 9p built in',
    }),
    runs: Flags.integer({char: 'n', min: 1, default: 1, description: 'number of runs (each a fresh boot)'}),
    out: Flags.string({char: 'o', helpValue: 'DIR', description: 'output directory (default lab-KERNEL-COMMAND)'}),
    env: Flags.string({
      multiple: true,
      helpValue: 'NAME=VALUE',
      description: 'environment variable for the command in the guest (repeatable)',
    }),
    ...vmFlags,
    'lab-dir': labDirFlag,
    json: jsonFlag,
  }

  public async run(): Promise<void> {
    // before parse(), which consumes this.argv
    const dd = this.argv.indexOf('--')
    const command = dd === -1 ? [] : this.argv.slice(dd + 1)
    const {argv, flags} = await this.parse(LabRun, dd === -1 ? this.argv : this.argv.slice(0, dd))
    if (argv.length > 0)
      throw new LabError(
        LabExit.USAGE,
        `unexpected argument(s) ${argv.join(' ')}: put -- before the command (vmareplay lab run --kernel K -- COMMAND ARGS...)`,
      )
    if (command.length === 0) throw new LabError(LabExit.USAGE, 'nothing to run: give -- COMMAND ARGS...')
    const lab = labDir(flags['lab-dir'])
    const kernel = findKernel(lab, flags.kernel)
    const out = path.resolve(flags.out ?? `lab-${kernel.info.name}-${path.basename(command[0]!)}`)
    const log = (m: string): void => this.logToStderr(`vmareplay lab: ${m}`)
    const intr = interruptSignal((sig) => log(`${sig}: killing the VM`))
    try {
      const results = await runLab({
        lab,
        kernel,
        command,
        out,
        runs: flags.runs,
        ...vmOptions(flags),
        env: parseEnv(flags.env),
        signal: intr.signal,
        log,
      })
      if (flags.json) this.log(JSON.stringify({out, runs: results.map((r) => ({dir: r.dir, ...r.info}))}, null, 2))
      else
        for (const r of results)
          this.log(
            `${r.dir}\t${r.info.kernel.release}\tboot ${r.info.times.boot_s} s\tguest run ${r.info.times.guest_run_s} s\tattempt ${r.info.attempt}`,
          )
    } finally {
      intr.dispose()
    }
  }
}
