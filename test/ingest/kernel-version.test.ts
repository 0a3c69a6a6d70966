// traces.kernel_version when no capture meta names the release: the range the text format allows. Lines as Debian's
// 6.12 prints them (mm/mmap_lock.c ≤6.13 "mm=%p memcg_path=%s write=%s", kernel/trace/trace_syscalls.c ≤6.17 "%s: %lx").
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {openDb} from '../../src/store/db.js'
import {loadTrace} from '../../src/ingest/load.js'

const line = (ts: string, body: string): string => `         python3-200     (    200) [001] .....   ${ts}: ${body}`

async function versionOf(lines: string[]): Promise<string | null> {
  const dir = mkdtempSync(join(tmpdir(), 'vmareplay-kver-'))
  writeFileSync(join(dir, 't.trace.txt'), lines.join('\n') + '\n')
  const db = openDb(join(dir, 'a.db'))
  try {
    await loadTrace(db, join(dir, 't.trace.txt'), {toolVersion: 'test'})
    return db.prepare('SELECT kernel_version FROM traces').pluck().get() as string | null
  } finally {
    db.close()
  }
}

test('memcg_path and bare-hex syscall args (6.1–6.13) give "<=6.13", which selects the 6.10 generation by default', async () => {
  const v = await versionOf([
    line('10.000001', 'sys_mmap(addr: 0, len: 2000, prot: 3, flags: 22, fd: ffffffff, off: 0)'),
    line('10.000002', 'mmap_lock_start_locking: mm=00000000a1b2c3d4 memcg_path=/user.slice write=true'),
    line('10.000003', 'mmap_lock_acquire_returned: mm=00000000a1b2c3d4 memcg_path=/user.slice write=true success=true'),
    line('10.000004', 'mmap_lock_released: mm=00000000a1b2c3d4 memcg_path=/user.slice write=true'),
    line('10.000005', 'sys_mmap -> 0x7f12f7b6a000'),
  ])
  assert.equal(v, '<=6.13')
})

test('memcg_id with decimal small args (6.18 text) gives ">=6.18"', async () => {
  const v = await versionOf([
    line('10.000001', 'sys_mmap(addr: 0, len: 0x2000, prot: 3, flags: 0x22, fd: 0xffffffff, off: 0)'),
    line('10.000002', 'mmap_lock_start_locking: mm=00000000a1b2c3d4 memcg_id=5 write=true'),
    line('10.000005', 'sys_mmap -> 0x7f12f7b6a000'),
  ])
  assert.equal(v, '>=6.18')
})

test('traces.format_variant keeps what the text showed of its kernel, even when the capture meta names the release', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmareplay-fvar-'))
  const db = openDb(join(dir, 'a.db'))
  try {
    // a real 6.1 guest trace (its meta names 6.1.0-57-amd64) and a real 6.18 one (no meta)
    await loadTrace(db, 'traces/lab/py_threads_small-6.1.trace.txt.xz', {toolVersion: 'test'})
    await loadTrace(db, 'traces/py_threads_small.trace.txt', {toolVersion: 'test'})
    const rows = db.prepare('SELECT kernel_version, format_variant FROM traces ORDER BY trace_id').all() as {
      kernel_version: string
      format_variant: string
    }[]
    assert.equal(rows[0]!.kernel_version, '6.1.0-57-amd64')
    assert.match(rows[0]!.format_variant, /memcg_path/)
    assert.match(rows[0]!.format_variant, /bare hex/)
    assert.match(rows[1]!.format_variant, /memcg_id/)
    assert.match(rows[1]!.format_variant, /0x-prefixed/)
  } finally {
    db.close()
  }
})
