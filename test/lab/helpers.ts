// Test inputs built by hand: minimal ELF64 files (a .modinfo section, or a PT_INTERP header), an x86 bzImage setup
// header, a fake kernel in the store layout.

import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

import {KERNEL_INFO_FORMAT, type Kernel} from '../../src/lab/kernels.js'

export const FAKE_QEMU = fileURLToPath(new URL('../../../test/lab/fake-qemu.sh', import.meta.url))

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `vmareplay-lab-${tag}-`))
}

/** An ELF64 LE relocatable with sections "" , .modinfo (the given strings, NUL-separated) and .shstrtab. */
export function elfModule(modinfo: string[]): Buffer {
  const info = Buffer.from(modinfo.map((s) => s + '\0').join(''), 'latin1')
  const shstr = Buffer.from('\0.modinfo\0.shstrtab\0', 'latin1')
  const infoOff = 64
  const shstrOff = infoOff + info.length
  const shoff = (shstrOff + shstr.length + 7) & ~7
  const b = Buffer.alloc(shoff + 3 * 64)
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(b, 0)
  b.writeUInt16LE(1, 0x10) // ET_REL
  b.writeUInt16LE(62, 0x12) // x86-64
  b.writeBigUInt64LE(BigInt(shoff), 0x28)
  b.writeUInt16LE(64, 0x34)
  b.writeUInt16LE(64, 0x3a)
  b.writeUInt16LE(3, 0x3c)
  b.writeUInt16LE(2, 0x3e)
  info.copy(b, infoOff)
  shstr.copy(b, shstrOff)
  const sh = (i: number, name: number, type: number, off: number, size: number): void => {
    const h = shoff + i * 64
    b.writeUInt32LE(name, h)
    b.writeUInt32LE(type, h + 4)
    b.writeBigUInt64LE(BigInt(off), h + 0x18)
    b.writeBigUInt64LE(BigInt(size), h + 0x20)
  }
  sh(1, 1, 1, infoOff, info.length) // .modinfo, PROGBITS
  sh(2, 10, 3, shstrOff, shstr.length) // .shstrtab, STRTAB
  return b
}

/** An ELF64 executable with one program header of type `ptype` (3 = PT_INTERP: dynamically linked). */
export function elfExecutable(ptype: number): Buffer {
  const b = Buffer.alloc(64 + 56)
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(b, 0)
  b.writeUInt16LE(2, 0x10)
  b.writeBigUInt64LE(64n, 0x20)
  b.writeUInt16LE(56, 0x36)
  b.writeUInt16LE(1, 0x38)
  b.writeUInt32LE(ptype, 64)
  return b
}

/** A bzImage-like file: "HdrS" at 0x202 and the version string pointed to by 0x20e (+0x200). */
export function fakeBzImage(version: string): Buffer {
  const b = Buffer.alloc(0x400)
  b.write('HdrS', 0x202, 'latin1')
  b.writeUInt16LE(0x300 - 0x200, 0x20e)
  b.write(version + '\0', 0x300, 'latin1')
  return b
}

/** A kernel object as the store would return it, with a dummy vmlinuz (for runs against the fake QEMU). */
export function fakeKernel(dir: string): Kernel {
  fs.mkdirSync(dir, {recursive: true})
  fs.writeFileSync(path.join(dir, 'vmlinuz'), fakeBzImage('6.12.0-test #1 SMP'))
  const info = {
    format: KERNEL_INFO_FORMAT,
    name: 'fake',
    release: '6.12.0-test',
    version: '6.12.0-test #1 SMP',
    source: {kind: 'user', bzimage: 'vmlinuz', modules: null, config: null},
    files: {vmlinuz: 'vmlinuz', config: null, system_map: null},
    modules: {load: [], builtin: []},
    config: {
      hz: 250,
      per_vma_lock: true,
      per_vma_lock_stats: false,
      thp_default: 'always',
      preempt: 'dynamic',
      module_compression: 'none',
    },
  } as Kernel['info']
  fs.writeFileSync(path.join(dir, 'kernel.json'), JSON.stringify(info))
  return {dir, info}
}

/** True when the pid is alive (a zombie counts as dead). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}
