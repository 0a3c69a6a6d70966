// trace-cmd's binary trace.dat (`trace-cmd record` / `trace-cmd extract`) into the same TraceEvents the ftrace
// text parser produces from the text of the same buffer: records are decoded by the field layout in the file's own
// format files, CPUs are merged by timestamp (ties: lower CPU first, as the kernel's trace iterator and
// trace-cmd report do), COMM comes from the saved cmdlines and TGIDs are inferred (trace.dat has no TGID map).
// Values TP_printk would print through %ps become kallsyms names and %p pointers the unhashed hex the kernel
// prints with hash-ptr off. A record has no line number: `line` is its position in the merged stream, and a
// malformed one is reported with its CPU, page and entry offset.

import {Kind, type ImportSink, type U64} from '../model/events.js'
import {Emitter, MEMCG_ID, MEMCG_PATH} from './emit.js'
import {Kallsyms} from './kallsyms.js'
import {toSigned64} from './numbers.js'
import {commonLayout, parseFormat, Record, type EventFormat, type Field} from './tracedat-format.js'
import {readDatMeta, type CpuRegion, type DatBuffer, type DatMeta} from './tracedat-header.js'
import {DatFile, TRACEDAT_MAGIC} from './tracedat-io.js'
import {CpuStream, pageLayout} from './tracedat-ring.js'
import type {ParseOptions, ParseStats} from './detect.js'

/** Whether the file starts with the trace.dat magic (false for anything unreadable: the text path reports it). */
export function isTraceDat(head: Buffer): boolean {
  return head.length >= TRACEDAT_MAGIC.length && head.subarray(0, TRACEDAT_MAGIC.length).equals(TRACEDAT_MAGIC)
}

/** Decodes one record of an event into TraceEvents; returns why it could not, or null. */
type Handler = (r: Record) => string | null

/** Per-event decoders, built once per event id from its format. */
class Decoders {
  private kallsyms: Kallsyms | null | undefined
  private readonly printk = new Map<string, string>()

  constructor(
    private readonly em: Emitter,
    private readonly sink: ImportSink,
    private readonly meta: DatMeta,
  ) {
    for (const line of meta.printk.split('\n')) {
      const m = /^0x([0-9a-f]+) : "(.*)"$/.exec(line)
      if (m !== null) this.printk.set(m[1]!.replace(/^0+/, ''), m[2]!)
    }
  }

  /** `%ps`: the symbol name when the address is in a kernel symbol (kallsyms loaded on first use), else null. */
  private symbol(v: U64): string | null {
    if (this.kallsyms === undefined) {
      const text = this.meta.loadKallsyms()
      this.kallsyms = text === '' ? null : new Kallsyms(text)
    }
    return this.kallsyms === null ? null : this.kallsyms.lookup(v)
  }

  build(fmt: EventFormat): Handler {
    const em = this.em
    const need = (...names: string[]): Field[] | string => {
      const fs: Field[] = []
      for (const n of names) {
        const f = fmt.byName.get(n)
        if (f === undefined) return `the format of ${fmt.system}:${fmt.name} has no field "${n}"`
        fs.push(f)
      }
      return fs
    }
    const fail =
      (why: string): Handler =>
      () =>
        why
    // a decoder over the named fields; every record is a problem when the format lacks one
    const using = (names: string[], make: (fs: Field[]) => Handler): Handler => {
      const fs = need(...names)
      return typeof fs === 'string' ? fail(fs) : make(fs)
    }
    const name = fmt.name
    switch (fmt.system === 'syscalls' ? name.replace(/^(sys_(?:enter|exit))_.*/, '$1_') : name) {
      case 'page_fault_user':
      case 'page_fault_kernel': {
        return using(['address', 'ip', 'error_code'], ([fa, fi, fe]) => {
          const kind = name === 'page_fault_user' ? Kind.FaultUser : Kind.FaultKernel
          return (r) => {
            const address = r.num(fa)
            const ip = r.num(fi)
            const ipSym = this.symbol(ip)
            em.event(
              kind,
              this.symbol(address) === null ? address : null,
              ipSym === null ? ip : null,
              r.num(fe),
              null,
              null,
              null,
              ipSym,
            )
            return null
          }
        })
      }
      case 'sys_enter': {
        if (fmt.system !== 'raw_syscalls') break
        return using(['id', 'args'], ([fid, fargs]) => (r) => {
          const a: U64[] = []
          for (let i = 0; i < fargs.elems; i++) a.push(r.num(fargs, i))
          em.event(
            Kind.SysEnter,
            r.num(fid),
            a[0] ?? null,
            a[1] ?? null,
            a[2] ?? null,
            a[3] ?? null,
            a[4] ?? null,
            a.map((v) => v.toString(16)).join(', '),
          )
          return null
        })
      }
      case 'sys_exit': {
        if (fmt.system !== 'raw_syscalls') break
        return using(['id', 'ret'], ([fid, fret]) => (r) => {
          em.event(Kind.SysExit, r.num(fid), r.num(fret), null, null, null, null, null)
          return null
        })
      }
      case 'sys_enter_': {
        return using(['__syscall_nr'], ([fnr]) => {
          const args = fmt.fields.filter((f) => f !== fnr && f.loc === null).slice(0, 5)
          const sys = name.slice(10)
          return (r) => {
            const a = args.map((f) => r.num(f))
            em.event(
              Kind.SysArgs,
              r.num(fnr),
              a[0] ?? null,
              a[1] ?? null,
              a[2] ?? null,
              a[3] ?? null,
              a[4] ?? null,
              sys,
            )
            return null
          }
        })
      }
      case 'sys_exit_': {
        return using(['__syscall_nr', 'ret'], ([fnr, fret]) => {
          const sys = name.slice(9)
          return (r) => {
            em.event(Kind.SysRet, r.num(fnr), r.num(fret), null, null, null, null, sys)
            return null
          }
        })
      }
      case 'mmap_lock_start_locking':
      case 'mmap_lock_acquire_returned':
      case 'mmap_lock_released': {
        return using(['mm', 'write'], ([fmm, fw]) => {
          const fid = fmt.byName.get('memcg_id')
          const fpath = fmt.byName.get('memcg_path')
          const kind =
            name === 'mmap_lock_start_locking'
              ? Kind.LockStart
              : name === 'mmap_lock_released'
                ? Kind.LockRelease
                : Kind.LockAcquire
          const fs2 = kind === Kind.LockAcquire ? need('success') : []
          if (typeof fs2 === 'string') return fail(fs2)
          const fsucc = fs2[0]
          return (r) => {
            let memcg: U64 | null = null
            let pathId: U64 | null = null
            if (fid !== undefined) {
              memcg = r.num(fid)
              em.memcgForm |= MEMCG_ID
            } else if (fpath !== undefined) {
              pathId = em.memcgPathId(r.str(fpath))
              em.memcgForm |= MEMCG_PATH
            }
            em.event(
              kind,
              r.num(fw) === 0 ? 0 : 1,
              fsucc === undefined ? null : r.num(fsucc) === 0 ? 0 : 1,
              memcg,
              pathId,
              null,
              null,
              r.ptr(fmm),
            )
            return null
          }
        })
      }
      case 'vm_unmapped_area': {
        return using(['addr', 'flags', 'length', 'low_limit', 'high_limit'], ([fa, ff, fl, flo, fhi]) => (r) => {
          // TP_printk: IS_ERR_VALUE(addr) ? addr= 0, err= addr : addr= addr, err= 0
          const addr = r.num(fa)
          const err = typeof addr === 'bigint' && addr >= 18446744073709547521n
          em.event(
            Kind.UnmappedArea,
            err ? 0 : addr,
            err ? toSigned64(addr) : 0,
            r.num(fl),
            r.num(ff),
            r.num(flo),
            r.num(fhi),
            null,
          )
          return null
        })
      }
      case 'exit_mmap': {
        return using(['mt'], ([fmt0]) => (r) => {
          em.event(Kind.ExitMmap, null, null, null, null, null, null, r.ptr(fmt0))
          return null
        })
      }
      case 'sched_process_fork': {
        return using(['parent_pid', 'child_pid', 'child_comm'], ([fp, fc, fcc]) => (r) => {
          em.event(Kind.Fork, r.num(fp), r.num(fc), null, null, null, null, r.str(fcc))
          return null
        })
      }
      case 'sched_process_exec': {
        return using(['filename', 'pid', 'old_pid'], ([ff, fp, fo]) => (r) => {
          em.event(Kind.Exec, r.num(fp), r.num(fo), null, null, null, null, r.str(ff))
          return null
        })
      }
      case 'sched_process_exit': {
        return using(['pid'], ([fp]) => {
          const fd = fmt.byName.get('group_dead') // absent before 6.x: null, as the text parser leaves it
          return (r) => {
            em.event(
              Kind.Exit,
              r.num(fp),
              fd === undefined ? null : r.num(fd) === 0 ? 0 : 1,
              null,
              null,
              null,
              null,
              null,
            )
            return null
          }
        })
      }
      case 'task_newtask': {
        return using(['pid', 'clone_flags', 'comm'], ([fp, ff, fc]) => (r) => {
          em.event(Kind.NewTask, r.num(fp), r.num(ff), null, null, null, null, r.str(fc))
          return null
        })
      }
      case 'ma_write': {
        return using(['fn', 'index', 'last'], ([ffn, fi, fl]) => (r) => {
          // fn is a `const char *` into the kernel: its text is only known when printk_formats lists it
          const fn = this.printk.get(r.num(ffn).toString(16)) ?? null
          em.event(Kind.MapleWrite, r.num(fi), r.num(fl), null, null, null, null, fn)
          return null
        })
      }
      case 'print': {
        if (fmt.system !== 'ftrace') break
        return using(['buf'], ([fb]) => (r) => {
          // trace_marker writes end with a newline the text output ends the line with
          em.event(Kind.Marker, null, null, null, null, null, null, r.str(fb).replace(/\n$/, ''))
          return null
        })
      }
      case 'page_cache_sync_ra':
      case 'page_cache_async_ra': {
        return using(['i_ino', 'index'], ([fi, fx]) => (r) => {
          em.event(Kind.Readahead, r.num(fi), r.num(fx), null, null, null, null, null)
          return null
        })
      }
      case 'mm_filemap_fault':
      case 'mm_filemap_map_pages': {
        const kind = name === 'mm_filemap_fault' ? Kind.FilemapFault : Kind.FilemapMapPages
        const fields = kind === Kind.FilemapFault ? ['i_ino', 'index'] : ['i_ino', 'index', 'last_index']
        return using(fields, ([fi, fx, fl]) => {
          // TP_printk prints byte offsets, ((loff_t)index) << PAGE_SHIFT and the range's last byte
          const shift = BigInt(/REC->index\)? << (\d+)/.exec(fmt.print)?.[1] ?? Math.log2(this.meta.pageSize))
          const exact = (v: bigint): number | bigint => (v < 9007199254740992n ? Number(v) : v)
          return (r) => {
            const first = exact(BigInt(r.num(fx)) << shift)
            const last = fl === undefined ? null : exact(((BigInt(r.num(fl)) + 1n) << shift) - 1n)
            em.event(kind, r.num(fi), first, last, null, null, null, null)
            return null
          }
        })
      }
      case 'mm_filemap_add_to_page_cache': {
        return using(['i_ino', 'index'], ([fi, fx]) => {
          // TP_printk prints ofs=index << PAGE_SHIFT, the shift written out in the print fmt
          const shift = BigInt(/REC->index << (\d+)/.exec(fmt.print)?.[1] ?? Math.log2(this.meta.pageSize))
          return (r) => {
            const ofs = BigInt(r.num(fx)) << shift
            em.event(
              Kind.PageCacheAdd,
              r.num(fi),
              ofs < 9007199254740992n ? Number(ofs) : ofs,
              null,
              null,
              null,
              null,
              null,
            )
            return null
          }
        })
      }
    }
    return (r) => {
      this.sink.unknown(name, em.line)
      void r
      return null
    }
  }
}

/** A binary heap of CPU streams by (current timestamp, CPU): the merge order of the kernel's iterator. */
class Merge {
  private readonly h: CpuStream[] = []

  private less(a: CpuStream, b: CpuStream): boolean {
    return a.ts < b.ts || (a.ts === b.ts && a.cpu < b.cpu)
  }

  get top(): CpuStream | undefined {
    return this.h[0]
  }

  push(s: CpuStream): void {
    const h = this.h
    let i = h.push(s) - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(h[i]!, h[p]!)) break
      ;[h[i], h[p]] = [h[p]!, h[i]!]
      i = p
    }
  }

  /** After the top moved to its next record (or ran out: `done`), restores the heap order. */
  settle(done: boolean): void {
    const h = this.h
    if (done) {
      const last = h.pop()!
      if (h.length === 0) return
      h[0] = last
    }
    for (let i = 0; ;) {
      const l = 2 * i + 1
      let m = i
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l
      if (l + 1 < h.length && this.less(h[l + 1]!, h[m]!)) m = l + 1
      if (m === i) return
      ;[h[i], h[m]] = [h[m]!, h[i]!]
      i = m
    }
  }
}

/** The buffer to import: the top-level one when it has data, else the first instance that has. */
/** The release in trace-cmd's UNAME option, `sysname nodename release machine` ("Linux vm 6.18.44 x86_64"). */
function unameRelease(uname: string): string | null {
  const parts = uname.trim().split(/\s+/)
  return parts.length === 4 && /^\d+\.\d+/.test(parts[2]!) ? parts[2]! : null
}

function chooseBuffer(meta: DatMeta): DatBuffer | null {
  const withData = meta.buffers.filter((b) => b.cpus.some((c) => c.size > 0))
  return withData.find((b) => b.name === '') ?? withData[0] ?? null
}

/**
 * Events the CPUSTAT options count as lost that no page marks: dropped while the buffer was full (overwrite off)
 * and commit overruns. Overwritten events (`overrun`) are not added: the first page read after them carries
 * RB_MISSED_EVENTS and their count, reported where they were lost.
 */
function statLosses(stats: string[]): {cpu: number; count: number}[] {
  const out: {cpu: number; count: number}[] = []
  for (const s of stats) {
    const cpu = /^CPU: (\d+)/m.exec(s)
    if (cpu === null) continue
    let n = 0
    for (const k of ['commit overrun', 'dropped events'])
      n += Number(new RegExp(`^${k}: (\\d+)`, 'm').exec(s)?.[1] ?? 0)
    if (n > 0) out.push({cpu: Number(cpu[1]), count: n})
  }
  return out
}

/** Reads a trace.dat into `sink`: the records of one buffer, in time order. */
export function parseTraceDat(path: string, sink: ImportSink, opts: ParseOptions = {}): ParseStats {
  const f = new DatFile(path)
  try {
    return importDat(f, sink, opts)
  } finally {
    f.close()
  }
}

function importDat(f: DatFile, sink: ImportSink, opts: ParseOptions): ParseStats {
  const meta = readDatMeta(f)
  const em = new Emitter(sink)
  const formats = new Map<number, EventFormat>()
  let common = null
  for (const {system, text} of meta.formats) {
    const fmt = parseFormat(system, text)
    if (fmt !== null) formats.set(fmt.id, fmt)
    common ??= commonLayout(text)
  }
  const layout = pageLayout(meta.headerPage, f.path)
  const buffer = chooseBuffer(meta)
  sink.meta('trace_cmd_version', String(meta.version))
  if (meta.traceCmdVersion !== null) sink.meta('trace_cmd', meta.traceCmdVersion)
  if (meta.uname !== null) {
    sink.meta('uname', meta.uname)
    // the recording kernel's release, as a capture's meta file gives it (a meta file beside the .dat still wins)
    const release = unameRelease(meta.uname)
    if (release !== null) sink.meta('kernel_version', release)
  }
  if (meta.cpuCount !== null) sink.meta('cpus', String(meta.cpuCount))
  if (meta.codec !== 'none') sink.meta('tracedat_compression', `${meta.codec} ${meta.codecVersion}`.trim())
  if (meta.offsets.length > 0)
    sink.meta('tracedat_offsets', meta.offsets.join('; ') + ' (not applied: times are the raw trace clock)')
  const names = meta.buffers
    .filter((b) => b.cpus.some((c) => c.size > 0))
    .map((b) => (b.name === '' ? '(top)' : b.name))
  if (buffer !== null) {
    if (buffer.name !== '') sink.meta('tracedat_buffer', buffer.name)
    if (names.length > 1)
      sink.meta('tracedat_buffers_skipped', names.filter((n) => n !== (buffer.name || '(top)')).join(', '))
    if (buffer.clock !== null) sink.meta('trace_clock', buffer.clock)
  }
  const cmdlines = new Map<number, string>()
  for (const line of meta.cmdlines.split('\n')) {
    const sp = line.indexOf(' ')
    if (sp > 0) cmdlines.set(Number(line.slice(0, sp)), line.slice(sp + 1))
  }
  const comm = (pid: number): string => (pid === 0 ? '<idle>' : (cmdlines.get(pid) ?? '<...>'))

  let records = 0
  let dataBytes = 0
  const regions: CpuRegion[] = []
  for (const c of buffer?.cpus ?? []) {
    if (c.size === 0) continue
    if (c.offset + c.size > f.size) {
      // trace-cmd was stopped while writing: read what is there
      sink.problem({
        line: 0,
        reason: `CPU ${c.cpu} data is cut short: it should end at offset 0x${(c.offset + c.size).toString(16)}, the file ends at 0x${f.size.toString(16)}`,
        excerpt: `CPU ${c.cpu}, data at file offset 0x${c.offset.toString(16)}`,
      })
      if (c.offset >= f.size) continue
      regions.push({...c, size: f.size - c.offset})
    } else regions.push(c)
  }
  const progress = (): void => opts.onProgress?.(f.bytesRead, f.size)
  const streams = regions.map(
    (c) =>
      new CpuStream(
        c.cpu,
        f,
        c,
        meta.pageSize,
        layout,
        meta.le,
        buffer!.compressed ? meta.codec : null,
        (reason, where) => sink.problem({line: records + 1, reason, excerpt: where}),
        progress,
      ),
  )
  for (const r of regions) dataBytes += r.size
  for (const {cpu, count} of statLosses(buffer?.stats ?? [])) em.lost(1, cpu, count)
  const merge = new Merge()
  for (const s of streams) if (s.next()) merge.push(s)
  const rec = new Record()
  rec.le = meta.le
  const decoders = new Decoders(em, sink, meta)
  const handlers = new Map<number, Handler>()
  const typeOffset = common?.typeOffset ?? 0
  const typeSize = common?.typeSize ?? 2
  const pidOffset = common?.pidOffset ?? 4
  for (let s = merge.top; s !== undefined; s = merge.top) {
    records++
    rec.buf = s.recBuf
    rec.start = s.recStart
    rec.len = s.recLen
    if (s.missed >= 0) em.lost(records, s.cpu, s.missed > 0 ? s.missed : null)
    em.line = records
    em.ts = s.ts
    em.cpu = s.cpu
    let why: string | null
    if (rec.len < pidOffset + 4 || rec.len < typeOffset + typeSize)
      why = `record of ${rec.len} bytes is shorter than the common header`
    else {
      const id = rec.int(typeOffset, typeSize, false) as number
      const pid = rec.int(pidOffset, 4, true) as number
      em.comm = comm(pid)
      em.task(pid, null)
      const fmt = formats.get(id)
      if (fmt === undefined) why = `record of event id ${id}, which has no format in the file`
      else if (rec.len < fmt.minLen)
        why = `${fmt.name} record of ${rec.len} bytes is shorter than the ${fmt.minLen} its format declares`
      else {
        let h = handlers.get(id)
        if (h === undefined) handlers.set(id, (h = decoders.build(fmt)))
        why = h(rec)
      }
    }
    if (why !== null) sink.problem({line: records, reason: why, excerpt: s.where()})
    merge.settle(!s.next())
  }
  em.finish()
  sink.meta('format', 'tracedat')
  progress()
  return {
    format: 'tracedat',
    lines: records,
    bytes: dataBytes,
    fileBytes: f.size,
    compression: 'none',
    unterminatedLastLine: false,
  }
}
