// meta.environment: THP mode, HZ, numa_balancing and page size, read from a fake root with the kernel's layout.

import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'
import {gzipSync} from 'node:zlib'

import {auxvPageSize, readEnvironment, selected} from '../../src/capture/environment.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmareplay-env-'))
after(() => fs.rmSync(tmp, {recursive: true, force: true}))

function put(root: string, file: string, text: string | Buffer): void {
  fs.mkdirSync(path.dirname(path.join(root, file)), {recursive: true})
  fs.writeFileSync(path.join(root, file), text)
}

function auxv(pairs: Array<[number, number]>): Buffer {
  const b = Buffer.alloc(16 * (pairs.length + 1))
  pairs.forEach(([t, v], i) => {
    b.writeBigUInt64LE(BigInt(t), 16 * i)
    b.writeBigUInt64LE(BigInt(v), 16 * i + 8)
  })
  return b
}

describe('capture environment', () => {
  it('a Debian 6.12 guest: THP always with mTHP sizes, HZ from /boot/config-RELEASE, NUMA balancing off, 4 KiB pages', () => {
    const root = path.join(tmp, 'deb612')
    const thp = 'sys/kernel/mm/transparent_hugepage'
    put(root, `${thp}/enabled`, '[always] madvise never\n')
    put(root, `${thp}/defrag`, 'always defer defer+madvise [madvise] never\n')
    put(root, `${thp}/shmem_enabled`, 'always within_size advise [never] deny force\n')
    put(root, `${thp}/use_zero_page`, '1\n')
    put(root, `${thp}/hugepages-2048kB/enabled`, 'always [inherit] madvise never\n')
    put(root, `${thp}/hugepages-64kB/enabled`, 'always inherit madvise [never]\n')
    put(
      root,
      'boot/config-6.12.118+deb12-amd64',
      '# CONFIG_HZ_1000 is not set\nCONFIG_HZ_250=y\nCONFIG_HZ=250\nCONFIG_BSD_PROCESS_ACCT=y\nCONFIG_BSD_PROCESS_ACCT_V3=y\n',
    )
    put(root, 'proc/sys/kernel/numa_balancing', '0\n')
    put(
      root,
      'proc/self/auxv',
      auxv([
        [33, 0x7fff0000],
        [16, 0x178bfbff],
        [6, 4096],
        [17, 100],
      ]),
    )
    assert.deepEqual(readEnvironment(root, '6.12.118+deb12-amd64'), {
      thp: {
        enabled: 'always',
        defrag: 'madvise',
        shmem_enabled: 'never',
        use_zero_page: 1,
        sizes: {'64kB': 'never', '2048kB': 'inherit'},
      },
      hz: 250,
      hz_source: path.join(root, 'boot/config-6.12.118+deb12-amd64'),
      bsd_process_acct: true,
      numa_balancing: 0,
      page_size: 4096,
    })
  })

  it('HZ from /proc/config.gz when /boot has no config; everything null where nothing is readable', () => {
    const root = path.join(tmp, 'ikconfig')
    put(root, 'proc/config.gz', gzipSync('CONFIG_HZ=1000\n# CONFIG_BSD_PROCESS_ACCT is not set\n'))
    const env = readEnvironment(root, 'x')
    assert.equal(env.hz, 1000)
    assert.equal(env.bsd_process_acct, false)
    assert.equal(env.hz_source, path.join(root, 'proc/config.gz'))
    assert.deepEqual(env.thp, {enabled: null, defrag: null, shmem_enabled: null, use_zero_page: null, sizes: {}})
    assert.equal(env.numa_balancing, null)
    assert.equal(env.page_size, null)
    assert.equal(readEnvironment(path.join(tmp, 'nothing'), 'x').hz, null)
    assert.equal(readEnvironment(path.join(tmp, 'nothing'), 'x').bsd_process_acct, null)
  })

  it('selected(): the bracketed choice', () => {
    assert.equal(selected('always [madvise] never\n'), 'madvise')
    assert.equal(selected(undefined), null)
    assert.equal(auxvPageSize(auxv([[6, 65536]])), 65536)
    assert.equal(auxvPageSize(auxv([[3, 1]])), null)
  })

  it('this machine: the values match the files read by hand', () => {
    const env = readEnvironment()
    const thp = '/sys/kernel/mm/transparent_hugepage/enabled'
    if (fs.existsSync(thp)) assert.equal(env.thp.enabled, /\[(\w+)\]/.exec(fs.readFileSync(thp, 'utf8'))![1])
    assert.equal(env.page_size, 4096) // x86_64
  })
})
