// Delegation chains: a subset of the delegator's permissions, refused when wider; chained up to
// maxDepth; authorize allows through live links and records the chain in the audit row; revoking
// or expiring a link (or revoking a delegating agent) cuts everything below it at once, also for
// another process on the same database. On every database.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach } from '../index.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

const T = { timeout: 60_000 }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

for (const backend of backends()) {
  describe(`delegation chains on ${backend}`, { timeout: 300_000 }, () => {
    const database = freshDatabase(backend, 'deleg')
    let kavach
    let other
    before(async () => {
      kavach = await createKavach({ database, secret: SECRET, agents: { maxPerOwner: 100 } })
      other = await createKavach({ database, secret: SECRET, shareInstance: false, agents: { maxPerOwner: 100 } })
    })
    after(async () => {
      await kavach?.close()
      await other?.close()
    })

    const agent = (permissions = []) =>
      kavach.agent.create({ ownerId: 'owner-1', name: `a-${Math.random()}`, type: 'delegated', permissions: permissions.length ? permissions : [{ resource: 'nothing:here', actions: ['none'] }] })
    const allowed = async (k, id, action, resource) => (await k.authorize(id, { action, resource })).allowed

    it('a subset is delegated and allows; a wider one is refused; the audit row names the chain', T, async () => {
      const root = await agent([{ resource: 'mcp:github:*', actions: ['read', 'write'] }])
      const helper = await agent()
      assert.equal(await allowed(kavach, helper.id, 'read', 'mcp:github:repos'), false)

      const link = await kavach.delegation.create({ fromAgentId: root.id, toAgentId: helper.id, permissions: [{ resource: 'mcp:github:repos', actions: ['read'] }] })
      assert.equal(link.depth, 1)
      assert.equal(link.maxDepth, 3)
      assert.equal(link.parentId, null)
      assert.equal(link.status, 'active')
      assert.ok(link.createdAt instanceof Date)

      const d = await kavach.authorize(helper.id, { action: 'read', resource: 'mcp:github:repos' })
      assert.equal(d.allowed, true)
      const row = (await kavach.audit.query({ agentId: helper.id })).find((r) => r.id === d.auditId)
      assert.deepEqual(row.delegationChain, [link.id])
      // By token too, and from another process.
      assert.equal((await other.authorizeByToken(helper.token, { action: 'read', resource: 'mcp:github:repos' })).allowed, true)
      // Only what was delegated.
      assert.equal(await allowed(kavach, helper.id, 'write', 'mcp:github:repos'), false)
      assert.equal(await allowed(kavach, helper.id, 'read', 'mcp:github:issues'), false)
      const denied = (await kavach.audit.query({ agentId: helper.id, result: 'denied' }))[0]
      assert.equal(denied.delegationChain, undefined)

      for (const wider of [
        [{ resource: 'mcp:github:*', actions: ['delete'] }],
        [{ resource: 'mcp:*', actions: ['read'] }],
        [{ resource: 'mcp:github:repos', actions: ['*'] }],
        [{ resource: '*', actions: ['read'] }],
      ]) {
        await assert.rejects(kavach.delegation.create({ fromAgentId: root.id, toAgentId: helper.id, permissions: wider }), (e) => e.code === 'DELEGATION_NOT_SUBSET', JSON.stringify(wider))
      }
      await assert.rejects(kavach.delegation.create({ fromAgentId: root.id, toAgentId: root.id, permissions: [{ resource: 'mcp:github:repos', actions: ['read'] }] }), (e) => e.code === 'VALIDATION_FAILED')
      await assert.rejects(kavach.delegation.create({ fromAgentId: root.id, toAgentId: 'nobody', permissions: [{ resource: 'mcp:github:repos', actions: ['read'] }] }), (e) => e.code === 'NOT_FOUND')
      // A permission with constraints is delegated only with the same constraints.
      const gatedRoot = await agent([{ resource: 'deploy:*', actions: ['run'], constraints: { requireApproval: true } }])
      await assert.rejects(kavach.delegation.create({ fromAgentId: gatedRoot.id, toAgentId: helper.id, permissions: [{ resource: 'deploy:prod', actions: ['run'] }] }), (e) => e.code === 'DELEGATION_NOT_SUBSET')
    })

    it('chains up to maxDepth, each link a subset of its parent; deeper is refused', T, async () => {
      const a = await agent([{ resource: 'files:*', actions: ['read', 'write'] }])
      const b = await agent()
      const c = await agent()
      const d = await agent()
      const ab = await kavach.delegation.create({ fromAgentId: a.id, toAgentId: b.id, permissions: [{ resource: 'files:*', actions: ['read'] }], maxDepth: 2 })
      // b holds nothing of its own: what it passes on must come from ab.
      await assert.rejects(kavach.delegation.create({ fromAgentId: b.id, toAgentId: c.id, permissions: [{ resource: 'files:*', actions: ['write'] }] }), (e) => e.code === 'DELEGATION_NOT_SUBSET')
      const bc = await kavach.delegation.create({ fromAgentId: b.id, toAgentId: c.id, permissions: [{ resource: 'files:reports:*', actions: ['read'] }], maxDepth: 5 })
      assert.equal(bc.depth, 2)
      assert.equal(bc.parentId, ab.id)
      assert.equal(bc.maxDepth, 2, 'never deeper than the parent allows')
      const r = await kavach.authorize(c.id, { action: 'read', resource: 'files:reports:q3' })
      assert.equal(r.allowed, true)
      const row = (await kavach.audit.query({ agentId: c.id })).find((x) => x.id === r.auditId)
      assert.deepEqual(row.delegationChain, [ab.id, bc.id])
      assert.equal(await allowed(kavach, c.id, 'read', 'files:secrets'), false)
      await assert.rejects(
        kavach.delegation.create({ fromAgentId: c.id, toAgentId: d.id, permissions: [{ resource: 'files:reports:q3', actions: ['read'] }] }),
        (e) => e.code === 'DELEGATION_DEPTH_EXCEEDED',
      )
      const listed = await kavach.delegation.list({ agentId: b.id })
      assert.deepEqual(listed.map((x) => x.id).sort(), [ab.id, bc.id].sort())
      await assert.rejects(kavach.delegation.create({ fromAgentId: a.id, toAgentId: b.id, permissions: [{ resource: 'files:x', actions: ['read'] }], maxDepth: 11 }), (e) => e.code === 'VALIDATION_FAILED')
    })

    it('revoking a link, or the delegating agent, cuts everything below it at once, in every process', T, async () => {
      const a = await agent([{ resource: 'db:*', actions: ['query'] }])
      const b = await agent()
      const c = await agent()
      const ab = await kavach.delegation.create({ fromAgentId: a.id, toAgentId: b.id, permissions: [{ resource: 'db:*', actions: ['query'] }] })
      const bc = await kavach.delegation.create({ fromAgentId: b.id, toAgentId: c.id, permissions: [{ resource: 'db:analytics', actions: ['query'] }] })
      assert.equal(await allowed(other, c.id, 'query', 'db:analytics'), true)
      await kavach.delegation.revoke(ab.id)
      assert.equal(await allowed(other, b.id, 'query', 'db:analytics'), false)
      assert.equal(await allowed(other, c.id, 'query', 'db:analytics'), false, 'the link below is cut too')
      const listed = await kavach.delegation.list({ agentId: c.id })
      assert.equal(listed.find((x) => x.id === bc.id).status, 'revoked')
      await kavach.delegation.revoke(ab.id) // idempotent
      await assert.rejects(kavach.delegation.revoke('no-such-link'), (e) => e.code === 'NOT_FOUND')

      const x = await agent([{ resource: 'mail:*', actions: ['send'] }])
      const y = await agent()
      await kavach.delegation.create({ fromAgentId: x.id, toAgentId: y.id, permissions: [{ resource: 'mail:*', actions: ['send'] }] })
      assert.equal(await allowed(kavach, y.id, 'send', 'mail:out'), true)
      await kavach.agent.revoke(x.id)
      assert.equal(await allowed(other, y.id, 'send', 'mail:out'), false, 'a revoked delegator delegates nothing')
    })

    it('NUL and control characters in ids are VALIDATION_FAILED before any SQL, on every call', T, async () => {
      const bad = 'a\u0000b'
      const a = await agent([{ resource: 'x:*', actions: ['read'] }])
      const calls = [
        () => kavach.delegation.create({ fromAgentId: bad, toAgentId: a.id, permissions: [{ resource: 'x:y', actions: ['read'] }] }),
        () => kavach.delegation.create({ fromAgentId: a.id, toAgentId: 'b\u0007', permissions: [{ resource: 'x:y', actions: ['read'] }] }),
        () => kavach.delegation.revoke(bad),
        () => kavach.delegation.list({ agentId: bad }),
        () => kavach.approvals.get(bad),
        () => kavach.approvals.approve(bad),
        () => kavach.approvals.list({ ownerId: bad }),
        () => kavach.trust.score(bad),
      ]
      for (const c of calls) await assert.rejects(c(), (e) => e.code === 'VALIDATION_FAILED', c.toString())
    })

    it('an expired link allows nothing, nor anything below it', T, async () => {
      const a = await agent([{ resource: 'cache:*', actions: ['flush'] }])
      const b = await agent()
      const c = await agent()
      await kavach.delegation.create({ fromAgentId: a.id, toAgentId: b.id, permissions: [{ resource: 'cache:*', actions: ['flush'] }], expiresAt: new Date(Date.now() + 1000) })
      const bc = await kavach.delegation.create({ fromAgentId: b.id, toAgentId: c.id, permissions: [{ resource: 'cache:eu', actions: ['flush'] }], expiresAt: new Date(Date.now() + 60_000) })
      assert.ok(bc.expiresAt.getTime() <= Date.now() + 1000, 'a link never outlives its parent')
      assert.equal(await allowed(kavach, c.id, 'flush', 'cache:eu'), true)
      await sleep(1100)
      assert.equal(await allowed(kavach, b.id, 'flush', 'cache:eu'), false)
      assert.equal(await allowed(kavach, c.id, 'flush', 'cache:eu'), false)
      await assert.rejects(kavach.delegation.create({ fromAgentId: a.id, toAgentId: b.id, permissions: [{ resource: 'cache:x', actions: ['flush'] }], expiresAt: new Date(Date.now() - 1000) }), (e) => e.code === 'VALIDATION_FAILED')
    })
  })
}
