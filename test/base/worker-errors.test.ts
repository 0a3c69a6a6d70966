// Errors from a worker thread come back as the classes the commands map to exit codes.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {revive, serialize} from '../../src/base/worker-errors.js'
import {InputError, StoreError} from '../../src/base/errors.js'

test('a StoreError keeps its class and exit code across the thread boundary, an InputError its code', () => {
  // structuredClone is what postMessage does to the serialized form
  const store = revive(structuredClone(serialize(new StoreError('cannot open database x', 3))))
  assert.ok(store instanceof StoreError)
  assert.equal(store.exitCode, 3)
  assert.equal(store.message, 'cannot open database x')
  const input = revive(structuredClone(serialize(new InputError('NOT_FOUND', 'no such file'))))
  assert.ok(input instanceof InputError)
  assert.equal(input.code, 'NOT_FOUND')
  const plain = revive(structuredClone(serialize(Object.assign(new Error('busy'), {code: 'SQLITE_BUSY'}))))
  assert.equal((plain as NodeJS.ErrnoException).code, 'SQLITE_BUSY')
  assert.ok(!(plain instanceof StoreError))
})
