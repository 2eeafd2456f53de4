// The shims under other mount prefixes, several Set-Cookie headers in one response, and
// sign-out of every session, on every database.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { Hono } from 'hono'
import { serve } from '@hono/node-server'
import express from 'express'
import Fastify from 'fastify'
import { createKavach } from '../index.mjs'
import { cookieAuth } from '../adapters.mjs'
import { kavachHono } from '../shims/hono.mjs'
import { kavachExpress } from '../shims/express.mjs'
import { kavachFastify } from '../shims/fastify.mjs'
import { kavachNextjs } from '../shims/nextjs.mjs'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'

const OLD_SECRET = 'the-old-better-auth-secret'

function importSession(database, raw) {
  const ms = Date.now()
  const [now, later, yes] = database.provider === 'sqlite' ? [String(ms), String(ms + 86400000), '1'] : database.provider === 'postgres' ? ['now()', "now() + interval '1 day'", 'true'] : ['NOW(3)', 'NOW(3) + INTERVAL 1 DAY', '1']
  const uid = `imp_${raw.slice(0, 8)}`
  sql(database, `INSERT INTO kavach_user (id, email, name, email_verified, created_at, updated_at) VALUES ('${uid}', '${uid}@example.com', 'I', ${yes}, ${now}, ${now})`)
  sql(database, `INSERT INTO kavach_session (id, user_id, token, expires_at, created_at, updated_at) VALUES ('s_${uid}', '${uid}', '${raw}', ${later}, ${now}, ${now})`)
  return `better-auth.session_token=${encodeURIComponent(`${raw}.${createHmac('sha256', OLD_SECRET).update(raw).digest('base64')}`)}`
}

const MOUNTS = {
  hono: '/auth/v2',
  express: '/deep/nested/kavach',
  fastify: '/fz/kv',
  nextjs: '/api/auth', // seed 000: app/api/auth/[...kavach]/route.ts; here the folder is [...all]
}

for (const backend of backends()) {
  describe(`mount prefixes and cookies on ${backend}`, () => {
    const database = freshDatabase(backend, 'mounts')
    let kavach
    const servers = []
    const origins = {}
    let next
    before(async () => {
      kavach = await createKavach({
        database,
        secret: SECRET,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        externalAuth: [cookieAuth({ secret: OLD_SECRET })],
      })
      const hono = new Hono()
      hono.route(MOUNTS.hono, kavachHono(() => kavach))
      await new Promise((resolve) => {
        const s = serve({ fetch: hono.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve())
        servers.push({ close: () => new Promise((r) => s.close(r)) })
        origins.hono = () => `http://127.0.0.1:${s.address().port}`
      })
      const app = express() // no body parser this time: the shim reads the raw bytes itself
      app.use(MOUNTS.express, kavachExpress(kavach))
      await new Promise((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve())
        servers.push({ close: () => new Promise((r) => s.close(r)) })
        origins.express = () => `http://127.0.0.1:${s.address().port}`
      })
      const fastify = Fastify()
      await fastify.register(kavachFastify(kavach), { prefix: MOUNTS.fastify })
      await fastify.listen({ host: '127.0.0.1', port: 0 })
      servers.push({ close: () => fastify.close() })
      origins.fastify = () => `http://127.0.0.1:${fastify.server.address().port}`
      next = kavachNextjs(kavach)
      origins.nextjs = () => 'http://localhost:3000'
    })
    after(async () => {
      for (const s of servers) await s.close()
      await kavach.close()
    })

    async function send(kind, method, path, { json, cookie } = {}) {
      const headers = new Headers({ origin: origins[kind]() })
      if (json) headers.set('content-type', 'application/json')
      if (cookie) headers.set('cookie', cookie)
      const url = `${origins[kind]()}${MOUNTS[kind]}${path}`
      const init = { method, headers, body: json ? JSON.stringify(json) : undefined }
      if (kind === 'nextjs') return next[method](new Request(url, init), { params: Promise.resolve({ all: path.split('/').filter(Boolean) }) })
      return fetch(url, init)
    }

    for (const kind of Object.keys(MOUNTS)) {
      it(`${kind} under ${MOUNTS[kind]}: sign-up, session, and two Set-Cookie headers in one answer`, async () => {
        const email = `${kind}@example.com`
        const up = await send(kind, 'POST', '/auth/sign-up', { json: { email, password: 'a long password', name: 'Zoë "Z" ü' } })
        assert.equal(up.status, 200)
        assert.equal((await up.json()).user.name, 'Zoë "Z" ü', 'the body bytes arrive intact')
        const cookie = up.headers.getSetCookie()[0].split(';')[0]
        const s = await send(kind, 'GET', '/auth/session', { cookie })
        assert.equal(s.status, 200)
        assert.equal((await s.json()).user.email, email)
        // An imported better-auth session signing out: the upgrade cookie, then the clearing one.
        const out = await send(kind, 'POST', '/auth/sign-out', { cookie: importSession(database, randomBytes(16).toString('hex').slice(0, 30)) })
        assert.equal(out.status, 200)
        const cookies = out.headers.getSetCookie()
        assert.equal(cookies.length, 2, JSON.stringify(cookies))
        assert.match(cookies[0], /^kavach_session=[A-Za-z0-9_-]{43};/)
        assert.match(cookies[1], /^kavach_session=; .*Max-Age=0/)
      })
    }

    it('sign-out with { all: true } ends every session of the user', async () => {
      const signIn = async () => (await send('hono', 'POST', '/auth/sign-in', { json: { email: 'hono@example.com', password: 'a long password' } })).headers.getSetCookie()[0].split(';')[0]
      const [a, b] = [await signIn(), await signIn()]
      assert.equal((await send('hono', 'POST', '/auth/sign-out', { cookie: a, json: { all: true } })).status, 200)
      assert.equal((await send('hono', 'GET', '/auth/session', { cookie: b })).status, 401)
    })

    it('kavach.handler strips the configured basePath by itself', async () => {
      const k = await createKavach({ database: { provider: 'sqlite', url: ':memory:' }, secret: SECRET, basePath: '/custom', emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 } })
      const res = await k.handler(new Request('http://localhost/custom/auth/sign-up', { method: 'POST', headers: { 'content-type': 'application/json', origin: 'http://localhost' }, body: JSON.stringify({ email: 'c@example.com', password: 'a long password' }) }))
      assert.equal(res.status, 200)
      assert.equal((await k.handler(new Request('http://localhost/other/auth/session'))).status, 404)
      await k.close()
    })
  })
}
