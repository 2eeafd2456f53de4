// The admin() plugin over real HTTP (Hono with @hono/node-server on 127.0.0.1) and in-process, on
// every database: a ban blocks sign-in and kills a live session and the user's agents at once, unban
// lets them back in, impersonation is marked on the session and stops working at its TTL, stopping
// it restores the admin, and non-admins get 403.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { Hono } from 'hono'
import { serve } from '@hono/node-server'
import { createKavach } from '../index.mjs'
import { admin } from '../plugins.mjs'
import { kavachHono } from '../shims/hono.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

const MOUNT = '/api/kavach'
const PASSWORD = 'long enough pw'
const TTL_S = 2

/** `name=value` of each Set-Cookie, by name. */
function cookiesOf(res) {
  const out = {}
  for (const c of res.headers.getSetCookie()) {
    const [pair, ...attrs] = c.split(';')
    const i = pair.indexOf('=')
    out[pair.slice(0, i)] = { value: pair.slice(i + 1), attrs: attrs.map((a) => a.trim()) }
  }
  return out
}

for (const backend of backends()) {
  describe(`admin() on ${backend}`, () => {
    let kavach
    let server
    let origin
    const ids = {}

    const send = (cookie, method, path, json) => {
      const headers = { origin }
      if (cookie) headers.cookie = cookie
      if (json !== undefined) headers['content-type'] = 'application/json'
      return fetch(`${origin}${MOUNT}${path}`, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) })
    }
    const signIn = async (who) => {
      const res = await send(null, 'POST', '/auth/sign-in', { email: `${who}@example.com`, password: PASSWORD })
      assert.equal(res.status, 200, `${who} signs in`)
      return `kavach_session=${cookiesOf(res).kavach_session.value}`
    }
    const agentFor = (ownerId) =>
      kavach.agent.create({ ownerId, name: 'helper', type: 'autonomous', permissions: [{ resource: 'mcp:*', actions: ['read'] }] })
    const read = { action: 'read', resource: 'mcp:x' }

    before(async () => {
      kavach = await createKavach({
        database: freshDatabase(backend, 'admin'),
        secret: SECRET,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        plugins: [admin({ impersonationTtl: TTL_S })],
      })
      for (const who of ['root', 'alice', 'bob', 'carol', 'dave']) {
        const r = await kavach.auth.signUp({ email: `${who}@example.com`, password: PASSWORD, name: who })
        assert.equal(r.success, true)
        ids[who] = r.data.user.id
      }
      assert.equal((await kavach.admin.setRole({ userId: ids.root, role: 'admin' })).success, true)
      const app = new Hono()
      app.route(MOUNT, kavachHono(kavach))
      server = await new Promise((resolve) => {
        const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s))
      })
      origin = `http://127.0.0.1:${server.address().port}`
    })
    after(async () => {
      await new Promise((r) => server.close(r))
      await kavach.close()
    })

    it('anonymous callers get 401 and non-admins 403 on every admin route', async () => {
      const alice = await signIn('alice')
      const routes = [
        ['GET', '/admin/users'],
        ['GET', `/admin/users/${ids.bob}`],
        ['DELETE', `/admin/users/${ids.bob}`],
        ['POST', `/admin/users/${ids.bob}/ban`, {}],
        ['POST', `/admin/users/${ids.bob}/unban`],
        ['POST', `/admin/users/${ids.bob}/role`, { role: 'admin' }],
        ['POST', `/admin/users/${ids.bob}/impersonate`],
      ]
      for (const [method, path, body] of routes) {
        const anon = await send(null, method, path, body)
        assert.equal(anon.status, 401, `${method} ${path} anonymous`)
        const res = await send(alice, method, path, body)
        assert.equal(res.status, 403, `${method} ${path} as a non-admin`)
        assert.equal((await res.json()).error.code, 'FORBIDDEN')
      }
      assert.equal((await kavach.admin.getUser(ids.bob)).data.role, 'user', 'nothing changed')
      assert.equal((await send(null, 'POST', '/admin/stop-impersonating')).status, 401)
      assert.equal((await send(alice, 'POST', '/admin/stop-impersonating')).status, 403, 'not an impersonation')
    })

    it('lists and searches users', async () => {
      const root = await signIn('root')
      const all = await (await send(root, 'GET', '/admin/users')).json()
      assert.equal(all.total, 5)
      assert.deepEqual(
        all.users.map((u) => u.email),
        ['root', 'alice', 'bob', 'carol', 'dave'].map((w) => `${w}@example.com`),
      )
      const u = all.users[1]
      assert.equal(u.role, 'user')
      assert.equal(u.banned, false)
      assert.equal(u.banReason, null)
      assert.equal(u.banExpires, null)
      assert.match(u.createdAt, /^\d{4}-\d\d-\d\dT/)
      const found = await (await send(root, 'GET', '/admin/users?search=CAR&limit=10')).json()
      assert.deepEqual([found.total, found.users.map((x) => x.id)], [1, [ids.carol]])
      const page = await (await send(root, 'GET', '/admin/users?limit=2&offset=1')).json()
      assert.deepEqual([page.total, page.users.map((x) => x.id)], [5, [ids.alice, ids.bob]])
      const one = await send(root, 'GET', `/admin/users/${ids.bob}`)
      assert.equal((await one.json()).email, 'bob@example.com')
      assert.equal((await send(root, 'GET', '/admin/users/nobody')).status, 404)
      assert.equal((await send(root, 'GET', '/admin/users?limit=x')).status, 400)

      const inProcess = await kavach.admin.listUsers({ search: 'ali' })
      assert.equal(inProcess.success, true)
      assert.equal(inProcess.data.total, 1)
      assert.ok(inProcess.data.users[0].createdAt instanceof Date)
      assert.equal((await kavach.admin.listUsers()).data.total, 5)
      assert.equal((await kavach.admin.getUser('nobody')).data, null)
    })

    it('a ban blocks sign-in and kills the live session and the agents at once; unban lets them back in', async () => {
      const root = await signIn('root')
      const alice = await signIn('alice')
      assert.equal((await send(alice, 'GET', '/auth/session')).status, 200)
      const agent = await agentFor(ids.alice)
      assert.equal((await kavach.authorizeByToken(agent.token, read)).allowed, true)

      const until = new Date(Date.now() + 3_600_000)
      const banned = await send(root, 'POST', `/admin/users/${ids.alice}/ban`, { reason: 'spam', expiresAt: until.toISOString() })
      assert.equal(banned.status, 200)
      const user = await banned.json()
      assert.deepEqual([user.banned, user.banReason, user.banExpires], [true, 'spam', until.toISOString()])

      // At once: the old cookie is refused on the very next request, the agent on its next call.
      assert.equal((await send(alice, 'GET', '/auth/session')).status, 401)
      assert.equal((await send(alice, 'GET', '/agents')).status, 401)
      assert.equal((await kavach.auth.getSession({ headers: { cookie: alice } })).data, null)
      const denied = await kavach.authorizeByToken(agent.token, read)
      assert.deepEqual([denied.allowed, denied.code], [false, 'AGENT_REVOKED'])

      const wrong = await send(null, 'POST', '/auth/sign-in', { email: 'alice@example.com', password: 'wrong password!' })
      assert.deepEqual([wrong.status, (await wrong.json()).error.code], [401, 'INVALID_CREDENTIALS'], 'no oracle for wrong passwords')
      const refused = await send(null, 'POST', '/auth/sign-in', { email: 'alice@example.com', password: PASSWORD })
      assert.deepEqual([refused.status, (await refused.json()).error.code], [403, 'USER_BANNED'])
      assert.equal(refused.headers.getSetCookie().length, 0, 'no session cookie')
      const inProcess = await kavach.auth.signIn({ email: 'alice@example.com', password: PASSWORD })
      assert.deepEqual([inProcess.success, inProcess.error.code], [false, 'USER_BANNED'])
      assert.equal((await send(root, 'POST', `/admin/users/${ids.root}/ban`, {})).status, 403, 'an admin cannot ban themselves')

      const unbanned = await send(root, 'POST', `/admin/users/${ids.alice}/unban`)
      assert.equal(unbanned.status, 200)
      assert.equal((await unbanned.json()).banned, false)
      const again = await signIn('alice')
      assert.equal((await send(again, 'GET', '/auth/session')).status, 200)
      assert.equal((await kavach.authorizeByToken(agent.token, read)).code, 'AGENT_REVOKED', 'revoked agents stay revoked')
    })

    it('in-process ban, unban, setRole and removeUser answer Results', async () => {
      const live = await kavach.auth.signIn({ email: 'dave@example.com', password: PASSWORD })
      const cookie = `kavach_session=${live.data.token}`
      const agent = await agentFor(ids.dave)
      const until = new Date(Date.now() + 86_400_000)
      const r = await kavach.admin.banUser({ userId: ids.dave, reason: 'abuse', expiresAt: until })
      assert.deepEqual(r, { success: true, data: undefined })
      const got = (await kavach.admin.getUser(ids.dave)).data
      assert.equal(got.banned, true)
      assert.equal(got.banReason, 'abuse')
      assert.ok(got.banExpires instanceof Date)
      assert.equal(got.banExpires.getTime(), until.getTime())
      assert.equal((await kavach.auth.getSession({ headers: { cookie } })).data, null)
      assert.equal((await kavach.authorizeByToken(agent.token, read)).code, 'AGENT_REVOKED')
      const past = await kavach.admin.banUser({ userId: ids.dave, expiresAt: new Date(Date.now() - 1000) })
      assert.equal(past.error.code, 'VALIDATION_FAILED')
      assert.equal((await kavach.admin.banUser({ userId: ids.dave, expiresAt: 'soon' })).error.code, 'VALIDATION_FAILED')
      assert.equal((await kavach.admin.banUser({ userId: 'nobody' })).error.code, 'NOT_FOUND')
      assert.equal((await kavach.admin.unbanUser(ids.dave)).success, true)
      assert.equal((await kavach.auth.signIn({ email: 'dave@example.com', password: PASSWORD })).success, true)

      assert.equal((await kavach.admin.setRole({ userId: ids.dave, role: 'support' })).success, true)
      assert.equal((await kavach.admin.getUser(ids.dave)).data.role, 'support')
      assert.equal((await kavach.admin.setRole({ userId: ids.dave, role: '' })).error.code, 'VALIDATION_FAILED')
      assert.equal((await kavach.admin.getUser(42)).error.code, 'VALIDATION_FAILED')

      const second = await kavach.auth.signIn({ email: 'dave@example.com', password: PASSWORD })
      const agent2 = await agentFor(ids.dave)
      assert.deepEqual(await kavach.admin.removeUser(ids.dave), { success: true, data: undefined })
      assert.equal((await kavach.admin.getUser(ids.dave)).data, null)
      assert.equal((await kavach.auth.getSession({ headers: { cookie: `kavach_session=${second.data.token}` } })).data, null)
      assert.equal((await kavach.authorizeByToken(agent2.token, read)).code, 'AGENT_REVOKED')
      assert.equal((await kavach.auth.signIn({ email: 'dave@example.com', password: PASSWORD })).error.code, 'INVALID_CREDENTIALS')
      assert.equal((await kavach.admin.removeUser(ids.dave)).error.code, 'NOT_FOUND')
    })

    it('impersonation is marked, stopping it restores the admin, and admins are not impersonated', async () => {
      const root = await signIn('root')
      const rootToken = root.split('=')[1]
      const res = await send(root, 'POST', `/admin/users/${ids.bob}/impersonate`)
      assert.equal(res.status, 200)
      const body = await res.json()
      assert.equal(body.user.id, ids.bob)
      assert.equal(body.session.impersonatedBy, ids.root)
      const expires = Date.parse(body.session.expiresAt)
      assert.ok(Math.abs(expires - (Date.now() + TTL_S * 1000)) < 1500, 'expires at the TTL')
      const set = cookiesOf(res)
      assert.equal(set.kavach_admin_session.value, rootToken, "the admin's own session is kept")
      for (const c of [set.kavach_session, set.kavach_admin_session]) {
        for (const a of ['HttpOnly', 'SameSite=Lax', 'Path=/']) assert.ok(c.attrs.includes(a), a)
      }
      const asBob = `kavach_session=${set.kavach_session.value}`
      const both = `${asBob}; kavach_admin_session=${rootToken}`
      const session = await (await send(asBob, 'GET', '/auth/session')).json()
      assert.deepEqual([session.user.id, session.session.impersonatedBy], [ids.bob, ids.root])
      assert.equal((await send(both, 'GET', '/admin/users')).status, 403, 'an impersonation has the user’s rights')
      const own = await kavach.auth.getSession({ headers: { cookie: root } })
      assert.equal(own.data.session.impersonatedBy, null)

      const noOrigin = await fetch(`${origin}${MOUNT}/admin/stop-impersonating`, { method: 'POST', headers: { cookie: `kavach_admin_session=${rootToken}` } })
      assert.deepEqual([noOrigin.status, (await noOrigin.json()).error.code], [403, 'INVALID_ORIGIN'])
      const stopped = await send(both, 'POST', '/admin/stop-impersonating')
      assert.equal(stopped.status, 200)
      const back = await stopped.json()
      assert.equal(back.user.id, ids.root)
      assert.equal(back.session.impersonatedBy, null)
      const restored = cookiesOf(stopped)
      assert.equal(restored.kavach_session.value, rootToken)
      assert.equal(restored.kavach_admin_session.value, '')
      assert.ok(restored.kavach_admin_session.attrs.includes('Max-Age=0'))
      assert.equal((await send(asBob, 'GET', '/auth/session')).status, 401, 'the impersonation ended')
      assert.equal((await send(root, 'GET', '/admin/users')).status, 200, 'the admin is back')

      await kavach.admin.setRole({ userId: ids.carol, role: 'admin' })
      const other = await send(root, 'POST', `/admin/users/${ids.carol}/impersonate`)
      assert.deepEqual([other.status, (await other.json()).error.code], [403, 'FORBIDDEN'], 'not another admin')
      assert.equal((await send(root, 'POST', `/admin/users/${ids.root}/impersonate`)).status, 403, 'not oneself')
      assert.equal((await send(root, 'POST', '/admin/users/nobody/impersonate')).status, 404)
      await kavach.admin.setRole({ userId: ids.carol, role: 'user' })

      const notAdmin = await kavach.admin.impersonate({ adminId: ids.alice, userId: ids.bob })
      assert.equal(notAdmin.error.code, 'FORBIDDEN')
      const imp = await kavach.admin.impersonate({ adminId: ids.root, userId: ids.bob })
      assert.equal(imp.success, true)
      assert.equal(imp.data.session.impersonatedBy, ids.root)
      assert.ok(imp.data.session.expiresAt instanceof Date)
      assert.equal(typeof imp.data.token, 'string')
      assert.equal((await kavach.admin.stopImpersonating(root.split('=')[1])).error.code, 'FORBIDDEN')
      assert.deepEqual(await kavach.admin.stopImpersonating(imp.data.token), { success: true, data: undefined })
      assert.equal((await kavach.auth.getSession({ headers: { cookie: `kavach_session=${imp.data.token}` } })).data, null)
    })

    it('an impersonation session stops working when its TTL passes', async () => {
      const root = await signIn('root')
      const res = await send(root, 'POST', `/admin/users/${ids.carol}/impersonate`)
      assert.equal(res.status, 200)
      const asCarol = `kavach_session=${cookiesOf(res).kavach_session.value}`
      const imp = await kavach.admin.impersonate({ adminId: ids.root, userId: ids.bob })
      const asBob = { headers: { cookie: `kavach_session=${imp.data.token}` } }
      assert.equal((await send(asCarol, 'GET', '/auth/session')).status, 200)
      assert.equal((await kavach.auth.getSession(asBob)).data.user.id, ids.bob)
      await sleep(TTL_S * 1000 + 500)
      assert.equal((await kavach.auth.getSession(asBob)).data, null)
      assert.equal((await kavach.auth.getUser(asBob)).data, null)
      assert.equal((await send(asCarol, 'GET', '/auth/session')).status, 401)
      // The admin's own session is untouched.
      assert.equal((await send(root, 'GET', '/admin/users')).status, 200)
    })

    it('DELETE /admin/users/:id removes the user and revokes their agents', async () => {
      const root = await signIn('root')
      const bob = await signIn('bob')
      const agent = await agentFor(ids.bob)
      assert.equal((await send(root, 'DELETE', `/admin/users/${ids.root}`)).status, 403, 'not oneself')
      const res = await send(root, 'DELETE', `/admin/users/${ids.bob}`)
      assert.equal(res.status, 200)
      assert.deepEqual(await res.json(), { success: true })
      assert.equal((await send(bob, 'GET', '/auth/session')).status, 401)
      assert.equal((await kavach.authorizeByToken(agent.token, read)).code, 'AGENT_REVOKED')
      assert.equal((await send(root, 'GET', `/admin/users/${ids.bob}`)).status, 404)
      assert.equal((await send(root, 'DELETE', `/admin/users/${ids.bob}`)).status, 404)
    })
  })
}

describe('admin() off', () => {
  it('has no routes and its calls say so', async () => {
    const k = await createKavach({ database: { provider: 'sqlite', url: ':memory:' }, secret: SECRET })
    const res = await k.handler(new Request('http://localhost:3000/api/kavach/admin/users'))
    assert.equal(res.status, 404)
    assert.equal((await k.admin.listUsers()).error.code, 'CONFIG_INVALID')
    await k.close()
  })

  it('refuses bad options', async () => {
    await assert.rejects(
      createKavach({ database: { provider: 'sqlite', url: ':memory:' }, secret: SECRET, plugins: [admin({ impersonationTtl: -5 })] }),
      (e) => e.code === 'CONFIG_INVALID',
    )
  })
})
