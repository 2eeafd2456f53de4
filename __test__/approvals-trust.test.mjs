// Approvals (requireApproval: pending -> approved -> allowed once; denied; expired; reused until
// they expire when configured; over HTTP for the agent's owner only) and trust scores (the
// documented formula on a real audit trail; minTrust), on every database.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach } from '../index.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

const T = { timeout: 60_000 }
const ORIGIN = 'http://127.0.0.1:4321'
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

for (const backend of backends()) {
  describe(`approvals and trust on ${backend}`, { timeout: 300_000 }, () => {
    const database = freshDatabase(backend, 'approvals')
    const events = []
    let kavach
    let other // a second process's instance on the same database
    before(async () => {
      const listener = (name) => (e) => void events.push({ name, ...e })
      kavach = await createKavach({
        database,
        secret: SECRET,
        baseUrl: ORIGIN,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        rateLimit: { enabled: false },
        agents: { maxPerOwner: 100 },
        hooks: { events: Object.fromEntries(['approval.requested', 'approval.approved', 'approval.denied'].map((n) => [n, listener(n)])) },
      })
      other = await createKavach({ database, secret: SECRET, baseUrl: ORIGIN, shareInstance: false, agents: { maxPerOwner: 100 } })
    })
    after(async () => {
      await kavach?.close()
      await other?.close()
    })

    const GATED = [{ resource: 'deploy:*', actions: ['run'], constraints: { requireApproval: true } }]
    const create = (permissions = GATED, ownerId = `owner-${Math.random()}`) =>
      kavach.agent.create({ ownerId, name: 'deployer', type: 'autonomous', permissions })
    const eventually = async (what) => {
      for (let i = 0; i < 100; i++) {
        if (what()) return
        await sleep(20)
      }
      assert.fail('the event never came')
    }

    it('pending -> approved -> allowed once; the same request waits on the same approval', T, async () => {
      const a = await create()
      const req = { action: 'run', resource: 'deploy:prod', arguments: { version: '1.2.3' } }
      const first = await kavach.authorize(a.id, req)
      assert.equal(first.allowed, false)
      assert.equal(first.code, 'APPROVAL_REQUIRED')
      assert.equal(typeof first.approvalId, 'string')
      assert.equal(typeof first.auditId, 'string')
      // Asking again (also from another process) names the same approval: one per request.
      assert.equal((await kavach.authorizeByToken(a.token, req)).approvalId, first.approvalId)
      assert.equal((await other.authorize(a.id, req)).approvalId, first.approvalId)
      const listed = await kavach.approvals.list({ ownerId: a.ownerId })
      assert.equal(listed.length, 1)
      assert.equal(listed[0].id, first.approvalId)
      assert.equal(listed[0].status, 'pending')
      assert.deepEqual(listed[0].arguments, { version: '1.2.3' })
      assert.ok(listed[0].expiresAt instanceof Date)
      await eventually(() => events.some((e) => e.name === 'approval.requested' && e.data.id === first.approvalId))
      assert.equal(events.filter((e) => e.name === 'approval.requested' && e.data.id === first.approvalId).length, 1)

      // Other arguments are another request.
      const other2 = await kavach.authorize(a.id, { ...req, arguments: { version: '9.9.9' } })
      assert.notEqual(other2.approvalId, first.approvalId)

      const approved = await kavach.approvals.approve(first.approvalId, { decidedBy: 'alice' })
      assert.equal(approved.status, 'approved')
      assert.equal(approved.decidedBy, 'alice')
      assert.ok(approved.decidedAt instanceof Date)
      await eventually(() => events.some((e) => e.name === 'approval.approved' && e.data.id === first.approvalId))
      await assert.rejects(kavach.approvals.approve(first.approvalId), (e) => e.code === 'CONFLICT')

      // The agent's retry passes once, audited as approved; the next one needs a new approval.
      const retry = await other.authorize(a.id, req)
      assert.equal(retry.allowed, true, JSON.stringify(retry))
      const row = (await kavach.audit.query({ agentId: a.id })).find((r) => r.id === retry.auditId)
      assert.equal(row.result, 'allowed')
      assert.match(row.reason, new RegExp(first.approvalId))
      assert.equal((await kavach.approvals.get(first.approvalId)).status, 'used')
      const again = await kavach.authorize(a.id, req)
      assert.equal(again.code, 'APPROVAL_REQUIRED')
      assert.notEqual(again.approvalId, first.approvalId)
      // The other request was never approved.
      assert.equal((await kavach.authorize(a.id, { ...req, arguments: { version: '9.9.9' } })).allowed, false)
    })

    it('an approval is used once even by ten concurrent retries', T, async () => {
      const a = await create()
      const req = { action: 'run', resource: 'deploy:staging' }
      const { approvalId } = await kavach.authorize(a.id, req)
      await kavach.approvals.approve(approvalId)
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : kavach).authorize(a.id, req)))
      assert.equal(results.filter((r) => r.allowed).length, 1, JSON.stringify(results.map((r) => r.code)))
      assert.ok(results.filter((r) => !r.allowed).every((r) => r.code === 'APPROVAL_REQUIRED'))
    })

    it('a denied approval allows nothing; a retry files a new one', T, async () => {
      const a = await create()
      const req = { action: 'run', resource: 'deploy:prod' }
      const { approvalId } = await kavach.authorize(a.id, req)
      const denied = await kavach.approvals.deny(approvalId, { decidedBy: 'bob' })
      assert.equal(denied.status, 'denied')
      await eventually(() => events.some((e) => e.name === 'approval.denied' && e.data.id === approvalId))
      const retry = await kavach.authorize(a.id, req)
      assert.equal(retry.allowed, false)
      assert.equal(retry.code, 'APPROVAL_REQUIRED')
      assert.notEqual(retry.approvalId, approvalId)
      await assert.rejects(kavach.approvals.approve(approvalId), (e) => e.code === 'CONFLICT')
      await assert.rejects(kavach.approvals.approve('no-such-approval'), (e) => e.code === 'NOT_FOUND')
      assert.deepEqual((await kavach.approvals.list({ agentId: a.id, status: 'denied' })).map((x) => x.id), [approvalId])
    })

    it('approvals expire (agents.approvals.expiresIn), pending or approved; reuse: ttl allows every retry until then', T, async () => {
      const short = await createKavach({ database, secret: SECRET, shareInstance: false, agents: { maxPerOwner: 100, approvals: { expiresIn: 1 } } })
      const reusable = await createKavach({ database, secret: SECRET, shareInstance: false, agents: { maxPerOwner: 100, approvals: { reuse: 'ttl' } } })
      try {
        const a = await create()
        const req = { action: 'run', resource: 'deploy:eu' }
        const pending = await short.authorize(a.id, req)
        const b = await create()
        const approvedThenLate = await short.authorize(b.id, req)
        await short.approvals.approve(approvedThenLate.approvalId)
        await sleep(1200)
        assert.equal((await short.approvals.get(pending.approvalId)).status, 'expired')
        assert.ok((await short.approvals.list({ agentId: a.id, status: 'expired' })).some((x) => x.id === pending.approvalId))
        await assert.rejects(short.approvals.approve(pending.approvalId), (e) => e.code === 'CONFLICT')
        const late = await short.authorize(b.id, req)
        assert.equal(late.allowed, false, 'an approval past its time lets nothing through')
        assert.notEqual(late.approvalId, pending.approvalId)

        const c = await create()
        const { approvalId } = await reusable.authorize(c.id, req)
        await reusable.approvals.approve(approvalId)
        for (let i = 0; i < 3; i++) assert.equal((await reusable.authorize(c.id, req)).allowed, true)
        assert.equal((await reusable.approvals.get(approvalId)).status, 'approved')
      } finally {
        await short.close()
        await reusable.close()
      }
      await assert.rejects(
        createKavach({ database, secret: SECRET, shareInstance: false, agents: { approvals: { reuse: 'forever' } } }),
        (e) => e.code === 'CONFIG_INVALID',
      )
    })

    it('over HTTP: the owner lists, approves and denies; another user sees none of it', T, async () => {
      const signUp = async (email) => {
        const res = await kavach.handler(
          new Request(`${ORIGIN}/api/kavach/auth/sign-up`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', origin: ORIGIN },
            body: JSON.stringify({ email, password: 'password-1234', name: 'x' }),
          }),
        )
        assert.equal(res.status, 200, await res.clone().text())
        return res.headers.getSetCookie()[0].split(';')[0]
      }
      const owner = await signUp(`owner-${Date.now()}@example.com`)
      const stranger = await signUp(`stranger-${Date.now()}@example.com`)
      const send = (cookie, method, path, json) =>
        kavach.handler(
          new Request(`${ORIGIN}/api/kavach${path}`, {
            method,
            headers: { cookie, ...(method === 'GET' ? {} : { origin: ORIGIN, 'content-type': 'application/json' }) },
            body: json === undefined ? undefined : JSON.stringify(json),
          }),
        )
      const agent = await (await send(owner, 'POST', '/agents', { name: 'bot', type: 'autonomous', permissions: GATED })).json()
      const d = await (await send(owner, 'POST', '/authorize', { agentId: agent.id, action: 'run', resource: 'deploy:web' })).json()
      assert.equal(d.code, 'APPROVAL_REQUIRED')
      assert.equal(typeof d.approvalId, 'string')
      const mine = await (await send(owner, 'GET', '/approvals?status=pending')).json()
      assert.deepEqual(mine.map((x) => x.id), [d.approvalId])
      assert.equal(typeof mine[0].createdAt, 'string')
      assert.deepEqual(await (await send(stranger, 'GET', '/approvals')).json(), [])
      const theirs = await send(stranger, 'POST', `/approvals/${d.approvalId}/approve`)
      assert.equal(theirs.status, 404)
      assert.equal((await theirs.json()).error.code, 'NOT_FOUND')
      const res = await send(owner, 'POST', `/approvals/${d.approvalId}/approve`)
      assert.equal(res.status, 200, await res.clone().text())
      assert.equal((await res.json()).status, 'approved')
      const retry = await (await send(owner, 'POST', '/authorize', { agentId: agent.id, action: 'run', resource: 'deploy:web' })).json()
      assert.equal(retry.allowed, true)
      const again = await send(owner, 'POST', `/approvals/${d.approvalId}/deny`)
      assert.equal(again.status, 409)
      // A cross-site POST never decides.
      const forged = await kavach.handler(new Request(`${ORIGIN}/api/kavach/approvals/${retry.approvalId ?? d.approvalId}/approve`, { method: 'POST', headers: { cookie: owner, origin: 'https://evil.example.com' } }))
      assert.equal(forged.status, 403)
    })

    it('trust.score follows the documented formula on the audit trail; minTrust gates a permission', T, async () => {
      const a = await create([
        { resource: 'docs:*', actions: ['read'] },
        { resource: 'fs:read', actions: ['call'], constraints: { allowedArgPatterns: ['^/srv/'] } },
        { resource: 'vault:*', actions: ['read'], constraints: { minTrust: 40 } },
      ])
      const fresh = await kavach.trust.score(a.id)
      assert.equal(fresh.score, 50)
      assert.equal(fresh.level, 'medium')
      assert.deepEqual(fresh.factors, { ageDays: 0, decisions: 0, allowed: 0, denied: 0, violations: 0, rateLimited: 0 })
      assert.ok(fresh.computedAt instanceof Date)
      // A fresh agent (50) passes minTrust 40.
      assert.equal((await kavach.authorize(a.id, { action: 'read', resource: 'vault:key' })).allowed, true)

      for (let i = 0; i < 9; i++) assert.equal((await kavach.authorize(a.id, { action: 'read', resource: `docs:${i}` })).allowed, true)
      for (let i = 0; i < 2; i++) {
        const d = await kavach.authorize(a.id, { action: 'call', resource: 'fs:read', arguments: { path: '/etc/passwd' } })
        assert.equal(d.code, 'ARGUMENT_REJECTED')
      }
      // 12 decisions, 10 allowed, 2 denied, 2 violations: 50 + 0 + 1 - 30 * 2/12 - 10 = 36.
      const t = await other.trust.score(a.id)
      assert.deepEqual(t.factors, { ageDays: 0, decisions: 12, allowed: 10, denied: 2, violations: 2, rateLimited: 0 })
      assert.equal(t.score, 36)
      assert.equal(t.level, 'low')
      const gated = await kavach.authorize(a.id, { action: 'read', resource: 'vault:key' })
      assert.equal(gated.allowed, false)
      assert.equal(gated.code, 'TRUST_TOO_LOW')
      assert.match(gated.reason, /36/)
      assert.equal((await kavach.authorizeByToken(a.token, { action: 'read', resource: 'vault:key' })).code, 'TRUST_TOO_LOW')
      // Other permissions do not pay for minTrust: still allowed.
      assert.equal((await kavach.authorize(a.id, { action: 'read', resource: 'docs:x' })).allowed, true)

      await kavach.agent.revoke(a.id)
      assert.equal((await kavach.trust.score(a.id)).score, 0)
      await assert.rejects(kavach.trust.score('no-such-agent'), (e) => e.code === 'NOT_FOUND')
      await assert.rejects(
        create([{ resource: 'x', actions: ['read'], constraints: { minTrust: 101 } }]),
        (e) => e.code === 'VALIDATION_FAILED',
      )
    })
  })
}
