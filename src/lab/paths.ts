// Where the lab keeps its kernels and initramfs images, and where this vmareplay checkout lives (the guest runs it).

import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

export const LAB_DIR_ENV = 'VMAREPLAY_LAB_DIR'

/** --lab-dir, else $VMAREPLAY_LAB_DIR, else $XDG_CACHE_HOME/vmareplay/lab, else ~/.cache/vmareplay/lab. */
export function labDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return path.resolve(flag)
  if (env[LAB_DIR_ENV]) return path.resolve(env[LAB_DIR_ENV])
  const cache = env.XDG_CACHE_HOME ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache')
  return path.join(cache, 'vmareplay', 'lab')
}

export const kernelsDir = (lab: string): string => path.join(lab, 'kernels')
export const initramfsDir = (lab: string): string => path.join(lab, 'initramfs')

/** The checkout (or installed package) root: dist/src/lab/paths.js is three levels below it. */
export function repoRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
}

/** Where the guest finds the writable results share (a tmpfs /run hides the host's). */
export const GUEST_RESULTS = '/run/vmareplay-lab'
