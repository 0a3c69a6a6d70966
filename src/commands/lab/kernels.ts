import {Flags} from '@oclif/core'

import {BaseCommand, jsonFlag} from '../../cli/base.js'
import {labDirFlag} from '../../cli/lab-flags.js'
import {listKernels} from '../../lab/kernels.js'
import {kernelsDir, labDir} from '../../lab/paths.js'
import {csv, table} from '../../report/output.js'

export default class LabKernels extends BaseCommand {
  static override summary = 'List the kernels installed for the lab.'

  static override description =
    'Each kernel is a directory in LAB/kernels/NAME with kernel.json (release, package, modules, config summary). Install more with vmareplay lab fetch. See docs/lab.md.'

  static override examples = [
    {description: 'As a table', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Everything, as JSON', command: '<%= config.bin %> <%= command.id %> --json'},
  ]

  static override flags = {
    'lab-dir': labDirFlag,
    json: jsonFlag,
    csv: Flags.boolean({description: 'print CSV', exclusive: ['json']}),
  }

  public async run(): Promise<void> {
    const {flags} = await this.parse(LabKernels)
    const lab = labDir(flags['lab-dir'])
    const kernels = listKernels(lab)
    if (flags.json) {
      this.log(JSON.stringify({lab, kernels: kernels.map((k) => ({dir: k.dir, ...k.info}))}, null, 2))
      return
    }
    const rows = kernels.map(({info: k}) => ({
      name: k.name,
      release: k.release,
      source: k.source.kind === 'debian' ? `${k.source.package} ${k.source.version}` : `user: ${k.source.bzimage}`,
      HZ: k.config.hz,
      'THP default': k.config.thp_default,
      'per-VMA locks': k.config.per_vma_lock === null ? null : k.config.per_vma_lock ? 'yes' : 'no',
      modules: k.modules.load.length,
    }))
    if (flags.csv) {
      process.stdout.write(csv(rows))
      return
    }
    if (kernels.length === 0) {
      this.log(`no kernels in ${kernelsDir(lab)}: install one with vmareplay lab fetch 6.1|6.12`)
      return
    }
    this.log(table(rows))
  }
}
