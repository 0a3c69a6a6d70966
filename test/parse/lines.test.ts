import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {chmodSync, mkdirSync, readFileSync} from 'node:fs'
import {test} from 'node:test'
import {gzipSync} from 'node:zlib'
import {InputError} from '../../src/base/errors.js'
import {MAX_LINE_BYTES, readLines} from '../../src/parse/lines.js'
import {tmpFile} from './helpers.js'

async function collect(path: string) {
  const lines: string[] = []
  const numbers: number[] = []
  const long: [number, string][] = []
  const progress: [number, number][] = []
  const stats = await readLines(
    path,
    (l, n) => {
      lines.push(l)
      numbers.push(n)
    },
    (n, head) => long.push([n, head]),
    {onProgress: (done, total) => progress.push([done, total])},
  )
  return {lines, numbers, long, stats, progress}
}

function hasXz(): boolean {
  try {
    execFileSync('xz', ['--version'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}

const TEXT = 'first line\nsecond\r\n\nfourth, after an empty one\n'

test('plain text: lines without newline or \\r, numbered from 1, byte progress up to the file size', async () => {
  const path = tmpFile('plain.txt', TEXT)
  const {lines, numbers, stats, progress} = await collect(path)
  assert.deepEqual(lines, ['first line', 'second', '', 'fourth, after an empty one'])
  assert.deepEqual(numbers, [1, 2, 3, 4])
  assert.deepEqual(stats, {
    lines: 4,
    bytes: TEXT.length,
    fileBytes: TEXT.length,
    compression: 'none',
    unterminatedLastLine: false,
  })
  assert.deepEqual(progress.at(-1), [TEXT.length, TEXT.length])
})

test('gzip is decompressed by magic bytes, whatever the extension; progress counts compressed bytes', async () => {
  const gz = gzipSync(TEXT)
  for (const name of ['t.txt.gz', 'misnamed.txt']) {
    const {lines, stats, progress} = await collect(tmpFile(name, gz))
    assert.deepEqual(lines, ['first line', 'second', '', 'fourth, after an empty one'])
    assert.equal(stats.compression, 'gzip')
    assert.equal(stats.bytes, TEXT.length)
    assert.deepEqual(progress.at(-1), [gz.length, gz.length])
  }
  // concatenated gzip members are one stream
  const {lines} = await collect(tmpFile('multi.gz', Buffer.concat([gzipSync('a\n'), gzipSync('b\n')])))
  assert.deepEqual(lines, ['a', 'b'])
})

test('xz is decompressed by magic bytes through `xz -dc`', {skip: hasXz() ? false : 'xz not installed'}, async () => {
  const plain = tmpFile('x.txt', TEXT)
  execFileSync('xz', ['-kf', plain])
  const xz = readFileSync(plain + '.xz')
  for (const name of ['x.txt.xz', 'xz-without-extension']) {
    const {lines, stats} = await collect(tmpFile(name, xz))
    assert.deepEqual(lines, ['first line', 'second', '', 'fourth, after an empty one'])
    assert.equal(stats.compression, 'xz')
    assert.equal(stats.fileBytes, xz.length)
  }
})

test(
  'a missing xz program is a clear InputError telling to install xz-utils',
  {skip: hasXz() ? false : 'xz not installed'},
  async () => {
    const plain = tmpFile('y.txt', TEXT)
    execFileSync('xz', ['-kf', plain])
    const saved = process.env.PATH
    process.env.PATH = '/nonexistent'
    try {
      await assert.rejects(
        collect(plain + '.xz'),
        (e: unknown) => e instanceof InputError && e.code === 'NO_XZ' && /xz-utils/.test(e.message),
      )
    } finally {
      process.env.PATH = saved
    }
  },
)

test('corrupt gzip and xz data are DECOMPRESS errors', async () => {
  const gz = gzipSync('a'.repeat(100000))
  await assert.rejects(
    collect(tmpFile('cut.gz', gz.subarray(0, gz.length - 20))),
    (e: unknown) => e instanceof InputError && e.code === 'DECOMPRESS',
  )
  const badXz = Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), Buffer.alloc(100, 7)])
  if (hasXz())
    await assert.rejects(
      collect(tmpFile('bad.xz', badXz)),
      (e: unknown) => e instanceof InputError && e.code === 'DECOMPRESS' && /xz -dc failed/.test(e.message),
    )
})

test('binary inputs we cannot read get a message saying how to convert them', async () => {
  await assert.rejects(
    collect(tmpFile('perf.data', Buffer.from('PERFILE2\0\0\0\0'))),
    (e: unknown) => e instanceof InputError && /perf script/.test(e.message),
  )
  await assert.rejects(
    collect(tmpFile('trace.dat', Buffer.from('\x17\x08\x44tracing6\0', 'latin1'))),
    (e: unknown) => e instanceof InputError && /trace-cmd report/.test(e.message),
  )
  await assert.rejects(
    collect(tmpFile('t.zst', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0]))),
    (e: unknown) => e instanceof InputError && /zstd -d/.test(e.message),
  )
})

test('a truncated last line is delivered and flagged', async () => {
  const {lines, stats} = await collect(tmpFile('trunc.txt', 'one\ntwo\nthr'))
  assert.deepEqual(lines, ['one', 'two', 'thr'])
  assert.equal(stats.unterminatedLastLine, true)
})

test('empty file: no lines', async () => {
  const {lines, stats} = await collect(tmpFile('empty.txt', ''))
  assert.deepEqual(lines, [])
  assert.equal(stats.lines, 0)
})

test('NUL bytes survive; invalid UTF-8 becomes U+FFFD; valid UTF-8 is decoded', async () => {
  const data = Buffer.concat([
    Buffer.from('a\0b\n'),
    Buffer.from([0x66, 0xff, 0xfe, 0x67, 0x0a]),
    Buffer.from('naïve thread\n'),
  ])
  const {lines} = await collect(tmpFile('bytes.txt', data))
  assert.deepEqual(lines, ['a\0b', 'f\ufffd\ufffdg', 'naïve thread'])
})

test('lines spanning read chunks are joined; a line longer than MAX_LINE_BYTES goes to the long-line handler, numbered', async () => {
  const mid = 'm'.repeat(1500000) // longer than one 1 MiB read
  const huge = 'h'.repeat(10 << 20)
  const {lines, numbers, long, stats} = await collect(tmpFile('long.txt', `start\n${mid}\n${huge}\nafter\r\n`))
  // the long line goes there (numbered, its head only) and onLine never sees it; the numbering goes on after it
  assert.deepEqual(numbers, [1, 2, 4])
  assert.equal(lines[1], mid)
  assert.equal(lines[2], 'after')
  assert.deepEqual(long, [[3, 'h'.repeat(200)]])
  assert.equal(stats.lines, 4)
  // exactly MAX_LINE_BYTES is still a line
  const edge = await collect(tmpFile('edge.txt', `${'e'.repeat(MAX_LINE_BYTES)}\nx\n`))
  assert.deepEqual(edge.numbers, [1, 2])
  assert.equal(edge.lines[0]!.length, MAX_LINE_BYTES)
  assert.deepEqual(edge.long, [])
})

test('missing file, directory and unreadable file are InputErrors that say what to do', async () => {
  await assert.rejects(
    collect('/nonexistent/trace.txt'),
    (e: unknown) => e instanceof InputError && e.code === 'NOT_FOUND' && /no such file/.test(e.message),
  )
  const dir = tmpFile('adir-placeholder', '') + '-dir'
  mkdirSync(dir)
  await assert.rejects(collect(dir), (e: unknown) => e instanceof InputError && e.code === 'IS_DIRECTORY')
  if (process.getuid?.() !== 0) {
    const locked = tmpFile('locked.txt', 'x\n')
    chmodSync(locked, 0)
    await assert.rejects(
      collect(locked),
      (e: unknown) => e instanceof InputError && e.code === 'NOT_READABLE' && /permission denied/.test(e.message),
    )
  }
})

test('an exception from the line callback stops reading and propagates (xz child is not left behind)', async () => {
  const plain = tmpFile('many.txt', 'line\n'.repeat(200000))
  const paths = [plain]
  if (hasXz()) {
    execFileSync('xz', ['-kf', plain])
    paths.push(plain + '.xz')
  }
  for (const path of paths) {
    let seen = 0
    await assert.rejects(
      readLines(
        path,
        () => {
          if (++seen === 10) throw new Error('stop here')
        },
        () => {},
      ),
      /stop here/,
    )
    assert.equal(seen, 10)
  }
})
