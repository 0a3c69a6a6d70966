// `lab fetch 6.1|6.12`: Debian's own kernel packages, downloaded with apt-get and unpacked with dpkg-deb.

import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

import {LabError, LabExit} from './errors.js'
import {DEBIAN_ALIASES, installKernel, readKernel, type Kernel} from './kernels.js'
import {kernelsDir} from './paths.js'
import {requireTool, which} from './tools.js'

/** Package names per alias; the captured number orders them (the newest ABI / upload is the highest). */
export const DEBIAN_PACKAGES: Record<(typeof DEBIAN_ALIASES)[number], RegExp> = {
  '6.1': /^linux-image-6\.1\.0-(\d+)-amd64-unsigned$/,
  '6.12': /^linux-image-6\.12\.(\d+)\+deb12-amd64-unsigned$/,
}

export function isDebianAlias(s: string): s is (typeof DEBIAN_ALIASES)[number] {
  return (DEBIAN_ALIASES as readonly string[]).includes(s)
}

/** The newest matching package among `apt-cache search --names-only` output lines (`name - description`). */
export function newestPackage(searchOutput: string, alias: (typeof DEBIAN_ALIASES)[number]): string | undefined {
  const re = DEBIAN_PACKAGES[alias]
  let best: {name: string; n: number} | undefined
  for (const line of searchOutput.split('\n')) {
    const name = line.split(' ')[0] ?? ''
    const m = re.exec(name)
    if (m && (best === undefined || Number(m[1]) > best.n)) best = {name, n: Number(m[1])}
  }
  return best?.name
}

function run(cmd: string, args: string[], cwd?: string): {ok: boolean; out: string; err: string} {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: {...process.env, DEBIAN_FRONTEND: 'noninteractive'},
  })
  return {ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? r.error.message : '')}
}

function aptUpdate(aptGet: string, log: (m: string) => void): void {
  log('apt-get update')
  const r = run(aptGet, ['update', '-qq'])
  if (!r.ok) log(`apt-get update failed: ${r.err.trim().split('\n').pop()}`)
}

/** The package to fetch: the one given, else the newest in the apt lists (after an `apt-get update` if none). */
function choosePackage(alias: (typeof DEBIAN_ALIASES)[number], aptGet: string, log: (m: string) => void): string {
  const aptCache = which('apt-cache') ?? path.join(path.dirname(aptGet), 'apt-cache')
  const search = (): string | undefined =>
    newestPackage(
      run(aptCache, ['search', '--names-only', DEBIAN_PACKAGES[alias].source.replace('(\\d+)', '[0-9]+')]).out,
      alias,
    )
  let pkg = search()
  if (pkg === undefined) {
    aptUpdate(aptGet, log)
    pkg = search()
  }
  if (pkg === undefined) {
    throw new LabError(
      LabExit.FETCH_FAILED,
      `no package matching ${DEBIAN_PACKAGES[alias].source} in the apt lists: this needs Debian 12 (bookworm) sources with bookworm-security/updates; or register a kernel with --bzimage/--modules`,
    )
  }
  return pkg
}

/** The unpacked package's boot files and modules directory (Debian 12: /boot and /lib/modules; usr-merged: /usr/lib). */
export function locatePackageFiles(root: string): {
  vmlinuz: string
  config?: string
  systemMap?: string
  modulesDir: string
} {
  const boot = path.join(root, 'boot')
  const files = fs.existsSync(boot) ? fs.readdirSync(boot).sort() : []
  const vmlinuz = files.find((f) => f.startsWith('vmlinuz-'))
  if (vmlinuz === undefined) throw new LabError(LabExit.FETCH_FAILED, `the package has no boot/vmlinuz-*`)
  const release = vmlinuz.slice('vmlinuz-'.length)
  const modulesDir = ['lib/modules', 'usr/lib/modules']
    .map((d) => path.join(root, d, release))
    .find((d) => fs.existsSync(d))
  if (modulesDir === undefined) throw new LabError(LabExit.FETCH_FAILED, `the package has no lib/modules/${release}`)
  const opt = (f: string): string | undefined => (files.includes(f) ? path.join(boot, f) : undefined)
  // Debian's System.map is a one-line stub pointing to the -dbg package: not worth keeping
  const map = opt(`System.map-${release}`)
  const systemMap = map !== undefined && fs.statSync(map).size > 4096 ? map : undefined
  return {vmlinuz: path.join(boot, vmlinuz), config: opt(`config-${release}`), systemMap, modulesDir}
}

export interface FetchOptions {
  alias: (typeof DEBIAN_ALIASES)[number]
  /** Exact package name instead of the newest. */
  package?: string
  /** Reinstall even when the same package version is installed. */
  force?: boolean
  log: (m: string) => void
}

export function fetchDebianKernel(lab: string, o: FetchOptions): {kernel: Kernel; installed: boolean} {
  const aptGet = requireTool('aptGet')
  const dpkgDeb = requireTool('dpkgDeb')
  const pkg = o.package ?? choosePackage(o.alias, aptGet, o.log)
  if (!DEBIAN_PACKAGES[o.alias].test(pkg))
    o.log(`note: ${pkg} is not a ${o.alias} amd64-unsigned package name; fetching it anyway`)
  const root = kernelsDir(lab)
  fs.mkdirSync(root, {recursive: true})
  const infoFile = path.join(root, o.alias, 'kernel.json')
  if (!o.force && fs.existsSync(infoFile)) {
    const current = JSON.parse(fs.readFileSync(infoFile, 'utf8')) as {source?: {package?: string; version?: string}}
    const aptCache = which('apt-cache') ?? path.join(path.dirname(aptGet), 'apt-cache')
    const candidate = /^Version: (.+)$/m.exec(run(aptCache, ['show', '--no-all-versions', pkg]).out)?.[1]
    if (current.source?.package === pkg && current.source.version === candidate) {
      o.log(`${o.alias} is already installed from ${pkg} ${candidate} (--force reinstalls it)`)
      return {kernel: readKernel(path.join(root, o.alias)), installed: false}
    }
  }
  const tmp = fs.mkdtempSync(path.join(root, '.fetch-'))
  try {
    o.log(`apt-get download ${pkg}`)
    let dl = run(aptGet, ['download', pkg], tmp)
    if (!dl.ok) {
      aptUpdate(aptGet, o.log)
      dl = run(aptGet, ['download', pkg], tmp)
    }
    const deb = fs.readdirSync(tmp).find((f) => f.endsWith('.deb'))
    if (!dl.ok || deb === undefined)
      throw new LabError(
        LabExit.FETCH_FAILED,
        `apt-get download ${pkg} failed: ${
          dl.err
            .trim()
            .split('\n')
            .filter((l) => !l.startsWith('W:'))
            .pop() ?? ''
        }`,
      )
    const version = run(dpkgDeb, ['-f', path.join(tmp, deb), 'Version']).out.trim()
    o.log(`dpkg-deb -x ${deb}`)
    const x = run(dpkgDeb, ['-x', path.join(tmp, deb), path.join(tmp, 'root')])
    if (!x.ok) throw new LabError(LabExit.FETCH_FAILED, `dpkg-deb -x ${deb} failed: ${x.err.trim()}`)
    const files = locatePackageFiles(path.join(tmp, 'root'))
    const kernel = installKernel(lab, {name: o.alias, ...files, source: {kind: 'debian', package: pkg, version}}, o.log)
    return {kernel, installed: true}
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true})
  }
}
