// "Enable it in your adapter" (seed 004): each shim mounted at /.well-known as well as at the API's
// mount serves the MCP server's RFC 8414 and RFC 9728 documents from the same handler, and the
// API's own /mcp routes under the mount. On every database.
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

const BASE = 'https://app.example.com'
const MOUNT = '/api/auth'

for (const backend of backends()) {
  describe(`the shims route /.well-known to the MCP server on ${backend}`, () => {
    let kavach
    const servers = []
    const origins = {}
    let next
    before(async () => {
      kavach = await createKavach({
        database: freshDatabase(backend, 'mcpshim'),
        secret: SECRET,
        baseUrl: BASE,
        basePath: MOUNT,
        mcp: { enabled: true, resources: [`${BASE}/mcp`], scopes: { 'tools:call': [{ resource: 'mcp:tools:*', actions: ['call'] }] } },
      })
      const hono = new Hono()
      hono.route(MOUNT, kavachHono(kavach))
      hono.route('/.well-known', kavachHono(kavach))
      const h = await new Promise((resolve) => {
        const s = serve({ fetch: hono.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s))
        servers.push({ close: () => new Promise((r) => s.close(r)) })
      })
      origins.hono = `http://127.0.0.1:${h.address().port}`
      const app = express()
      app.use(MOUNT, kavachExpress(kavach))
      app.use('/.well-known', kavachExpress(kavach))
      const e = await new Promise((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s))
        servers.push({ close: () => new Promise((r) => s.close(r)) })
      })
      origins.express = `http://127.0.0.1:${e.address().port}`
      const fastify = Fastify()
      await fastify.register(kavachFastify(kavach), { prefix: MOUNT })
      await fastify.register(kavachFastify(kavach), { prefix: '/.well-known' })
      await fastify.listen({ host: '127.0.0.1', port: 0 })
      servers.push({ close: () => fastify.close() })
      origins.fastify = `http://127.0.0.1:${fastify.server.address().port}`
      next = kavachNextjs(kavach)
    })
    after(async () => {
      for (const s of servers) await s.close()
      await kavach?.close()
    })

    // Next.js: app/api/auth/[...all]/route.ts and app/.well-known/[...path]/route.ts re-export the handlers.
    const get = (kind, path) => {
      if (kind === 'nextjs') {
        const segments = path.split('/').filter(Boolean)
        const params = path.startsWith('/.well-known/') ? { path: segments.slice(1) } : { all: segments.slice(2) }
        return next.GET(new Request(`http://localhost:3000${path}`), { params: Promise.resolve(params) })
      }
      return fetch(`${origins[kind]}${path}`)
    }

    for (const kind of ['hono', 'express', 'fastify', 'nextjs']) {
      it(`${kind}: the path-inserted RFC 8414 document, the RFC 9728 one and the JWKS`, async () => {
        const as = await get(kind, `/.well-known/oauth-authorization-server${MOUNT}`)
        assert.equal(as.status, 200, await as.clone().text())
        const meta = await as.json()
        assert.equal(meta.issuer, `${BASE}${MOUNT}`)
        assert.equal(meta.token_endpoint, `${BASE}${MOUNT}/mcp/token`)
        assert.deepEqual(meta.code_challenge_methods_supported, ['S256'])
        const root = await get(kind, '/.well-known/oauth-authorization-server')
        assert.deepEqual(await root.json(), meta)
        const prm = await get(kind, '/.well-known/oauth-protected-resource/mcp')
        assert.equal(prm.status, 200)
        const doc = await prm.json()
        assert.equal(doc.resource, `${BASE}/mcp`)
        assert.deepEqual(doc.authorization_servers, [`${BASE}${MOUNT}`])
        const unknown = await get(kind, '/.well-known/oauth-protected-resource/nope')
        assert.equal(unknown.status, 404)
        const jwks = await get(kind, `${MOUNT}/mcp/jwks`)
        assert.equal(jwks.status, 200)
        assert.equal((await jwks.json()).keys[0].alg, 'EdDSA')
      })
    }
  })
}
