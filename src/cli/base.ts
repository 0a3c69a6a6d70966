// What every command shares: the --db and --json flags, and turning known errors into a message and an exit code.
import {Command, Flags} from '@oclif/core'
import {StoreError} from '../store/db.js'
import {InputError} from '../parse/lines.js'

/** Exit codes (documented in the README): 0 ok, 1 unexpected, 2 bad usage or input file, 3 database, 4 malformed
 * line under --strict, 5 a check failed (validate below the bar); capture documents its own. */
export const EXIT = {usage: 2, store: 3, strict: 4, check: 5} as const

/** An error about the user's input that says what to do. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message)
  }
}

export const dbFlag = Flags.string({description: 'SQLite database file', default: 'vmareplay.db'})
export const jsonFlag = Flags.boolean({description: 'print JSON instead of tables'})

export abstract class BaseCommand extends Command {
  protected override async catch(error: Error & {exitCode?: number; oclif?: unknown; code?: unknown}): Promise<unknown> {
    if (error.oclif !== undefined) return super.catch(error)
    if (error instanceof InputError) this.error(error.message, {exit: EXIT.usage})
    if (error.code === 'SQLITE_BUSY' || error.code === 'SQLITE_LOCKED')
      this.error('the database is busy: another vmareplay is writing to it; retry when it has finished', {exit: EXIT.store})
    if (error instanceof UserError || error instanceof StoreError || typeof error.exitCode === 'number')
      this.error(error.message, {exit: error.exitCode ?? EXIT.usage})
    return super.catch(error)
  }
}
