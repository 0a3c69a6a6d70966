// The lab's kernel store: one directory per kernel with what a guest needs (vmlinuz, config, System.map, the
// decompressed modules for the 9p root and their modules.dep) and a kernel.json that says where it came from.

import * as fs from 'node:fs'
import * as path from 'node:path'

import {LabError, LabExit} from './errors.js'
import {bzImageVersion, parseKernelConfig, releaseOf, summarizeConfig, type ConfigSummary} from './kconfig.js'
import {modinfo} from './elf.js'
import {formatModulesDep, moduleSource, planModules, readModule, type ModulePlan} from './modules.js'
import {kernelsDir} from './paths.js'

export const KERNEL_INFO_FORMAT = 'vmareplay-lab-kernel/1'

export type KernelSource =
  | {kind: 'debian'; package: string; version: string}
  | {kind: 'user'; bzimage: string; modules: string | null; config: string | null}

export interface KernelInfo {
  format: typeof KERNEL_INFO_FORMAT
  name: string
  /** `uname -r` in the guest (from the bzImage header). */
  release: string
  /** The bzImage's full version string (`6.12.118+deb12-amd64 (debian-kernel@…) #1 SMP PREEMPT_DYNAMIC …`). */
  version: string
  source: KernelSource
  /** File names inside the kernel's directory. */
  files: {vmlinuz: string; config: string | null; system_map: string | null}
  /** Modules the guest's /init loads, in order (files modules/NAME.ko), and the needed ones built in. */
  modules: {load: string[]; builtin: string[]}
  config: ConfigSummary
}

export interface Kernel {
  dir: string
  info: KernelInfo
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/

export function checkKernelName(name: string): void {
  if (!NAME.test(name))
    throw new LabError(LabExit.USAGE, `bad kernel name ${JSON.stringify(name)}: use letters, digits and . _ + -`)
}

export function readKernel(dir: string): Kernel {
  const file = path.join(dir, 'kernel.json')
  let info: KernelInfo
  try {
    info = JSON.parse(fs.readFileSync(file, 'utf8')) as KernelInfo
  } catch (error) {
    throw new LabError(
      LabExit.NO_KERNEL,
      `${file}: ${(error as Error).message}; reinstall the kernel (vmareplay lab fetch … --force)`,
    )
  }
  if (info.format !== KERNEL_INFO_FORMAT)
    throw new LabError(LabExit.NO_KERNEL, `${file}: unknown format ${String(info.format)}`)
  return {dir, info}
}

/** Installed kernels, by name. */
export function listKernels(lab: string): Kernel[] {
  const root = kernelsDir(lab)
  if (!fs.existsSync(root)) return []
  return fs
    .readdirSync(root)
    .filter((n) => !n.startsWith('.') && fs.existsSync(path.join(root, n, 'kernel.json')))
    .sort()
    .map((n) => readKernel(path.join(root, n)))
}

/** Debian kernels `lab fetch` knows by version. */
export const DEBIAN_ALIASES = ['6.1', '6.12'] as const

/**
 * `--kernel`: an installed kernel's name, a kernel directory (with kernel.json), or a bzImage file whose 9p and
 * virtio drivers are built in.
 */
export function findKernel(lab: string, spec: string): Kernel {
  const asPath = path.resolve(spec)
  if (spec.includes('/') || (fs.existsSync(asPath) && !NAME.test(spec))) {
    if (!fs.existsSync(asPath)) throw new LabError(LabExit.NO_KERNEL, `--kernel ${spec}: no such file or directory`)
    if (fs.statSync(asPath).isDirectory()) return readKernel(asPath)
    return adHocKernel(asPath)
  }
  const dir = path.join(kernelsDir(lab), spec)
  if (fs.existsSync(path.join(dir, 'kernel.json'))) return readKernel(dir)
  const installed = listKernels(lab).map((k) => k.info.name)
  const how = (DEBIAN_ALIASES as readonly string[]).includes(spec)
    ? `install it with: vmareplay lab fetch ${spec}`
    : `install a Debian kernel with vmareplay lab fetch ${DEBIAN_ALIASES.join('|')}, or register your own with vmareplay lab fetch --bzimage FILE --modules DIR --name ${spec}`
  throw new LabError(
    LabExit.NO_KERNEL,
    `kernel ${spec} is not installed in ${kernelsDir(lab)}; ${how}` +
      (installed.length > 0 ? ` (installed: ${installed.join(', ')})` : ''),
  )
}

function readBzImage(file: string): {version: string; release: string} {
  const version = bzImageVersion(fs.readFileSync(file))
  if (version === undefined)
    throw new LabError(LabExit.NO_KERNEL, `${file} is not an x86 bzImage (no HdrS setup header)`)
  return {version, release: releaseOf(version)}
}

/** A bzImage given by path, outside the store: it must have virtio-pci and 9p built in (there are no modules). */
function adHocKernel(file: string): Kernel {
  const {version, release} = readBzImage(file)
  return {
    dir: path.dirname(file),
    info: {
      format: KERNEL_INFO_FORMAT,
      name: path.basename(file),
      release,
      version,
      source: {kind: 'user', bzimage: file, modules: null, config: null},
      files: {vmlinuz: path.basename(file), config: null, system_map: null},
      modules: {load: [], builtin: []},
      config: summarizeConfig(new Map()),
    },
  }
}

export interface InstallInput {
  name: string
  vmlinuz: string
  config?: string
  systemMap?: string
  /** `/lib/modules/RELEASE` (or any tree of .ko files); none: the 9p drivers must be built in. */
  modulesDir?: string
  source: KernelSource
}

const NEEDED_BUILTIN = ['VIRTIO_PCI', 'NET_9P_VIRTIO', '9P_FS'] as const

/** Checks that a module was built for `release` (insmod in the guest would fail with "invalid module format"). */
function checkVermagic(ko: Buffer, file: string, release: string): void {
  const vermagic = modinfo(ko, file).get('vermagic')?.split(' ')[0]
  if (vermagic !== undefined && vermagic !== release) {
    throw new LabError(
      LabExit.NO_KERNEL,
      `${file} was built for kernel ${vermagic}, not for the bzImage's ${release}: give the modules directory of this kernel`,
    )
  }
}

/** Copies a kernel into the store (a temporary directory renamed into place: an interrupted install leaves none). */
export function installKernel(lab: string, input: InstallInput, log: (m: string) => void = () => {}): Kernel {
  checkKernelName(input.name)
  const {version, release} = readBzImage(input.vmlinuz)
  const config =
    input.config !== undefined ? parseKernelConfig(fs.readFileSync(input.config, 'utf8')) : new Map<string, string>()
  let plan: ModulePlan = {load: [], builtin: []}
  if (input.modulesDir !== undefined) {
    plan = planModules(moduleSource(input.modulesDir))
  } else if (config.size > 0) {
    const notBuiltin = NEEDED_BUILTIN.filter((k) => config.get(k) !== 'y')
    if (notBuiltin.length > 0) {
      throw new LabError(
        LabExit.NO_KERNEL,
        `the config has ${notBuiltin.map((k) => `CONFIG_${k}=${config.get(k) ?? 'n'}`).join(', ')}: give --modules DIR (or build them in)`,
      )
    }
  } else {
    log('no --modules and no --config: assuming virtio-pci and 9p are built into the kernel')
  }
  const root = kernelsDir(lab)
  fs.mkdirSync(root, {recursive: true})
  const tmp = fs.mkdtempSync(path.join(root, `.${input.name}.tmp-`))
  try {
    fs.chmodSync(tmp, 0o755)
    fs.copyFileSync(input.vmlinuz, path.join(tmp, 'vmlinuz'))
    if (input.config !== undefined) fs.copyFileSync(input.config, path.join(tmp, 'config'))
    if (input.systemMap !== undefined) fs.copyFileSync(input.systemMap, path.join(tmp, 'System.map'))
    if (plan.load.length > 0) {
      fs.mkdirSync(path.join(tmp, 'modules'))
      for (const m of plan.load) {
        const ko = readModule(m.file)
        checkVermagic(ko, m.file, release)
        fs.writeFileSync(path.join(tmp, 'modules', `${m.name}.ko`), ko)
      }
      fs.writeFileSync(path.join(tmp, 'modules', 'modules.dep'), formatModulesDep(plan))
    }
    const info: KernelInfo = {
      format: KERNEL_INFO_FORMAT,
      name: input.name,
      release,
      version,
      source: input.source,
      files: {
        vmlinuz: 'vmlinuz',
        config: input.config !== undefined ? 'config' : null,
        system_map: input.systemMap !== undefined ? 'System.map' : null,
      },
      modules: {load: plan.load.map((m) => m.name), builtin: plan.builtin},
      config: summarizeConfig(config),
    }
    fs.writeFileSync(path.join(tmp, 'kernel.json'), JSON.stringify(info, null, 2) + '\n')
    const dest = path.join(root, input.name)
    const old = fs.existsSync(dest) ? `${tmp}.old` : undefined
    if (old !== undefined) fs.renameSync(dest, old)
    fs.renameSync(tmp, dest)
    if (old !== undefined) fs.rmSync(old, {recursive: true, force: true})
    return {dir: dest, info}
  } catch (error) {
    fs.rmSync(tmp, {recursive: true, force: true})
    throw error
  }
}

/** Absolute path of a kernel file. */
export const kernelFile = (k: Kernel, f: string): string => path.join(k.dir, f)
