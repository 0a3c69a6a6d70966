// Lock file for global-mode captures (the top-level tracefs buffer is one per machine).
// The lock also carries the journal of changed settings, so a capture that was SIGKILLed
// can be repaired by the next one.

import * as fs from 'node:fs'
import * as path from 'node:path'

import {CaptureError, ExitCode, errnoOf} from './errors.js'
import type {JournalEntry} from './journal.js'

export const DEFAULT_LOCK_FILE = '/run/vmareplay-capture.lock'

export interface LockInfo {
  pid: number
  started: string
  /** The tracefs directory the journal refers to. */
  dir: string
  journal: JournalEntry[]
}

export interface Lock {
  readonly path: string
  /** A stale lock's content (its owner died), returned so the caller can restore its journal. */
  readonly stale?: LockInfo
  update(journal: readonly JournalEntry[]): void
  release(): void
}

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return errnoOf(error) === 'EPERM'
  }
}

function readLock(file: string): LockInfo | undefined {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LockInfo>
    if (typeof v.pid !== 'number') return undefined
    return {
      pid: v.pid,
      started: String(v.started ?? ''),
      dir: String(v.dir ?? ''),
      journal: Array.isArray(v.journal) ? v.journal : [],
    }
  } catch {
    return undefined
  }
}

function writeAtomically(file: string, info: LockInfo, exclusive: boolean): void {
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, JSON.stringify(info, null, 1) + '\n', {mode: 0o644})
  try {
    if (exclusive)
      fs.linkSync(tmp, file) // fails with EEXIST when another capture holds it
    else fs.renameSync(tmp, file)
  } finally {
    fs.rmSync(tmp, {force: true})
  }
}

/**
 * Take the lock at `file` for a capture working in `dir`. Throws CaptureError(BUSY) while a live
 * process holds it; takes over (and reports) a lock whose owner is dead.
 */
export function acquireLock(file: string, dir: string): Lock {
  fs.mkdirSync(path.dirname(file), {recursive: true})
  const info: LockInfo = {pid: process.pid, started: new Date().toISOString(), dir, journal: []}
  let stale: LockInfo | undefined
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      writeAtomically(file, info, true)
      let released = false
      return {
        path: file,
        stale,
        update(journal) {
          if (released) return
          info.journal = [...journal]
          writeAtomically(file, info, false)
        },
        release() {
          if (released) return
          released = true
          const cur = readLock(file)
          if (cur === undefined || cur.pid === process.pid) fs.rmSync(file, {force: true})
        },
      }
    } catch (error) {
      if (errnoOf(error) !== 'EEXIST') {
        throw new CaptureError(
          errnoOf(error) === 'EACCES' || errnoOf(error) === 'EPERM' ? ExitCode.PERMISSION : ExitCode.TRACE_FAILED,
          `cannot create the capture lock file ${file}: ${(error as Error).message}`,
        )
      }
      const holder = readLock(file)
      if (holder && holder.pid !== process.pid && pidAlive(holder.pid)) {
        throw new CaptureError(
          ExitCode.BUSY,
          `another global-mode capture (pid ${holder.pid}, started ${holder.started}) is using ${holder.dir}. ` +
            `Wait for it to finish, or capture in a tracefs instance (the default, without --no-instance). ` +
            `If no capture is running, remove ${file}.`,
        )
      }
      if (holder === undefined) {
        // Unreadable: maybe being replaced right now; give the writer a moment before calling it stale.
        const age = Date.now() - safeMtime(file)
        if (age < 2000 && attempt < 4) {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200)
          continue
        }
      }
      if (holder && holder.journal.length > 0 && stale === undefined) stale = holder
      fs.rmSync(file, {force: true})
    }
  }
  throw new CaptureError(
    ExitCode.BUSY,
    `could not take the capture lock ${file} (it keeps being recreated); retry later`,
  )
}

function safeMtime(file: string): number {
  try {
    return fs.statSync(file).mtimeMs
  } catch {
    return 0
  }
}
