// Flags the lab commands share.

import {Flags} from '@oclif/core'

import {LAB_DIR_ENV} from './paths.js'

export const labDirFlag = Flags.string({
  helpValue: 'DIR',
  description: `lab directory (kernels, initramfs cache); default $${LAB_DIR_ENV}, else ~/.cache/vmareplay/lab`,
})
