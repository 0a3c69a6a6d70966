// Lab workload "node_gc": a garbage-collected runtime (run: node THIS [ROUNDS=40] [WORKERS=2]).
// The main thread and WORKERS worker_threads each run ROUNDS rounds of allocation churn: young-generation garbage
// (small objects, strings), a sliding window that promotes to and frees from the old generation, and ArrayBuffers of
// 256 KiB..1 MiB (outside the V8 heap: malloc/mmap, freed by GC). V8's heap growth and shrinking (mmap, munmap,
// mprotect of code and heap pages) and the GC threads' faults run concurrently with the mutators.
const {Worker, isMainThread, workerData, parentPort} = require('node:worker_threads')
const rounds = Number(process.argv[2] || 40)
const workers = Number(process.argv[3] || 2)

function churn(n, id) {
  let keep = []
  const bufs = []
  let sum = 0
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < 5000; i++) keep.push({a: i, b: 'x' + i + id, c: [i, r]})
    if (keep.length > 40000) keep = keep.slice(20000)
    const ab = new ArrayBuffer(1 << (18 + (r % 3)))
    new Uint8Array(ab).fill(r & 0xff)
    bufs.push(ab)
    if (bufs.length > 6) bufs.shift()
    sum += keep.length
  }
  return sum
}

if (isMainThread) {
  const ws = []
  for (let i = 0; i < workers; i++) {
    ws.push(new Promise((resolve, reject) => {
      const w = new Worker(__filename, {workerData: {rounds, id: i}})
      w.on('message', resolve)
      w.on('error', reject)
    }))
  }
  const mine = churn(rounds, -1)
  Promise.all(ws).then((r) => console.log('done', mine, r.join(',')))
} else {
  parentPort.postMessage(churn(workerData.rounds, workerData.id))
}
