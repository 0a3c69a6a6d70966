// Peak resident set size of this process while a benchmark runs: sampled every 50 ms, and by synchronous work
// (replay) through sample().
/** Samples RSS every 50 ms; `stop()` returns the peak in MB since construction. */
export class PeakRss {
  private peak = process.memoryUsage().rss
  private readonly timer = setInterval(() => {
    this.peak = Math.max(this.peak, process.memoryUsage().rss)
  }, 50)

  /** Sample now (call from synchronous work, where the timer cannot fire). */
  sample(): void {
    this.peak = Math.max(this.peak, process.memoryUsage().rss)
  }

  stop(): number {
    clearInterval(this.timer)
    return Math.max(this.peak, process.memoryUsage().rss) / 2 ** 20
  }
}
