// Exit codes of `vmareplay lab …` and the error type the lab code throws (the commands turn it into an exit).

export const LabExit = {
  OK: 0,
  INTERNAL: 1,
  /** Bad flags or arguments. */
  USAGE: 2,
  /** A host tool is missing (qemu-system-x86_64, a static busybox, apt-get/dpkg-deb, xz). */
  NO_TOOL: 6,
  /** The kernel asked for is not installed, or its directory is not usable. */
  NO_KERNEL: 7,
  /** `lab fetch`: no such package, or the download/unpacking failed. */
  FETCH_FAILED: 8,
  /** The guest did not come back within --timeout, or stalled (RCU stall, soft lockup), on every attempt. */
  TIMEOUT: 9,
  /** The guest did not boot or set up (kernel panic, a module or the 9p share failed, KVM unusable). */
  GUEST_FAILED: 10,
  /** The capture failed inside the guest. */
  CAPTURE_FAILED: 11,
} as const

export type LabExitCode = (typeof LabExit)[keyof typeof LabExit]

export const LAB_EXIT_HELP: ReadonlyArray<[number, string]> = [
  [LabExit.OK, 'done'],
  [LabExit.INTERNAL, 'unexpected internal error'],
  [LabExit.USAGE, 'bad flags or arguments'],
  [
    LabExit.NO_TOOL,
    'a host tool is missing (qemu-system-x86_64, static busybox, apt-get, dpkg-deb, xz): the message says what to install',
  ],
  [LabExit.NO_KERNEL, 'the kernel is not installed (run `vmareplay lab fetch NAME`) or not usable'],
  [LabExit.FETCH_FAILED, 'lab fetch: package not found, or download/unpacking failed'],
  [
    LabExit.TIMEOUT,
    'the guest did not come back within --timeout or stalled, on every attempt (the VM was killed; no trace kept)',
  ],
  [LabExit.GUEST_FAILED, 'the guest did not boot or set up (kernel panic, module, 9p share, KVM); see its console log'],
  [LabExit.CAPTURE_FAILED, 'the capture failed inside the guest (its stderr is shown)'],
]

export function exitCodeHelp(): string {
  return ['Exit codes:', ...LAB_EXIT_HELP.map(([c, t]) => `  ${String(c).padStart(2)}  ${t}`)].join('\n')
}

export class LabError extends Error {
  constructor(
    readonly exitCode: LabExitCode,
    message: string,
  ) {
    super(message)
    this.name = 'LabError'
  }
}
