// The QEMU command line of a lab guest.

import {spawnSync} from 'node:child_process'

export type Accel = 'tcg' | 'kvm'

export interface VmConfig {
  accel: Accel
  /** -cpu model: qemu64 by default (a 6.1 guest hit an RCU stall and soft lockup under TCG with -cpu max). */
  cpu: string
  smp: number
  memoryMb: number
  vmlinuz: string
  initrd: string
  /** Extra kernel command-line arguments. */
  append?: string
  /** Host directory shared writable as 9p tag `results`. */
  resultsDir: string
  /** Host directory shared read-only as 9p tag `hostroot` (the guest chroots into it). */
  hostRoot?: string
}

export const DEFAULT_VM = {accel: 'tcg', cpu: 'qemu64', smp: 2, memoryMb: 2048} as const

/** console on the serial port; panic=-1 reboots at once on a panic, which -no-reboot turns into QEMU exiting. */
export function kernelCmdline(append?: string): string {
  return ['console=ttyS0', 'panic=-1', 'loglevel=4', 'edd=off', 'rdinit=/init', append ?? ''].filter(Boolean).join(' ')
}

/** 9p fsdev options: no uid mapping (we run as root), and multidevs=remap so inodes of submounts cannot collide. */
function fsdev(id: string, dir: string, readonly: boolean): string {
  return `local,id=${id},path=${dir},security_model=none${readonly ? ',readonly=on' : ''},multidevs=remap`
}

export function qemuArgs(c: VmConfig): string[] {
  return [
    '-accel',
    c.accel === 'tcg' ? 'tcg,thread=multi' : 'kvm',
    '-cpu',
    c.cpu,
    '-smp',
    String(c.smp),
    '-m',
    String(c.memoryMb),
    '-nographic',
    '-no-reboot',
    '-nic',
    'none',
    '-kernel',
    c.vmlinuz,
    '-initrd',
    c.initrd,
    '-append',
    kernelCmdline(c.append),
    '-fsdev',
    fsdev('hostroot', c.hostRoot ?? '/', true),
    '-device',
    'virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot',
    '-fsdev',
    fsdev('results', c.resultsDir, false),
    '-device',
    'virtio-9p-pci,fsdev=results,mount_tag=results',
  ]
}

/** `QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)` -> `7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)`. */
export function qemuVersion(qemu: string): string | null {
  const r = spawnSync(qemu, ['--version'], {encoding: 'utf8', timeout: 10_000})
  const m = /version\s+(.+)/.exec(r.stdout ?? '')
  return m ? m[1]!.trim() : null
}
