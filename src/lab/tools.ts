// The host programs the lab needs: found on $PATH (or given), checked, and on Debian installed with apt-get.

import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

import {isStaticElf} from './elf.js'
import {LabError, LabExit} from './errors.js'

export interface Tool {
  /** Executable names tried in order. */
  names: readonly string[]
  /** Debian package that provides it. */
  apt: string
  /** What it is for (in messages). */
  why: string
}

export const TOOLS = {
  qemu: {names: ['qemu-system-x86_64'], apt: 'qemu-system-x86', why: 'runs the guest'},
  busybox: {names: ['busybox'], apt: 'busybox-static', why: "the guest's /init (must be statically linked)"},
  xz: {names: ['xz'], apt: 'xz-utils', why: 'decompresses .ko.xz modules'},
  dpkgDeb: {names: ['dpkg-deb'], apt: 'dpkg', why: 'unpacks the kernel package'},
  aptGet: {names: ['apt-get'], apt: 'apt', why: 'downloads the kernel package'},
} as const satisfies Record<string, Tool>

export type ToolId = keyof typeof TOOLS

/** Like execvp: the first executable file called `name` on PATH. */
export function which(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  const dirs = name.includes('/') ? [''] : envPath.split(':').filter(Boolean)
  for (const d of dirs) {
    const p = d === '' ? name : path.join(d, name)
    try {
      if (fs.statSync(p).isFile()) {
        fs.accessSync(p, fs.constants.X_OK)
        return path.resolve(p)
      }
    } catch {
      // next
    }
  }
  return undefined
}

export function installHint(ids: readonly ToolId[]): string {
  const pkgs = [...new Set(ids.map((i) => TOOLS[i].apt))]
  return (
    `install it with: apt-get install ${pkgs.join(' ')}` +
    (which('apt-get') ? '' : " (or your distribution's equivalent)")
  )
}

function missingError(id: ToolId, detail?: string): LabError {
  const t = TOOLS[id]
  return new LabError(
    LabExit.NO_TOOL,
    `${detail ?? `${t.names[0]} not found on PATH`} (${t.why}); ${installHint([id])}`,
  )
}

/** The path of a tool, or a NO_TOOL error that says how to install it. `given` overrides the lookup (tests, --qemu). */
export function requireTool(id: ToolId, given?: string): string {
  const p = given !== undefined ? which(given) : TOOLS[id].names.map((n) => which(n)).find((x) => x !== undefined)
  if (p === undefined) throw missingError(id, given !== undefined ? `${given} not found or not executable` : undefined)
  if (id === 'busybox') {
    let isStatic: boolean
    try {
      isStatic = isStaticElf(fs.readFileSync(p), p)
    } catch {
      isStatic = false
    }
    if (!isStatic) throw missingError(id, `${p} is not a statically linked busybox`)
  }
  return p
}

/** The missing tools among `ids` (a dynamically linked busybox counts as missing). */
export function missingTools(ids: readonly ToolId[]): ToolId[] {
  return ids.filter((id) => {
    try {
      requireTool(id)
      return false
    } catch {
      return true
    }
  })
}

/**
 * Installs missing tools with apt-get when that is possible (Debian/Ubuntu, root): `apt-get update` only when the
 * install fails without it. Returns what it installed; throws NO_TOOL with the install command otherwise.
 */
export function ensureTools(ids: readonly ToolId[], log: (m: string) => void): ToolId[] {
  const missing = missingTools(ids)
  if (missing.length === 0) return []
  const apt = which('apt-get')
  const root = process.getuid?.() === 0
  if (apt === undefined || !root) {
    throw new LabError(
      LabExit.NO_TOOL,
      `missing: ${missing.map((m) => TOOLS[m].names[0]).join(', ')}; ${installHint(missing)}${root ? '' : ' (as root)'}`,
    )
  }
  const pkgs = [...new Set(missing.map((m) => TOOLS[m].apt))]
  const install = (): boolean =>
    spawnSync(apt, ['install', '-y', '-qq', ...pkgs], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {...process.env, DEBIAN_FRONTEND: 'noninteractive'},
    }).status === 0
  log(`installing ${pkgs.join(' ')} (apt-get install)`)
  if (!install()) {
    log('apt-get update')
    spawnSync(apt, ['update', '-qq'], {stdio: ['ignore', 'ignore', 'pipe']})
    if (!install())
      throw new LabError(LabExit.NO_TOOL, `apt-get install ${pkgs.join(' ')} failed; install them by hand`)
  }
  const still = missingTools(missing)
  if (still.length > 0) throw missingError(still[0]!)
  return missing
}
