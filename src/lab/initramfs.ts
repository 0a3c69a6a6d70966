// The guest's initramfs: a static busybox, the generated /init and the kernel's 9p/virtio modules, as a newc cpio
// (gzip), cached in the lab directory under the hash of its contents.

import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {gzipSync} from 'node:zlib'

import {cpioNewc, type CpioEntry} from './cpio.js'
import {initScript} from './guest.js'
import {kernelFile, type Kernel} from './kernels.js'
import {initramfsDir} from './paths.js'

/** The archive's entries for a kernel: what /init needs and nothing else. */
export function initramfsEntries(kernel: Kernel, busybox: Buffer): CpioEntry[] {
  const mods = kernel.info.modules.load
  return [
    ...['bin', 'dev', 'proc', 'sys', 'newroot', 'lib', 'lib/modules'].map((p): CpioEntry => ({type: 'dir', path: p})),
    {type: 'char', path: 'dev/console', major: 5, minor: 1},
    {type: 'char', path: 'dev/null', major: 1, minor: 3, mode: 0o666},
    {type: 'file', path: 'bin/busybox', data: busybox, mode: 0o755},
    {type: 'file', path: 'init', data: Buffer.from(initScript()), mode: 0o755},
    {type: 'file', path: 'lib/modules/load-order', data: Buffer.from(mods.map((m) => `${m}\n`).join(''))},
    ...(kernel.info.files.config !== null
      ? [
          {
            type: 'file',
            path: 'config',
            data: fs.readFileSync(kernelFile(kernel, kernel.info.files.config)),
          } as CpioEntry,
        ]
      : []),
    ...mods.map((m): CpioEntry => ({
      type: 'file',
      path: `lib/modules/${m}.ko`,
      data: fs.readFileSync(kernelFile(kernel, path.join('modules', `${m}.ko`))),
    })),
  ]
}

/** Path of the kernel's initramfs (built once per content: a changed /init, busybox or module gives a new file). */
export function buildInitramfs(lab: string, kernel: Kernel, busyboxPath: string): {path: string; built: boolean} {
  const cpio = cpioNewc(initramfsEntries(kernel, fs.readFileSync(busyboxPath)))
  const key = createHash('sha256').update(cpio).digest('hex').slice(0, 16)
  const dir = initramfsDir(lab)
  const file = path.join(dir, `${key}.cpio.gz`)
  if (fs.existsSync(file)) return {path: file, built: false}
  fs.mkdirSync(dir, {recursive: true})
  const tmp = `${file}.tmp-${process.pid}`
  fs.writeFileSync(tmp, gzipSync(cpio))
  fs.renameSync(tmp, file)
  return {path: file, built: true}
}
