// Handing shared-memory slots from one thread to another: one control word per slot (0 free, 1 filled and not yet
// consumed) and a stop word either side sets to make the other give up. The producer fills the slots in turn and
// blocks (Atomics.wait) only when the one it wants next has not come back, so it never runs more than the ring's
// size ahead of the consumer and memory stays flat however long the stream. Ingest's parse worker fills slots for
// the main thread (ingest-slots.ts); replay's main thread fills slots for the result writer (runs.ts).

const FREE = 0
const FILLED = 1
/** How long a blocked side sleeps before it looks at the stop word again (a stop usually wakes it at once). */
const POLL_MS = 1000

export class StoppedError extends Error {
  constructor() {
    super('stopped by the other thread')
  }
}

export class SlotRing {
  private readonly ctl: Int32Array
  private readonly stopWord: number

  /** `buffer` from SlotRing.allocate, shared by both sides. */
  constructor(readonly buffer: SharedArrayBuffer) {
    this.ctl = new Int32Array(buffer)
    this.stopWord = this.ctl.length - 1
  }

  static allocate(slots: number): SharedArrayBuffer {
    return new SharedArrayBuffer((slots + 1) * 4)
  }

  get stopped(): boolean {
    return Atomics.load(this.ctl, this.stopWord) !== 0
  }

  /** Producer: blocks until slot i is free to fill. */
  claim(i: number): void {
    this.await(i, FREE)
  }

  /** Producer: hands filled slot i over. */
  publish(i: number): void {
    Atomics.store(this.ctl, i, FILLED)
    Atomics.notify(this.ctl, i)
  }

  /** Consumer: blocks until slot i has been filled. */
  take(i: number): void {
    this.await(i, FILLED)
  }

  /** Consumer: hands slot i back, done with. */
  release(i: number): void {
    Atomics.store(this.ctl, i, FREE)
    Atomics.notify(this.ctl, i)
  }

  /** Makes the other side's next (or current) wait throw StoppedError. */
  stop(): void {
    Atomics.store(this.ctl, this.stopWord, 1)
    for (let i = 0; i < this.stopWord; i++) Atomics.notify(this.ctl, i)
  }

  private await(i: number, want: number): void {
    const ctl = this.ctl
    for (;;) {
      if (Atomics.load(ctl, this.stopWord) !== 0) throw new StoppedError()
      const v = Atomics.load(ctl, i)
      if (v === want) return
      Atomics.wait(ctl, i, v, POLL_MS)
    }
  }
}
