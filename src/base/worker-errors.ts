// Errors crossing from a worker thread (ingest's parser, replay's result writer) to the main thread: structured
// clone keeps only plain data, so they travel as fields and are rebuilt as the classes callers check for.
import {InputError, MalformedLineError, StoreError, type InputErrorCode} from './errors.js'

export interface SerializedError {
  name: string
  message: string
  stack?: string
  code?: string
  problem?: MalformedLineError['problem']
  exitCode?: number
}

export function serialize(err: unknown): SerializedError {
  if (!(err instanceof Error)) return {name: 'Error', message: String(err)}
  const e = err as Error & {code?: unknown}
  return {
    name: err instanceof MalformedLineError ? 'MalformedLineError' : err.name,
    message: err.message,
    stack: err.stack,
    code: typeof e.code === 'string' ? e.code : undefined,
    problem: err instanceof MalformedLineError ? err.problem : undefined,
    exitCode: err instanceof StoreError ? err.exitCode : undefined,
  }
}

/** The worker's error as the class the callers check for (InputError, MalformedLineError, StoreError), else a plain Error. */
export function revive(e: SerializedError): Error {
  let err: Error
  if (e.name === 'MalformedLineError' && e.problem !== undefined) err = new MalformedLineError(e.problem)
  else if (e.name === 'InputError' && e.code !== undefined) err = new InputError(e.code as InputErrorCode, e.message)
  else if (e.exitCode !== undefined) err = new StoreError(e.message, e.exitCode)
  else {
    err = new Error(e.message)
    if (e.name !== 'Error') err.name = e.name
    if (e.code !== undefined) (err as NodeJS.ErrnoException).code = e.code
  }
  if (e.stack !== undefined) err.stack = e.stack
  return err
}
