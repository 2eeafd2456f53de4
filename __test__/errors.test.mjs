// Bad configuration and bad input get a KavachError with a stable code; nothing takes the process down.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach, KavachError } from '../index.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

const rejectsWith = (promise, code) =>
  assert.rejects(promise, (e) => {
    assert.ok(e instanceof KavachError, `expected a KavachError, got ${e}`)
    assert.equal(e.code, code, e.message)
    return true
  })

describe('configuration errors', () => {
  it('rejects unusable configurations with CONFIG_INVALID', async () => {
    const sqlite = { provider: 'sqlite', url: ':memory:' }
    await rejectsWith(createKavach(undefined), 'CONFIG_INVALID')
    await rejectsWith(createKavach({}), 'CONFIG_INVALID')
    await rejectsWith(createKavach({ database: { provider: 'oracle', url: 'x' }, secret: SECRET }), 'CONFIG_INVALID')
    await rejectsWith(createKavach({ database: { provider: 'postgres' }, secret: SECRET }), 'CONFIG_INVALID')
    await rejectsWith(createKavach({ database: { provider: 'postgres', url: 'mysql://x' }, secret: SECRET }), 'CONFIG_INVALID')
    await rejectsWith(createKavach({ database: sqlite, secret: 'short' }), 'CONFIG_INVALID')
    await rejectsWith(createKavach({ database: sqlite, secret: SECRET, agents: { maxPerOwner: 0 } }), 'CONFIG_INVALID')
    await rejectsWith(createKavach({ database: sqlite, secret: SECRET, agents: { tokenExpiry: 'forever' } }), 'CONFIG_INVALID')
    await rejectsWith(createKavach({ database: { provider: 'sqlite', url: '/no/such/folder/x.db' }, secret: SECRET }), 'CONFIG_INVALID')
    await rejectsWith(createKavach({ database: sqlite, secret: SECRET, plugins: [{ id: 'two-factor', options: { issuer: 'a:b' } }] }), 'CONFIG_INVALID')
    await rejectsWith(createKavach({ database: sqlite, plugins: [{ id: 'two-factor', options: {} }] }), 'CONFIG_INVALID')
    await rejectsWith(createKavach({ database: sqlite, secret: SECRET, emailAndPassword: { enabled: true, sendResetPassword: 'smtp://x' } }), 'CONFIG_INVALID')
    await rejectsWith(createKavach({ database: sqlite, secret: SECRET, emailAndPassword: { enabled: true, verifyLegacyHash: 'bcrypt' } }), 'CONFIG_INVALID')
    await rejectsWith(createKavach({ database: sqlite, secret: SECRET, emailAndPassword: { enabled: true, minPasswordLength: 4 } }), 'CONFIG_INVALID')
    await rejectsWith(createKavach({ database: sqlite, secret: SECRET, basePath: 'api' }), 'CONFIG_INVALID')
    await rejectsWith(createKavach({ database: sqlite, secret: SECRET, trustedOrigins: ['not a url'] }), 'CONFIG_INVALID')
  })

  it('requires a secret outside development and test', async () => {
    const before = process.env.NODE_ENV
    process.env.NODE_ENV = 'production'
    try {
      await rejectsWith(createKavach({ database: { provider: 'sqlite', url: ':memory:' } }), 'CONFIG_INVALID')
    } finally {
      process.env.NODE_ENV = before
    }
    const k = await createKavach({ database: { provider: 'sqlite', url: ':memory:' } })
    await k.close()
  })

  it('an unreachable server is DB_UNREACHABLE, and the password never shows', async () => {
    for (const url of ['postgres://kavach:hunter2-secret@127.0.0.1:1/db', 'mysql://kavach:hunter2-secret@127.0.0.1:1/db']) {
      const provider = url.startsWith('postgres') ? 'postgres' : 'mysql'
      await assert.rejects(createKavach({ database: { provider, url, pool: { acquireTimeout: 2 } }, secret: SECRET }), (e) => {
        assert.equal(e.code, 'DB_UNREACHABLE')
        assert.ok(!e.message.includes('hunter2'), e.message)
        assert.ok(!String(e.stack).includes('hunter2'))
        return true
      })
    }
  })
})

for (const backend of backends()) {
  describe(`boot errors on ${backend}`, () => {
    it('skipMigrations on an empty database fails with MIGRATION_FAILED and says what to run', async () => {
      const database = freshDatabase(backend, 'skip')
      await assert.rejects(createKavach({ database, secret: SECRET, skipMigrations: true }), (e) => {
        assert.equal(e.code, 'MIGRATION_FAILED')
        assert.match(e.message, /kavach-cli migrate/)
        return true
      })
      await rejectsWith(createKavach({ database: { ...database, skipMigrations: true }, secret: SECRET }), 'MIGRATION_FAILED')
    })

    it('a closed instance answers CLOSED; close is idempotent', async () => {
      const k = await createKavach({ database: freshDatabase(backend, 'closed'), secret: SECRET })
      await k.close()
      await k.close()
      await rejectsWith(k.agent.list(), 'CLOSED')
      await rejectsWith(k.authorizeByToken('kv_x', { action: 'a', resource: 'b' }), 'CLOSED')
    })
  })
}

describe('garbage in, typed errors out', () => {
  it('survives random inputs to every call without a crash', async () => {
    const k = await createKavach({ database: { provider: 'sqlite', url: ':memory:' }, secret: SECRET })
    const a = await k.agent.create({ ownerId: 'o', name: 'n', type: 'service', permissions: [{ resource: '*', actions: ['*'] }] })
    let seed = 42
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed / 2 ** 31)
    const values = [undefined, null, 0, -1, 1e308, NaN, '', 'x'.repeat(5000), '\u0000\uffff', [], [1, [2]], {}, { action: 'a' }, { resource: 5 }, true, () => 1, Symbol.iterator === undefined ? 0 : 'sym', new Date(NaN), { toJSON() { throw new Error('boom') } }]
    const pick = () => values[Math.floor(rand() * values.length)]
    const calls = [
      () => k.agent.create(pick()),
      () => k.agent.create({ ownerId: pick(), name: pick(), type: pick(), permissions: pick(), expiresAt: pick(), metadata: pick() }),
      () => k.agent.get(pick()),
      () => k.agent.list(pick()),
      () => k.agent.update(pick(), pick()),
      () => k.agent.update(a.id, { permissions: [{ resource: pick(), actions: [pick()], constraints: pick() }] }),
      () => k.agent.revoke(pick()),
      () => k.agent.rotate(pick()),
      () => k.authorize(pick(), pick()),
      () => k.authorizeByToken(pick(), pick()),
      () => k.authorizeByToken(a.token, { action: 'x', resource: 'y', arguments: pick(), ip: pick() }),
      () => k.audit.query(pick()),
      () => k.audit.export(pick()),
    ]
    for (let i = 0; i < 600; i++) {
      const fn = calls[Math.floor(rand() * calls.length)]
      try {
        await fn()
      } catch (e) {
        assert.ok(e instanceof KavachError, `call ${i} threw ${e && e.stack}`)
        assert.match(e.code, /^[A-Z_]+$/)
      }
    }
    // Still healthy afterwards.
    assert.equal((await k.authorizeByToken(a.token, { action: 'x', resource: 'y' })).allowed, true)
    await k.close()
  })
})
