import {Args, Flags} from '@oclif/core'

import {BaseCommand, jsonFlag} from '../../cli/base.js'
import {labDirFlag} from '../../cli/lab-flags.js'
import {fetchDebianKernel, isDebianAlias} from '../../lab/debian.js'
import {exitCodeHelp, LabError, LabExit} from '../../lab/errors.js'
import {installKernel, type Kernel} from '../../lab/kernels.js'
import {labDir} from '../../lab/paths.js'
import {ensureTools, type ToolId} from '../../lab/tools.js'

export default class LabFetch extends BaseCommand {
  static override summary = "Install a kernel for the lab: Debian's 6.1 or 6.12 package, or your own bzImage + modules."

  static override description = [
    "`lab fetch 6.1` / `lab fetch 6.12` downloads Debian's linux-image-6.1.0-N-amd64-unsigned / linux-image-6.12.N+deb12-amd64-unsigned (the newest in the apt lists, after `apt-get update` if there is none) with apt-get, unpacks it with dpkg-deb and keeps what a guest needs: vmlinuz, config, System.map and the modules for virtio-pci and 9p with their dependencies (decompressed: busybox insmod loads plain .ko only).",
    '`lab fetch --bzimage FILE --modules DIR --name NAME` registers your own kernel: DIR is its /lib/modules/RELEASE (or any tree of .ko files); without --modules, virtio-pci and 9p must be built in.',
    'Also installs the host tools the lab needs (qemu-system-x86, busybox-static, xz-utils) with apt-get when they are missing and we are root (--no-install-tools: only check). See docs/lab.md.',
    exitCodeHelp(),
  ].join('\n\n')

  static override usage = [
    'lab fetch 6.1|6.12 [--package PKG] [--force]',
    'lab fetch --bzimage FILE [--modules DIR] [--config FILE] --name NAME',
  ]

  static override examples = [
    {description: "Debian's newest 6.12 kernel", command: '<%= config.bin %> <%= command.id %> 6.12'},
    {
      description: 'A pinned 6.1 package',
      command: '<%= config.bin %> <%= command.id %> 6.1 --package linux-image-6.1.0-57-amd64-unsigned',
    },
    {
      description: 'Your own build',
      command:
        '<%= config.bin %> <%= command.id %> --bzimage arch/x86/boot/bzImage --modules /lib/modules/6.18.0 --config .config --name mine',
    },
  ]

  static override args = {
    version: Args.string({description: 'Debian kernel to fetch: 6.1 or 6.12', required: false}),
  }

  static override flags = {
    package: Flags.string({helpValue: 'PKG', description: 'exact Debian package instead of the newest'}),
    force: Flags.boolean({description: 'reinstall even when the same package version is installed'}),
    bzimage: Flags.string({
      helpValue: 'FILE',
      description: 'your own kernel image (x86 bzImage)',
      exclusive: ['package'],
    }),
    modules: Flags.string({
      helpValue: 'DIR',
      description: 'with --bzimage: its modules directory (/lib/modules/RELEASE)',
      dependsOn: ['bzimage'],
    }),
    config: Flags.string({
      helpValue: 'FILE',
      description: 'with --bzimage: its .config (HZ, THP default, … go into kernel.json)',
      dependsOn: ['bzimage'],
    }),
    'system-map': Flags.string({
      helpValue: 'FILE',
      description: 'with --bzimage: its System.map',
      dependsOn: ['bzimage'],
    }),
    name: Flags.string({
      helpValue: 'NAME',
      description: 'with --bzimage: the name to give it (used as --kernel NAME)',
      dependsOn: ['bzimage'],
    }),
    'install-tools': Flags.boolean({
      default: true,
      allowNo: true,
      description: 'install missing host tools with apt-get (root)',
    }),
    'lab-dir': labDirFlag,
    json: jsonFlag,
  }

  public async run(): Promise<void> {
    const {args, flags} = await this.parse(LabFetch)
    const lab = labDir(flags['lab-dir'])
    const log = (m: string): void => this.logToStderr(`vmareplay lab fetch: ${m}`)
    const tools: ToolId[] = ['qemu', 'busybox', 'xz']
    if (flags.bzimage === undefined) tools.push('aptGet', 'dpkgDeb')
    if (flags['install-tools']) ensureTools(tools, log)
    let kernel: Kernel
    let installed = true
    if (flags.bzimage !== undefined) {
      if (args.version !== undefined)
        throw new LabError(LabExit.USAGE, 'give either a Debian version (6.1, 6.12) or --bzimage, not both')
      if (flags.name === undefined)
        throw new LabError(LabExit.USAGE, '--bzimage needs --name NAME (how `lab run --kernel` will call it)')
      kernel = installKernel(
        lab,
        {
          name: flags.name,
          vmlinuz: flags.bzimage,
          modulesDir: flags.modules,
          config: flags.config,
          systemMap: flags['system-map'],
          source: {kind: 'user', bzimage: flags.bzimage, modules: flags.modules ?? null, config: flags.config ?? null},
        },
        log,
      )
    } else {
      if (args.version === undefined)
        throw new LabError(LabExit.USAGE, 'which kernel? vmareplay lab fetch 6.1|6.12, or --bzimage FILE --name NAME')
      if (!isDebianAlias(args.version))
        throw new LabError(
          LabExit.USAGE,
          `lab fetch knows Debian's 6.1 and 6.12, not ${args.version}; for another kernel use --bzimage FILE --modules DIR --name NAME`,
        )
      ;({kernel, installed} = fetchDebianKernel(lab, {
        alias: args.version,
        package: flags.package,
        force: flags.force,
        log,
      }))
    }
    if (flags.json) {
      this.log(JSON.stringify({installed, dir: kernel.dir, ...kernel.info}, null, 2))
      return
    }
    const k = kernel.info
    this.log(`${installed ? 'installed' : 'already installed'}: ${k.name} = ${k.release} in ${kernel.dir}`)
    this.log(
      `  modules loaded by the guest: ${k.modules.load.join(' ') || 'none'}${k.modules.builtin.length > 0 ? `; built in: ${k.modules.builtin.join(' ')}` : ''}`,
    )
    this.log(
      `  HZ ${k.config.hz ?? '?'}, THP default ${k.config.thp_default ?? '?'}, per-VMA locks ${k.config.per_vma_lock ?? '?'}`,
    )
  }
}
