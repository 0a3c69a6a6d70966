// What every command shares: the --db and --json flags, and turning known errors into a message and an exit code.
import {Command, Flags} from '@oclif/core'
import {EXIT, InputError, StoreError, UserError} from '../base/errors.js'

// The commands' toolkit: they take the exit codes and UserError from here with the flags.
export {EXIT, UserError}

export const dbFlag = Flags.string({description: 'SQLite database file', default: 'vmareplay.db'})
export const jsonFlag = Flags.boolean({description: 'print JSON instead of tables'})

export abstract class BaseCommand extends Command {
  protected override async catch(
    error: Error & {exitCode?: number; oclif?: unknown; code?: unknown},
  ): Promise<unknown> {
    if (error.oclif !== undefined) return super.catch(error)
    if (error instanceof InputError) this.error(error.message, {exit: EXIT.usage})
    if (error.code === 'SQLITE_BUSY' || error.code === 'SQLITE_LOCKED')
      this.error('the database is busy: another vmareplay is writing to it; retry when it has finished', {
        exit: EXIT.store,
      })
    if (error instanceof UserError || error instanceof StoreError || typeof error.exitCode === 'number')
      this.error(error.message, {exit: error.exitCode ?? EXIT.usage})
    return super.catch(error)
  }
}
