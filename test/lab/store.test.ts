// Kernel store plumbing: ELF reading, module dependency resolution, kernel config, bzImage header, cpio/initramfs,
// Debian package choice and the install into the store — on hand-built inputs, and on Debian's files when installed.

import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {cpioNewc, listCpio} from '../../src/lab/cpio.js'
import {locatePackageFiles, newestPackage} from '../../src/lab/debian.js'
import {elfSection, isStaticElf, modinfo} from '../../src/lab/elf.js'
import {LabError, LabExit} from '../../src/lab/errors.js'
import {initramfsEntries} from '../../src/lab/initramfs.js'
import {bzImageVersion, parseKernelConfig, releaseOf, summarizeConfig} from '../../src/lab/kconfig.js'
import {findKernel, installKernel, listKernels} from '../../src/lab/kernels.js'
import {
  formatModulesDep,
  moduleName,
  moduleSource,
  parseModulesBuiltin,
  parseModulesDep,
  planModules,
  type ModuleSource,
} from '../../src/lab/modules.js'
import {labDir} from '../../src/lab/paths.js'
import {which} from '../../src/lab/tools.js'
import {elfExecutable, elfModule, fakeBzImage, tmpDir} from './helpers.js'

const tmp = tmpDir('store')
after(() => fs.rmSync(tmp, {recursive: true, force: true}))

/** A /lib/modules/RELEASE-like tree of hand-built modules (no modules.dep, as in Debian's packages). */
function modulesTree(
  dir: string,
  mods: Record<string, {at: string; depends: string; vermagic?: string}>,
  builtin: string[] = [],
): string {
  for (const [name, m] of Object.entries(mods)) {
    const f = path.join(dir, 'kernel', m.at, `${name}.ko`)
    fs.mkdirSync(path.dirname(f), {recursive: true})
    fs.writeFileSync(
      f,
      elfModule([
        `depends=${m.depends}`,
        `name=${name}`,
        `vermagic=${m.vermagic ?? '6.12.0-test'} SMP preempt mod_unload`,
      ]),
    )
  }
  fs.writeFileSync(path.join(dir, 'modules.builtin'), builtin.map((b) => `kernel/${b}.ko\n`).join(''))
  return dir
}

// Debian 6.1's graph (from the .modinfo depends= of linux-image-6.1.0-57-amd64-unsigned)
const DEB61 = {
  virtio_ring: {at: 'drivers/virtio', depends: ''},
  virtio: {at: 'drivers/virtio', depends: 'virtio_ring'},
  virtio_pci_modern_dev: {at: 'drivers/virtio', depends: ''},
  virtio_pci_legacy_dev: {at: 'drivers/virtio', depends: ''},
  virtio_pci: {at: 'drivers/virtio', depends: 'virtio_ring,virtio_pci_modern_dev,virtio_pci_legacy_dev,virtio'},
  netfs: {at: 'fs/netfs', depends: ''},
  fscache: {at: 'fs/fscache', depends: 'netfs'},
  '9pnet': {at: 'net/9p', depends: ''},
  '9pnet_virtio': {at: 'net/9p', depends: 'virtio,9pnet,virtio_ring'},
  '9p': {at: 'fs/9p', depends: '9pnet,fscache,netfs'},
  virtio_net: {at: 'drivers/net', depends: 'virtio,virtio_ring'},
}

function assertDepsFirst(order: string[], deps: Record<string, {depends: string}>): void {
  for (const [i, m] of order.entries()) {
    for (const d of (deps[m]?.depends ?? '').split(',').filter(Boolean))
      assert.ok(order.indexOf(d) !== -1 && order.indexOf(d) < i, `${d} must load before ${m}: ${order.join(' ')}`)
  }
}

describe('ELF', () => {
  it('a module .modinfo: key=value strings', () => {
    const mi = modinfo(elfModule(['license=GPL', 'depends=9pnet,netfs', 'name=9p', 'alias=fs-9p', 'alias=second']))
    assert.equal(mi.get('depends'), '9pnet,netfs')
    assert.equal(mi.get('name'), '9p')
    assert.equal(mi.get('alias'), 'fs-9p')
    assert.equal(elfSection(elfModule([]), '.nope'), undefined)
    assert.throws(
      () => modinfo(Buffer.from('not an elf file, just text, long enough to have a header........')),
      /not an ELF/,
    )
  })

  it('static means no PT_INTERP', () => {
    assert.equal(isStaticElf(elfExecutable(1)), true)
    assert.equal(isStaticElf(elfExecutable(3)), false)
    assert.equal(isStaticElf(fs.readFileSync('/bin/sh')), false, '/bin/sh is dynamically linked on Debian')
  })

  it('busybox-static really is static, where installed', (t) => {
    const bb = which('busybox')
    if (bb === undefined) return t.skip('busybox not installed')
    const r = spawnSync('ldd', [bb], {encoding: 'utf8'})
    assert.equal(
      isStaticElf(fs.readFileSync(bb)),
      /not a dynamic executable|statically linked/.test(r.stdout + r.stderr),
    )
  })
})

describe('module dependencies', () => {
  it('the 6.1 closure of virtio_pci, 9pnet_virtio and 9p from .modinfo, dependencies first, nothing extra', () => {
    const src = moduleSource(modulesTree(path.join(tmp, 'm61'), DEB61))
    const plan = planModules(src)
    const order = plan.load.map((m) => m.name)
    assert.deepEqual([...order].sort(), [
      '9p',
      '9pnet',
      '9pnet_virtio',
      'fscache',
      'netfs',
      'virtio',
      'virtio_pci',
      'virtio_pci_legacy_dev',
      'virtio_pci_modern_dev',
      'virtio_ring',
    ])
    assertDepsFirst(order, DEB61)
    assert.deepEqual(plan.builtin, [])
  })

  it('6.12: virtio built in (modules.builtin), 9p modules only', () => {
    const mods = {
      netfs: {at: 'fs/netfs', depends: ''},
      '9pnet': {at: 'net/9p', depends: 'netfs'},
      '9pnet_virtio': {at: 'net/9p', depends: '9pnet'},
      '9p': {at: 'fs/9p', depends: '9pnet,netfs'},
    }
    const plan = planModules(moduleSource(modulesTree(path.join(tmp, 'm612'), mods, ['drivers/virtio/virtio_pci'])))
    assert.deepEqual(
      plan.load.map((m) => m.name),
      ['netfs', '9pnet', '9pnet_virtio', '9p'],
    )
    assert.deepEqual(plan.builtin, ['virtio_pci'])
  })

  it('modules.dep, when there is one, is used as it is; its text round-trips', () => {
    const dep =
      'kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz\nkernel/net/9p/9pnet.ko.xz: kernel/fs/netfs/netfs.ko.xz\nkernel/fs/netfs/netfs.ko.xz:\n'
    const parsed = parseModulesDep(dep)
    assert.deepEqual(parsed.get('9p'), {path: 'kernel/fs/9p/9p.ko.xz', deps: ['9pnet', 'netfs']})
    assert.deepEqual(parsed.get('netfs'), {path: 'kernel/fs/netfs/netfs.ko.xz', deps: []})
    const src: ModuleSource = {
      files: new Map([
        ['virtio_pci', 'x'],
        ['9pnet_virtio', 'y'],
        ['9pnet', 'z'],
        ['9p', 'w'],
        ['netfs', 'v'],
      ]),
      builtin: new Set(),
      depsOf: (n) => ({'9pnet_virtio': ['9pnet'], '9pnet': ['netfs'], '9p': ['9pnet', 'netfs']})[n] ?? [],
    }
    const plan = planModules(src)
    const text = formatModulesDep(plan)
    assert.equal(
      text,
      'virtio_pci.ko:\nnetfs.ko:\n9pnet.ko: netfs.ko\n9pnet_virtio.ko: 9pnet.ko netfs.ko\n9p.ko: 9pnet.ko netfs.ko\n',
    )
    const back = parseModulesDep(text)
    assert.deepEqual(back.get('9pnet_virtio')?.deps, ['9pnet', 'netfs'])
  })

  it('names: - and _ are the same, compression suffixes dropped; modules.builtin lines', () => {
    assert.equal(moduleName('kernel/drivers/virtio/virtio-pci.ko.zst'), 'virtio_pci')
    assert.deepEqual(
      [...parseModulesBuiltin('kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_pci.ko\n')],
      ['virtio', 'virtio_pci'],
    )
  })

  it('a missing root, a missing dependency and a cycle are errors that say what is wrong', () => {
    const src = (files: string[], deps: Record<string, string[]>): ModuleSource => ({
      files: new Map(files.map((f) => [f, f])),
      builtin: new Set(),
      depsOf: (n) => deps[n] ?? [],
    })
    assert.throws(
      () => planModules(src(['9pnet_virtio', '9p'], {})),
      (e: LabError) =>
        e.exitCode === LabExit.NO_KERNEL && /virtio_pci neither built in nor as a file.*CONFIG_9P_FS/.test(e.message),
    )
    assert.throws(
      () => planModules(src(['virtio_pci', '9pnet_virtio', '9p'], {'9p': ['netfs']})),
      /module netfs \(needed by 9p\) not found/,
    )
    assert.throws(
      () => planModules(src(['virtio_pci', '9pnet_virtio', '9p', 'a'], {'9p': ['a'], a: ['9p']})),
      /cycle: 9p -> a -> 9p/,
    )
  })
})

describe('kernel config and bzImage', () => {
  it('summarises what the replay depends on', () => {
    const c = parseKernelConfig(
      'CONFIG_HZ_250=y\nCONFIG_HZ=250\nCONFIG_PER_VMA_LOCK=y\n# CONFIG_PER_VMA_LOCK_STATS is not set\nCONFIG_TRANSPARENT_HUGEPAGE_ALWAYS=y\n# CONFIG_TRANSPARENT_HUGEPAGE_MADVISE is not set\nCONFIG_PREEMPT_DYNAMIC=y\nCONFIG_PREEMPT_VOLUNTARY=y\nCONFIG_MODULE_COMPRESS_XZ=y\nCONFIG_LOCALVERSION="-x"\n',
    )
    assert.equal(c.get('LOCALVERSION'), '-x')
    assert.deepEqual(summarizeConfig(c), {
      hz: 250,
      per_vma_lock: true,
      per_vma_lock_stats: false,
      thp_default: 'always',
      preempt: 'dynamic',
      module_compression: 'xz',
    })
    assert.deepEqual(summarizeConfig(new Map()), {
      hz: null,
      per_vma_lock: null,
      per_vma_lock_stats: null,
      thp_default: null,
      preempt: null,
      module_compression: null,
    })
  })

  it('reads the version string of a bzImage setup header', () => {
    const v = '6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3'
    assert.equal(bzImageVersion(fakeBzImage(v)), v)
    assert.equal(releaseOf(v), '6.1.0-57-amd64')
    assert.equal(bzImageVersion(Buffer.alloc(4096)), undefined)
  })
})

describe('cpio and the initramfs', () => {
  it('newc: entries, modes, sizes; GNU cpio reads it back byte for byte, where installed', (t) => {
    const entries = [
      {type: 'dir', path: 'bin'},
      {type: 'file', path: 'bin/hello', data: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755},
      {type: 'file', path: 'odd', data: Buffer.from('x')},
      {type: 'symlink', path: 'sh', target: 'bin/hello'},
      {type: 'char', path: 'console', major: 5, minor: 1},
    ] as const
    const archive = cpioNewc(entries)
    assert.deepEqual(listCpio(archive), [
      {path: 'bin', mode: 0o040755, size: 0},
      {path: 'bin/hello', mode: 0o100755, size: 18},
      {path: 'odd', mode: 0o100644, size: 1},
      {path: 'sh', mode: 0o120777, size: 9},
      {path: 'console', mode: 0o020600, size: 0},
    ])
    assert.ok(archive.equals(cpioNewc(entries)), 'reproducible')
    if (which('cpio') === undefined) return t.skip('cpio not installed')
    const list = spawnSync('cpio', ['-t', '--quiet'], {input: archive, encoding: 'utf8'})
    assert.deepEqual(list.stdout.trim().split('\n'), ['bin', 'bin/hello', 'odd', 'sh', 'console'])
    const x = path.join(tmp, 'cpio-x')
    fs.mkdirSync(x)
    const ex = spawnSync('cpio', ['-i', '--quiet', '--no-absolute-filenames'], {
      input: archive,
      cwd: x,
      encoding: 'utf8',
    })
    assert.equal(ex.status, 0, ex.stderr)
    assert.equal(fs.readFileSync(path.join(x, 'bin/hello'), 'utf8'), '#!/bin/sh\necho hi\n')
    assert.equal(fs.statSync(path.join(x, 'bin/hello')).mode & 0o777, 0o755)
    assert.equal(fs.readlinkSync(path.join(x, 'sh')), 'bin/hello')
  })

  it("a kernel's initramfs holds busybox, /init, the load order, the modules and the config", () => {
    const kdir = path.join(tmp, 'k-init')
    fs.mkdirSync(path.join(kdir, 'modules'), {recursive: true})
    for (const m of ['netfs', '9pnet']) fs.writeFileSync(path.join(kdir, 'modules', `${m}.ko`), m)
    fs.writeFileSync(path.join(kdir, 'config'), 'CONFIG_HZ=250\n')
    const kernel = {
      dir: kdir,
      info: {
        files: {vmlinuz: 'vmlinuz', config: 'config', system_map: null},
        modules: {load: ['netfs', '9pnet'], builtin: []},
      },
    } as never
    const listing = listCpio(cpioNewc(initramfsEntries(kernel, Buffer.from('busybox'))))
    assert.deepEqual(
      listing.map((e) => e.path),
      [
        'bin',
        'dev',
        'proc',
        'sys',
        'newroot',
        'lib',
        'lib/modules',
        'dev/console',
        'dev/null',
        'bin/busybox',
        'init',
        'lib/modules/load-order',
        'config',
        'lib/modules/netfs.ko',
        'lib/modules/9pnet.ko',
      ],
    )
    const byPath = new Map(listing.map((e) => [e.path, e]))
    assert.equal(byPath.get('init')!.mode, 0o100755)
    assert.equal(byPath.get('bin/busybox')!.mode, 0o100755)
    assert.equal(byPath.get('lib/modules/load-order')!.size, 'netfs\n9pnet\n'.length)
  })
})

describe('Debian packages', () => {
  const search = [
    'linux-image-6.12.9+deb12-amd64-unsigned - Linux 6.12 for 64-bit PCs',
    'linux-image-6.12.118+deb12-amd64-unsigned - Linux 6.12 for 64-bit PCs',
    'linux-image-6.12.118+deb12-cloud-amd64-unsigned - Linux 6.12 for x86-64 cloud',
    'linux-image-6.12.117+deb12-rt-amd64-unsigned - Linux 6.12 for 64-bit PCs, PREEMPT_RT',
    'linux-image-6.1.0-9-amd64-unsigned - Linux 6.1 for 64-bit PCs',
    'linux-image-6.1.0-57-amd64-unsigned - Linux 6.1 for 64-bit PCs',
    'linux-image-6.1.0-57-rt-amd64-unsigned - Linux 6.1 for 64-bit PCs, PREEMPT_RT',
  ].join('\n')
  it('the newest plain amd64-unsigned package, by number (not by string)', () => {
    assert.equal(newestPackage(search, '6.12'), 'linux-image-6.12.118+deb12-amd64-unsigned')
    assert.equal(newestPackage(search, '6.1'), 'linux-image-6.1.0-57-amd64-unsigned')
    assert.equal(newestPackage('', '6.1'), undefined)
  })

  it("finds an unpacked package's files, and drops Debian's one-line System.map stub", () => {
    const root = path.join(tmp, 'deb')
    fs.mkdirSync(path.join(root, 'boot'), {recursive: true})
    fs.mkdirSync(path.join(root, 'lib/modules/6.1.0-57-amd64'), {recursive: true})
    for (const f of ['vmlinuz', 'config']) fs.writeFileSync(path.join(root, 'boot', `${f}-6.1.0-57-amd64`), 'x')
    fs.writeFileSync(
      path.join(root, 'boot/System.map-6.1.0-57-amd64'),
      'ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n',
    )
    assert.deepEqual(locatePackageFiles(root), {
      vmlinuz: path.join(root, 'boot/vmlinuz-6.1.0-57-amd64'),
      config: path.join(root, 'boot/config-6.1.0-57-amd64'),
      systemMap: undefined,
      modulesDir: path.join(root, 'lib/modules/6.1.0-57-amd64'),
    })
  })
})

describe('the kernel store', () => {
  const lab = path.join(tmp, 'lab')
  const bz = path.join(tmp, 'bzImage')
  fs.writeFileSync(bz, fakeBzImage('6.12.0-test (me@host) #1 SMP PREEMPT_DYNAMIC'))
  const cfg = path.join(tmp, 'config')
  fs.writeFileSync(
    cfg,
    'CONFIG_HZ=1000\nCONFIG_PER_VMA_LOCK=y\nCONFIG_TRANSPARENT_HUGEPAGE_MADVISE=y\nCONFIG_VIRTIO_PCI=y\nCONFIG_NET_9P_VIRTIO=m\nCONFIG_9P_FS=m\n',
  )

  it('installs a user kernel: vmlinuz, config, decompressed modules with modules.dep, kernel.json', (t) => {
    const mods = {
      netfs: {at: 'fs/netfs', depends: ''},
      '9pnet': {at: 'net/9p', depends: 'netfs'},
      '9pnet_virtio': {at: 'net/9p', depends: '9pnet'},
      '9p': {at: 'fs/9p', depends: '9pnet,netfs'},
    }
    const mdir = modulesTree(path.join(tmp, 'mods-user'), mods, ['drivers/virtio/virtio_pci'])
    const xz = which('xz') !== undefined
    // one module compressed as Debian ships them (6.12: .ko.xz), decompressed on the host
    if (xz) assert.equal(spawnSync('xz', [path.join(mdir, 'kernel/fs/9p/9p.ko')]).status, 0)
    const k = installKernel(lab, {
      name: 'mine',
      vmlinuz: bz,
      config: cfg,
      modulesDir: mdir,
      source: {kind: 'user', bzimage: bz, modules: mdir, config: cfg},
    })
    assert.equal(k.info.release, '6.12.0-test')
    assert.deepEqual(k.info.modules, {load: ['netfs', '9pnet', '9pnet_virtio', '9p'], builtin: ['virtio_pci']})
    assert.deepEqual({hz: k.info.config.hz, thp: k.info.config.thp_default}, {hz: 1000, thp: 'madvise'})
    assert.equal(modinfo(fs.readFileSync(path.join(k.dir, 'modules/9p.ko'))).get('name'), '9p')
    assert.equal(
      fs.readFileSync(path.join(k.dir, 'modules/modules.dep'), 'utf8'),
      'netfs.ko:\n9pnet.ko: netfs.ko\n9pnet_virtio.ko: 9pnet.ko netfs.ko\n9p.ko: 9pnet.ko netfs.ko\n',
    )
    assert.deepEqual(fs.readdirSync(path.join(lab, 'kernels')), ['mine'], 'no temporary directory left')
    assert.deepEqual(
      listKernels(lab).map((x) => x.info.name),
      ['mine'],
    )
    assert.equal(findKernel(lab, 'mine').info.release, '6.12.0-test')
    assert.equal(findKernel(lab, k.dir).info.name, 'mine')
    if (!xz) t.diagnostic('xz not installed: the .ko.xz case was not exercised')
  })

  it('refuses modules built for another kernel, and a config without 9p built in and no --modules', () => {
    const mdir = modulesTree(path.join(tmp, 'mods-other'), {...DEB61}, [])
    fs.rmSync(path.join(mdir, 'kernel/fs/9p/9p.ko'))
    fs.writeFileSync(
      path.join(mdir, 'kernel/fs/9p/9p.ko'),
      elfModule(['depends=9pnet,fscache,netfs', 'name=9p', 'vermagic=6.1.0-57-amd64 SMP']),
    )
    assert.throws(
      () =>
        installKernel(lab, {
          name: 'bad',
          vmlinuz: bz,
          modulesDir: mdir,
          source: {kind: 'user', bzimage: bz, modules: mdir, config: null},
        }),
      (e: LabError) =>
        e.exitCode === LabExit.NO_KERNEL &&
        /built for kernel 6\.1\.0-57-amd64, not for the bzImage's 6\.12\.0-test/.test(e.message),
    )
    assert.throws(
      () =>
        installKernel(lab, {
          name: 'bad',
          vmlinuz: bz,
          config: cfg,
          source: {kind: 'user', bzimage: bz, modules: null, config: cfg},
        }),
      /CONFIG_NET_9P_VIRTIO=m, CONFIG_9P_FS=m: give --modules/,
    )
    assert.equal(fs.existsSync(path.join(lab, 'kernels', 'bad')), false)
    assert.deepEqual(fs.readdirSync(path.join(lab, 'kernels')), ['mine'])
  })

  it('an unknown kernel: says how to install it', () => {
    assert.throws(
      () => findKernel(lab, '6.12'),
      (e: LabError) =>
        e.exitCode === LabExit.NO_KERNEL &&
        /kernel 6\.12 is not installed.*vmareplay lab fetch 6\.12.*\(installed: mine\)/.test(e.message),
    )
    assert.throws(() => findKernel(lab, 'other'), /lab fetch --bzimage FILE --modules DIR --name other/)
    assert.throws(() => findKernel(lab, './nope/vmlinuz'), /no such file/)
    assert.throws(
      () =>
        installKernel(lab, {
          name: '../x',
          vmlinuz: bz,
          source: {kind: 'user', bzimage: bz, modules: null, config: null},
        }),
      /bad kernel name/,
    )
  })

  it('the lab directory: flag, then $VMAREPLAY_LAB_DIR, then $XDG_CACHE_HOME, then ~/.cache', () => {
    assert.equal(labDir('/a/b', {}), '/a/b')
    assert.equal(labDir(undefined, {VMAREPLAY_LAB_DIR: '/l', XDG_CACHE_HOME: '/c'}), '/l')
    assert.equal(labDir(undefined, {XDG_CACHE_HOME: '/c'}), '/c/vmareplay/lab')
    assert.match(labDir(undefined, {}), /\/\.cache\/vmareplay\/lab$/)
  })
})

describe("Debian's real files, where a kernel is installed (vmareplay lab fetch)", () => {
  for (const name of ['6.1', '6.12']) {
    it(`${name}: the modules in the store are plain ELF modules for its release, in dependency order`, (t) => {
      const dir = path.join(labDir(), 'kernels', name)
      if (!fs.existsSync(path.join(dir, 'kernel.json')))
        return t.skip(`${name} not installed (vmareplay lab fetch ${name})`)
      const k = findKernel(labDir(), name)
      assert.equal(releaseOf(bzImageVersion(fs.readFileSync(path.join(dir, 'vmlinuz')))!), k.info.release)
      const seen: string[] = []
      for (const m of k.info.modules.load) {
        const mi = modinfo(fs.readFileSync(path.join(dir, 'modules', `${m}.ko`)))
        assert.equal(mi.get('vermagic')?.split(' ')[0], k.info.release)
        for (const d of (mi.get('depends') ?? '').split(',').filter(Boolean))
          assert.ok(seen.includes(d), `${d} before ${m}`)
        seen.push(m)
      }
      assert.ok(seen.includes('9p') && seen.includes('9pnet_virtio'))
      if (name === '6.1') assert.ok(seen.includes('virtio_pci'), '6.1 builds virtio-pci as a module')
      else assert.deepEqual(k.info.modules.builtin, ['virtio_pci'])
    })
  }
})
