// emailOTP() over real HTTP (node:http in front of kavach.handler) on every database: codes are
// captured from sendVerificationOTP; expiry moves the instance clock.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'
import { serve } from './http-server.mjs'
import { createKavachClient } from '../npm/client/index.mjs'

process.env.KAVACH_TEST_CLOCK = '1'
const { createKavach } = await import('../index.mjs')
const { emailOTP } = await import('../plugins.mjs')

const PASSWORD = 'correct horse battery'
const NEW_PASSWORD = 'another horse battery'

async function boot(backend, { rateLimit = { enabled: false }, options = {}, tag = 'emailotp' } = {}) {
  const database = freshDatabase(backend, tag)
  const sent = []
  const kavach = await createKavach({
    database,
    secret: SECRET,
    emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
    rateLimit,
    plugins: [emailOTP({ ...options, sendVerificationOTP: async (m) => { sent.push(m) } })],
  })
  const server = await serve(kavach)
  return { database, sent, kavach, server, close: async () => { await server.close(); await kavach.close() } }
}

const last = (sent) => sent[sent.length - 1]
// A code that is not `otp` (same length).
const wrong = (otp) => otp.slice(0, -1) + String((Number(otp.at(-1)) + 1) % 10)
const sessionsOf = (database, email) =>
  Number(sql(database, `SELECT COUNT(*) FROM kavach_session s JOIN kavach_user u ON u.id = s.user_id WHERE u.email = '${email}'`))

for (const backend of backends()) {
  describe(`emailOTP() over HTTP on ${backend}`, () => {
    let t
    before(async () => { t = await boot(backend) })
    after(async () => { await t.close() })

    const send = (b, email, type) => b.post('/auth/email-otp/send-verification-otp', { email, type })

    it('signs a new email up with the sent code (verified), once', async () => {
      const b = t.server.client()
      const r = await send(b, 'Ada@Example.com', 'sign-in')
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.deepEqual(r.body, { success: true })
      assert.equal(t.sent.length, 1)
      const m = last(t.sent)
      assert.deepEqual(Object.keys(m).sort(), ['email', 'otp', 'type'])
      assert.equal(m.email, 'ada@example.com')
      assert.equal(m.type, 'sign-in')
      assert.match(m.otp, /^\d{6}$/)

      const signed = await b.post('/auth/sign-in/email-otp', { email: 'ada@example.com', otp: m.otp, name: 'Ada' })
      assert.equal(signed.status, 200, JSON.stringify(signed.body))
      assert.equal(signed.body.user.email, 'ada@example.com')
      assert.equal(signed.body.user.name, 'Ada')
      assert.equal(signed.body.user.emailVerified, true)
      assert.equal(signed.body.session.userId, signed.body.user.id)
      assert.ok(b.sessionToken())
      assert.equal((await b.get('/auth/session')).body.user.email, 'ada@example.com')

      const again = await t.server.client().post('/auth/sign-in/email-otp', { email: 'ada@example.com', otp: m.otp })
      assert.equal(again.status, 400)
      assert.equal(again.body.error.code, 'INVALID_OTP')
    })

    it('signs an existing user in; check-verification-otp checks without consuming', async () => {
      const b = t.server.client()
      await send(b, 'ada@example.com', 'sign-in')
      const { otp } = last(t.sent)
      const bad = await b.post('/auth/email-otp/check-verification-otp', { email: 'ada@example.com', type: 'sign-in', otp: wrong(otp) })
      assert.equal(bad.status, 400)
      assert.equal(bad.body.error.code, 'INVALID_OTP')
      const checked = await b.post('/auth/email-otp/check-verification-otp', { email: 'ada@example.com', type: 'sign-in', otp })
      assert.equal(checked.status, 200)
      assert.deepEqual(checked.body, { success: true })
      assert.equal(b.sessionToken(), undefined, 'checking signs nobody in')
      const wrongType = await b.post('/auth/email-otp/check-verification-otp', { email: 'ada@example.com', type: 'forget-password', otp })
      assert.equal(wrongType.status, 400, 'a code is for its type only')
      const before = sessionsOf(t.database, 'ada@example.com')
      const signed = await b.post('/auth/sign-in/email-otp', { email: 'ada@example.com', otp })
      assert.equal(signed.status, 200)
      assert.equal(sessionsOf(t.database, 'ada@example.com'), before + 1)
      assert.equal(Number(sql(t.database, "SELECT COUNT(*) FROM kavach_user WHERE email = 'ada@example.com'")), 1)
    })

    it('voids a code after 3 wrong tries (TOO_MANY_ATTEMPTS), and a new code works', async () => {
      const b = t.server.client()
      await send(b, 'ada@example.com', 'sign-in')
      const { otp } = last(t.sent)
      for (let i = 0; i < 3; i++) {
        const r = await b.post('/auth/sign-in/email-otp', { email: 'ada@example.com', otp: wrong(otp) })
        assert.equal(r.status, 400)
        assert.equal(r.body.error.code, 'INVALID_OTP')
      }
      const late = await b.post('/auth/sign-in/email-otp', { email: 'ada@example.com', otp })
      assert.equal(late.status, 403)
      assert.equal(late.body.error.code, 'TOO_MANY_ATTEMPTS')
      assert.equal(b.sessionToken(), undefined)
      await send(b, 'ada@example.com', 'sign-in')
      const fresh = await b.post('/auth/sign-in/email-otp', { email: 'ada@example.com', otp: last(t.sent).otp })
      assert.equal(fresh.status, 200)
    })

    it('ten concurrent sign-ins with one code make exactly one session', async () => {
      await send(t.server.client(), 'race@example.com', 'sign-in')
      const { otp } = last(t.sent)
      const results = await Promise.all(
        Array.from({ length: 10 }, () => t.server.client().post('/auth/sign-in/email-otp', { email: 'race@example.com', otp })),
      )
      const wins = results.filter((r) => r.status === 200)
      assert.equal(wins.length, 1, JSON.stringify(results.map((r) => r.status)))
      for (const r of results) if (r.status !== 200) assert.ok(['INVALID_OTP', 'TOO_MANY_ATTEMPTS'].includes(r.body.error.code), r.body.error.code)
      assert.equal(sessionsOf(t.database, 'race@example.com'), 1)
      assert.equal(Number(sql(t.database, "SELECT COUNT(*) FROM kavach_user WHERE email = 'race@example.com'")), 1)
    })

    it('expires after 5 minutes by default (OTP_EXPIRED)', async () => {
      const b = t.server.client()
      await send(b, 'ada@example.com', 'sign-in')
      t.kavach.__advanceClock(4 * 60_000 + 50_000)
      const inTime = await b.post('/auth/email-otp/check-verification-otp', { email: 'ada@example.com', type: 'sign-in', otp: last(t.sent).otp })
      assert.equal(inTime.status, 200)
      t.kavach.__advanceClock(11_000)
      const r = await b.post('/auth/sign-in/email-otp', { email: 'ada@example.com', otp: last(t.sent).otp })
      assert.equal(r.status, 400)
      assert.equal(r.body.error.code, 'OTP_EXPIRED')
      assert.equal(b.sessionToken(), undefined)
    })

    it('verifies the email of a password account', async () => {
      const b = t.server.client()
      const up = await b.post('/auth/sign-up', { email: 'grace@example.com', password: PASSWORD })
      assert.equal(up.body.user.emailVerified, false)
      await send(b, 'grace@example.com', 'email-verification')
      const m = last(t.sent)
      assert.equal(m.type, 'email-verification')
      const bad = await b.post('/auth/email-otp/verify-email', { email: 'grace@example.com', otp: wrong(m.otp) })
      assert.equal(bad.status, 400)
      const r = await b.post('/auth/email-otp/verify-email', { email: 'grace@example.com', otp: m.otp })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.equal(r.body.status, true)
      assert.equal(r.body.token, null)
      assert.equal(r.body.user.emailVerified, true)
      assert.equal((await b.get('/auth/session')).body.user.emailVerified, true)
      const again = await b.post('/auth/email-otp/verify-email', { email: 'grace@example.com', otp: m.otp })
      assert.equal(again.body.error.code, 'INVALID_OTP')
    })

    it('resets a password with a forget-password code (strength checked, every session ended)', async () => {
      const b = t.server.client()
      await b.post('/auth/sign-up', { email: 'linus@example.com', password: PASSWORD })
      assert.equal((await b.get('/auth/session')).status, 200)
      const r = await b.post('/auth/forget-password/email-otp', { email: 'linus@example.com' })
      assert.deepEqual(r.body, { success: true })
      const m = last(t.sent)
      assert.deepEqual([m.email, m.type], ['linus@example.com', 'forget-password'])
      const weak = await b.post('/auth/email-otp/reset-password', { email: 'linus@example.com', otp: m.otp, password: 'short' })
      assert.equal(weak.status, 400)
      assert.equal(weak.body.error.code, 'VALIDATION_FAILED')
      const ok = await b.post('/auth/email-otp/reset-password', { email: 'linus@example.com', otp: m.otp, password: NEW_PASSWORD })
      assert.equal(ok.status, 200, JSON.stringify(ok.body))
      assert.deepEqual(ok.body, { success: true })
      assert.equal((await b.get('/auth/session')).status, 401, 'sessions revoked')
      const reused = await b.post('/auth/email-otp/reset-password', { email: 'linus@example.com', otp: m.otp, password: 'yet another password' })
      assert.equal(reused.body.error.code, 'INVALID_OTP')
      const c = t.server.client()
      assert.equal((await c.post('/auth/sign-in', { email: 'linus@example.com', password: PASSWORD })).status, 401)
      const signed = await c.post('/auth/sign-in', { email: 'linus@example.com', password: NEW_PASSWORD })
      assert.equal(signed.status, 200)
      assert.equal(signed.body.user.emailVerified, true, 'the code proved the email')

      // better-auth's newer path for the same request.
      const alias = await b.post('/auth/email-otp/request-password-reset', { email: 'linus@example.com' })
      assert.deepEqual(alias.body, { success: true })
      assert.equal(last(t.sent).type, 'forget-password')
    })

    it('answers the same whether or not the email has an account, and sends nothing for none', async () => {
      const b = t.server.client()
      const count = t.sent.length
      for (const r of [
        await b.post('/auth/forget-password/email-otp', { email: 'nobody@example.com' }),
        await b.post('/auth/email-otp/request-password-reset', { email: 'nobody@example.com' }),
        await send(b, 'nobody@example.com', 'forget-password'),
        await send(b, 'nobody@example.com', 'email-verification'),
      ]) {
        assert.equal(r.status, 200)
        assert.deepEqual(r.body, { success: true })
      }
      assert.equal(t.sent.length, count)
      const guess = await b.post('/auth/email-otp/reset-password', { email: 'nobody@example.com', otp: '123456', password: NEW_PASSWORD })
      assert.equal(guess.body.error.code, 'INVALID_OTP')
    })

    it('refuses a banned user and bad input at the boundary', async () => {
      const b = t.server.client()
      await send(b, 'mallory@example.com', 'sign-in')
      assert.equal((await b.post('/auth/sign-in/email-otp', { email: 'mallory@example.com', otp: last(t.sent).otp })).status, 200)
      sql(t.database, "UPDATE kavach_user SET banned = TRUE WHERE email = 'mallory@example.com'")
      const sessions = sessionsOf(t.database, 'mallory@example.com')
      const c = t.server.client()
      await send(c, 'mallory@example.com', 'sign-in')
      const r = await c.post('/auth/sign-in/email-otp', { email: 'mallory@example.com', otp: last(t.sent).otp })
      assert.equal(r.status, 403)
      assert.equal(r.body.error.code, 'USER_BANNED')
      assert.equal(c.sessionToken(), undefined)
      assert.equal(sessionsOf(t.database, 'mallory@example.com'), sessions)

      for (const [path, body] of [
        ['/auth/email-otp/send-verification-otp', { email: 'a@example.com', type: 'change-email' }],
        ['/auth/email-otp/send-verification-otp', { email: 'a\u0000@example.com', type: 'sign-in' }],
        ['/auth/email-otp/send-verification-otp', { email: 'not-an-email', type: 'sign-in' }],
        ['/auth/email-otp/send-verification-otp', { email: 'a@example.com' }],
        ['/auth/sign-in/email-otp', { email: 'a@example.com', otp: '12\u000034' }],
        ['/auth/sign-in/email-otp', { email: 'a@example.com', otp: '123456', name: 'x\u0000' }],
        ['/auth/sign-in/email-otp', { email: 'a@example.com', otp: '123456', role: 'admin' }],
        ['/auth/email-otp/verify-email', { email: 'a@example.com' }],
      ]) {
        const v = await c.post(path, body)
        assert.equal(v.status, 400, `${path} ${JSON.stringify(body)}`)
        assert.equal(v.body.error.code, 'VALIDATION_FAILED')
      }
    })

    it('the client (npm/client) drives every route: emailOtp.*, signIn.emailOtp, forgetPassword.emailOtp', async () => {
      const c = createKavachClient({ baseUrl: t.server.url })
      const sent = await c.emailOtp.sendVerificationOtp({ email: 'client@example.com', type: 'sign-in' })
      assert.deepEqual(sent.data, { success: true })
      const { otp } = last(t.sent)
      const checked = await c.emailOtp.checkVerificationOtp({ email: 'client@example.com', type: 'sign-in', otp })
      assert.deepEqual(checked.data, { success: true })
      const signed = await c.signIn.emailOtp({ email: 'client@example.com', otp })
      assert.equal(signed.success, true, JSON.stringify(signed.error))
      assert.equal(signed.data.user.email, 'client@example.com')
      assert.equal((await c.auth.getSession()).data.user.email, 'client@example.com')

      await c.emailOtp.sendVerificationOtp({ email: 'client@example.com', type: 'email-verification' })
      const verified = await c.emailOtp.verifyEmail({ email: 'client@example.com', otp: last(t.sent).otp })
      assert.equal(verified.success, true, JSON.stringify(verified.error))
      assert.equal(verified.data.user.emailVerified, true)

      const asked = await c.forgetPassword.emailOtp({ email: 'client@example.com' })
      assert.deepEqual(asked.data, { success: true })
      assert.equal(last(t.sent).type, 'forget-password')
      const reset = await c.emailOtp.resetPassword({ email: 'client@example.com', otp: last(t.sent).otp, password: NEW_PASSWORD })
      assert.deepEqual(reset.data, { success: true })
      const wrongCode = await c.signIn.emailOtp({ email: 'client@example.com', otp: '000000' })
      assert.equal(wrongCode.success, false)
      assert.equal(wrongCode.error.code, 'INVALID_OTP')
    })

    it('never stores a code in clear', async () => {
      await send(t.server.client(), 'kept@example.com', 'sign-in')
      await send(t.server.client(), 'ada@example.com', 'email-verification')
      const rows = sql(t.database, 'SELECT * FROM kavach_one_time')
      assert.ok(rows.includes('email-otp:sign-in'), 'the live code is there (hashed)')
      const fields = new Set(rows.split(/[\t\n]/))
      assert.ok(t.sent.length > 10)
      for (const m of t.sent) {
        assert.ok(!fields.has(m.otp), 'a code as a column value')
        assert.ok(!new RegExp(`(^|[^0-9a-f])${m.otp}([^0-9a-f]|$)`).test(rows), 'a code in clear')
      }
    })
  })

  describe(`emailOTP() options on ${backend}`, () => {
    it('disableSignUp, otpLength, allowedAttempts and expiresIn as a string', async () => {
      const t = await boot(backend, { options: { disableSignUp: true, otpLength: 8, allowedAttempts: 1, expiresIn: '1m' }, tag: 'emailotpoff' })
      try {
        const b = t.server.client()
        const r = await b.post('/auth/email-otp/send-verification-otp', { email: 'new@example.com', type: 'sign-in' })
        assert.deepEqual(r.body, { success: true })
        assert.equal(t.sent.length, 0, 'no code for an email that cannot sign up')
        const guess = await b.post('/auth/sign-in/email-otp', { email: 'new@example.com', otp: '12345678' })
        assert.equal(guess.body.error.code, 'INVALID_OTP')
        assert.equal(sql(t.database, "SELECT COUNT(*) FROM kavach_user WHERE email = 'new@example.com'"), '0')

        await b.post('/auth/sign-up', { email: 'old@example.com', password: PASSWORD })
        await b.post('/auth/email-otp/send-verification-otp', { email: 'old@example.com', type: 'sign-in' })
        assert.match(last(t.sent).otp, /^\d{8}$/)
        const once = await b.post('/auth/sign-in/email-otp', { email: 'old@example.com', otp: wrong(last(t.sent).otp) })
        assert.equal(once.body.error.code, 'INVALID_OTP')
        const spent = await b.post('/auth/sign-in/email-otp', { email: 'old@example.com', otp: last(t.sent).otp })
        assert.equal(spent.body.error.code, 'TOO_MANY_ATTEMPTS')

        await b.post('/auth/email-otp/send-verification-otp', { email: 'old@example.com', type: 'sign-in' })
        t.kavach.__advanceClock(61_000)
        const stale = await b.post('/auth/sign-in/email-otp', { email: 'old@example.com', otp: last(t.sent).otp })
        assert.equal(stale.body.error.code, 'OTP_EXPIRED')
        await b.post('/auth/email-otp/send-verification-otp', { email: 'old@example.com', type: 'sign-in' })
        const ok = await b.post('/auth/sign-in/email-otp', { email: 'old@example.com', otp: last(t.sent).otp })
        assert.equal(ok.status, 200)
      } finally {
        await t.close()
      }
    })

    it('shares the per-IP credential limit: 429 with Retry-After', async () => {
      const t = await boot(backend, { rateLimit: { maxCredentialRequestsPerIp: 3 }, tag: 'emailotprl' })
      try {
        const b = t.server.client()
        const statuses = []
        let limited
        for (let i = 0; i < 5; i++) {
          const r = await b.post('/auth/sign-in/email-otp', { email: 'ada@example.com', otp: String(100000 + i) })
          statuses.push(r.status)
          if (r.status === 429) limited = r
        }
        assert.deepEqual(statuses, [400, 400, 400, 429, 429])
        assert.equal(limited.body.error.code, 'RATE_LIMITED')
        assert.match(limited.headers.get('retry-after'), /^\d+$/)
        const s = await b.post('/auth/email-otp/send-verification-otp', { email: 'ada@example.com', type: 'sign-in' })
        assert.equal(s.status, 429, 'sending counts too')
        assert.equal(t.sent.length, 0)
      } finally {
        await t.close()
      }
    })

    it('wrong codes count per email across new codes (maxFailedSignIns): 429 with Retry-After', async () => {
      const t = await boot(backend, { rateLimit: { maxFailedSignIns: 2, maxCredentialRequestsPerIp: 1000 }, tag: 'emailotpacct' })
      try {
        const b = t.server.client()
        const ask = () => b.post('/auth/email-otp/send-verification-otp', { email: 'ada@example.com', type: 'sign-in' })
        await ask()
        assert.equal((await b.post('/auth/sign-in/email-otp', { email: 'ada@example.com', otp: wrong(last(t.sent).otp) })).status, 400)
        await ask()
        assert.equal((await b.post('/auth/sign-in/email-otp', { email: 'ada@example.com', otp: wrong(last(t.sent).otp) })).status, 400)
        await ask()
        const r = await b.post('/auth/sign-in/email-otp', { email: 'ada@example.com', otp: last(t.sent).otp })
        assert.equal(r.status, 429)
        assert.equal(r.body.error.code, 'RATE_LIMITED')
        assert.match(r.headers.get('retry-after'), /^\d+$/)
        assert.equal(b.sessionToken(), undefined)
        const other = await b.post('/auth/email-otp/send-verification-otp', { email: 'bob@example.com', type: 'sign-in' })
        assert.equal(other.status, 200)
        assert.equal((await b.post('/auth/sign-in/email-otp', { email: 'bob@example.com', otp: last(t.sent).otp })).status, 200, 'another email is not held back')
      } finally {
        await t.close()
      }
    })

    it('refuses to boot without sendVerificationOTP or with bad options', async () => {
      const database = freshDatabase(backend, 'emailotpbad')
      for (const plugin of [
        { id: 'email-otp', options: {} },
        emailOTP({ sendVerificationOTP: () => {}, otpLength: 2 }),
        emailOTP({ sendVerificationOTP: () => {}, allowedAttempts: 0 }),
      ]) {
        await assert.rejects(
          createKavach({ database, secret: SECRET, emailAndPassword: { enabled: true }, plugins: [plugin] }),
          (e) => e.code === 'CONFIG_INVALID',
        )
      }
    })
  })
}
