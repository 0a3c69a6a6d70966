// A buffered writer over a Node stream that respects backpressure: callers push strings (or bytes) and await
// `flush()` only when `push` says the buffer is full, so millions of small writes cost one await per 64 KiB.
import type {Writable} from 'node:stream'

const CHUNK = 1 << 16

/** The reader went away (EPIPE: `| head`): stop writing, not an error. */
export class SinkClosed extends Error {}

export class Sink {
  private parts: (string | Uint8Array)[] = []
  private binary = false
  private size = 0
  private failed: Error | null = null
  bytes = 0

  constructor(private readonly out: Writable) {
    out.on('error', (e: Error) => (this.failed = e))
  }

  private check(): void {
    const e = this.failed
    if (e === null) return
    throw (e as NodeJS.ErrnoException).code === 'EPIPE' ? new SinkClosed('output closed') : e
  }

  /** Buffers `s`; true when the caller should `await flush()`. */
  push(s: string | Uint8Array): boolean {
    this.parts.push(s)
    this.size += s.length
    if (typeof s !== 'string') this.binary = true
    return this.size >= CHUNK
  }

  async flush(): Promise<void> {
    this.check()
    if (this.size === 0) return
    const chunk = this.binary
      ? Buffer.concat(this.parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)))
      : (this.parts as string[]).join('')
    this.parts = []
    this.size = 0
    this.binary = false
    this.bytes += Buffer.byteLength(chunk)
    if (!this.out.write(chunk))
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.out.off('drain', done)
          this.out.off('error', done)
          resolve()
        }
        this.out.once('drain', done)
        this.out.once('error', done)
      })
    this.check()
  }

  /** Flushes; ends the stream unless it is stdout/stderr. */
  async close(): Promise<void> {
    if (this.failed !== null) return
    await this.flush()
    if (this.out === process.stdout || this.out === process.stderr) return
    await new Promise<void>((resolve, reject) => {
      this.out.once('error', reject)
      this.out.end(() => resolve())
    })
  }
}
