// @kavachos/client against a real server on 127.0.0.1 (Hono + @hono/node-server), from Node: every
// auth, agent, authorize, audit and organization call, loaded as ESM and as CommonJS, on every database.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { createKavachClient } from '../npm/client/index.mjs'
import { backends } from './helpers.mjs'
import { startServer, MOUNT } from './client-server.mjs'

const require = createRequire(import.meta.url)
const cjs = require('../npm/client/index.js')

const PASSWORD = 'correct horse battery'

for (const backend of backends()) {
  describe(`@kavachos/client on ${backend}`, () => {
    let srv
    before(async () => {
      srv = await startServer(backend, 'client')
    })
    after(() => srv.close())

    const newClient = (opts = {}) => createKavachClient({ baseUrl: `${srv.origin}${MOUNT}`, ...opts })

    it('resolves baseUrl with or without the mount path, and basePath', async () => {
      assert.equal(createKavachClient({ baseUrl: 'http://localhost:3000/api/kavach' }).baseUrl, 'http://localhost:3000/api/kavach')
      assert.equal(createKavachClient({ baseUrl: 'http://localhost:3000/' }).baseUrl, 'http://localhost:3000/api/kavach')
      assert.equal(createKavachClient({ baseUrl: 'http://localhost:3000/api/kavach/', basePath: '/api/kavach' }).baseUrl, 'http://localhost:3000/api/kavach')
      assert.equal(createKavachClient({ baseUrl: 'http://localhost:3000', basePath: 'api/auth' }).baseUrl, 'http://localhost:3000/api/auth')
      assert.equal(createKavachClient({ basePath: '/api/auth' }).baseUrl, '/api/auth')
      assert.equal(createKavachClient().baseUrl, '/api/kavach')
      // A bare origin reaches the default mount on the real server.
      const r = await createKavachClient({ baseUrl: srv.origin }).auth.getSession()
      assert.deepEqual(r, { success: true, data: null })
      // A relative path in Node, where there is no page to resolve it against, is a Result too.
      const rel = await createKavachClient().auth.getSession()
      assert.equal(rel.success, false)
      assert.equal(rel.error.code, 'CONFIG_INVALID')
    })

    it('signs up, keeps the session cookie in Node, reads the session and signs out', async () => {
      const c = newClient()
      const up = await c.auth.signUp({ email: 'ada@example.com', password: PASSWORD, name: 'Ada' })
      assert.equal(up.success, true, JSON.stringify(up))
      assert.equal(up.data.user.email, 'ada@example.com')
      assert.ok(up.data.user.createdAt instanceof Date, 'createdAt is a Date')
      assert.ok(up.data.session.expiresAt instanceof Date, 'expiresAt is a Date')
      assert.equal('token' in up.data, false, 'the HTTP API never shows the token in the body')

      const s = await c.auth.getSession()
      assert.equal(s.success, true)
      assert.equal(s.data.user.id, up.data.user.id)
      assert.equal(s.data.session.id, up.data.session.id)
      assert.ok(s.data.user.updatedAt instanceof Date)

      const dup = await newClient().auth.signUp({ email: 'ada@example.com', password: PASSWORD })
      assert.equal(dup.success, false)
      assert.equal(typeof dup.error.code, 'string')
      assert.equal(typeof dup.error.message, 'string')

      const out = await c.auth.signOut()
      assert.deepEqual(out, { success: true, data: undefined })
      assert.deepEqual(await c.auth.getSession(), { success: true, data: null })
      // The server really ended it: the old session is gone for every client.
      assert.equal(srv.count('POST /auth/sign-out'), 1)
    })

    it('signs in; wrong passwords and missing sessions are error Results', async () => {
      const c = newClient()
      const bad = await c.auth.signIn({ email: 'ada@example.com', password: 'not the password' })
      assert.deepEqual(bad.success, false)
      assert.equal(bad.error.code, 'INVALID_CREDENTIALS')
      const agents = await c.agents.list()
      assert.equal(agents.success, false)
      assert.equal(agents.error.code, 'UNAUTHORIZED')

      const good = await c.auth.signIn({ email: 'ada@example.com', password: PASSWORD })
      assert.equal(good.success, true)
      assert.equal(good.data.user.name, 'Ada')
      assert.equal((await c.auth.getSession()).data.user.email, 'ada@example.com')
      // signOut({ all: true }) ends the other devices' sessions too.
      const other = newClient()
      assert.equal((await other.auth.signIn({ email: 'ada@example.com', password: PASSWORD })).success, true)
      assert.equal((await c.auth.signOut({ all: true })).success, true)
      assert.deepEqual(await other.auth.getSession(), { success: true, data: null })
    })

    it('reports network failures as NETWORK_ERROR Results', async () => {
      const port = await new Promise((resolve) => {
        const s = createServer().listen(0, '127.0.0.1', () => {
          const p = s.address().port
          s.close(() => resolve(p))
        })
      })
      const c = createKavachClient({ baseUrl: `http://127.0.0.1:${port}/api/kavach` })
      for (const r of [await c.auth.getSession(), await c.auth.signIn({ email: 'a@b.c', password: PASSWORD }), await c.agents.list()]) {
        assert.equal(r.success, false)
        assert.equal(r.error.code, 'NETWORK_ERROR')
      }
    })

    it('password upkeep: forgot, reset, change, send and verify email', async () => {
      const c = newClient()
      await c.auth.signUp({ email: 'grace@example.com', password: PASSWORD })
      const forgot = await newClient().auth.forgotPassword({ email: 'grace@example.com', redirectTo: '/reset' })
      assert.deepEqual(forgot, { success: true, data: undefined })
      assert.deepEqual(await newClient().auth.forgotPassword({ email: 'nobody@example.com' }), { success: true, data: undefined })
      const mail = srv.mails.find((m) => m.kind === 'reset' && m.user.email === 'grace@example.com')
      assert.ok(mail, 'the reset mail was sent')
      const badReset = await newClient().auth.resetPassword({ token: 'nope', newPassword: 'another long password' })
      assert.equal(badReset.success, false)
      assert.equal((await newClient().auth.resetPassword({ token: mail.token, newPassword: 'another long password' })).success, true)
      const signedIn = newClient()
      assert.equal((await signedIn.auth.signIn({ email: 'grace@example.com', password: PASSWORD })).success, false)
      assert.equal((await signedIn.auth.signIn({ email: 'grace@example.com', password: 'another long password' })).success, true)

      const wrong = await signedIn.auth.changePassword({ currentPassword: 'not it at all', newPassword: 'third long password' })
      assert.equal(wrong.success, false)
      assert.equal((await signedIn.auth.changePassword({ currentPassword: 'another long password', newPassword: 'third long password' })).success, true)
      assert.equal((await signedIn.auth.getSession()).success, true, 'the changing session stays')
      assert.equal((await newClient().auth.signIn({ email: 'grace@example.com', password: 'third long password' })).success, true)

      assert.equal((await signedIn.auth.sendVerificationEmail()).success, true)
      const verify = srv.mails.filter((m) => m.kind === 'verify' && m.user.email === 'grace@example.com').at(-1)
      assert.ok(verify)
      const v = await newClient().auth.verifyEmail({ token: verify.token })
      assert.equal(v.success, true, JSON.stringify(v))
      assert.equal(v.data.emailVerified, true)
      assert.ok(v.data.createdAt instanceof Date)
      assert.equal((await signedIn.auth.getSession()).data.user.emailVerified, true)
      const unsigned = await newClient().auth.sendVerificationEmail()
      assert.equal(unsigned.error.code, 'UNAUTHORIZED')
    })

    it('agents: create, list, get, update, rotate, revoke; authorize and authorizeByToken; audit query and export', async () => {
      const c = newClient()
      const up = await c.auth.signUp({ email: 'owner@example.com', password: PASSWORD })
      const owner = up.data.user.id
      const expires = new Date(Date.now() + 3_600_000)
      const created = await c.agents.create({
        name: 'reader',
        type: 'autonomous',
        permissions: [{ resource: 'docs:*', actions: ['read'] }],
        expiresAt: expires,
        metadata: { createdAt: 'kept as the caller wrote it' },
      })
      assert.equal(created.success, true, JSON.stringify(created))
      const agent = created.data
      assert.equal(agent.ownerId, owner)
      assert.match(agent.token, /^kv_/)
      assert.ok(agent.expiresAt instanceof Date)
      assert.equal(agent.expiresAt.getTime(), expires.getTime())
      assert.equal(agent.metadata.createdAt, 'kept as the caller wrote it', 'metadata is not rewritten')

      const foreign = await c.agents.create({ name: 'x', type: 'service', permissions: [], ownerId: 'someone-else' })
      assert.equal(foreign.error.code, 'FORBIDDEN')

      const list = await c.agents.list({ status: 'active' })
      assert.deepEqual(list.data.map((a) => a.id), [agent.id])
      assert.equal('token' in list.data[0], false)
      assert.equal((await c.agents.get(agent.id)).data.name, 'reader')
      assert.deepEqual(await c.agents.get('no-such-agent'), { success: true, data: null })
      // Another owner's agent does not exist for this client.
      const stranger = newClient()
      await stranger.auth.signUp({ email: 'stranger@example.com', password: PASSWORD })
      assert.deepEqual(await stranger.agents.get(agent.id), { success: true, data: null })
      assert.equal((await stranger.authorize(agent.id, { action: 'read', resource: 'docs:a' })).error.code, 'NOT_FOUND')

      const updated = await c.agents.update(agent.id, { name: 'reader 2', expiresAt: null })
      assert.equal(updated.data.name, 'reader 2')
      assert.equal(updated.data.expiresAt, null)

      const yes = await c.authorize(agent.id, { action: 'read', resource: 'docs:readme' })
      assert.equal(yes.success, true)
      assert.equal(yes.data.allowed, true)
      assert.equal(typeof yes.data.auditId, 'string')
      const no = await c.authorize(agent.id, { action: 'write', resource: 'docs:readme' })
      assert.equal(no.success, true, 'a denial is an answer')
      assert.equal(no.data.allowed, false)
      assert.equal(no.data.code, 'NO_PERMISSION')

      // The agent speaks for itself: no session at all.
      const bare = createKavachClient({ baseUrl: `${srv.origin}${MOUNT}` })
      const byToken = await bare.authorizeByToken(agent.token, { action: 'read', resource: 'docs:x', arguments: { q: 1 } })
      assert.equal(byToken.data.allowed, true)
      const unknown = await bare.authorizeByToken('kv_not_a_real_token', { action: 'read', resource: 'docs:x' })
      assert.deepEqual(unknown.data && { allowed: unknown.data.allowed, code: unknown.data.code }, { allowed: false, code: 'INVALID_TOKEN' })

      const rotated = await c.agents.rotate(agent.id)
      assert.notEqual(rotated.data.token, agent.token)
      const old = await bare.authorizeByToken(agent.token, { action: 'read', resource: 'docs:x' })
      assert.equal(old.data.code, 'INVALID_TOKEN', 'the old token fails')
      assert.equal((await bare.authorizeByToken(rotated.data.token, { action: 'read', resource: 'docs:x' })).data.allowed, true)

      const audit = await c.audit.query({ agentId: agent.id })
      assert.equal(audit.success, true)
      assert.ok(audit.data.length >= 3)
      assert.ok(audit.data.every((e) => e.timestamp instanceof Date))
      const entry = audit.data.find((e) => e.resource === 'docs:x' && e.parameters)
      assert.deepEqual(entry.parameters, { q: 1 })
      const denied = await c.audit.query({ result: 'denied', actions: ['write'], since: new Date(Date.now() - 60_000), limit: 10 })
      assert.deepEqual(denied.data.map((e) => e.action), ['write'])
      assert.deepEqual((await stranger.audit.query()).data, [], 'only the own agents')

      const csv = await c.audit.export({ format: 'csv', agentId: agent.id })
      assert.equal(typeof csv.data, 'string')
      assert.ok(csv.data.split('\n').length >= 4)
      const json = await c.audit.export({ format: 'json' })
      assert.equal(JSON.parse(json.data).length, audit.data.length)

      assert.deepEqual(await c.agents.revoke(agent.id), { success: true, data: undefined })
      assert.equal((await c.agents.get(agent.id)).data.status, 'revoked')
      const after = await bare.authorizeByToken(rotated.data.token, { action: 'read', resource: 'docs:x' })
      assert.equal(after.data.allowed, false)
      assert.equal(after.data.code, 'AGENT_REVOKED')
    })

    it('organizations: create, list, get, update, members, delete', async () => {
      const owner = newClient()
      const member = newClient()
      const o = (await owner.auth.signUp({ email: 'org-owner@example.com', password: PASSWORD })).data.user
      const m = (await member.auth.signUp({ email: 'org-member@example.com', password: PASSWORD })).data.user

      const created = await owner.organizations.create({ name: 'Acme', metadata: { plan: 'pro' } })
      assert.equal(created.success, true, JSON.stringify(created))
      const org = created.data
      assert.equal(org.ownerId, o.id)
      assert.ok(org.createdAt instanceof Date)
      assert.deepEqual((await owner.organizations.list()).data.map((x) => x.id), [org.id])
      assert.equal((await owner.organizations.get(org.id)).data.name, 'Acme')
      assert.equal((await member.organizations.get(org.id)).error.code, 'FORBIDDEN', 'a non-member learns nothing')

      const added = await owner.organizations.members.add({ organizationId: org.id, userId: m.id, role: 'member' })
      assert.equal(added.data.role, 'member')
      assert.ok(added.data.createdAt instanceof Date)
      assert.deepEqual((await member.organizations.list()).data.map((x) => x.id), [org.id])
      assert.equal((await member.organizations.update(org.id, { name: 'Mine' })).error.code, 'FORBIDDEN')
      assert.equal((await owner.organizations.update(org.id, { name: 'Acme Corp' })).data.name, 'Acme Corp')

      const listed = await member.organizations.members.list({ organizationId: org.id })
      assert.deepEqual(listed.data.map((x) => x.role).sort(), ['member', 'owner'])
      const promoted = await owner.organizations.members.updateRole({ organizationId: org.id, userId: m.id, role: 'admin' })
      assert.equal(promoted.data.role, 'admin')
      const last = await owner.organizations.removeMember({ organizationId: org.id, userId: o.id })
      assert.equal(last.error.code, 'LAST_OWNER')
      assert.equal((await owner.organizations.members.remove({ organizationId: org.id, userId: m.id })).success, true)
      assert.equal((await member.organizations.list()).data.length, 0)

      assert.equal((await member.organizations.delete(org.id)).error.code, 'FORBIDDEN')
      assert.deepEqual(await owner.organizations.delete(org.id), { success: true, data: undefined })
      assert.deepEqual((await owner.organizations.list()).data, [])
    })

    it('headers, token and fetch options; no cookie jar with cookies: false', async () => {
      const signer = newClient()
      await signer.auth.signUp({ email: 'ssr@example.com', password: PASSWORD })
      // A server forwarding the visitor's cookie (as a server component would): no jar of its own.
      const own = newClient({ cookies: false })
      const signIn = await own.auth.signIn({ email: 'ssr@example.com', password: PASSWORD })
      assert.equal(signIn.success, true)
      assert.deepEqual(await own.auth.getSession(), { success: true, data: null }, 'nothing was kept')

      // The session token as Bearer (from a raw sign-in through the server facade).
      const raw = await srv.kavach.auth.signIn({ email: 'ssr@example.com', password: PASSWORD })
      const bearer = newClient({ cookies: false, token: () => raw.data.token })
      assert.equal((await bearer.auth.getSession()).data.user.email, 'ssr@example.com')
      const forwarded = newClient({ cookies: false, headers: async () => ({ cookie: `kavach_session=${raw.data.token}` }) })
      assert.equal((await forwarded.auth.getSession()).data.user.email, 'ssr@example.com')
      // ... and a state change with that cookie passes the Origin check (the client sends Origin in Node).
      assert.equal((await forwarded.agents.create({ name: 'a', type: 'service', permissions: [] })).success, true)

      const seen = []
      const counting = newClient({
        fetch: (url, init) => {
          seen.push([init.method, String(url), init.credentials])
          return fetch(url, init)
        },
      })
      await counting.auth.getSession()
      assert.deepEqual(seen, [['GET', `${srv.origin}${MOUNT}/auth/session`, 'include']])
    })

    it('tells listeners about session changes', async () => {
      const c = newClient()
      const changes = []
      const stop = c.onSessionChange((x) => changes.push(x === null ? 'null' : x === undefined ? 'stale' : x.user.email))
      await c.auth.signUp({ email: 'events@example.com', password: PASSWORD })
      await c.auth.signOut()
      await c.auth.signIn({ email: 'events@example.com', password: 'wrong password here' })
      await c.auth.signIn({ email: 'events@example.com', password: PASSWORD })
      stop()
      await c.auth.signOut()
      assert.deepEqual(changes, ['events@example.com', 'null', 'events@example.com'])
    })

    it('works the same when loaded through require()', async () => {
      assert.equal(typeof cjs.createKavachClient, 'function')
      const c = cjs.createKavachClient({ baseUrl: srv.origin })
      const up = await c.auth.signUp({ email: 'cjs@example.com', password: PASSWORD })
      assert.equal(up.success, true)
      assert.ok(up.data.user.createdAt instanceof Date)
      const a = await c.agents.create({ name: 'cjs', type: 'delegated', permissions: [{ resource: '*', actions: ['*'] }] })
      assert.equal((await c.authorize(a.data.id, { action: 'x', resource: 'y' })).data.allowed, true)
      assert.equal((await c.agents.list()).data.length, 1)
      const via = await c.request('GET', '/agents')
      assert.ok(via.data[0].createdAt instanceof Date)
    })
  })
}
