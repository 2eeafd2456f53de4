// ESM and CommonJS load the same module, with every export present.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname } from 'node:path'
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

  it("loads the addon this checkout built, never one from node_modules or another folder", () => {
    require('../binding.js')
    assert.equal(process.env.NAPI_RS_NATIVE_LIBRARY_PATH, undefined, 'no override of the addon path in tests')
    const root = realpathSync(fileURLToPath(new URL('..', import.meta.url)))
    const loaded = process.report.getReport().sharedObjects.filter((p) => /kavachos[^/]*\.node$/.test(p))
    assert.equal(loaded.length, 1, `one addon loaded: ${loaded.join(', ')}`)
    assert.equal(dirname(realpathSync(loaded[0])), root, `${loaded[0]} is the build in this checkout`)
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
