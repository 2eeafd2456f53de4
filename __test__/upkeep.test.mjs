// Account upkeep over the HTTP API (kavach.handler with Web Requests): forgot and reset password,
// change password, email verification, on every database.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach } from '../index.mjs'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'

const BASE = 'http://localhost:3000'

function client(kavach) {
  return async (method, path, { json, cookie, headers = {} } = {}) => {
    const h = new Headers(headers)
    if (json !== undefined) h.set('content-type', 'application/json')
    if (cookie) h.set('cookie', cookie)
    if (method !== 'GET') h.set('origin', BASE)
    return kavach.handler(new Request(`${BASE}/api/kavach${path}`, { method, headers: h, body: json === undefined ? undefined : JSON.stringify(json) }))
  }
}
const cookieOf = (res) => (res.headers.getSetCookie()[0] || '').split(';')[0]

for (const backend of backends()) {
  describe(`account upkeep on ${backend}`, () => {
    const database = freshDatabase(backend, 'upkeep')
    const resets = []
    let kavach
    let send
    before(async () => {
      kavach = await createKavach({
        database,
        secret: SECRET,
        baseUrl: BASE,
        emailAndPassword: {
          enabled: true,
          pbkdf2Iterations: 2000,
          sendResetPassword: async ({ user, url, token }) => {
            await new Promise((r) => setTimeout(r, 5)) // awaited: the route answers after this
            resets.push({ user, url, token })
          },
        },
      })
      send = client(kavach)
    })
    after(() => kavach.close())

    it('forgot-password mails a single-use link to existing accounts only, with the same answer', async () => {
      const up = await send('POST', '/auth/sign-up', { json: { email: 'ada@example.com', password: 'first password' } })
      assert.equal(up.status, 200)
      const known = await send('POST', '/auth/forgot-password', { json: { email: 'ADA@example.com' } })
      const unknown = await send('POST', '/auth/forgot-password', { json: { email: 'nobody@example.com' } })
      assert.equal(known.status, 200)
      assert.equal(unknown.status, 200)
      assert.deepEqual(await known.json(), await unknown.json())
      assert.equal(resets.length, 1)
      const [{ user, url, token }] = resets
      assert.equal(user.email, 'ada@example.com')
      assert.ok(user.createdAt instanceof Date)
      assert.equal(url, `${BASE}/reset-password?token=${token}`)
      const foreign = await send('POST', '/auth/forgot-password', { json: { email: 'ada@example.com', redirectTo: 'https://evil.example/steal' } })
      assert.equal(foreign.status, 400)
      assert.equal(resets.length, 1, 'no link is built for another origin')
    })

    it('reset-password sets the new password once and ends every session', async () => {
      const signedIn = await send('POST', '/auth/sign-in', { json: { email: 'ada@example.com', password: 'first password' } })
      const cookie = cookieOf(signedIn)
      await send('POST', '/auth/forgot-password', { json: { email: 'ada@example.com', redirectTo: '/account/reset?step=2' } })
      const { token, url } = resets.at(-1)
      assert.equal(url, `${BASE}/account/reset?step=2&token=${token}`)
      const short = await send('POST', '/auth/reset-password', { json: { token, newPassword: 'short' } })
      assert.equal(short.status, 400)
      const ok = await send('POST', '/auth/reset-password', { json: { token, newPassword: 'second password' } })
      assert.equal(ok.status, 200)
      const again = await send('POST', '/auth/reset-password', { json: { token, newPassword: 'third password' } })
      assert.equal(again.status, 400)
      assert.equal((await again.json()).error.code, 'INVALID_TOKEN')
      assert.equal((await send('GET', '/auth/session', { cookie })).status, 401, 'sessions ended')
      assert.equal((await send('POST', '/auth/sign-in', { json: { email: 'ada@example.com', password: 'first password' } })).status, 401)
      assert.equal((await send('POST', '/auth/sign-in', { json: { email: 'ada@example.com', password: 'second password' } })).status, 200)
    })

    it('an expired reset link is refused', async () => {
      await send('POST', '/auth/forgot-password', { json: { email: 'ada@example.com' } })
      const { token } = resets.at(-1)
      const past = database.provider === 'sqlite' ? '1000' : database.provider === 'postgres' ? "now() - interval '2 hours'" : 'NOW(3) - INTERVAL 2 HOUR'
      sql(database, `UPDATE kavach_verification SET expires_at = ${past}`)
      const res = await send('POST', '/auth/reset-password', { json: { token, newPassword: 'another password' } })
      assert.equal(res.status, 400)
      assert.equal((await res.json()).error.code, 'INVALID_TOKEN')
    })

    it('change-password checks the current password and ends the other sessions', async () => {
      const a = cookieOf(await send('POST', '/auth/sign-in', { json: { email: 'ada@example.com', password: 'second password' } }))
      const b = cookieOf(await send('POST', '/auth/sign-in', { json: { email: 'ada@example.com', password: 'second password' } }))
      const wrong = await send('POST', '/auth/change-password', { cookie: a, json: { currentPassword: 'nope nope nope', newPassword: 'third password' } })
      assert.equal(wrong.status, 401)
      const ok = await send('POST', '/auth/change-password', { cookie: a, json: { currentPassword: 'second password', newPassword: 'third password' } })
      assert.equal(ok.status, 200)
      assert.equal((await send('GET', '/auth/session', { cookie: a })).status, 200, 'this session stays')
      assert.equal((await send('GET', '/auth/session', { cookie: b })).status, 401, 'the other one ends')
      const c = cookieOf(await send('POST', '/auth/sign-in', { json: { email: 'ada@example.com', password: 'third password' } }))
      await send('POST', '/auth/change-password', { cookie: a, json: { currentPassword: 'third password', newPassword: 'fourth password', revokeOtherSessions: false } })
      assert.equal((await send('GET', '/auth/session', { cookie: c })).status, 200)
      assert.equal((await send('POST', '/auth/change-password', { json: { currentPassword: 'x', newPassword: 'y' } })).status, 401)
    })
  })

  describe(`email verification on ${backend}`, () => {
    const mails = []
    let kavach
    let send
    before(async () => {
      kavach = await createKavach({
        database: freshDatabase(backend, 'verify'),
        secret: SECRET,
        baseUrl: BASE,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000, requireEmailVerification: true, sendVerificationEmail: (m) => void mails.push(m) },
      })
      send = client(kavach)
    })
    after(() => kavach.close())

    it('sign-up mails a link and signs no one in until it is followed', async () => {
      const up = await send('POST', '/auth/sign-up', { json: { email: 'new@example.com', password: 'brand new pw' } })
      assert.equal(up.status, 200)
      const body = await up.json()
      assert.equal(body.session, null)
      assert.equal(up.headers.getSetCookie().length, 0)
      assert.equal(mails.length, 1)
      assert.match(mails[0].url, /^http:\/\/localhost:3000\/api\/kavach\/auth\/verify-email\?token=/)
      const early = await send('POST', '/auth/sign-in', { json: { email: 'new@example.com', password: 'brand new pw' } })
      assert.equal(early.status, 403)
      assert.equal((await early.json()).error.code, 'EMAIL_NOT_VERIFIED')
      assert.equal(mails.length, 2, 'a fresh link is sent')
      assert.equal((await send('GET', `/auth/verify-email?token=${mails[0].token}`)).status, 400, 'the first link was replaced')
      const follow = await send('GET', `/auth/verify-email?token=${mails[1].token}&callbackURL=${encodeURIComponent('/welcome')}`)
      assert.equal(follow.status, 302)
      assert.equal(follow.headers.get('location'), '/welcome')
      assert.equal((await send('GET', `/auth/verify-email?token=${mails[1].token}`)).status, 400, 'single use')
      const signed = await send('POST', '/auth/sign-in', { json: { email: 'new@example.com', password: 'brand new pw' } })
      assert.equal(signed.status, 200)
      assert.equal((await signed.json()).user.emailVerified, true)
    })

    it('requireEmailVerification without sendVerificationEmail is a configuration error', async () => {
      await assert.rejects(
        createKavach({ database: { provider: 'sqlite', url: ':memory:' }, secret: SECRET, emailAndPassword: { enabled: true, requireEmailVerification: true } }),
        { code: 'CONFIG_INVALID' },
      )
    })
  })
}
