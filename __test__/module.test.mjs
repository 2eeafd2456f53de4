// ESM and CommonJS load the same module, with every export present.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import * as esm from '../index.mjs'
import esmDefault from '../index.mjs'

const require = createRequire(import.meta.url)

describe('module formats', () => {
  it('require and import give the same exports', () => {
    const cjs = require('../index.js')
    for (const name of ['createKavach', 'KavachError', 'migrate', 'importBetterAuth']) {
      assert.equal(typeof cjs[name], 'function', name)
      assert.equal(esm[name], cjs[name], name)
    }
    assert.equal(esmDefault, cjs)
  })

  it('resolves by package name through the exports map, both ways', async () => {
    const byName = await import('kavachos')
    assert.equal(byName.createKavach, esm.createKavach)
    assert.equal(require('kavachos').createKavach, esm.createKavach)
  })

  it('KavachError is an Error with a code', () => {
    const e = new esm.KavachError('NOT_FOUND', 'x')
    assert.ok(e instanceof Error)
    assert.equal(e.name, 'KavachError')
    assert.equal(e.code, 'NOT_FOUND')
  })
})
