// GET /auth/session through kavach.handler (issue 17, point 6): on SQLite it takes the same one
// read on the caller's thread as auth.getSession; the answer must be the very one the async route
// gives on every database: body, status, the cookie cleared for a dead session, CORS for an allowed
// Origin, a Bearer token as well as the cookie.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach } from '../index.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

const ORIGIN = 'http://app.test'
const URL_ = `${ORIGIN}/api/kavach/auth/session`

for (const backend of backends()) {
  describe(`GET /auth/session through the handler on ${backend}`, () => {
    let kavach
    let token
    before(async () => {
      kavach = await createKavach({
        database: freshDatabase(backend, 'hsession'),
        secret: SECRET,
        baseUrl: ORIGIN,
        trustedOrigins: ['http://spa.test'],
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
      })
      const up = await kavach.auth.signUp({ email: 'hs@example.com', password: 'handler pw long', name: 'H S' })
      assert.equal(up.success, true)
      token = up.data.token
    })
    after(async () => {
      await kavach.close()
    })

    it('answers { user, session } as getSession does, by cookie and by Bearer, many times over', async () => {
      const viaCall = await kavach.auth.getSession({ headers: new Headers({ cookie: `kavach_session=${token}` }) })
      for (const headers of [{ cookie: `kavach_session=${token}` }, { authorization: `Bearer ${token}` }]) {
        for (let i = 0; i < 50; i++) {
          const res = await kavach.handler(new Request(URL_, { headers }))
          assert.equal(res.status, 200)
          assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8')
          assert.equal(res.headers.get('cache-control'), 'no-store')
          const body = await res.json()
          assert.equal(body.user.id, viaCall.data.user.id)
          assert.equal(body.user.email, 'hs@example.com')
          assert.equal(body.session.id, viaCall.data.session.id)
          assert.equal(body.session.expiresAt, viaCall.data.session.expiresAt.toISOString())
          assert.equal(JSON.stringify(Object.keys(body).sort()), '["session","user"]')
        }
      }
    })

    it('adds the CORS headers for an allowed Origin only', async () => {
      const ok = await kavach.handler(new Request(URL_, { headers: { cookie: `kavach_session=${token}`, origin: 'http://spa.test' } }))
      assert.equal(ok.status, 200)
      assert.equal(ok.headers.get('access-control-allow-origin'), 'http://spa.test')
      assert.equal(ok.headers.get('access-control-allow-credentials'), 'true')
      const foreign = await kavach.handler(new Request(URL_, { headers: { cookie: `kavach_session=${token}`, origin: 'https://evil.example' } }))
      assert.equal(foreign.status, 200)
      assert.equal(foreign.headers.get('access-control-allow-origin'), null)
    })

    it('is 401 for no session, and clears a cookie that names a dead one', async () => {
      const none = await kavach.handler(new Request(URL_))
      assert.equal(none.status, 401)
      assert.equal((await none.json()).error.code, 'UNAUTHORIZED')
      const dead = await kavach.handler(new Request(URL_, { headers: { cookie: 'kavach_session=' + 'x'.repeat(43) } }))
      assert.equal(dead.status, 401)
      assert.equal((await dead.json()).error.code, 'UNAUTHORIZED')
      assert.match(dead.headers.getSetCookie()[0] ?? '', /^kavach_session=; .*Max-Age=0/)
      const bearer = await kavach.handler(new Request(URL_, { headers: { authorization: 'Bearer ' + 'y'.repeat(43) } }))
      assert.equal(bearer.status, 401)
      assert.deepEqual(bearer.headers.getSetCookie(), [])
      // After sign-out the old cookie is dead.
      const out = await kavach.handler(new Request(`${ORIGIN}/api/kavach/auth/sign-out`, { method: 'POST', headers: { cookie: `kavach_session=${token}`, origin: ORIGIN } }))
      assert.equal(out.status, 200)
      const gone = await kavach.handler(new Request(URL_, { headers: { cookie: `kavach_session=${token}` } }))
      assert.equal(gone.status, 401)
    })

    it('a HEAD or another path in the mount is not taken for the session read', async () => {
      const head = await kavach.handler(new Request(URL_, { method: 'HEAD', headers: { cookie: `kavach_session=${token}` } }))
      assert.notEqual(head.status, 200)
      const other = await kavach.handler(new Request(`${ORIGIN}/api/kavach/auth/session/x`, { headers: { cookie: `kavach_session=${token}` } }))
      assert.equal(other.status, 404)
    })
  })
}
