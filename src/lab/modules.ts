// The kernel modules a guest needs for the 9p root, with their dependencies, in load order.
// Debian's linux-image packages ship no modules.dep (depmod runs in postinst), so when a modules directory has none
// the direct dependencies come from each module's own `.modinfo depends=` (what modpost wrote, and what depmod uses
// besides symbols). A directory from `make modules_install` has modules.dep and that is used as it is.

import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {gunzipSync} from 'node:zlib'

import {modinfo} from './elf.js'
import {LabError, LabExit} from './errors.js'

/** What the guest's /init loads: the PCI transport (6.1 builds virtio as modules), 9p over virtio, the 9p fs. */
export const GUEST_MODULE_ROOTS = ['virtio_pci', '9pnet_virtio', '9p'] as const

const KO = /\.ko(\.xz|\.gz|\.zst)?$/

/** `kernel/net/9p/9pnet-virtio.ko.xz` -> `9pnet_virtio` (the kernel treats - and _ alike in module names). */
export function moduleName(file: string): string {
  return path.basename(file).replace(KO, '').replaceAll('-', '_')
}

/** A module file's bytes, decompressed on the host (busybox insmod loads plain .ko only). */
export function readModule(file: string): Buffer {
  if (file.endsWith('.ko')) return fs.readFileSync(file)
  if (file.endsWith('.ko.gz')) return gunzipSync(fs.readFileSync(file))
  const tool = file.endsWith('.ko.xz') ? 'xz' : file.endsWith('.ko.zst') ? 'zstd' : undefined
  if (tool === undefined)
    throw new LabError(LabExit.NO_KERNEL, `${file}: not a kernel module file (.ko, .ko.xz, .ko.gz, .ko.zst)`)
  const r = spawnSync(tool, ['-dc', file], {maxBuffer: 1 << 30})
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new LabError(
      LabExit.NO_TOOL,
      `${tool} is needed to decompress ${path.basename(file)}: apt-get install ${tool === 'xz' ? 'xz-utils' : 'zstd'}`,
    )
  }
  if (r.status !== 0)
    throw new LabError(LabExit.NO_KERNEL, `${tool} -dc ${file} failed: ${r.stderr?.toString().trim()}`)
  return r.stdout
}

/** modules.dep: `kernel/a/x.ko.xz: kernel/b/y.ko.xz kernel/c/z.ko.xz` -> name -> {path, deps (names)}. */
export function parseModulesDep(text: string): Map<string, {path: string; deps: string[]}> {
  const out = new Map<string, {path: string; deps: string[]}>()
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const file = line.slice(0, colon).trim()
    const deps = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(moduleName)
    out.set(moduleName(file), {path: file, deps})
  }
  return out
}

/** modules.builtin lists `kernel/drivers/virtio/virtio_pci.ko` for what is built in: the names. */
export function parseModulesBuiltin(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map(moduleName),
  )
}

export interface ModuleSource {
  /** Module name -> file (absolute). */
  files: Map<string, string>
  builtin: Set<string>
  /** Direct dependencies of a module (names). */
  depsOf(name: string): string[]
}

function walkModules(dir: string, out: Map<string, string>): void {
  for (const e of fs
    .readdirSync(dir, {withFileTypes: true})
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) walkModules(p, out)
    else if (KO.test(e.name) && !out.has(moduleName(e.name))) out.set(moduleName(e.name), p)
  }
}

/** Index a modules directory (`/lib/modules/RELEASE` layout, or any tree of .ko files). */
export function moduleSource(dir: string): ModuleSource {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new LabError(LabExit.NO_KERNEL, `modules directory ${dir} does not exist`)
  const files = new Map<string, string>()
  walkModules(dir, files)
  const read = (f: string): string | undefined =>
    fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), 'utf8') : undefined
  const builtinText = read('modules.builtin')
  const builtin = builtinText === undefined ? new Set<string>() : parseModulesBuiltin(builtinText)
  const depText = read('modules.dep')
  if (depText !== undefined) {
    const dep = parseModulesDep(depText)
    for (const [name, d] of dep) files.set(name, path.resolve(dir, d.path))
    return {files, builtin, depsOf: (n) => dep.get(n)?.deps ?? []}
  }
  const cache = new Map<string, string[]>()
  return {
    files,
    builtin,
    depsOf(name) {
      let d = cache.get(name)
      if (d === undefined) {
        const f = files.get(name)!
        const dependsOn = modinfo(readModule(f), f).get('depends') ?? ''
        d = dependsOn.split(',').filter(Boolean).map(moduleName)
        cache.set(name, d)
      }
      return d
    },
  }
}

export interface ModulePlan {
  /** Modules to insmod, dependencies first. */
  load: {name: string; file: string; deps: string[]}[]
  /** Roots (and dependencies) that are built into the kernel. */
  builtin: string[]
}

/** The closure of `roots` over the dependencies, in an order where each module follows its dependencies. */
export function planModules(src: ModuleSource, roots: readonly string[] = GUEST_MODULE_ROOTS): ModulePlan {
  const load: ModulePlan['load'] = []
  const builtin: string[] = []
  const state = new Map<string, 'visiting' | 'done'>()
  const visit = (name: string, from: string[]): void => {
    const s = state.get(name)
    if (s === 'done') return
    if (s === 'visiting')
      throw new LabError(LabExit.NO_KERNEL, `module dependency cycle: ${[...from, name].join(' -> ')}`)
    state.set(name, 'visiting')
    if (src.builtin.has(name)) {
      builtin.push(name)
    } else {
      const file = src.files.get(name)
      if (file === undefined) {
        throw new LabError(
          LabExit.NO_KERNEL,
          from.length === 0
            ? `the kernel has module ${name} neither built in nor as a file: the lab needs virtio-pci, 9p over virtio and the 9p filesystem (CONFIG_VIRTIO_PCI, CONFIG_NET_9P_VIRTIO, CONFIG_9P_FS)`
            : `module ${name} (needed by ${from[from.length - 1]}) not found in the modules directory`,
        )
      }
      const deps = src.depsOf(name)
      for (const d of deps) visit(d, [...from, name])
      load.push({name, file, deps})
    }
    state.set(name, 'done')
  }
  for (const r of roots) visit(r, [])
  return {load, builtin}
}

/** modules.dep text for the planned modules stored flat as NAME.ko (full dependency lists, as depmod writes them). */
export function formatModulesDep(plan: ModulePlan): string {
  const direct = new Map(plan.load.map((m) => [m.name, m.deps.filter((d) => !plan.builtin.includes(d))]))
  const closure = (n: string, seen = new Set<string>()): string[] => {
    for (const d of direct.get(n) ?? []) {
      if (!seen.has(d)) {
        seen.add(d)
        closure(d, seen)
      }
    }
    return [...seen]
  }
  const order = plan.load.map((m) => m.name)
  return plan.load
    .map((m) => {
      // depmod lists a module's dependencies so that modprobe loads them from the last to the first
      const deps = closure(m.name).sort((a, b) => order.indexOf(b) - order.indexOf(a))
      return `${m.name}.ko:${deps.map((d) => ` ${d}.ko`).join('')}\n`
    })
    .join('')
}
