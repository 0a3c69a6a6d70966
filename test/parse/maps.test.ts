import assert from 'node:assert/strict'
import {test} from 'node:test'
import {gzipSync} from 'node:zlib'
import {parseMaps, readMapsFile} from '../../src/parse/maps.js'
import {tmpFile} from './helpers.js'

const SNAPSHOT = [
  '00400000-00b6f000 r--p 00000000 fe:00 260689                             /usr/bin/node',
  '126f3000-15f26000 rw-p 00000000 00:00 0                                  [heap]',
  '7f6e26000000-7f6e26021000 rw-p 00000000 00:00 0 ',
  '7f6e26021000-7f6e26022000 r-xs 0001f000 fe:01 1234                       /home/user/my data/file name.bin (deleted)',
  '7f6e26022000-7f6e26023000 ---p 00000000 00:00 0',
  'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]',
].join('\n')

test('maps lines: paths with spaces and (deleted), anonymous mappings, 64-bit addresses exact', () => {
  const {entries, problems} = parseMaps(SNAPSHOT + '\n')
  assert.deepEqual(problems, [])
  assert.deepEqual(entries, [
    {start: 0x400000, end: 0xb6f000, perms: 'r--p', offset: 0, dev: 'fe:00', inode: 260689, path: '/usr/bin/node'},
    {start: 0x126f3000, end: 0x15f26000, perms: 'rw-p', offset: 0, dev: '00:00', inode: 0, path: '[heap]'},
    {start: 0x7f6e26000000, end: 0x7f6e26021000, perms: 'rw-p', offset: 0, dev: '00:00', inode: 0, path: ''},
    {
      start: 0x7f6e26021000,
      end: 0x7f6e26022000,
      perms: 'r-xs',
      offset: 0x1f000,
      dev: 'fe:01',
      inode: 1234,
      path: '/home/user/my data/file name.bin (deleted)',
    },
    {start: 0x7f6e26022000, end: 0x7f6e26023000, perms: '---p', offset: 0, dev: '00:00', inode: 0, path: ''},
    {
      start: 0xffffffffff600000n,
      end: 0xffffffffff601000n,
      perms: '--xp',
      offset: 0,
      dev: '00:00',
      inode: 0,
      path: '[vsyscall]',
    },
  ])
})

test('bad maps lines are problems with their line numbers', () => {
  const {entries, problems} = parseMaps(
    [
      '00400000-00b6f000 r--p 00000000 fe:00 1 /a',
      'garbage',
      '2000-1000 r--p 0 00:00 0',
      '10000000000000000-1 r--p 0 00:00 0',
    ].join('\n'),
  )
  assert.equal(entries.length, 1)
  assert.deepEqual(
    problems.map((p) => [p.line, p.reason]),
    [
      [2, 'not a /proc/PID/maps line (expected start-end perms offset dev inode [path])'],
      [3, 'end below start'],
      [4, 'address or offset wider than 64 bits'],
    ],
  )
})

test('readMapsFile reads plain and gzip snapshots', async () => {
  for (const path of [tmpFile('snap.maps', SNAPSHOT), tmpFile('snap.maps.gz', gzipSync(SNAPSHOT))]) {
    const {entries, problems} = await readMapsFile(path)
    assert.deepEqual(problems, [])
    assert.equal(entries.length, 6)
    assert.equal(entries[3]!.path, '/home/user/my data/file name.bin (deleted)')
  }
})
