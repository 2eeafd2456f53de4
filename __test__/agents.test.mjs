// agent.create/get/list/update/revoke/rotate against the built addon, on every database.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync, existsSync } from 'node:fs'
import { createKavach, KavachError } from '../index.mjs'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'

const sha256 = (s) => createHash('sha256').update(s).digest('hex')
const perms = [{ resource: 'app:read:*', actions: ['read'] }]

for (const backend of backends()) {
  describe(`agents on ${backend}`, () => {
    const database = freshDatabase(backend, 'agents')
    let kavach
    before(async () => {
      kavach = await createKavach({ database, secret: SECRET, agents: { maxPerOwner: 3 } })
    })
    after(() => kavach.close())

    it('create returns the token once; get and list never do', async () => {
      const a = await kavach.agent.create({ ownerId: 'u1', name: 'one', type: 'service', permissions: perms, metadata: { team: 'x' } })
      assert.match(a.token, /^kv_/)
      assert.equal(a.tokenPrefix, a.token.slice(0, 11))
      assert.equal(a.status, 'active')
      assert.ok(a.createdAt instanceof Date)
      assert.equal(a.expiresAt, null)
      assert.deepEqual(a.metadata, { team: 'x' })
      const got = await kavach.agent.get(a.id)
      assert.equal('token' in got, false)
      const listed = await kavach.agent.list({ ownerId: 'u1' })
      assert.equal(listed.length, 1)
      assert.equal('token' in listed[0], false)
      assert.equal(await kavach.agent.get('missing'), null)
    })

    it('stores only the SHA-256 of the token', async () => {
      const a = await kavach.agent.create({ ownerId: 'u-hash', name: 'h', type: 'autonomous', permissions: perms })
      if (backend === 'sqlite') {
        await kavach.authorizeByToken(a.token, { action: 'read', resource: 'app:read:x' }) // force a commit through the writer too
        const bytes = ['', '-wal'].map((s) => database.url + s).filter(existsSync).map((f) => readFileSync(f).toString('latin1')).join('')
        assert.ok(!bytes.includes(a.token), 'the clear token is nowhere in the database files')
        assert.ok(bytes.includes(sha256(a.token)), 'its SHA-256 is')
      } else {
        const stored = sql(database, `SELECT token_hash FROM kavach_agents WHERE id = '${a.id}'`)
        assert.equal(stored, sha256(a.token))
        const leaked = sql(database, `SELECT COUNT(*) FROM kavach_agents WHERE token_hash = '${a.token}' OR token_prefix = '${a.token}'`)
        assert.equal(leaked, '0')
      }
    })

    it('update patches fields and validates them', async () => {
      const a = await kavach.agent.create({ ownerId: 'u2', name: 'before', type: 'autonomous', permissions: perms })
      const later = new Date(Date.now() + 86_400_000)
      const b = await kavach.agent.update(a.id, { name: 'after', expiresAt: later, permissions: [{ resource: '*', actions: ['*'] }] })
      assert.equal(b.name, 'after')
      assert.equal(b.expiresAt.getTime(), later.getTime())
      assert.deepEqual(b.permissions, [{ resource: '*', actions: ['*'] }])
      const c = await kavach.agent.update(a.id, { expiresAt: null })
      assert.equal(c.expiresAt, null)
      await assert.rejects(kavach.agent.update(a.id, { permissions: [{ resource: 'a::b', actions: ['x'] }] }), { code: 'VALIDATION_FAILED' })
      await assert.rejects(kavach.agent.update(a.id, { status: 'active' }), { code: 'VALIDATION_FAILED' })
      await assert.rejects(kavach.agent.update('nope', { name: 'x' }), { code: 'NOT_FOUND' })
    })

    it('revoke keeps the row, rotate refuses a revoked agent', async () => {
      const a = await kavach.agent.create({ ownerId: 'u3', name: 'r', type: 'delegated', permissions: perms })
      await kavach.agent.revoke(a.id)
      await kavach.agent.revoke(a.id) // idempotent
      assert.equal((await kavach.agent.get(a.id)).status, 'revoked')
      assert.equal((await kavach.agent.list({ ownerId: 'u3', status: 'revoked' })).length, 1)
      assert.equal((await kavach.agent.list({ ownerId: 'u3', status: 'active' })).length, 0)
      await assert.rejects(kavach.agent.rotate(a.id), (e) => e instanceof KavachError && e.code === 'CONFLICT')
      await assert.rejects(kavach.agent.revoke('nope'), { code: 'NOT_FOUND' })
    })

    it('rotate issues a new token and keeps the expiry', async () => {
      const expiresAt = new Date(Date.now() + 3_600_000)
      const a = await kavach.agent.create({ ownerId: 'u4', name: 'r', type: 'autonomous', permissions: perms, expiresAt })
      const b = await kavach.agent.rotate(a.id)
      assert.notEqual(b.token, a.token)
      assert.equal(b.expiresAt.getTime(), expiresAt.getTime())
      assert.equal((await kavach.authorizeByToken(a.token, { action: 'read', resource: 'app:read:x' })).code, 'INVALID_TOKEN')
      assert.equal((await kavach.authorizeByToken(b.token, { action: 'read', resource: 'app:read:x' })).allowed, true)
    })

    it('the per-owner limit counts active agents only', async () => {
      const made = []
      for (let i = 0; i < 3; i++) made.push(await kavach.agent.create({ ownerId: 'u5', name: `a${i}`, type: 'autonomous', permissions: perms }))
      await assert.rejects(kavach.agent.create({ ownerId: 'u5', name: 'x', type: 'autonomous', permissions: perms }), { code: 'AGENT_LIMIT_REACHED' })
      await kavach.agent.revoke(made[0].id)
      const again = await kavach.agent.create({ ownerId: 'u5', name: 'x', type: 'autonomous', permissions: perms })
      assert.equal(again.status, 'active')
    })

    it('filters the list by type and rejects unknown filters', async () => {
      await kavach.agent.create({ ownerId: 'u6', name: 's', type: 'service', permissions: perms })
      await kavach.agent.create({ ownerId: 'u6', name: 'a', type: 'autonomous', permissions: perms })
      const services = await kavach.agent.list({ ownerId: 'u6', type: 'service' })
      assert.deepEqual(services.map((a) => a.name), ['s'])
      await assert.rejects(kavach.agent.list({ owner: 'u6' }), { code: 'VALIDATION_FAILED' })
      await assert.rejects(kavach.agent.list({ status: 'paused' }), { code: 'VALIDATION_FAILED' })
    })

    it('rejects bad input with VALIDATION_FAILED', async () => {
      const bad = [
        {},
        { ownerId: 'u', name: 'n', type: 'robot', permissions: perms },
        { ownerId: '', name: 'n', type: 'service', permissions: perms },
        { ownerId: 'u', name: 'n', type: 'service', permissions: [{ resource: 'x', actions: [] }] },
        { ownerId: 'u', name: 'n', type: 'service', permissions: [{ resource: 'x', actions: ['a'], constraints: { maxCallsPerHour: -1 } }] },
        { ownerId: 'u', name: 'n', type: 'service', permissions: [{ resource: 'x', actions: ['a'], constraints: { ipAllowlist: ['300.1.1.1'] } }] },
        { ownerId: 'u', name: 'n', type: 'service', permissions: perms, expiresAt: new Date(Date.now() - 1000) },
        { ownerId: 'u', name: 'n', type: 'service', permissions: perms, expiresAt: 'not a date' },
        { ownerId: 'u', name: 'n', type: 'service', permissions: perms, metadata: [1, 2] },
        { ownerId: 'u'.repeat(300), name: 'n', type: 'service', permissions: perms },
      ]
      for (const input of bad) {
        await assert.rejects(kavach.agent.create(input), { code: 'VALIDATION_FAILED' }, JSON.stringify(input))
      }
      await assert.rejects(kavach.agent.create(null), { code: 'VALIDATION_FAILED' })
      await assert.rejects(kavach.agent.get(42), { code: 'VALIDATION_FAILED' })
    })
  })
}
