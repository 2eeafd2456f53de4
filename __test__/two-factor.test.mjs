// twoFactor() over real HTTP (Hono with @hono/node-server on 127.0.0.1) and in-process, on every
// database. The TOTP codes come from otplib, an implementation independent of the Rust core.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Hono } from 'hono'
import { serve } from '@hono/node-server'
import { authenticator } from 'otplib'
import { createKavach } from '../index.mjs'
import { twoFactor } from '../plugins.mjs'
import { kavachHono } from '../shims/hono.mjs'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'

const MOUNT = '/api/kavach'
const PASSWORD = 'correct horse battery'

// The code of the step `steps` away from now (the core accepts one step either side).
const codeAt = (secret, steps = 0) => authenticator.clone({ epoch: Date.now() + steps * 30_000 }).generate(secret)

for (const backend of backends()) {
  describe(`twoFactor() over HTTP on ${backend}`, () => {
    let kavach
    let server
    let origin
    let database
    before(async () => {
      database = freshDatabase(backend, 'twofactor')
      kavach = await createKavach({
        database,
        secret: SECRET,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        rateLimit: { enabled: false },
        plugins: [twoFactor({ issuer: 'Acme' })],
      })
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

    function send(method, path, { json, cookies = [] } = {}) {
      const h = new Headers()
      if (json !== undefined) h.set('content-type', 'application/json')
      if (cookies.length) h.set('cookie', cookies.join('; '))
      if (method !== 'GET') h.set('origin', origin)
      return fetch(`${origin}${MOUNT}${path}`, { method, headers: h, body: json === undefined ? undefined : JSON.stringify(json) })
    }
    const setCookies = (res) => Object.fromEntries(res.headers.getSetCookie().map((c) => [c.split('=')[0], c]))
    const pair = (setCookie) => setCookie.split(';')[0]
    const signIn = (cookies = []) => send('POST', '/auth/sign-in', { json: { email: 'ada@example.com', password: PASSWORD }, cookies })

    let session
    let secret
    let backupCodes
    let trusted

    it('enrolls with the password and activates with an otplib code', async () => {
      const up = await send('POST', '/auth/sign-up', { json: { email: 'ada@example.com', password: PASSWORD } })
      assert.equal(up.status, 200)
      session = pair(setCookies(up).kavach_session)
      const off = await send('GET', '/two-factor/status', { cookies: [session] })
      assert.deepEqual(await off.json(), { enabled: false })
      assert.equal((await send('POST', '/two-factor/enable', { cookies: [session], json: { password: 'wrong horse battery' } })).status, 401)
      assert.equal((await send('POST', '/two-factor/enable', { json: { password: PASSWORD } })).status, 401, 'needs a session')

      const res = await send('POST', '/two-factor/enable', { cookies: [session], json: { password: PASSWORD } })
      assert.equal(res.status, 200, await res.clone().text())
      const body = await res.json()
      secret = body.secret
      backupCodes = body.backupCodes
      assert.match(secret, /^[A-Z2-7]{32}$/)
      assert.equal(backupCodes.length, 10)
      assert.equal(new Set(backupCodes).size, 10)
      const uri = new URL(body.totpURI)
      assert.equal(uri.protocol, 'otpauth:')
      assert.equal(uri.host, 'totp')
      assert.equal(decodeURIComponent(uri.pathname), '/Acme:ada@example.com')
      assert.deepEqual(Object.fromEntries(uri.searchParams), { secret, issuer: 'Acme', algorithm: 'SHA1', digits: '6', period: '30' })
      // Stored encrypted: neither the base32 secret nor a backup code is in the database.
      const stored = sql(database, 'SELECT secret FROM kavach_two_factor')
      assert.ok(stored.startsWith('v1.') && !stored.includes(secret), stored)
      const hashes = sql(database, 'SELECT code_hash FROM kavach_two_factor_backup')
      for (const c of backupCodes) assert.ok(!hashes.includes(c))

      // Still off until the app proves it has the secret.
      assert.deepEqual(await (await send('GET', '/two-factor/status', { cookies: [session] })).json(), { enabled: false })
      const wrong = codeAt(secret) === '000000' ? '111111' : '000000'
      const bad = await send('POST', '/two-factor/activate', { cookies: [session], json: { code: wrong } })
      assert.equal(bad.status, 401)
      assert.equal((await bad.json()).error.code, 'INVALID_CODE')
      const on = await send('POST', '/two-factor/activate', { cookies: [session], json: { code: authenticator.generate(secret) } })
      assert.equal(on.status, 200, await on.clone().text())
      assert.deepEqual(await on.json(), { enabled: true })
      assert.deepEqual(await (await send('GET', '/two-factor/status', { cookies: [session] })).json(), { enabled: true })
      assert.equal((await send('POST', '/two-factor/enable', { cookies: [session], json: { password: PASSWORD } })).status, 409)
    })

    it('signs in only with the code: no session before it, INVALID_CODE for a wrong one, replay refused', async () => {
      assert.equal((await send('POST', '/auth/sign-out', { cookies: [session] })).status, 200)
      const res = await signIn()
      assert.equal(res.status, 200)
      assert.deepEqual(await res.json(), { twoFactorRequired: true })
      const set = setCookies(res)
      assert.equal(set.kavach_session, undefined, 'no session cookie')
      assert.match(set.kavach_2fa, /^kavach_2fa=[A-Za-z0-9_-]{43}; /)
      for (const attr of ['HttpOnly', 'SameSite=Lax', 'Max-Age=300', 'Path=/']) assert.ok(set.kavach_2fa.includes(attr), set.kavach_2fa)
      const pending = pair(set.kavach_2fa)
      assert.equal((await send('GET', '/auth/session', { cookies: [pending] })).status, 401)

      // The activation code (this step) is spent; so is any wrong code.
      const replay = await send('POST', '/two-factor/verify', { cookies: [pending], json: { code: authenticator.generate(secret) } })
      assert.equal(replay.status, 401)
      assert.equal((await replay.json()).error.code, 'INVALID_CODE')
      const code = codeAt(secret, 1)
      const ok = await send('POST', '/two-factor/verify', { cookies: [pending], json: { code } })
      assert.equal(ok.status, 200, await ok.clone().text())
      const body = await ok.json()
      assert.equal(body.user.email, 'ada@example.com')
      const done = setCookies(ok)
      session = pair(done.kavach_session)
      assert.match(done.kavach_2fa, /Max-Age=0/, 'pending cookie cleared')
      assert.equal(done.kavach_trusted_device, undefined)
      const me = await send('GET', '/auth/session', { cookies: [session] })
      assert.equal(me.status, 200)
      assert.equal((await me.json()).session.id, body.session.id)
      // The pending sign-in is consumed.
      const again = await send('POST', '/two-factor/verify', { cookies: [pending], json: { code } })
      assert.equal((await again.json()).error.code, 'INVALID_TWO_FACTOR_TOKEN')

      // The same code for a second sign-in in the same step is refused.
      const second = pair(setCookies(await signIn()).kavach_2fa)
      const reused = await send('POST', '/two-factor/verify', { cookies: [second], json: { code } })
      assert.equal(reused.status, 401)
      assert.equal((await reused.json()).error.code, 'INVALID_CODE')
      const noCookie = await send('POST', '/two-factor/verify', { json: { code } })
      assert.equal((await noCookie.json()).error.code, 'INVALID_TWO_FACTOR_TOKEN')
    })

    it('accepts a backup code once, and trusts the device when asked', async () => {
      const first = pair(setCookies(await signIn()).kavach_2fa)
      const used = await send('POST', '/two-factor/verify', { cookies: [first], json: { backupCode: backupCodes[0] } })
      assert.equal(used.status, 200, await used.clone().text())
      assert.ok(setCookies(used).kavach_session)

      const second = pair(setCookies(await signIn()).kavach_2fa)
      const reused = await send('POST', '/two-factor/verify', { cookies: [second], json: { backupCode: backupCodes[0] } })
      assert.equal(reused.status, 401)
      assert.equal((await reused.json()).error.code, 'INVALID_CODE')

      const trust = await send('POST', '/two-factor/verify', { cookies: [second], json: { backupCode: backupCodes[1], trustDevice: true } })
      assert.equal(trust.status, 200, await trust.clone().text())
      const set = setCookies(trust)
      for (const attr of ['HttpOnly', 'SameSite=Lax', `Max-Age=${30 * 86400}`]) assert.ok(set.kavach_trusted_device.includes(attr), set.kavach_trusted_device)
      trusted = pair(set.kavach_trusted_device)

      const skip = await signIn([trusted])
      assert.equal(skip.status, 200)
      const body = await skip.json()
      assert.equal(body.user.email, 'ada@example.com')
      assert.ok(setCookies(skip).kavach_session, 'the trusted device signs in without a code')
      assert.deepEqual(await (await signIn(['kavach_trusted_device=forged'])).json(), { twoFactorRequired: true })
    })

    it('five wrong codes end the pending sign-in; new backup codes replace the old ones', async () => {
      const pending = pair(setCookies(await signIn()).kavach_2fa)
      for (let i = 0; i < 5; i++) {
        const r = await send('POST', '/two-factor/verify', { cookies: [pending], json: { backupCode: 'AAAAA-AAAAA' } })
        assert.equal((await r.json()).error.code, 'INVALID_CODE')
      }
      const late = await send('POST', '/two-factor/verify', { cookies: [pending], json: { backupCode: backupCodes[2] } })
      assert.equal(late.status, 401)
      assert.equal((await late.json()).error.code, 'INVALID_TWO_FACTOR_TOKEN')

      assert.equal((await send('POST', '/two-factor/backup-codes', { cookies: [session], json: { password: 'nope nope nope' } })).status, 401)
      const fresh = await send('POST', '/two-factor/backup-codes', { cookies: [session], json: { password: PASSWORD } })
      assert.equal(fresh.status, 200)
      const { backupCodes: next } = await fresh.json()
      assert.equal(next.length, 10)
      const p = pair(setCookies(await signIn()).kavach_2fa)
      const old = await send('POST', '/two-factor/verify', { cookies: [p], json: { backupCode: backupCodes[2] } })
      assert.equal((await old.json()).error.code, 'INVALID_CODE')
      const good = await send('POST', '/two-factor/verify', { cookies: [p], json: { backupCode: next[0] } })
      assert.equal(good.status, 200)
      backupCodes = next
    })

    it('disable turns it off', async () => {
      assert.equal((await send('POST', '/two-factor/disable', { cookies: [session], json: { password: 'nope nope nope' } })).status, 401)
      const off = await send('POST', '/two-factor/disable', { cookies: [session], json: { password: PASSWORD } })
      assert.equal(off.status, 200)
      assert.deepEqual(await off.json(), { enabled: false })
      const res = await signIn()
      assert.equal(res.status, 200)
      assert.equal((await res.json()).user.email, 'ada@example.com')
      assert.ok(setCookies(res).kavach_session)
      assert.equal(sql(database, 'SELECT COUNT(*) FROM kavach_two_factor_trusted'), '0')
    })

    it('kavach.twoFactor.* and auth.signIn in-process, as Results', async () => {
      const up = await kavach.auth.signUp({ email: 'bob@example.com', password: PASSWORD })
      const userId = up.data.user.id
      const bad = await kavach.twoFactor.enable({ userId, password: 'wrong wrong wrong' })
      assert.deepEqual(bad.success, false)
      assert.equal(bad.error.code, 'INVALID_CREDENTIALS')
      const e = await kavach.twoFactor.enable({ userId, password: PASSWORD })
      assert.equal(e.success, true)
      assert.ok(e.data.totpURI.startsWith('otpauth://totp/Acme:bob%40example.com?'))
      assert.deepEqual(await kavach.twoFactor.status(userId), { success: true, data: { enabled: false } })
      assert.deepEqual(await kavach.twoFactor.activate({ userId, code: authenticator.generate(e.data.secret) }), { success: true, data: { enabled: true } })

      const s = await kavach.auth.signIn({ email: 'bob@example.com', password: PASSWORD })
      assert.equal(s.success, true)
      assert.equal(s.data.twoFactorRequired, true)
      assert.equal(s.data.session, undefined)
      assert.match(s.data.twoFactorToken, /^[A-Za-z0-9_-]{43}$/)
      const wrong = await kavach.twoFactor.verify({ twoFactorToken: s.data.twoFactorToken, code: '12345a' })
      assert.equal(wrong.error.code, 'INVALID_CODE')
      const v = await kavach.twoFactor.verify({ twoFactorToken: s.data.twoFactorToken, code: codeAt(e.data.secret, 1), trustDevice: true })
      assert.equal(v.success, true, JSON.stringify(v.error))
      assert.equal(v.data.user.email, 'bob@example.com')
      assert.ok(v.data.session.expiresAt instanceof Date)
      assert.ok(v.data.user.createdAt instanceof Date)
      const me = await kavach.auth.getSession({ headers: new Headers({ cookie: `kavach_session=${v.data.token}` }) })
      assert.equal(me.data.user.id, userId)
      const skip = await kavach.auth.signIn({ email: 'bob@example.com', password: PASSWORD }, { trustedDeviceToken: v.data.trustedDeviceToken })
      assert.equal(skip.data.user.email, 'bob@example.com')
      assert.ok(skip.data.session.expiresAt instanceof Date)

      const codes = await kavach.twoFactor.generateBackupCodes({ userId, password: PASSWORD })
      assert.equal(codes.data.backupCodes.length, 10)
      const t = (await kavach.auth.signIn({ email: 'bob@example.com', password: PASSWORD })).data.twoFactorToken
      assert.equal((await kavach.twoFactor.verify({ twoFactorToken: t, backupCode: codes.data.backupCodes[0] })).success, true)
      const t2 = (await kavach.auth.signIn({ email: 'bob@example.com', password: PASSWORD })).data.twoFactorToken
      assert.equal((await kavach.twoFactor.verify({ twoFactorToken: t2, backupCode: codes.data.backupCodes[0] })).error.code, 'INVALID_CODE')
      assert.equal((await kavach.twoFactor.verify({ twoFactorToken: t2 })).error.code, 'VALIDATION_FAILED')
      assert.equal((await kavach.twoFactor.verify(null)).error.code, 'VALIDATION_FAILED')
      assert.deepEqual(await kavach.twoFactor.disable({ userId, password: PASSWORD }), { success: true, data: { enabled: false } })
      assert.equal((await kavach.auth.signIn({ email: 'bob@example.com', password: PASSWORD })).data.user.id, userId)
    })
  })
}

describe('twoFactor() routes without the plugin', () => {
  it('answer 404, and the calls CONFIG_INVALID', async () => {
    const kavach = await createKavach({ database: freshDatabase('sqlite', 'twofactor_off'), secret: SECRET, emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 } })
    try {
      for (const [method, path] of [['GET', '/two-factor/status'], ['POST', '/two-factor/enable'], ['POST', '/two-factor/verify']]) {
        const res = await kavach.handler(new Request(`http://localhost${MOUNT}${path}`, { method }))
        assert.equal(res.status, 404, path)
      }
      const r = await kavach.twoFactor.status('u')
      assert.equal(r.error.code, 'CONFIG_INVALID')
    } finally {
      await kavach.close()
    }
  })
})

describe('twoFactor() wrong codes over HTTP', () => {
  it('count per account across sign-ins: 429 with Retry-After once over the failed sign-in limit', async () => {
    const kavach = await createKavach({
      database: freshDatabase('sqlite', 'twofactor_limit'),
      secret: SECRET,
      emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
      rateLimit: { maxFailedSignIns: 2, maxCredentialRequestsPerIp: 1000 },
      plugins: [twoFactor()],
    })
    const o = 'http://localhost'
    const call = (method, path, json, cookie) =>
      kavach.handler(
        new Request(`${o}${MOUNT}${path}`, {
          method,
          headers: { origin: o, 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
          body: json === undefined ? undefined : JSON.stringify(json),
        }),
        { clientIp: '203.0.113.9' },
      )
    const first = (res) => res.headers.getSetCookie()[0].split(';')[0]
    try {
      const up = await call('POST', '/auth/sign-up', { email: 'cy@example.com', password: PASSWORD })
      const session = first(up)
      const e = await (await call('POST', '/two-factor/enable', { password: PASSWORD }, session)).json()
      assert.equal((await call('POST', '/two-factor/activate', { code: authenticator.generate(e.secret) }, session)).status, 200)
      const signIn = async () => first(await call('POST', '/auth/sign-in', { email: 'cy@example.com', password: PASSWORD }))
      for (let i = 0; i < 2; i++) {
        const r = await call('POST', '/two-factor/verify', { backupCode: 'AAAAA-AAAAA' }, await signIn())
        assert.equal(r.status, 401)
      }
      const blocked = await call('POST', '/two-factor/verify', { backupCode: e.backupCodes[0] }, await signIn())
      assert.equal(blocked.status, 429)
      assert.equal((await blocked.json()).error.code, 'RATE_LIMITED')
      assert.ok(Number(blocked.headers.get('retry-after')) > 0)
    } finally {
      await kavach.close()
    }
  })
})
