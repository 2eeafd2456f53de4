// The Edge build (`edge-light` / `worker` conditions): auth.getSession asks the app's mounted handler,
// found at basePath, /api/auth or /api/kavach; revocation is seen at once; everything else says it
// needs Node.js. The handler here is a real kavachos instance over a real HTTP server on 127.0.0.1.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import * as edge from '../edge.mjs'
import { createKavach } from '../index.mjs'
import { toHeaders } from '../shims/resolve.js'
import { SECRET } from './helpers.mjs'

describe('kavachos in the Edge runtime', () => {
  let kavach
  let server
  let origin
  let mount = '/api/auth'
  let calls = 0
  before(async () => {
    kavach = await createKavach({ database: { provider: 'sqlite', url: ':memory:' }, secret: SECRET, emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 } })
    server = createServer(async (req, res) => {
      calls++
      const url = new URL(req.url, 'http://127.0.0.1')
      if (!url.pathname.startsWith(mount + '/')) {
        res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>404</h1>')
        return
      }
      const r = await kavach.handler(new Request(url.href, { headers: toHeaders(req.headers) }), { path: url.pathname.slice(mount.length) })
      res.writeHead(r.status, Object.fromEntries(r.headers))
      res.end(Buffer.from(await r.arrayBuffer()))
    })
    await new Promise((r) => server.listen(0, '127.0.0.1', r))
    origin = `http://127.0.0.1:${server.address().port}`
  })
  after(async () => {
    server.close()
    await kavach.close()
  })

  const request = (path, cookie) => new Request(`${origin}${path}`, { headers: cookie ? { cookie } : {} })

  it('answers getSession through the handler, probing the mount once', async () => {
    const user = await kavach.auth.signUp({ email: 'edge@example.com', password: 'long enough pw' })
    const cookie = `kavach_session=${user.data.token}`
    const k = await edge.createKavach({ database: { provider: 'sqlite', url: 'ignored.db' }, secret: SECRET })
    calls = 0
    const s = await k.auth.getSession({ request: request('/dashboard', cookie) })
    assert.equal(s.success, true)
    assert.equal(s.data.user.email, 'edge@example.com')
    assert.ok(s.data.session.expiresAt instanceof Date)
    assert.equal(calls, 1, '/api/auth answered first')
    const u = await k.auth.getUser(request('/x', cookie))
    assert.equal(u.data.id, user.data.user.id)
    assert.equal(calls, 2)

    assert.deepEqual(await k.auth.getSession({ request: request('/dashboard') }), { success: true, data: null }, 'no cookie: no round trip')
    assert.equal(calls, 2)
    assert.deepEqual(await k.auth.getSession({ request: request('/dashboard', 'kavach_session=forged') }), { success: true, data: null })

    // Revocation is seen on the next request: nothing is cached at the edge.
    await kavach.auth.signOut({ headers: { cookie } })
    assert.deepEqual(await k.auth.getSession({ request: request('/dashboard', cookie) }), { success: true, data: null })
  })

  it('finds /api/kavach, honours basePath, and says when there is no handler', async () => {
    const user = await kavach.auth.signIn({ email: 'edge@example.com', password: 'long enough pw' })
    const cookie = `kavach_session=${user.data.token}`
    mount = '/api/kavach'
    const probing = await edge.createKavach({ secret: SECRET })
    assert.equal((await probing.auth.getSession({ request: request('/', cookie) })).data.user.email, 'edge@example.com')
    mount = '/custom/auth'
    const configured = await edge.createKavach({ secret: SECRET, basePath: '/custom/auth/' })
    assert.equal((await configured.auth.getSession({ request: request('/', cookie) })).data.user.email, 'edge@example.com')
    const lost = await edge.createKavach({ secret: SECRET })
    const r = await lost.auth.getSession({ request: request('/', cookie) })
    assert.equal(r.success, false)
    assert.equal(r.error.code, 'CONFIG_INVALID')
    // Headers without a URL need baseUrl.
    const noUrl = await edge.createKavach({ secret: SECRET, basePath: '/custom/auth' })
    assert.equal((await noUrl.auth.getSession({ headers: new Headers({ cookie }) })).error.code, 'CONFIG_INVALID')
    const withBase = await edge.createKavach({ secret: SECRET, basePath: '/custom/auth', baseUrl: origin })
    assert.equal((await withBase.auth.getSession({ headers: new Headers({ cookie }) })).data.user.email, 'edge@example.com')
    const down = await edge.createKavach({ secret: SECRET, baseUrl: 'http://127.0.0.1:9' })
    assert.equal((await down.auth.getSession({ headers: { cookie } })).error.code, 'SERVICE_UNAVAILABLE')
  })

  it('everything else needs Node.js, with a clear error', async () => {
    const k = await edge.createKavach({ secret: SECRET })
    assert.throws(() => k.agent.create({}), (e) => e instanceof edge.KavachError && e.code === 'UNSUPPORTED_RUNTIME' && /Node\.js runtime/.test(e.message))
    assert.throws(() => k.authorizeByToken('kv_x', { action: 'a', resource: 'b' }), { code: 'UNSUPPORTED_RUNTIME' })
    await assert.rejects(edge.migrate('x.db'), { code: 'UNSUPPORTED_RUNTIME' })
    assert.equal(typeof k.then, 'undefined', 'the instance is not a thenable')
    await assert.rejects(edge.createKavach(null), { code: 'CONFIG_INVALID' })
  })
})
