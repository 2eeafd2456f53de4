// The HTTP API through the real frameworks over real sockets on 127.0.0.1 (Hono with
// @hono/node-server, Express, Fastify) and the Next.js route handlers driven with Web Requests,
// on every database.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Hono } from 'hono'
import { serve } from '@hono/node-server'
import express from 'express'
import Fastify from 'fastify'
import { createKavach } from '../index.mjs'
import { kavachHono } from '../shims/hono.mjs'
import { kavachExpress } from '../shims/express.mjs'
import { kavachFastify } from '../shims/fastify.mjs'
import { kavachNextjs } from '../shims/nextjs.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

const MOUNT = '/api/kavach'

async function listen(kind, kavachPromise) {
  if (kind === 'hono') {
    const app = new Hono()
    app.route(MOUNT, kavachHono(kavachPromise)) // seed 004 passes the un-awaited promise
    const server = await new Promise((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s))
    })
    return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) }
  }
  if (kind === 'express') {
    const app = express()
    app.use(express.json()) // the shim must work behind a body parser too
    app.use(MOUNT, kavachExpress(kavachPromise))
    const server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s))
    })
    return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) }
  }
  if (kind === 'fastify') {
    const app = Fastify()
    await app.register(kavachFastify(kavachPromise), { prefix: MOUNT })
    await app.listen({ host: '127.0.0.1', port: 0 })
    return { origin: `http://127.0.0.1:${app.server.address().port}`, close: () => app.close() }
  }
  throw new Error(kind)
}

for (const backend of backends()) {
  for (const kind of ['hono', 'express', 'fastify', 'nextjs']) {
    describe(`HTTP API via ${kind} on ${backend}`, () => {
      let kavach
      let server
      let origin
      let nextHandlers
      before(async () => {
        const database = freshDatabase(backend, `http_${kind}`)
        const kavachPromise = createKavach({ database, secret: SECRET, emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 } })
        kavach = await kavachPromise
        if (kind === 'nextjs') {
          nextHandlers = kavachNextjs(async () => kavachPromise) // a getter, as seed 001 passes getKavach
          origin = 'http://localhost:3000'
        } else {
          server = await listen(kind, kavachPromise)
          origin = server.origin
        }
      })
      after(async () => {
        if (server) await server.close()
        await kavach.close()
      })

      async function send(method, path, { json, body, headers = {}, cookie, noOrigin } = {}) {
        const h = new Headers(headers)
        if (json !== undefined) {
          h.set('content-type', 'application/json')
          body = JSON.stringify(json)
        }
        if (cookie) h.set('cookie', cookie)
        if (!noOrigin && method !== 'GET' && !h.has('origin')) h.set('origin', origin)
        const url = `${origin}${MOUNT}${path}`
        if (kind === 'nextjs') {
          if (!h.has('x-forwarded-for')) h.set('x-forwarded-for', '203.0.113.5, 10.0.0.1')
          const segments = path.split('?')[0].split('/').filter(Boolean)
          const request = new Request(url, { method, headers: h, body })
          return nextHandlers[method](request, { params: Promise.resolve({ kavach: segments }) })
        }
        return fetch(url, { method, headers: h, body })
      }

      const cookieOf = (res) => {
        const set = res.headers.getSetCookie()
        assert.equal(set.length, 1)
        return set[0]
      }

      let cookie
      it('signs up and sets the session cookie with safe attributes', async () => {
        const res = await send('POST', '/auth/sign-up', { json: { email: 'Ada@Example.com', password: 'correct horse battery', name: 'Ada' } })
        assert.equal(res.status, 200, await res.clone().text())
        const body = await res.json()
        assert.equal(body.user.email, 'ada@example.com')
        assert.match(body.session.expiresAt, /^\d{4}-\d\d-\d\dT.*Z$/)
        const set = cookieOf(res)
        assert.match(set, /^kavach_session=[A-Za-z0-9_-]{43}; /)
        for (const attr of ['Path=/', 'HttpOnly', 'SameSite=Lax']) assert.ok(set.includes(attr), set)
        assert.ok(!set.includes('Secure'), 'no Secure on an http baseUrl')
        cookie = set.split(';')[0]
      })

      it('signs in with a fresh token each time and rejects a wrong password alike an unknown email', async () => {
        const good = await send('POST', '/auth/sign-in', { json: { email: 'ada@example.com', password: 'correct horse battery' } })
        assert.equal(good.status, 200)
        const fresh = cookieOf(good).split(';')[0]
        assert.notEqual(fresh, cookie)
        cookie = fresh
        const wrong = await send('POST', '/auth/sign-in', { json: { email: 'ada@example.com', password: 'wrong horse battery' } })
        const unknown = await send('POST', '/auth/sign-in', { json: { email: 'nobody@example.com', password: 'wrong horse battery' } })
        assert.equal(wrong.status, 401)
        assert.equal(unknown.status, 401)
        assert.deepEqual(await wrong.json(), await unknown.json())
      })

      it('reads the session over HTTP and in-process from headers or a request', async () => {
        const res = await send('GET', '/auth/session', { cookie })
        assert.equal(res.status, 200)
        assert.equal((await res.json()).user.email, 'ada@example.com')
        const viaHeaders = await kavach.auth.getSession({ headers: new Headers({ cookie }) })
        assert.equal(viaHeaders.success, true)
        assert.equal(viaHeaders.data.user.email, 'ada@example.com')
        assert.ok(viaHeaders.data.session.expiresAt instanceof Date)
        const viaRequest = await kavach.auth.getSession({ request: new Request('http://x/', { headers: { cookie } }) })
        assert.equal(viaRequest.data.user.id, viaHeaders.data.user.id)
        const plain = await kavach.auth.getUser(new Request('http://x/', { headers: { cookie } }))
        assert.equal(plain.data.email, 'ada@example.com')
        const none = await kavach.auth.getSession({ headers: new Headers() })
        assert.deepEqual(none, { success: true, data: null })
      })

      it("manages the signed-in owner's agents and authorizes with the agent token", async () => {
        const created = await send('POST', '/agents', { cookie, json: { name: 'bot', type: 'autonomous', permissions: [{ resource: 'mcp:github:*', actions: ['read'] }] } })
        assert.equal(created.status, 200, await created.clone().text())
        const agent = await created.json()
        assert.match(agent.token, /^kv_/)
        const list = await (await send('GET', '/agents', { cookie })).json()
        assert.deepEqual(list.map((a) => a.id), [agent.id])
        assert.equal(list[0].token, undefined)
        const decision = await send('POST', '/authorize/token', { headers: { authorization: `Bearer ${agent.token}` }, json: { action: 'read', resource: 'mcp:github:repos' }, noOrigin: true })
        assert.equal(decision.status, 200)
        const d = await decision.json()
        assert.equal(d.allowed, true)
        const denied = await (await send('POST', '/authorize', { cookie, json: { agentId: agent.id, action: 'write', resource: 'mcp:github:repos' } })).json()
        assert.deepEqual([denied.allowed, denied.code], [false, 'NO_PERMISSION'])
        const audit = await (await send('GET', `/audit?agentId=${agent.id}`, { cookie })).json()
        assert.equal(audit.length, 2)
        const csv = await send('GET', '/audit/export?format=csv', { cookie })
        assert.match(csv.headers.get('content-type'), /text\/csv/)
        assert.equal((await csv.text()).trim().split('\n').length, 3)
        const rotated = await (await send('POST', `/agents/${agent.id}/rotate`, { cookie })).json()
        assert.notEqual(rotated.token, agent.token)
        assert.equal((await send('DELETE', `/agents/${agent.id}`, { cookie })).status, 200)

        // Another user sees none of it.
        const other = await send('POST', '/auth/sign-up', { json: { email: 'eve@example.com', password: 'another long pw' } })
        const eve = cookieOf(other).split(';')[0]
        assert.equal((await send('GET', `/agents/${agent.id}`, { cookie: eve })).status, 404)
        assert.deepEqual(await (await send('GET', '/agents', { cookie: eve })).json(), [])
        assert.equal((await send('POST', '/agents', { cookie: eve, json: { ownerId: list[0].ownerId, name: 'x', type: 'service', permissions: [] } })).status, 403)
        assert.deepEqual(await (await send('GET', '/audit', { cookie: eve })).json(), [])
        assert.equal((await send('GET', '/agents')).status, 401)
      })

      it('answers bad requests with the right status and code', async () => {
        const expect = async (res, status, code) => {
          assert.equal(res.status, status)
          const body = await res.json()
          assert.equal(body.error.code, code)
          assert.equal(typeof body.error.message, 'string')
        }
        await expect(await send('POST', '/auth/sign-in', { body: '{"email":', headers: { 'content-type': 'application/json' } }), 400, 'INVALID_JSON')
        await expect(await send('POST', '/auth/sign-in', { json: { email: 'ada@example.com' } }), 400, 'VALIDATION_FAILED')
        await expect(await send('POST', '/auth/sign-in', { body: 'email=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'UNSUPPORTED_MEDIA_TYPE')
        await expect(await send('POST', '/auth/sign-up', { json: { email: 'big@example.com', password: 'x'.repeat(2 * 1024 * 1024) } }), 413, 'PAYLOAD_TOO_LARGE')
        await expect(await send('POST', '/auth/sign-in', { headers: { origin: 'https://evil.example' }, json: { email: 'ada@example.com', password: 'correct horse battery' } }), 403, 'INVALID_ORIGIN')
        await expect(await send('POST', '/auth/sign-out', { cookie, noOrigin: true }), 403, 'INVALID_ORIGIN')
        await expect(await send('POST', '/auth/sign-up', { json: { email: 'ada@example.com', password: 'correct horse battery' } }), 409, 'USER_EXISTS')
        await expect(await send('GET', '/nope'), 404, 'NOT_FOUND')
        await expect(await send('GET', '/auth/sign-in'), 405, 'METHOD_NOT_ALLOWED')
      })

      it('signs out: the cookie is cleared and the session is gone', async () => {
        const res = await send('POST', '/auth/sign-out', { cookie })
        assert.equal(res.status, 200)
        assert.match(cookieOf(res), /^kavach_session=; .*Max-Age=0/)
        assert.equal((await send('GET', '/auth/session', { cookie })).status, 401)
        const gone = await kavach.auth.getSession({ headers: new Headers({ cookie }) })
        assert.deepEqual(gone, { success: true, data: null })
      })

      it('limits failed sign-ins per account, then credential requests per IP (429 with Retry-After)', async () => {
        assert.equal((await send('POST', '/auth/sign-up', { json: { email: 'mallory@example.com', password: 'mallory long pw' } })).status, 200)
        for (let i = 0; i < 10; i++) {
          const r = await send('POST', '/auth/sign-in', { json: { email: 'mallory@example.com', password: 'not the password' } })
          assert.equal(r.status, 401, `attempt ${i}`)
        }
        const blocked = await send('POST', '/auth/sign-in', { json: { email: 'MALLORY@example.com', password: 'mallory long pw' } })
        assert.equal(blocked.status, 429, 'even the right password waits once the account is locked')
        assert.ok(Number(blocked.headers.get('retry-after')) >= 1)
        assert.equal((await blocked.json()).error.code, 'RATE_LIMITED')
        // Another account is not locked, until this client's IP runs out of credential requests.
        let status = 0
        let n = 0
        for (; n < 40 && status !== 429; n++) {
          status = (await send('POST', '/auth/sign-in', { json: { email: 'ada@example.com', password: 'correct horse battery' } })).status
          if (status !== 429) assert.equal(status, 200)
        }
        assert.equal(status, 429, 'the per-IP limit (30 a minute by default) answers 429')
      })
    })
  }
}
