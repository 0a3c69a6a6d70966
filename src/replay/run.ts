// One replay command: reads the trace once and feeds every policy's simulated kernel; the results of all of them
// are stored in one transaction by a writer thread (store/runs.ts), so an interrupted replay leaves the database as
// it was.
import type {Db} from '../store/db.js'
import {openDbReadOnly} from '../store/db.js'
import {ResultWriter} from '../store/runs.js'
import {Replayer, type EngineOptions, type Mode} from './engine.js'
import {policyJson, type Policy} from './policies.js'
import {vdsoNearStack} from './detect-policy.js'
import type {ThpMode} from '../kernel/index.js'
import {readOps, TIME_INDEX_SQL, traceInfo, type TraceInfo} from './stream.js'
import type {KnownMapping} from './infer.js'
import type {CostTable} from '../kernel/index.js'

export interface ReplayOptions {
  mode: Mode
  costs: Partial<CostTable>
  toolVersion: string
  /** syscall holds from the trace's mmap_lock events (EngineOptions.calibrateHolds) */
  calibrateHolds?: boolean
  /** THP mode to replay under (a what-if); default: the recording machine's (traces.environment), else madvise */
  thp?: ThpMode
  /** EngineOptions.faultHoldsNs */
  faultHoldsNs?: ReadonlyMap<number, number>
  onProgress?: (done: number, total: number) => void
}

export interface RunSummary {
  runId: number
  traceId: number
  policy: string
  mode: Mode
  faults: number
  ops: number
  simEndNs: number
  digest: string
}

function initialMaps(db: Db, traceId: number): Map<number, KnownMapping[]> {
  const out = new Map<number, KnownMapping[]>()
  const rows = db
    .prepare(
      'SELECT tgid, vm_start, vm_end, perms, file_offset, dev, inode, path FROM initial_maps WHERE trace_id = ? ORDER BY rowid',
    )
    .all(traceId) as {
    tgid: number
    vm_start: number
    vm_end: number
    perms: string
    file_offset: number
    dev: string
    inode: number
    path: string
  }[]
  for (const r of rows) {
    let list = out.get(r.tgid)
    if (list === undefined) out.set(r.tgid, (list = []))
    list.push({
      start: r.vm_start,
      end: r.vm_end,
      perms: r.perms,
      offset: r.file_offset,
      dev: r.dev,
      inode: r.inode,
      path: r.path,
    })
  }
  return out
}

function lostWindows(db: Db, traceId: number, base: bigint): [number, number][] {
  const rows = db
    .prepare(
      'SELECT start_ts_ns - ? AS s, end_ts_ns - ? AS e FROM lost_windows WHERE trace_id = ? ORDER BY start_ts_ns',
    )
    .all(base, base, traceId) as {s: number; e: number}[]
  return rows.map((r) => [r.s, r.e])
}

/** The trace began mid-run when it has a maps snapshot or its first thread never execs/forks into view. */
function attached(db: Db, traceId: number): boolean {
  const q = (sql: string): number => (db.prepare(sql).pluck().get(traceId) as number | null) ?? 0
  return (
    q('SELECT count(*) FROM initial_maps WHERE trace_id = ?') > 0 ||
    q('SELECT count(*) FROM events WHERE trace_id = ? AND kind = 13') === 0
  )
}

/** The engine's options for one trace: the user's, plus what the trace itself says (maps snapshots, attach, THP, the
 * recording kernel's vDSO placement). */
export function engineOptions(
  db: Db,
  info: TraceInfo,
  opts: Pick<ReplayOptions, 'mode' | 'costs' | 'calibrateHolds' | 'thp' | 'faultHoldsNs'>,
): EngineOptions & {calibrateHolds: boolean; thp: ThpMode; vdsoNearStack: boolean; bsdProcessAcct: boolean} {
  return {
    mode: opts.mode,
    costs: opts.costs,
    initialMaps: initialMaps(db, info.traceId),
    attached: attached(db, info.traceId),
    calibrateHolds: opts.calibrateHolds === true,
    faultHoldsNs: opts.faultHoldsNs,
    thp: opts.thp ?? info.thp ?? 'madvise',
    vdsoNearStack: vdsoNearStack(info.kernelVersion),
    // the distributions' kernels are built with it; a capture records the recording kernel's setting
    bsdProcessAcct: info.bsdProcessAcct ?? true,
  }
}

export function replayTrace(
  dbPath: string,
  db: Db,
  traceId: number,
  policies: Policy[],
  opts: ReplayOptions,
): RunSummary[] {
  const monotonic =
    (db.prepare('SELECT monotonic FROM traces WHERE trace_id = ?').pluck().get(traceId) as number | undefined) === 1
  if (!monotonic) db.exec(TIME_INDEX_SQL)
  const reader = openDbReadOnly(dbPath) // streams the trace while the result writer thread writes results
  try {
    const info = traceInfo(reader, traceId)
    const engineOpts = engineOptions(reader, info, opts)
    const {calibrateHolds, thp, vdsoNearStack: vdso, bsdProcessAcct} = engineOpts
    const metas = policies.map((p) => ({
      traceId,
      policy: p.name,
      policyJson: policyJson(p),
      mode: opts.mode,
      optionsJson: JSON.stringify({
        costs: opts.costs,
        attached: engineOpts.attached,
        ...(calibrateHolds ? {calibrateHolds} : {}),
        ...(thp !== 'madvise' ? {thp} : {}),
        ...(vdso ? {vdsoNearStack: vdso} : {}),
        ...(bsdProcessAcct ? {} : {bsdProcessAcct}),
      }),
      toolVersion: opts.toolVersion,
    }))
    // ops are replayed in time order: a thread's faults complete in event-id order only if that is file order
    const results = new ResultWriter(dbPath, metas, lostWindows(reader, traceId, info.firstTsNs), monotonic)
    try {
      const runs = policies.map((p, i) => ({
        p,
        writer: results.runs[i]!,
        engine: new Replayer(p, engineOpts, results.runs[i]!),
      }))
      let n = 0
      readOps(reader, info, (op) => {
        for (const r of runs) r.engine.apply(op)
        if ((++n & 0xffff) === 0) opts.onProgress?.(n, info.events)
      })
      const ends = runs.map(({writer, engine}) => {
        const simEndNs = engine.finish()
        writer.finish(engine.k, engine.ops, simEndNs)
        return simEndNs
      })
      const digests = results.commit()
      return runs.map(({p, writer, engine}, i) => ({
        runId: writer.runId,
        traceId,
        policy: p.name,
        mode: opts.mode,
        faults: engine.faults,
        ops: engine.ops,
        simEndNs: ends[i]!,
        digest: digests[i]!,
      }))
    } catch (error) {
      results.abort()
      throw error
    }
  } finally {
    reader.close()
  }
}
