// authorize / authorizeByToken: patterns, constraints, audit-before-resolve, and several instances
// sharing one database, on every database.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach } from '../index.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

for (const backend of backends()) {
  describe(`authorization on ${backend}`, () => {
    const database = freshDatabase(backend, 'authz')
    let kavach
    let other // a second instance on the same database, as a second Next.js worker would hold
    before(async () => {
      kavach = await createKavach({ database, secret: SECRET })
      other = await createKavach({ database, secret: SECRET, shareInstance: false })
    })
    after(async () => {
      await kavach.close()
      await other.close()
    })

    const create = (permissions, extra = {}) =>
      kavach.agent.create({ ownerId: `owner-${Math.random()}`, name: 'a', type: 'autonomous', permissions, ...extra })

    it('follows the documented wildcard rules', async () => {
      const a = await create([{ resource: 'mcp:github:*', actions: ['read'] }, { resource: 'tool:*:exec', actions: ['*'] }])
      const check = async (action, resource) => (await kavach.authorizeByToken(a.token, { action, resource })).allowed
      assert.equal(await check('read', 'mcp:github:repos'), true)
      assert.equal(await check('read', 'mcp:github:repos:pulls'), true)
      assert.equal(await check('read', 'mcp:github'), false)
      assert.equal(await check('write', 'mcp:github:repos'), false)
      assert.equal(await check('anything', 'tool:shell:exec'), true)
      assert.equal(await check('anything', 'tool:a:b:exec'), false)
    })

    it('denials carry a code, a reason and an audit id; authorize(id) checks like authorizeByToken', async () => {
      const a = await create([{ resource: 'docs:*', actions: ['read'], constraints: { requireApproval: true } }])
      const byToken = await kavach.authorizeByToken(a.token, { action: 'read', resource: 'docs:1' })
      const byId = await kavach.authorize(a.id, { action: 'read', resource: 'docs:1' })
      for (const d of [byToken, byId]) {
        assert.equal(d.allowed, false)
        assert.equal(d.code, 'APPROVAL_REQUIRED')
        assert.equal(typeof d.reason, 'string')
        assert.equal(typeof d.auditId, 'string')
      }
      const unknown = await kavach.authorize('no-such-agent', { action: 'read', resource: 'docs:1' })
      assert.deepEqual([unknown.allowed, unknown.code, unknown.auditId], [false, 'AGENT_NOT_FOUND', null])
      assert.equal((await kavach.authorizeByToken(undefined, { action: 'read', resource: 'x' })).code, 'INVALID_TOKEN')
    })

    it('applies IP allowlists, argument patterns and hourly limits', async () => {
      const a = await create([
        { resource: 'net:*', actions: ['call'], constraints: { ipAllowlist: ['192.168.0.0/16', '2001:db8::/32'] } },
        { resource: 'fs:read', actions: ['call'], constraints: { allowedArgPatterns: ['^/srv/'] } },
        { resource: 'search', actions: ['call'], constraints: { maxCallsPerHour: 3 } },
      ])
      const d = (req) => kavach.authorize(a.id, { action: 'call', ...req })
      assert.equal((await d({ resource: 'net:x', ip: '192.168.7.7' })).allowed, true)
      assert.equal((await d({ resource: 'net:x', ip: '::ffff:192.168.7.7' })).allowed, true)
      assert.equal((await d({ resource: 'net:x', ip: '2001:db8::5' })).allowed, true)
      assert.equal((await d({ resource: 'net:x', ip: '8.8.8.8' })).code, 'IP_NOT_ALLOWED')
      assert.equal((await d({ resource: 'net:x' })).code, 'IP_NOT_ALLOWED')
      assert.equal((await d({ resource: 'fs:read', arguments: { path: '/srv/data' } })).allowed, true)
      assert.equal((await d({ resource: 'fs:read', arguments: { path: '/etc/shadow' } })).code, 'ARGUMENT_REJECTED')
      assert.equal((await d({ resource: 'fs:read', arguments: { nested: { list: ['/srv/a', '/root'] } } })).code, 'ARGUMENT_REJECTED')
      const results = await Promise.all(Array.from({ length: 10 }, () => d({ resource: 'search' })))
      assert.equal(results.filter((r) => r.allowed).length, 3)
      assert.ok(results.filter((r) => !r.allowed).every((r) => r.code === 'RATE_LIMITED'))
      const [row] = await kavach.audit.query({ agentId: a.id, actions: ['call'], result: 'denied', limit: 1 })
      assert.equal(row.code, 'RATE_LIMITED')
    })

    it('a time window outside the current UTC time denies', async () => {
      const now = new Date()
      const hh = (h) => String(((h % 24) + 24) % 24).padStart(2, '0')
      const a = await create([
        { resource: 'later', actions: ['x'], constraints: { timeWindow: { start: `${hh(now.getUTCHours() + 2)}:00`, end: `${hh(now.getUTCHours() + 3)}:00` } } },
        { resource: 'now', actions: ['x'], constraints: { timeWindow: { start: `${hh(now.getUTCHours() - 1)}:00`, end: `${hh(now.getUTCHours() + 1)}:59` } } },
      ])
      assert.equal((await kavach.authorize(a.id, { action: 'x', resource: 'later' })).code, 'OUTSIDE_TIME_WINDOW')
      assert.equal((await kavach.authorize(a.id, { action: 'x', resource: 'now' })).allowed, true)
    })

    it('every decision is committed before its promise resolves, also 500 at once', async () => {
      const a = await create([{ resource: 'bulk:*', actions: ['go'] }])
      const results = await Promise.all(
        Array.from({ length: 500 }, (_, i) => (i % 2 ? kavach.authorizeByToken(a.token, { action: 'go', resource: `bulk:${i}` }) : kavach.authorize(a.id, { action: i % 4 ? 'go' : 'stop', resource: `bulk:${i}` }))),
      )
      // Read through the other instance: its own connections see only what was committed.
      const rows = await other.audit.query({ agentId: a.id, limit: 10_000 })
      assert.equal(rows.length, 500)
      const ids = new Set(rows.map((r) => r.id))
      assert.ok(results.every((r) => ids.has(r.auditId)))
      assert.equal(rows.filter((r) => r.result === 'allowed').length, results.filter((r) => r.allowed).length)
    })

    it('a revoke or rotate through one instance holds for the very next call through another', async () => {
      const a = await create([{ resource: '*', actions: ['*'] }])
      assert.equal((await other.authorizeByToken(a.token, { action: 'x', resource: 'y' })).allowed, true)
      const rotated = await kavach.agent.rotate(a.id)
      assert.equal((await other.authorizeByToken(a.token, { action: 'x', resource: 'y' })).code, 'INVALID_TOKEN')
      assert.equal((await other.authorizeByToken(rotated.token, { action: 'x', resource: 'y' })).allowed, true)
      await kavach.agent.revoke(a.id)
      assert.equal((await other.authorizeByToken(rotated.token, { action: 'x', resource: 'y' })).code, 'AGENT_REVOKED')
      assert.equal((await other.authorize(a.id, { action: 'x', resource: 'y' })).code, 'AGENT_REVOKED')
    })

    it('expired agents are denied by both calls and listed as expired', async () => {
      const a = await create([{ resource: '*', actions: ['*'] }], { expiresAt: Date.now() + 300 })
      assert.equal((await kavach.authorize(a.id, { action: 'x', resource: 'y' })).allowed, true)
      await new Promise((r) => setTimeout(r, 350))
      assert.equal((await kavach.authorize(a.id, { action: 'x', resource: 'y' })).code, 'AGENT_EXPIRED')
      assert.equal((await kavach.authorizeByToken(a.token, { action: 'x', resource: 'y' })).code, 'AGENT_EXPIRED')
      assert.equal((await kavach.agent.get(a.id)).status, 'expired')
    })

    it('a malformed request rejects with VALIDATION_FAILED instead of deciding', async () => {
      const a = await create([{ resource: '*', actions: ['*'] }])
      for (const req of [null, {}, { action: 'x' }, { action: 1, resource: 'y' }, { action: '', resource: 'y' }, { action: 'x', resource: 'y', ip: 5 }]) {
        await assert.rejects(kavach.authorizeByToken(a.token, req), { code: 'VALIDATION_FAILED' }, JSON.stringify(req))
        await assert.rejects(kavach.authorize(a.id, req), { code: 'VALIDATION_FAILED' })
      }
    })

    it('audit export gives JSON and CSV of the same rows', async () => {
      const a = await create([{ resource: 'exp', actions: ['x'] }])
      await kavach.authorize(a.id, { action: 'x', resource: 'exp', arguments: { q: 'a,b "c"' } })
      await kavach.authorize(a.id, { action: 'y', resource: 'exp' })
      const json = JSON.parse(await kavach.audit.export({ format: 'json', agentId: a.id }))
      assert.equal(json.length, 2)
      assert.match(json[0].timestamp, /^\d{4}-\d\d-\d\dT/)
      const csv = await kavach.audit.export({ format: 'csv', agentId: a.id })
      const lines = csv.trim().split('\n')
      assert.equal(lines[0], 'id,agentId,userId,action,resource,result,code,reason,ip,durationMs,timestamp')
      assert.equal(lines.length, 3)
      await assert.rejects(kavach.audit.export({ format: 'xml' }), { code: 'VALIDATION_FAILED' })
      const since = await kavach.audit.query({ agentId: a.id, since: new Date(Date.now() + 60_000) })
      assert.equal(since.length, 0)
    })
  })
}
