// A buffered writer over a Node stream that respects backpressure: callers push strings and await `flush()`
// only when `push` says the buffer is full, so millions of small writes cost one await per 64 KiB.
import {once} from 'node:events'
import type {Writable} from 'node:stream'

const CHUNK = 1 << 16

export class Sink {
  private parts: string[] = []
  private size = 0
  bytes = 0

  constructor(private readonly out: Writable) {}

  /** Buffers `s`; true when the caller should `await flush()`. */
  push(s: string): boolean {
    this.parts.push(s)
    this.size += s.length
    return this.size >= CHUNK
  }

  async flush(): Promise<void> {
    if (this.size === 0) return
    const chunk = this.parts.join('')
    this.parts = []
    this.size = 0
    this.bytes += Buffer.byteLength(chunk)
    if (!this.out.write(chunk)) await once(this.out, 'drain')
  }

  /** Flushes; ends the stream unless it is stdout/stderr. */
  async close(): Promise<void> {
    await this.flush()
    if (this.out === process.stdout || this.out === process.stderr) return
    await new Promise<void>((resolve, reject) => {
      this.out.once('error', reject)
      this.out.end(() => resolve())
    })
  }
}
