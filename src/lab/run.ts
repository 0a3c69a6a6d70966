// `lab run`: boot a kernel, capture a command inside it, bring back trace + meta + lab.json per run.
// A run is written into a temporary directory that is the guest's results share and renamed to run-N only when the
// capture succeeded; a failed attempt keeps its logs (never a trace) under failed/.

import * as fs from 'node:fs'
import * as path from 'node:path'

import {LabError, LabExit, type LabExitCode} from './errors.js'
import {jobScript, META_FILE, parseGuestEnv, TRACE_FILE} from './guest.js'
import {buildInitramfs} from './initramfs.js'
import {kernelFile, type Kernel} from './kernels.js'
import {repoRoot} from './paths.js'
import {DEFAULT_VM, qemuArgs, qemuVersion, type Accel} from './qemu.js'
import {requireTool} from './tools.js'
import {runVm, type VmResult} from './vm.js'

export const LAB_RUN_FORMAT = 'vmareplay-lab-run/1'
export const SERIES_FORMAT = 'vmareplay-lab-series/1'
export const SERIES_FILE = 'series.json'

/** The PATH of the guest's job: the standard one (the host's may hold per-user shims the chroot cannot run). */
export const GUEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export interface LabRunOptions {
  lab: string
  kernel: Kernel
  command: readonly string[]
  out: string
  runs: number
  timeoutS: number
  /** Automatic retries of an attempt that timed out or stalled. */
  retries: number
  accel?: Accel
  cpu?: string
  smp?: number
  memoryMb?: number
  bufferKb: number
  append?: string
  /** Extra environment of the command in the guest (PATH, HOME=/tmp and LANG are set). */
  env?: Readonly<Record<string, string>>
  cwd?: string
  captureArgs?: readonly string[]
  /** QEMU binary (default: qemu-system-x86_64 on PATH). */
  qemu?: string
  /** A prebuilt initramfs instead of the one built from busybox and the kernel's modules (tests). */
  initrd?: string
  signal?: AbortSignal
  log: (m: string) => void
  onConsoleLine?: (line: string) => void
}

export interface RunSettings {
  kernel: {name: string; release: string}
  command: readonly string[]
  cwd: string
  env: Record<string, string>
  accel: Accel
  cpu: string
  smp: number
  memory_mb: number
  buffer_kb: number
  append: string | null
  capture_args: readonly string[]
}

export interface Attempt {
  attempt: number
  outcome: 'ok' | 'timeout' | 'stall' | 'aborted' | 'kvm' | 'panic' | 'guest-error' | 'capture-failed'
  detail: string | null
  vm_wall_s: number
}

export interface LabRunInfo {
  format: typeof LAB_RUN_FORMAT
  run: number
  attempt: number
  attempts: Attempt[]
  kernel: {
    name: string
    release: string
    version: string
    source: Kernel['info']['source']
    config: Kernel['info']['config']
  }
  qemu: {
    binary: string
    version: string | null
    args: string[]
    accel: Accel
    cpu: string
    smp: number
    memory_mb: number
  }
  command: readonly string[]
  cwd: string
  env: Record<string, string>
  times: {
    /** Guest uptime when the shares were mounted and the job started (kernel boot + /init). */
    boot_s: number | null
    /** Host seconds from starting QEMU to the guest being ready (includes firmware). */
    host_boot_s: number | null
    /** Guest seconds of the job: the capture, from its start to its end. */
    guest_run_s: number | null
    vm_wall_s: number
  }
  capture_exit: number
  /** The traced command's exit status, from the capture meta. */
  exit_status: unknown
  files: {trace: string; meta: string; console: string; stdout: string; stderr: string; job: string}
}

export interface LabRunResult {
  dir: string
  info: LabRunInfo
}

export function settingsOf(o: LabRunOptions): RunSettings {
  return {
    kernel: {name: o.kernel.info.name, release: o.kernel.info.release},
    command: o.command,
    cwd: o.cwd ?? process.cwd(),
    env: {PATH: GUEST_PATH, HOME: '/tmp', LANG: 'C.UTF-8', ...o.env},
    accel: o.accel ?? DEFAULT_VM.accel,
    cpu: o.cpu ?? DEFAULT_VM.cpu,
    smp: o.smp ?? DEFAULT_VM.smp,
    memory_mb: o.memoryMb ?? DEFAULT_VM.memoryMb,
    buffer_kb: o.bufferKb,
    append: o.append ?? null,
    capture_args: o.captureArgs ?? [],
  }
}

const RUN_DIR = /^run-(\d+)$/

/** Numbers of the runs already in `out`. */
export function existingRuns(out: string): number[] {
  if (!fs.existsSync(out)) return []
  return fs
    .readdirSync(out)
    .map((n) => RUN_DIR.exec(n))
    .filter((m): m is RegExpExecArray => m !== null && fs.existsSync(path.join(out, m[0], 'lab.json')))
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b)
}

/** `out` holds one series: runs of the same settings. Another series there is refused, not mixed in. */
function claimSeries(out: string, s: RunSettings): void {
  fs.mkdirSync(out, {recursive: true})
  const file = path.join(out, SERIES_FILE)
  const text = JSON.stringify({format: SERIES_FORMAT, settings: s}, null, 2) + '\n'
  if (fs.existsSync(file)) {
    const old = fs.readFileSync(file, 'utf8')
    if (old !== text) {
      const was = (JSON.parse(old) as {settings?: Record<string, unknown>}).settings ?? {}
      const diff = Object.keys(s).filter(
        (k) => JSON.stringify(was[k]) !== JSON.stringify((s as unknown as Record<string, unknown>)[k]),
      )
      throw new LabError(
        LabExit.USAGE,
        `${out} holds runs with other settings (${diff.join(', ') || 'format'} differ, see ${file}): give another --out`,
      )
    }
    return
  }
  fs.writeFileSync(file, text)
}

/** Temporary attempt directories of lab processes that are gone (killed): never a finished run. */
function removeStale(out: string): void {
  for (const n of fs.readdirSync(out)) {
    const m = /^\.run-\d+\.attempt-\d+\.tmp-(\d+)$/.exec(n)
    if (m === null) continue
    let alive = true
    try {
      process.kill(Number(m[1]), 0)
    } catch {
      alive = false
    }
    if (!alive) fs.rmSync(path.join(out, n), {recursive: true, force: true})
  }
}

const tail = (text: string, lines: number): string => text.trimEnd().split('\n').slice(-lines).join('\n')
const readIf = (f: string): string => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '')
const num = (v: string | undefined): number | null =>
  v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : null

/** What one attempt's VM result and guest.env say: the outcome and, for a failure, the message and exit code. */
export function judgeAttempt(
  vm: VmResult,
  dir: string,
  accel: Accel,
): {outcome: Attempt['outcome']; detail: string | null; exitCode?: LabExitCode} {
  const consoleTail = (): string => tail(readIf(path.join(dir, 'console.log')).replace(/\r/g, ''), 15)
  if (vm.end === 'timeout')
    return {
      outcome: 'timeout',
      detail: `no result within the timeout (last stage: ${Object.keys(vm.stages).pop() ?? 'none: the kernel did not reach /init'})`,
      exitCode: LabExit.TIMEOUT,
    }
  if (vm.end === 'stall') return {outcome: 'stall', detail: vm.reason, exitCode: LabExit.TIMEOUT}
  if (vm.end === 'aborted') return {outcome: 'aborted', detail: 'interrupted', exitCode: LabExit.TIMEOUT}
  if (vm.end === 'kvm')
    return {
      outcome: 'kvm',
      detail: `KVM does not work on this machine (${vm.reason}): use --accel tcg`,
      exitCode: LabExit.GUEST_FAILED,
    }
  if (vm.panic !== null)
    return {
      outcome: 'panic',
      detail: `the guest kernel panicked: ${vm.panic}\n${consoleTail()}`,
      exitCode: LabExit.GUEST_FAILED,
    }
  const env = parseGuestEnv(readIf(path.join(dir, 'guest.env')))
  const err = env.get('error') ?? vm.errors[0]
  if (err !== undefined)
    return {
      outcome: 'guest-error',
      detail: `the guest failed: ${err}\n${consoleTail()}`,
      exitCode: LabExit.GUEST_FAILED,
    }
  if (!env.has('ready')) {
    const why = accel === 'kvm' ? ' (with --accel kvm: try the default tcg)' : ''
    return {
      outcome: 'guest-error',
      detail: `QEMU exited (status ${vm.code ?? vm.signal}) before the guest was ready${why}:\n${consoleTail()}`,
      exitCode: LabExit.GUEST_FAILED,
    }
  }
  const rc = env.get('capture_exit')
  if (rc === undefined)
    return {
      outcome: 'guest-error',
      detail: `the guest job ended without a capture status:\n${consoleTail()}`,
      exitCode: LabExit.GUEST_FAILED,
    }
  const stderr = tail(readIf(path.join(dir, 'stderr.txt')), 20)
  if (rc !== '0')
    return {
      outcome: 'capture-failed',
      detail: `vmareplay capture exited with ${rc} in the guest:\n${stderr}`,
      exitCode: LabExit.CAPTURE_FAILED,
    }
  for (const f of [TRACE_FILE, META_FILE]) {
    if (!fs.existsSync(path.join(dir, f)))
      return {
        outcome: 'capture-failed',
        detail: `the capture left no ${f}:\n${stderr}`,
        exitCode: LabExit.CAPTURE_FAILED,
      }
  }
  return {outcome: 'ok', detail: null}
}

/** What every run of a series shares: the QEMU binary and version, the settings, the initramfs, the job script. */
interface Prepared {
  qemu: string
  version: string | null
  s: RunSettings
  initrd: string
  job: string
}

/** Checks and shared files before any VM starts: the tools, /dev/kvm for --accel kvm, the initramfs, the series. */
function prepare(o: LabRunOptions): Prepared {
  const qemu = requireTool('qemu', o.qemu)
  const s = settingsOf(o)
  if (s.accel === 'kvm') {
    try {
      fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK)
    } catch {
      throw new LabError(
        LabExit.NO_TOOL,
        '--accel kvm: /dev/kvm is missing or not accessible; use --accel tcg (the default)',
      )
    }
  }
  const initrd =
    o.initrd !== undefined ? {path: o.initrd, built: false} : buildInitramfs(o.lab, o.kernel, requireTool('busybox'))
  if (initrd.built) o.log(`built initramfs ${initrd.path}`)
  claimSeries(o.out, s)
  removeStale(o.out)
  const job = jobScript({
    node: process.execPath,
    runJs: path.join(repoRoot(), 'bin', 'run.js'),
    cwd: s.cwd,
    command: s.command,
    env: s.env,
    bufferKb: s.buffer_kb,
    captureArgs: s.capture_args,
  })
  return {qemu, version: qemuVersion(qemu), s, initrd: initrd.path, job}
}

/** One attempt: a fresh results directory, the VM booted and waited for, the verdict, lab.json written into it. */
async function bootAttempt(
  o: LabRunOptions,
  p: Prepared,
  run: number,
  attempts: Attempt[],
): Promise<{tmp: string; info: LabRunInfo; verdict: ReturnType<typeof judgeAttempt>; vm: VmResult}> {
  const attempt = attempts.length + 1
  const tmp = path.join(o.out, `.run-${run}.attempt-${attempt}.tmp-${process.pid}`)
  fs.rmSync(tmp, {recursive: true, force: true})
  fs.mkdirSync(tmp)
  fs.writeFileSync(path.join(tmp, 'job.sh'), p.job)
  fs.writeFileSync(path.join(tmp, 'guest.env'), '')
  const {s} = p
  const args = qemuArgs({
    accel: s.accel,
    cpu: s.cpu,
    smp: s.smp,
    memoryMb: s.memory_mb,
    vmlinuz: kernelFile(o.kernel, o.kernel.info.files.vmlinuz),
    initrd: p.initrd,
    append: o.append,
    resultsDir: tmp,
  })
  o.log(`run ${run} (attempt ${attempt}): booting ${o.kernel.info.name} (${o.kernel.info.release}), ${s.accel}`)
  let vm: VmResult
  try {
    vm = await runVm({
      qemu: p.qemu,
      args,
      consoleFile: path.join(tmp, 'console.log'),
      timeoutMs: o.timeoutS * 1000,
      signal: o.signal,
      onLine: o.onConsoleLine,
    })
  } catch (error) {
    fs.rmSync(tmp, {recursive: true, force: true})
    throw new LabError(LabExit.NO_TOOL, `cannot start ${p.qemu}: ${(error as Error).message}`)
  }
  const verdict = judgeAttempt(vm, tmp, s.accel)
  attempts.push({attempt, outcome: verdict.outcome, detail: verdict.detail, vm_wall_s: vm.wall_s})
  const info = runInfo(o, p, {run, attempts, tmp, args, vm, ok: verdict.outcome === 'ok'})
  fs.writeFileSync(path.join(tmp, 'lab.json'), JSON.stringify(info, null, 2) + '\n')
  return {tmp, info, verdict, vm}
}

/** lab.json: the kernel, the VM, the command, the times the guest reported (guest.env) and the capture's exit. */
function runInfo(
  o: LabRunOptions,
  p: Prepared,
  a: {run: number; attempts: Attempt[]; tmp: string; args: string[]; vm: VmResult; ok: boolean},
): LabRunInfo {
  const {s} = p
  const env = parseGuestEnv(readIf(path.join(a.tmp, 'guest.env')))
  const jobStart = num(env.get('job_start'))
  const jobEnd = num(env.get('job_end'))
  const meta = a.ok ? (JSON.parse(fs.readFileSync(path.join(a.tmp, META_FILE), 'utf8')) as {exit_status?: unknown}) : {}
  return {
    format: LAB_RUN_FORMAT,
    run: a.run,
    attempt: a.attempts.length,
    attempts: a.attempts,
    kernel: {
      name: o.kernel.info.name,
      release: o.kernel.info.release,
      version: o.kernel.info.version,
      source: o.kernel.info.source,
      config: o.kernel.info.config,
    },
    // the results share is named by the directory the run ends up in
    qemu: {
      binary: p.qemu,
      version: p.version,
      args: a.args.map((x) => x.replace(a.tmp, path.join(o.out, `run-${a.run}`))),
      accel: s.accel,
      cpu: s.cpu,
      smp: s.smp,
      memory_mb: s.memory_mb,
    },
    command: s.command,
    cwd: s.cwd,
    env: s.env,
    times: {
      boot_s: num(env.get('ready')),
      host_boot_s: a.vm.stages.ready?.host_s ?? null,
      guest_run_s: jobStart !== null && jobEnd !== null ? Math.round((jobEnd - jobStart) * 100) / 100 : null,
      vm_wall_s: a.vm.wall_s,
    },
    capture_exit: Number(env.get('capture_exit') ?? -1),
    exit_status: meta.exit_status ?? null,
    files: {
      trace: TRACE_FILE,
      meta: META_FILE,
      console: 'console.log',
      stdout: 'stdout.txt',
      stderr: 'stderr.txt',
      job: 'job.sh',
    },
  }
}

/** A failed attempt keeps its logs under OUT/failed for inspection, never a (partial) trace. Returns where. */
function keepFailed(o: LabRunOptions, tmp: string, run: number, attempt: number): string {
  for (const f of [TRACE_FILE, META_FILE]) fs.rmSync(path.join(tmp, f), {force: true})
  const failed = path.join(o.out, 'failed', `run-${run}.attempt-${attempt}`)
  fs.mkdirSync(path.dirname(failed), {recursive: true})
  fs.rmSync(failed, {recursive: true, force: true})
  fs.renameSync(tmp, failed)
  return failed
}

/** Runs `o.runs` captures, numbered after the runs already in `o.out`; throws LabError on the first run that fails. */
export async function runLab(o: LabRunOptions): Promise<LabRunResult[]> {
  const p = prepare(o)
  const first = (existingRuns(o.out).pop() ?? 0) + 1
  const results: LabRunResult[] = []
  for (let run = first; run < first + o.runs; run++) {
    const attempts: Attempt[] = []
    for (;;) {
      const {tmp, info, verdict, vm} = await bootAttempt(o, p, run, attempts)
      if (verdict.outcome === 'ok') {
        const dir = path.join(o.out, `run-${run}`)
        fs.renameSync(tmp, dir)
        results.push({dir, info})
        o.log(
          `run ${run}: ${dir} (boot ${info.times.boot_s ?? '?'} s, capture ${info.times.guest_run_s ?? '?'} s in the guest, VM ${vm.wall_s} s)`,
        )
        break
      }
      const attempt = attempts.length
      const failed = keepFailed(o, tmp, run, attempt)
      const retriable = verdict.outcome === 'timeout' || verdict.outcome === 'stall'
      if (retriable && attempt <= o.retries) {
        o.log(`run ${run} attempt ${attempt}: ${verdict.outcome} (${verdict.detail}); the VM was killed, retrying`)
        continue
      }
      throw new LabError(
        verdict.exitCode ?? LabExit.INTERNAL,
        `run ${run}${attempt > 1 ? ` (attempt ${attempt})` : ''}: ${verdict.detail} [logs: ${failed}]`,
      )
    }
  }
  return results
}
