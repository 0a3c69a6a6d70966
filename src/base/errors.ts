// The errors a user can act on and the exit codes they map to: the bottom of the layer order (docs/architecture.md),
// so that parse, store, report and export throw them without importing the CLI. cli/base.ts turns them into
// messages and exit codes; capture documents its own codes (capture/errors.ts).
import type {ParseProblem} from '../model/events.js'

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

export type InputErrorCode =
  | 'NOT_FOUND'
  | 'IS_DIRECTORY'
  | 'NOT_READABLE'
  | 'NO_XZ'
  | 'DECOMPRESS'
  | 'UNSUPPORTED_INPUT'
  | 'EMPTY'
  | 'UNKNOWN_FORMAT'
  | 'BAD_HEADER'

/** A problem with the input as a whole (missing, unreadable, undecodable): the message says what to do. */
export class InputError extends Error {
  override readonly name = 'InputError'
  constructor(
    readonly code: InputErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/** A database error a user can act on; commands print its message without a stack trace. */
export class StoreError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.store,
  ) {
    super(message)
  }
}

/** A malformed line under --strict: ingest stops at the first one. */
export class MalformedLineError extends Error {
  constructor(readonly problem: ParseProblem) {
    super(`line ${problem.line}: ${problem.reason}: ${problem.excerpt}`)
  }
}
