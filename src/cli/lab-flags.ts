// What the lab commands share on the command line: the lab directory, the VM flags and their translation to options.

import {Flags} from '@oclif/core'

import {LabError, LabExit} from '../lab/errors.js'
import {LAB_DIR_ENV} from '../lab/paths.js'
import {DEFAULT_VM, type Accel} from '../lab/qemu.js'
import type {LabRunOptions} from '../lab/run.js'

export const labDirFlag = Flags.string({
  helpValue: 'DIR',
  description: `lab directory (kernels, initramfs cache); default $${LAB_DIR_ENV}, else ~/.cache/vmareplay/lab`,
})

export const vmFlags = {
  timeout: Flags.integer({
    helpValue: 'S',
    min: 10,
    default: 300,
    description: 'seconds a run (boot + capture + power-off) may take before the VM is killed',
  }),
  retries: Flags.integer({
    min: 0,
    default: 1,
    description: 'automatic retries of a run that timed out or stalled (RCU stall, soft lockup)',
  }),
  accel: Flags.option({
    options: ['tcg', 'kvm'] as const,
    default: DEFAULT_VM.accel,
    description: 'QEMU accelerator: tcg (default: works everywhere) or kvm (if it works on your machine)',
  })(),
  cpu: Flags.string({default: DEFAULT_VM.cpu, description: 'QEMU -cpu model'}),
  smp: Flags.integer({min: 1, default: DEFAULT_VM.smp, description: 'guest CPUs'}),
  memory: Flags.integer({helpValue: 'MB', min: 256, default: DEFAULT_VM.memoryMb, description: 'guest memory in MiB'}),
  'buffer-kb': Flags.integer({
    helpValue: 'KB',
    min: 64,
    default: 32768,
    description: 'capture buffer per guest CPU (vmareplay capture --buffer-kb)',
  }),
  append: Flags.string({helpValue: 'ARGS', description: 'extra guest kernel command-line arguments'}),
  qemu: Flags.string({
    helpValue: 'FILE',
    description: 'QEMU binary (default qemu-system-x86_64 on PATH)',
    hidden: true,
  }),
  verbose: Flags.boolean({char: 'v', description: 'copy the guest console to stderr'}),
}

type VmFlagValues = {
  timeout: number
  retries: number
  accel: Accel
  cpu: string
  smp: number
  memory: number
  'buffer-kb': number
  append?: string
  qemu?: string
  verbose: boolean
}

/** The run options the VM flags set. */
export function vmOptions(
  f: VmFlagValues,
): Pick<
  LabRunOptions,
  'timeoutS' | 'retries' | 'accel' | 'cpu' | 'smp' | 'memoryMb' | 'bufferKb' | 'append' | 'qemu' | 'onConsoleLine'
> {
  return {
    timeoutS: f.timeout,
    retries: f.retries,
    accel: f.accel,
    cpu: f.cpu,
    smp: f.smp,
    memoryMb: f.memory,
    bufferKb: f['buffer-kb'],
    append: f.append,
    qemu: f.qemu,
    onConsoleLine: f.verbose ? (l) => process.stderr.write(`  | ${l}\n`) : undefined,
  }
}

/** --env K=V flags. */
export function parseEnv(list: readonly string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {}
  for (const kv of list ?? []) {
    const eq = kv.indexOf('=')
    if (eq <= 0 || !/^[A-Za-z_]\w*$/.test(kv.slice(0, eq)))
      throw new LabError(LabExit.USAGE, `--env ${kv}: expected NAME=VALUE`)
    env[kv.slice(0, eq)] = kv.slice(eq + 1)
  }
  return env
}

/** An AbortSignal raised by the first SIGINT/SIGTERM (the VM is then killed); `dispose` removes the handlers. */
export function interruptSignal(onSignal: (sig: string) => void): {signal: AbortSignal; dispose: () => void} {
  const ac = new AbortController()
  const handler = (sig: NodeJS.Signals): void => {
    onSignal(sig)
    ac.abort()
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return {
    signal: ac.signal,
    dispose: () => {
      process.removeListener('SIGINT', handler)
      process.removeListener('SIGTERM', handler)
    },
  }
}
