// phoneNumber() over a real node:http server on every database, with a sendOTP that captures what
// would be texted: verification and sign-up by code, password sign-in by number, E.164, single use
// under concurrency, expiry on the instance clock, the attempt limit, bans, the credential limits,
// and no code in clear in kavach_one_time.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { phoneNumber, anonymous } from '../plugins.mjs'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'
import { serve } from './http-server.mjs'

// The instance clock must be a test clock before the addon loads.
process.env.KAVACH_TEST_CLOCK = '1'
const { createKavach } = await import('../index.mjs')

const PASSWORD = 'correct horse battery'
const NUMBER = '+14155552671'

async function until(check, ms = 2000) {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 10))
  }
  return true
}

for (const backend of backends()) {
  describe(`phoneNumber() over HTTP on ${backend}`, () => {
    let kavach
    let server
    let database
    const sent = []
    const events = []
    const codeFor = (n) => [...sent].reverse().find((m) => m.phoneNumber === n)?.code
    before(async () => {
      database = freshDatabase(backend, 'phone')
      kavach = await createKavach({
        database,
        secret: SECRET,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        rateLimit: { maxFailedSignIns: 5, maxCredentialRequestsPerIp: 100000 },
        hooks: { events: { 'user.created': (e) => events.push(e), 'auth.sign-in': (e) => events.push(e) } },
        plugins: [
          phoneNumber({
            sendOTP: async ({ phoneNumber, code }) => { sent.push({ phoneNumber, code }) },
            signUpOnVerification: {
              getTempEmail: (n) => `${n.slice(1)}@phone.example.com`,
              getTempName: async (n) => `Phone ${n}`,
            },
          }),
        ],
      })
      server = await serve(kavach)
    })
    after(async () => {
      await server.close()
      await kavach.close()
    })

    const send = (c, n) => c.post('/auth/phone-number/send-otp', { phoneNumber: n })
    const verify = (c, n, code, extra = {}) => c.post('/auth/phone-number/verify', { phoneNumber: n, code, ...extra })

    let first
    it('texts a code and signs up the unknown number on verification, in E.164', async () => {
      const c = server.client()
      const r = await send(c, '+1 (415) 555-2671')
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.deepEqual(r.body, { message: 'code sent' })
      assert.equal(sent.at(-1).phoneNumber, NUMBER)
      assert.match(sent.at(-1).code, /^\d{6}$/)
      const before = events.length
      const v = await verify(c, '+1.415.555.2671', sent.at(-1).code)
      assert.equal(v.status, 200, JSON.stringify(v.body))
      assert.equal(v.body.status, true)
      assert.equal(v.body.user.phoneNumber, NUMBER)
      assert.equal(v.body.user.phoneNumberVerified, true)
      assert.equal(v.body.user.email, '14155552671@phone.example.com')
      assert.equal(v.body.user.name, `Phone ${NUMBER}`)
      assert.equal(typeof v.body.session.id, 'string')
      assert.ok(c.sessionToken())
      const s = await c.get('/auth/session')
      assert.equal(s.status, 200)
      assert.equal(s.body.user.id, v.body.user.id)
      first = v.body.user
      assert.ok(await until(() => events.slice(before).some((e) => e.event === 'auth.sign-in')))
      assert.ok(events.slice(before).some((e) => e.event === 'user.created' && e.data.id === first.id))
    })

    it('finds the same user by another spelling of the number, and spends each code once', async () => {
      const c = server.client()
      await send(c, '+1 415-555-2671')
      const code = codeFor(NUMBER)
      const v = await verify(c, '+14155552671', code)
      assert.equal(v.status, 200)
      assert.equal(v.body.user.id, first.id)
      assert.equal(sql(database, `SELECT COUNT(*) FROM kavach_user WHERE phone_number = '${NUMBER}'`), '1')
      const again = await verify(server.client(), NUMBER, code)
      assert.equal(again.status, 400)
      assert.equal(again.body.error.code, 'INVALID_OTP')
    })

    it('stores no code in clear in kavach_one_time', async () => {
      await send(server.client(), NUMBER)
      const code = codeFor(NUMBER)
      const rows = sql(database, "SELECT id, purpose, identifier, secret_hash, attempts, data FROM kavach_one_time WHERE purpose = 'phone-number'")
      assert.ok(rows.includes(NUMBER), 'the row is there')
      assert.ok(!rows.includes(code), 'the code is not')
    })

    it('10 concurrent verifications of one code: exactly one session', async () => {
      const n = '+442079460958'
      await send(server.client(), n)
      const code = codeFor(n)
      const clients = Array.from({ length: 10 }, () => server.client())
      const rs = await Promise.all(clients.map((c) => verify(c, n, code)))
      const wins = rs.filter((r) => r.status === 200)
      assert.equal(wins.length, 1, JSON.stringify(rs.map((r) => r.status)))
      assert.equal(clients.filter((c) => c.sessionToken()).length, 1)
      const id = wins[0].body.user.id
      assert.equal(sql(database, `SELECT COUNT(*) FROM kavach_session WHERE user_id = '${id}'`), '1')
      for (const r of rs.filter((r) => r.status !== 200)) assert.ok(['INVALID_OTP', 'TOO_MANY_ATTEMPTS', 'RATE_LIMITED'].includes(r.body.error.code), JSON.stringify(r.body))
    })

    it('a code expires on the instance clock', async () => {
      const c = server.client()
      await send(c, NUMBER)
      const code = codeFor(NUMBER)
      kavach.__advanceClock(301_000)
      const r = await verify(c, NUMBER, code)
      assert.equal(r.status, 400)
      assert.equal(r.body.error.code, 'OTP_EXPIRED')
      assert.equal(c.sessionToken(), undefined)
    })

    it('a code is void after 3 wrong tries', async () => {
      const n = '+14155552672'
      const c = server.client()
      await send(c, n)
      const code = codeFor(n)
      const wrong = code === '000000' ? '111111' : '000000'
      for (let i = 0; i < 3; i++) {
        const r = await verify(c, n, wrong)
        assert.equal(r.status, 400)
        assert.equal(r.body.error.code, 'INVALID_OTP')
      }
      const r = await verify(c, n, code)
      assert.equal(r.status, 403)
      assert.equal(r.body.error.code, 'TOO_MANY_ATTEMPTS')
      assert.equal(c.sessionToken(), undefined)
      kavach.__advanceClock(16 * 60_000) // past the failed-code window for the next tests
    })

    it('wrong codes count per number across codes: 429 with Retry-After', async () => {
      const n = '+14155552673'
      const c = server.client()
      let failures = 0
      for (let round = 0; round < 2; round++) {
        await send(c, n)
        const wrong = codeFor(n) === '000000' ? '111111' : '000000'
        for (let i = 0; i < 3 && failures < 5; i++, failures++) assert.equal((await verify(c, n, wrong)).status, 400)
      }
      await send(c, n)
      const r = await verify(c, n, codeFor(n))
      assert.equal(r.status, 429)
      assert.equal(r.body.error.code, 'RATE_LIMITED')
      assert.ok(Number(r.headers.get('retry-after')) > 0)
      kavach.__advanceClock(16 * 60_000)
    })

    it('texts one number at most maxFailedSignIns times a window: then 429 with Retry-After', async () => {
      const n = '+14155552677'
      const count = sent.length
      for (let i = 0; i < 5; i++) assert.equal((await send(server.client(), n)).status, 200)
      const r = await send(server.client(), n)
      assert.equal(r.status, 429)
      assert.equal(r.body.error.code, 'RATE_LIMITED')
      assert.ok(Number(r.headers.get('retry-after')) > 0)
      assert.equal(sent.length, count + 5)
      kavach.__advanceClock(16 * 60_000)
      assert.equal((await send(server.client(), n)).status, 200)
    })

    it('refuses malformed numbers with VALIDATION_FAILED and texts nothing', async () => {
      const c = server.client()
      const count = sent.length
      for (const bad of ['4155552671', '+1 555', 'hello', '+1415555\u00002671', '+999 1234567']) {
        for (const r of [await send(c, bad), await verify(c, bad, '123456'), await c.post('/auth/sign-in/phone-number', { phoneNumber: bad, password: PASSWORD })]) {
          assert.equal(r.status, 400, bad)
          assert.equal(r.body.error.code, 'VALIDATION_FAILED')
        }
      }
      assert.equal(sent.length, count)
      for (const code of ['', 'abc123', '12\u00003456', ' ']) {
        const r = await verify(c, NUMBER, code)
        assert.equal(r.status, 400, JSON.stringify(code))
        assert.equal(r.body.error.code, 'VALIDATION_FAILED')
      }
    })

    it('sets the signed-in user\'s number with updatePhoneNumber, then signs in by number and password', async () => {
      const c = server.client()
      const up = await c.post('/auth/sign-up', { email: 'pam@example.com', password: PASSWORD })
      assert.equal(up.status, 200)
      const n = '+33 1 42 68 53 00'
      await send(c, n)
      const code = codeFor('+33142685300')
      assert.equal((await verify(server.client(), n, code, { updatePhoneNumber: true })).status, 401, 'no session: nothing to update')
      const v = await verify(c, n, code, { updatePhoneNumber: true })
      assert.equal(v.status, 200, JSON.stringify(v.body))
      assert.equal(v.body.user.id, up.body.user.id)
      assert.equal(v.body.user.phoneNumber, '+33142685300')
      assert.equal(v.body.user.phoneNumberVerified, true)

      const b = server.client()
      const s = await b.post('/auth/sign-in/phone-number', { phoneNumber: '+33142685300', password: PASSWORD, rememberMe: true })
      assert.equal(s.status, 200, JSON.stringify(s.body))
      assert.equal(s.body.user.email, 'pam@example.com')
      assert.ok(s.body.session.id)
      assert.ok(b.sessionToken())
      const wrong = await server.client().post('/auth/sign-in/phone-number', { phoneNumber: '+33 142 685 300', password: 'wrong wrong wrong' })
      assert.equal(wrong.status, 401)
      assert.equal(wrong.body.error.code, 'INVALID_CREDENTIALS')
    })

    it('another account\'s number cannot be taken with updatePhoneNumber', async () => {
      const c = server.client()
      assert.equal((await c.post('/auth/sign-up', { email: 'thief@example.com', password: PASSWORD })).status, 200)
      await send(c, NUMBER)
      const r = await verify(c, NUMBER, codeFor(NUMBER), { updatePhoneNumber: true })
      assert.equal(r.status, 409)
      assert.equal(r.body.error.code, 'PHONE_NUMBER_TAKEN')
    })

    it('refuses a banned user a session by code and by password', async () => {
      const c = server.client()
      assert.equal((await c.post('/auth/sign-up', { email: 'ban@example.com', password: PASSWORD })).status, 200)
      const n = '+14155552674'
      await send(c, n)
      assert.equal((await verify(c, n, codeFor(n), { updatePhoneNumber: true })).status, 200)
      sql(database, "UPDATE kavach_user SET banned = TRUE WHERE email = 'ban@example.com'")
      const b = server.client()
      await send(b, n)
      const r = await verify(b, n, codeFor(n))
      assert.equal(r.status, 403)
      assert.equal(r.body.error.code, 'USER_BANNED')
      assert.equal(b.sessionToken(), undefined)
      const p = await b.post('/auth/sign-in/phone-number', { phoneNumber: n, password: PASSWORD })
      assert.equal(p.status, 403)
      assert.equal(p.body.error.code, 'USER_BANNED')
    })

    it('sign-up may give a number (unverified); update-user may only remove it', async () => {
      const c = server.client()
      const up = await c.post('/auth/sign-up', { email: 'su@example.com', password: PASSWORD, phoneNumber: '+1 415 555 2690' })
      assert.equal(up.status, 200, JSON.stringify(up.body))
      assert.equal(up.body.user.phoneNumber, '+14155552690')
      assert.notEqual(up.body.user.phoneNumberVerified, true)
      const taken = await server.client().post('/auth/sign-up', { email: 'su2@example.com', password: PASSWORD, phoneNumber: '+14155552690' })
      assert.equal(taken.status, 409)
      assert.equal(taken.body.error.code, 'PHONE_NUMBER_TAKEN')
      const bad = await server.client().post('/auth/sign-up', { email: 'su3@example.com', password: PASSWORD, phoneNumber: '555' })
      assert.equal(bad.status, 400)
      assert.equal(bad.body.error.code, 'VALIDATION_FAILED')
      const forged = await server.client().post('/auth/sign-up', { email: 'su4@example.com', password: PASSWORD, phoneNumber: '+14155552691', phoneNumberVerified: true })
      assert.equal(forged.status, 400, 'phoneNumberVerified is not an input')
      const change = await c.post('/auth/update-user', { phoneNumber: '+14155552692' })
      assert.equal(change.status, 400)
      assert.equal(change.body.error.code, 'PHONE_NUMBER_CANNOT_BE_UPDATED')
      const drop = await c.post('/auth/update-user', { phoneNumber: null })
      assert.equal(drop.status, 200, JSON.stringify(drop.body))
      assert.equal(drop.body.user.phoneNumber, undefined)
      assert.equal(sql(database, "SELECT COUNT(*) FROM kavach_user WHERE phone_number = '+14155552690'"), '0')
    })

    it('disableSession verifies without a session', async () => {
      const c = server.client()
      const n = '+14155552675'
      await send(c, n)
      const r = await verify(c, n, codeFor(n), { disableSession: true })
      assert.equal(r.status, 200)
      assert.equal(r.body.token, null)
      assert.equal(r.body.user.phoneNumber, n)
      assert.equal(c.sessionToken(), undefined)
    })
  })
}

describe('phoneNumber() options', () => {
  it('requireVerification: password sign-in by an unverified number texts a code and waits for it; no sign-up without signUpOnVerification', async () => {
    const sent = []
    const database = freshDatabase('sqlite', 'phonereq')
    const kavach = await createKavach({
      database,
      secret: SECRET,
      emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
      rateLimit: { maxCredentialRequestsPerIp: 100000 },
      plugins: [phoneNumber({ sendOTP: ({ phoneNumber, code }) => { sent.push({ phoneNumber, code }) }, requireVerification: true, otpLength: 8 })],
    })
    const server = await serve(kavach)
    try {
      const c = server.client()
      assert.equal((await c.post('/auth/sign-up', { email: 'uv@example.com', password: PASSWORD })).status, 200)
      sql(database, `UPDATE kavach_user SET phone_number = '${NUMBER}' WHERE email = 'uv@example.com'`)
      const wrong = await server.client().post('/auth/sign-in/phone-number', { phoneNumber: NUMBER, password: 'wrong wrong wrong' })
      assert.equal(wrong.status, 401)
      assert.equal(sent.length, 0, 'nothing texted without the password')
      const r = await server.client().post('/auth/sign-in/phone-number', { phoneNumber: NUMBER, password: PASSWORD })
      assert.equal(r.status, 403)
      assert.equal(r.body.error.code, 'PHONE_NUMBER_NOT_VERIFIED')
      assert.equal(sent.length, 1)
      assert.match(sent[0].code, /^\d{8}$/)
      const extra = await server.client().post('/auth/phone-number/verify', { phoneNumber: NUMBER, code: sent[0].code, plan: 'pro' })
      assert.equal(extra.status, 400, 'no sign-up here: no new user\'s fields')
      assert.equal(extra.body.error.code, 'VALIDATION_FAILED')
      const v = await server.client().post('/auth/phone-number/verify', { phoneNumber: NUMBER, code: sent[0].code })
      assert.equal(v.status, 200)
      assert.equal(v.body.user.email, 'uv@example.com')
      const s = await server.client().post('/auth/sign-in/phone-number', { phoneNumber: NUMBER, password: PASSWORD })
      assert.equal(s.status, 200)

      await server.client().post('/auth/phone-number/send-otp', { phoneNumber: '+14155552679' })
      const unknown = await server.client().post('/auth/phone-number/verify', { phoneNumber: '+14155552679', code: sent.at(-1).code })
      assert.equal(unknown.status, 400)
      assert.equal(unknown.body.error.code, 'PHONE_NUMBER_NOT_EXIST')
      assert.equal(sql(database, "SELECT COUNT(*) FROM kavach_user WHERE phone_number = '+14155552679'"), '0')
    } finally {
      await server.close()
      await kavach.close()
    }
  })

  it('signUpOnVerification takes the new user\'s additionalFields from the verify body', async () => {
    const sent = []
    const kavach = await createKavach({
      database: freshDatabase('sqlite', 'phonefields'),
      secret: SECRET,
      emailAndPassword: { enabled: true },
      user: { additionalFields: { plan: { type: 'string' } } },
      plugins: [phoneNumber({ sendOTP: (m) => { sent.push(m) }, signUpOnVerification: { getTempEmail: (n) => `${n.slice(1)}@phone.example.com` } })],
    })
    const server = await serve(kavach)
    try {
      const c = server.client()
      await c.post('/auth/phone-number/send-otp', { phoneNumber: NUMBER })
      const bad = await c.post('/auth/phone-number/verify', { phoneNumber: NUMBER, code: sent.at(-1).code, nope: 1 })
      assert.equal(bad.status, 400)
      await c.post('/auth/phone-number/send-otp', { phoneNumber: NUMBER })
      const v = await c.post('/auth/phone-number/verify', { phoneNumber: NUMBER, code: sent.at(-1).code, plan: 'pro' })
      assert.equal(v.status, 200, JSON.stringify(v.body))
      assert.equal(v.body.user.plan, 'pro')
      assert.equal((await c.get('/auth/session')).body.user.plan, 'pro')
    } finally {
      await server.close()
      await kavach.close()
    }
  })

  it('a guest who verifies a number is linked to the new user and removed (anonymous())', async () => {
    const sent = []
    const links = []
    const database = freshDatabase('sqlite', 'phoneguest')
    const kavach = await createKavach({
      database,
      secret: SECRET,
      emailAndPassword: { enabled: true },
      plugins: [
        anonymous({ onLinkAccount: async (link) => { links.push(link) } }),
        phoneNumber({ sendOTP: (m) => { sent.push(m) }, signUpOnVerification: { getTempEmail: (n) => `${n.slice(1)}@phone.example.com` } }),
      ],
    })
    const server = await serve(kavach)
    try {
      const c = server.client()
      const g = await c.post('/auth/sign-in/anonymous', {})
      assert.equal(g.status, 200, JSON.stringify(g.body))
      await c.post('/auth/phone-number/send-otp', { phoneNumber: NUMBER })
      const v = await c.post('/auth/phone-number/verify', { phoneNumber: NUMBER, code: sent.at(-1).code })
      assert.equal(v.status, 200, JSON.stringify(v.body))
      assert.equal(links.length, 1)
      assert.equal(links[0].anonymousUser.user.id, g.body.user.id)
      assert.equal(links[0].newUser.user.id, v.body.user.id)
      assert.equal(sql(database, `SELECT COUNT(*) FROM kavach_user WHERE id = '${g.body.user.id}'`), '0')
      assert.equal((await c.get('/auth/session')).body.user.phoneNumber, NUMBER)
    } finally {
      await server.close()
      await kavach.close()
    }
  })

  it('phoneNumberValidator is awaited on the number as sent', async () => {
    const sent = []
    const kavach = await createKavach({
      database: freshDatabase('sqlite', 'phoneval'),
      secret: SECRET,
      emailAndPassword: { enabled: true },
      plugins: [phoneNumber({ sendOTP: (m) => { sent.push(m) }, phoneNumberValidator: async (n) => n.startsWith('+44') })],
    })
    const server = await serve(kavach)
    try {
      const us = await server.client().post('/auth/phone-number/send-otp', { phoneNumber: NUMBER })
      assert.equal(us.status, 400)
      assert.equal(us.body.error.code, 'VALIDATION_FAILED')
      assert.equal((await server.client().post('/auth/phone-number/send-otp', { phoneNumber: '+44 20 7946 0958' })).status, 200)
      assert.deepEqual(sent.map((m) => m.phoneNumber), ['+442079460958'])
    } finally {
      await server.close()
      await kavach.close()
    }
  })

  it('shares the per-IP credential limit: 429 with Retry-After', async () => {
    const kavach = await createKavach({
      database: freshDatabase('sqlite', 'phoneip'),
      secret: SECRET,
      emailAndPassword: { enabled: true },
      rateLimit: { maxCredentialRequestsPerIp: 3 },
      plugins: [phoneNumber({ sendOTP: () => {} })],
    })
    const server = await serve(kavach)
    try {
      const c = server.client()
      const statuses = []
      for (const [path, body] of [
        ['/auth/sign-in', { email: 'x@example.com', password: PASSWORD }],
        ['/auth/phone-number/send-otp', { phoneNumber: NUMBER }],
        ['/auth/phone-number/verify', { phoneNumber: NUMBER, code: '000000' }],
        ['/auth/sign-in/phone-number', { phoneNumber: NUMBER, password: PASSWORD }],
      ]) {
        const r = await c.post(path, body)
        statuses.push(r.status)
        if (r.status === 429) assert.ok(Number(r.headers.get('retry-after')) > 0)
      }
      assert.equal(statuses[3], 429, JSON.stringify(statuses))
    } finally {
      await server.close()
      await kavach.close()
    }
  })

  it('refuses a configuration without sendOTP, or signUpOnVerification without getTempEmail', async () => {
    await assert.rejects(createKavach({ database: freshDatabase('sqlite', 'phonecfg'), secret: SECRET, plugins: [phoneNumber({})] }), (e) => e.code === 'CONFIG_INVALID')
    await assert.rejects(
      createKavach({ database: freshDatabase('sqlite', 'phonecfg'), secret: SECRET, plugins: [phoneNumber({ sendOTP: () => {}, signUpOnVerification: { getTempName: (n) => n } })] }),
      (e) => e.code === 'CONFIG_INVALID',
    )
  })
})

describe('phoneNumber() through @kavachos/client', () => {
  it('phoneNumber.sendOtp, phoneNumber.verify (signed in), signIn.phoneNumber', async () => {
    const { createKavachClient } = await import('../npm/client/index.mjs')
    const sent = []
    const kavach = await createKavach({
      database: freshDatabase('sqlite', 'phoneclient'),
      secret: SECRET,
      emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
      rateLimit: { enabled: false },
      plugins: [phoneNumber({ sendOTP: (m) => { sent.push(m) }, signUpOnVerification: { getTempEmail: (n) => `${n.slice(1)}@phone.example.com` } })],
    })
    const server = await serve(kavach)
    try {
      const c = createKavachClient({ baseUrl: server.url })
      const s = await c.phoneNumber.sendOtp({ phoneNumber: '+1 415 555 2671' })
      assert.deepEqual(s, { success: true, data: { message: 'code sent' } })
      const v = await c.phoneNumber.verify({ phoneNumber: NUMBER, code: sent.at(-1).code })
      assert.equal(v.success, true, JSON.stringify(v))
      assert.equal(v.data.user.phoneNumber, NUMBER)
      assert.equal(v.data.user.name, NUMBER, 'the number is the name without getTempName')
      const me = await c.auth.getSession()
      assert.equal(me.data.user.id, v.data.user.id)
      // A password user who adds a number, then signs in by it.
      const up = await createKavachClient({ baseUrl: server.url }).auth.signUp({ email: 'pw@example.com', password: PASSWORD })
      assert.equal(up.success, true)
      const pw = createKavachClient({ baseUrl: server.url })
      assert.equal((await pw.auth.signIn({ email: 'pw@example.com', password: PASSWORD })).success, true)
      await pw.phoneNumber.sendOtp({ phoneNumber: '+14155552680' })
      const set = await pw.phoneNumber.verify({ phoneNumber: '+14155552680', code: sent.at(-1).code, updatePhoneNumber: true })
      assert.equal(set.success, true, JSON.stringify(set))
      const other = createKavachClient({ baseUrl: server.url })
      const si = await other.signIn.phoneNumber({ phoneNumber: '+1 (415) 555-2680', password: PASSWORD })
      assert.equal(si.success, true, JSON.stringify(si))
      assert.equal(si.data.user.email, 'pw@example.com')
    } finally {
      await server.close()
      await kavach.close()
    }
  })
})
