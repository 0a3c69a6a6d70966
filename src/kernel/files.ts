// struct file references as far as the mm model sees them (fs/file_table.c get_file/fput; fs/file.c close_fd and
// exit_files → close_files): every VMA mapping a file holds one from vm_area_alloc / vm_area_dup to its free, and
// an open fd one until close(2) or exit_files (which do_exit runs after exit_mm). With
// FaultPolicy.rcuDeferredFput the VMA's fput runs in an RCU callback, as in Michel Lespinasse's "mm: rcu safe
// vma->vm_file freeing" (2021: ____vm_area_free called from __vm_area_free via call_rcu), so the file's last
// reference, and with it ->release, may drop a grace period late. The table records, per file, when that happened
// and when it would have without the deferral.
import type {Scheduler} from '../sim/scheduler.js'
import type {RcuClock} from './rcu.js'
import {VMA_BYTES, type FileRef} from './vma.js'

/** How a file's fd went away: close(2), exit_files at process exit, or no fd seen (maps snapshot, exec, shmem). */
export type FdEnd = 'none' | 'close' | 'exit'

/** One struct file whose last reference dropped. */
export interface FileRelease {
  /** The model's file identity (FileRef.id) */
  id: string
  path: string | null
  /** Thread group whose fd table held it (null: no fd seen). */
  tgid: number | null
  fd: FdEnd
  /** When its fd was closed (null: no fd seen). */
  closedNs: number | null
  /** When the last reference would have dropped without deferral: the last VMA free or fd close. */
  undeferredNs: number
  /** When it did drop: ->release ran. */
  releasedNs: number
  /** VMA fputs of this file that went through a grace period. */
  deferredFputs: number
}

export interface FputStats {
  /** Deferred VMA fputs issued, and completed. */
  deferred: number
  completed: number
  /** Files with a deferred fput waiting, and the vm_area_struct bytes those fputs hold (the object is freed in the
   * same callback in the 2021 design), now and at peak. */
  filesWaiting: number
  bytesWaiting: number
  peakFilesWaiting: number
  peakBytesWaiting: number
}

class OpenFile {
  /** References not waiting for a grace period: VMAs + the fd. */
  live = 0
  /** Deferred fputs waiting for a grace period. */
  pending = 0
  fdOpen = false
  fd: FdEnd = 'none'
  closedNs: number | null = null
  tgid: number | null = null
  undeferredNs = -1
  deferredFputs = 0
  /** A VMA has mapped it. */
  mapped = false
  released = false

  constructor(
    readonly id: string,
    readonly key: string,
    public path: string | null,
  ) {}
}

export class FileTable {
  readonly releases: FileRelease[] = []
  /** call_rcu → fput delay of every completed deferred fput, ns, in completion order. */
  readonly delays: number[] = []
  readonly stats: FputStats = {
    deferred: 0,
    completed: 0,
    filesWaiting: 0,
    bytesWaiting: 0,
    peakFilesWaiting: 0,
    peakBytesWaiting: 0,
  }
  private readonly byRef = new WeakMap<FileRef, OpenFile>()
  /** owner|id → the struct file a new reference under that name gets (until its fd closes or it is released). */
  private readonly current = new Map<string, OpenFile>()
  /** tgid → the files its fd table holds, in the order they were opened. */
  private readonly fds = new Map<number, Set<OpenFile>>()

  constructor(
    private readonly sched: Scheduler,
    private readonly rcu: RcuClock,
    /** VMA fputs go through call_rcu (rcuDeferredFput). */
    readonly deferVmaFput: boolean,
  ) {}

  private fileOf(ref: FileRef, owner: number): OpenFile {
    let f = this.byRef.get(ref)
    if (f === undefined || f.released) {
      const id = String(ref.id)
      const key = `${owner}|${id}`
      f = this.current.get(key)
      if (f === undefined) {
        f = new OpenFile(id, key, ref.path ?? null)
        this.current.set(key, f)
      }
      this.byRef.set(ref, f)
    }
    if (f.path === null && ref.path !== undefined) f.path = ref.path
    return f
  }

  /** Names the file `ref` refers to (a perf MMAP2 record's path for a VMA mapped by fd). */
  name(ref: FileRef, owner: number, path: string): void {
    const f = this.fileOf(ref, owner)
    if (f.path === null && path !== '') f.path = path
  }

  /** The fd an mmap(2) maps is open in `tgid`'s fd table: it holds a reference until close(2) or exit_files. */
  fdInstall(ref: FileRef, tgid: number): void {
    const f = this.fileOf(ref, tgid)
    if (f.fdOpen || f.fd !== 'none') return
    f.fdOpen = true
    f.tgid = tgid
    f.live++
    let set = this.fds.get(tgid)
    if (set === undefined) this.fds.set(tgid, (set = new Set()))
    set.add(f)
  }

  /** close_fd: `tgid` closes the fd the model calls `id` (fd:TGID:N); a later mmap of that number is another file. */
  closeFd(id: string, tgid: number): void {
    const f = this.current.get(`${tgid}|${id}`)
    if (f === undefined || !f.fdOpen || f.tgid !== tgid) return
    this.fds.get(tgid)?.delete(f)
    this.closeFile(f, 'close')
  }

  /** exit_files → close_files: the process's fd table goes, after exit_mm has freed its VMAs. */
  exitFiles(tgid: number): void {
    const set = this.fds.get(tgid)
    if (set === undefined) return
    this.fds.delete(tgid)
    for (const f of set) this.closeFile(f, 'exit')
  }

  private closeFile(f: OpenFile, how: FdEnd): void {
    f.fdOpen = false
    f.fd = how
    f.closedNs = this.sched.now
    if (this.current.get(f.key) === f) this.current.delete(f.key)
    this.dropLive(f)
  }

  /** get_file for a new VMA (vm_area_alloc with a file, vm_area_dup). */
  vmaGet(ref: FileRef, owner: number): void {
    const f = this.fileOf(ref, owner)
    if (f.live === 0) f.undeferredNs = -1 // found again through a VMA copied while its fput waited
    f.live++
    f.mapped = true
  }

  /** The VMA's fput: at once, or (rcuDeferredFput) after a grace period, lazy under RCU_LAZY. */
  vmaPut(ref: FileRef, owner: number): void {
    const f = this.fileOf(ref, owner)
    if (!this.deferVmaFput) {
      this.dropLive(f)
      return
    }
    const s = this.stats
    s.deferred++
    f.deferredFputs++
    if (f.pending++ === 0 && ++s.filesWaiting > s.peakFilesWaiting) s.peakFilesWaiting = s.filesWaiting
    s.bytesWaiting += VMA_BYTES
    if (s.bytesWaiting > s.peakBytesWaiting) s.peakBytesWaiting = s.bytesWaiting
    const calledNs = this.sched.now
    // no bytes to the clock's own accounting: on a 6.4–6.14 base the VMA's call_rcu already counts the object
    this.rcu.callRcu(() => this.deferredFput(f, calledNs), 0, 0, true)
    this.dropLive(f)
  }

  /** The deferred fput's RCU callback. */
  private deferredFput(f: OpenFile, calledNs: number): void {
    const s = this.stats
    s.completed++
    s.bytesWaiting -= VMA_BYTES
    this.delays.push(this.sched.now - calledNs)
    if (--f.pending === 0) s.filesWaiting--
    if (f.live === 0 && f.pending === 0) this.release(f)
  }

  private dropLive(f: OpenFile): void {
    if (--f.live > 0) return
    f.undeferredNs = this.sched.now
    if (this.current.get(f.key) === f) this.current.delete(f.key)
    if (f.pending === 0) this.release(f)
  }

  /** __fput: the last reference is gone and ->release runs. Files no VMA ever mapped (a failed mmap) are not listed. */
  private release(f: OpenFile): void {
    f.released = true
    if (!f.mapped) return
    this.releases.push({
      id: f.id,
      path: f.path,
      tgid: f.tgid,
      fd: f.fd,
      closedNs: f.closedNs,
      undeferredNs: f.undeferredNs,
      releasedNs: this.sched.now,
      deferredFputs: f.deferredFputs,
    })
  }
}

/** Nearest-rank percentile `p` of ascending `sorted` (rank ceil(p/100 · n), at least 1; 0 when empty), as
 * store/percentiles.ts computes it in SQL. */
export function nearestRank(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length
  if (n === 0) return 0
  return sorted[Math.min(n, Math.max(1, Math.ceil((p * n) / 100 - 1e-9))) - 1]!
}
