// Next.js's own request type: NextRequest through auth.getSession and through the route handlers.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { NextRequest } from 'next/server.js'
import { createKavach } from '../index.mjs'
import { kavachNextjs } from '../shims/nextjs.mjs'
import { SECRET } from './helpers.mjs'

describe('NextRequest', () => {
  let kavach
  before(async () => {
    kavach = await createKavach({ database: { provider: 'sqlite', url: ':memory:' }, secret: SECRET, emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 } })
  })
  after(() => kavach.close())

  it('works with getSession({ request }) as the seed 000 middleware calls it, and with the route handlers', async () => {
    const { POST, GET } = kavachNextjs(Promise.resolve(kavach))
    const up = await POST(
      new NextRequest('http://localhost:3000/api/auth/auth/sign-up', {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: 'http://localhost:3000' },
        body: JSON.stringify({ email: 'next@example.com', password: 'next long pw' }),
      }),
      { params: Promise.resolve({ kavach: ['auth', 'sign-up'] }) },
    )
    assert.equal(up.status, 200)
    const cookie = up.headers.getSetCookie()[0].split(';')[0]
    const req = new NextRequest('http://localhost:3000/dashboard', { headers: { cookie } })
    const session = await kavach.auth.getSession({ request: req })
    assert.equal(session.success, true)
    assert.equal(session.data.user.email, 'next@example.com')
    const viaRoute = await GET(new NextRequest('http://localhost:3000/api/auth/auth/session', { headers: { cookie } }), { params: Promise.resolve({ kavach: ['auth', 'session'] }) })
    assert.equal(viaRoute.status, 200)
    const anonymous = await kavach.auth.getSession({ request: new NextRequest('http://localhost:3000/dashboard') })
    assert.deepEqual(anonymous, { success: true, data: null })
  })

  it('an https baseUrl makes the session cookie Secure', async () => {
    const k = await createKavach({ database: { provider: 'sqlite', url: ':memory:' }, secret: SECRET, baseUrl: 'https://app.example.com', emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 } })
    const res = await k.handler(
      new Request('https://app.example.com/api/kavach/auth/sign-up', {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: 'https://app.example.com' },
        body: JSON.stringify({ email: 's@example.com', password: 'secure long pw' }),
      }),
    )
    assert.equal(res.status, 200)
    const [cookie] = res.headers.getSetCookie()
    assert.match(cookie, /; HttpOnly; SameSite=Lax; Max-Age=\d+; Secure$/)
    const foreign = await k.handler(new Request('https://app.example.com/api/kavach/auth/sign-in', { method: 'POST', headers: { 'content-type': 'application/json', origin: 'http://app.example.com' }, body: '{}' }))
    assert.equal(foreign.status, 403, 'the http origin is not the https one')
    await k.close()
  })
})
