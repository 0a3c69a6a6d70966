// The operations a replay feeds the simulated threads, as stream.ts reads them from an ingested trace: the
// vocabulary the engine (replay/), its recorder (results/) and the run writer (store/) share.

/** One thing a traced thread did, with times relative to the trace's first event (exact: spans < 104 days). */
export type Op =
  | {
      type: 'fault'
      eventId: number
      t: number
      tid: number
      tgid: number
      address: number
      errorCode: number
      user: boolean
      io: boolean
    }
  | {
      type: 'syscall'
      eventId: number
      t: number
      tEnd: number | null
      tid: number
      tgid: number
      nr: number
      name: string
      args: number[]
      ret: number | null
      cloneFlags: number | null
      lockHoldNs: number | null
    }
  | {type: 'fork'; eventId: number; t: number; tid: number; tgid: number; childPid: number}
  | {type: 'newtask'; eventId: number; t: number; tid: number; tgid: number; childPid: number; cloneFlags: number}
  | {type: 'exec'; eventId: number; t: number; tid: number; tgid: number; filename: string}
  /** groupDead: sched_process_exit's group_dead (6.18 prints it; null before) */
  | {type: 'exit'; eventId: number; t: number; tid: number; tgid: number; groupDead: boolean | null}
  | {
      type: 'unmapped_area'
      eventId: number
      t: number
      tid: number
      tgid: number
      addr: number
      len: number
      err: number
    }
  | {
      type: 'mmap2'
      eventId: number
      t: number
      tid: number
      tgid: number
      start: number
      len: number
      pgoff: number
      inode: number
      perms: string
      path: string
    }

export type FaultOp = Extract<Op, {type: 'fault'}>
export type SyscallOp = Extract<Op, {type: 'syscall'}>
