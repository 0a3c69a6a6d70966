// When to stop a capture: --duration, SIGINT/SIGTERM/SIGHUP (Ctrl-C), or the traced program exiting.

export type StopReason = 'duration' | 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'exit' | 'target-exit'

export class Stopper {
  reason: StopReason | undefined
  /** Set by a second signal: give up saving the trace (the state is still restored). */
  aborted = false
  readonly promise: Promise<StopReason>
  private resolve!: (r: StopReason) => void
  private timer: NodeJS.Timeout | undefined
  private readonly handlers: Array<[NodeJS.Signals, () => void]> = []

  constructor() {
    this.promise = new Promise((res) => {
      this.resolve = res
    })
  }

  stop(reason: StopReason): void {
    if (this.reason !== undefined) return
    this.reason = reason
    this.resolve(reason)
  }

  /** Stop after `seconds` (counted from the call). */
  startTimer(seconds: number | undefined): void {
    if (seconds === undefined || !(seconds > 0)) return
    this.timer = setTimeout(() => this.stop('duration'), Math.round(seconds * 1000))
  }

  /** Catch SIGINT/SIGTERM/SIGHUP: the first stops the capture, a second aborts saving. */
  installSignals(onSignal?: (sig: NodeJS.Signals, first: boolean) => void): void {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as NodeJS.Signals[]) {
      const h = (): void => {
        const first = this.reason === undefined
        if (first) this.stop(sig as StopReason)
        else this.aborted = true
        onSignal?.(sig, first)
      }
      process.on(sig, h)
      this.handlers.push([sig, h])
    }
  }

  clearTimer(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }

  dispose(): void {
    this.clearTimer()
    for (const [sig, h] of this.handlers) process.removeListener(sig, h)
    this.handlers.length = 0
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms))
}

/** Whether `p` settles within `ms` (the timer is cleared either way, so it never holds the process open). */
export function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    p.then(() => true),
    new Promise<boolean>((res) => {
      timer = setTimeout(() => res(false), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}
