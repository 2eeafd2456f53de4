// Seed 001 ("Add to an existing app"), steps 2, 4 and 5, as written in the docs, on every database.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach } from '../index.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

for (const backend of backends()) {
  describe(`seed 001 on ${backend}`, () => {
    const database = freshDatabase(backend, 'seed')
    before(() => {
      process.env.DATABASE_URL = database.url
      process.env.KAVACHOS_SECRET = SECRET
    })

    // ---- lib/kavach.ts (verbatim but for the provider, which the doc sets to postgres) ----
    let instance = null
    async function getKavach() {
      if (!instance) {
        instance = await createKavach({
          database: {
            provider: database.provider,
            url: process.env.DATABASE_URL,
          },
          secret: process.env.KAVACHOS_SECRET,
        })
      }
      return instance
    }

    // ---- "Create an agent when a user signs up" (verbatim) ----
    async function createDefaultAgent(userId) {
      const kavach = await getKavach()

      const agent = await kavach.agent.create({
        ownerId: userId, // stable ID from your auth provider
        name: 'default',
        type: 'autonomous',
        permissions: [{ resource: 'app:read:*', actions: ['read'] }],
      })

      // Persist agent.token somewhere the user can access, encrypted at rest.
      // It is returned once and cannot be recovered.
      return { agentId: agent.id, token: agent.token }
    }

    // ---- app/api/agent-action/route.ts (verbatim; fetchGithubRepos is the app's own) ----
    const fetchGithubRepos = async () => ['kavachos']
    async function POST(req) {
      const token = req.headers.get('Authorization')?.replace('Bearer ', '')
      if (!token) return new Response('Missing token', { status: 401 })

      const kavach = await getKavach()

      const { allowed, reason, auditId } = await kavach.authorizeByToken(token, {
        action: 'read',
        resource: 'mcp:github:repos',
      })

      if (!allowed) {
        return Response.json({ error: reason, auditId }, { status: 403 })
      }

      // allowed. Do the work.
      const repos = await fetchGithubRepos()
      return Response.json({ repos, auditId })
    }

    after(async () => {
      if (instance) await instance.close()
    })

    it('getKavach boots once and reuses the instance', async () => {
      const [a, b] = await Promise.all([getKavach(), getKavach()])
      assert.ok(a)
      assert.equal(await getKavach(), instance)
      assert.ok(b)
    })

    it('createDefaultAgent returns an id and a kv_ token for an owner with no user row', async () => {
      const { agentId, token } = await createDefaultAgent('user_2abcClerkId')
      assert.match(token, /^kv_[A-Za-z0-9_-]{43}$/)
      const kavach = await getKavach()
      const stored = await kavach.agent.get(agentId)
      assert.equal(stored.ownerId, 'user_2abcClerkId')
      assert.equal(stored.token, undefined, 'get never returns the token')
    })

    it('the agent-action route denies a resource outside the grant, with an audit id', async () => {
      const { token } = await createDefaultAgent('user_1')
      const res = await POST(new Request('http://localhost/api/agent-action', { method: 'POST', headers: { Authorization: `Bearer ${token}` } }))
      assert.equal(res.status, 403)
      const body = await res.json()
      assert.match(body.error, /no permission/)
      assert.ok(body.auditId)
      const kavach = await getKavach()
      const [entry] = await kavach.audit.query({ limit: 1 })
      assert.equal(entry.id, body.auditId)
      assert.equal(entry.result, 'denied')
      assert.equal(entry.resource, 'mcp:github:repos')
    })

    it('the route allows once the agent holds the permission, and answers 401 without a token', async () => {
      const kavach = await getKavach()
      const agent = await kavach.agent.create({
        ownerId: 'user_3',
        name: 'github',
        type: 'autonomous',
        permissions: [{ resource: 'mcp:github:*', actions: ['read'] }],
      })
      const res = await POST(new Request('http://localhost/api/agent-action', { method: 'POST', headers: { Authorization: `Bearer ${agent.token}` } }))
      assert.equal(res.status, 200)
      const body = await res.json()
      assert.deepEqual(body.repos, ['kavachos'])
      const [entry] = await kavach.audit.query({ agentId: agent.id })
      assert.equal(entry.id, body.auditId)
      assert.equal(entry.result, 'allowed')
      const missing = await POST(new Request('http://localhost/api/agent-action', { method: 'POST' }))
      assert.equal(missing.status, 401)
    })

    it('a lost token is replaced with agent.rotate and the old one stops working', async () => {
      const kavach = await getKavach()
      const agent = await kavach.agent.create({ ownerId: 'user_4', name: 'r', type: 'autonomous', permissions: [{ resource: 'mcp:github:*', actions: ['read'] }] })
      const rotated = await kavach.agent.rotate(agent.id)
      const old = await POST(new Request('http://x/', { method: 'POST', headers: { Authorization: `Bearer ${agent.token}` } }))
      assert.equal(old.status, 403)
      assert.equal((await old.json()).auditId, null, 'an unknown token reaches no agent, so nothing is audited')
      const fresh = await POST(new Request('http://x/', { method: 'POST', headers: { Authorization: `Bearer ${rotated.token}` } }))
      assert.equal(fresh.status, 200)
    })
  })
}
