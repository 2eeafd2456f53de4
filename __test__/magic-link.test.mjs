// magicLink() over real HTTP (node:http in front of kavach.handler) on every database: the link is
// captured from sendMagicLink and opened as a browser would; expiry moves the instance clock.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'
import { serve } from './http-server.mjs'
import { createKavachClient } from '../npm/client/index.mjs'

process.env.KAVACH_TEST_CLOCK = '1'
const { createKavach } = await import('../index.mjs')
const { magicLink } = await import('../plugins.mjs')

const PASSWORD = 'correct horse battery'

async function boot(backend, { rateLimit = { enabled: false }, options = {}, tag = 'magic' } = {}) {
  const database = freshDatabase(backend, tag)
  const sent = []
  const kavach = await createKavach({
    database,
    secret: SECRET,
    emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
    rateLimit,
    plugins: [magicLink({ ...options, sendMagicLink: async (m) => { sent.push(m) } })],
  })
  const server = await serve(kavach)
  return { database, sent, kavach, server, close: async () => { await server.close(); await kavach.close() } }
}

const last = (sent) => sent[sent.length - 1]
const pathOf = (url) => { const u = new URL(url); return u.pathname + u.search }
const sessionsOf = (database, email) =>
  Number(sql(database, `SELECT COUNT(*) FROM kavach_session s JOIN kavach_user u ON u.id = s.user_id WHERE u.email = '${email}'`))

for (const backend of backends()) {
  describe(`magicLink() over HTTP on ${backend}`, () => {
    let t
    before(async () => { t = await boot(backend) })
    after(async () => { await t.close() })

    it('sends a link that signs a new user up, verified, and redirects to newUserCallbackURL', async () => {
      const browser = t.server.client()
      const r = await browser.post('/auth/sign-in/magic-link', {
        email: 'Ada@Example.com', name: 'Ada', callbackURL: '/dashboard', newUserCallbackURL: '/welcome', errorCallbackURL: '/oops',
      })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.deepEqual(r.body, { status: true })
      assert.equal(t.sent.length, 1)
      const m = last(t.sent)
      assert.equal(m.email, 'ada@example.com')
      assert.match(m.token, /^[A-Za-z0-9_-]{43}$/)
      const url = new URL(m.url)
      assert.equal(url.origin, t.server.origin)
      assert.equal(url.pathname, `${t.server.mount}/auth/magic-link/verify`)
      assert.equal(url.searchParams.get('token'), m.token)
      assert.equal(url.searchParams.get('callbackURL'), '/dashboard')
      assert.equal(url.searchParams.get('newUserCallbackURL'), '/welcome')
      assert.equal(url.searchParams.get('errorCallbackURL'), '/oops')
      assert.equal(browser.sessionToken(), undefined, 'asking for a link signs nobody in')

      const opened = await browser.get(pathOf(m.url).slice(t.server.mount.length))
      assert.equal(opened.status, 302)
      assert.equal(opened.location, '/welcome')
      assert.ok(browser.sessionToken(), 'session cookie set')
      const me = await browser.get('/auth/session')
      assert.equal(me.status, 200)
      assert.equal(me.body.user.email, 'ada@example.com')
      assert.equal(me.body.user.name, 'Ada')
      assert.equal(me.body.user.emailVerified, true)

      // Single use: the same link again goes to the error page with no session.
      const other = t.server.client()
      const again = await other.get(pathOf(m.url).slice(t.server.mount.length))
      assert.equal(again.status, 302)
      assert.equal(again.location, '/oops?error=INVALID_TOKEN')
      assert.equal(other.sessionToken(), undefined)
    })

    it('signs an existing user in and redirects to callbackURL; without callbackURL answers { token, user, session }', async () => {
      const browser = t.server.client()
      await browser.post('/auth/sign-in/magic-link', { email: 'ada@example.com', callbackURL: '/dashboard', newUserCallbackURL: '/welcome' })
      const opened = await browser.get(pathOf(last(t.sent).url).slice(t.server.mount.length))
      assert.equal(opened.status, 302)
      assert.equal(opened.location, '/dashboard')
      assert.ok(browser.sessionToken())

      const api = t.server.client()
      await api.post('/auth/sign-in/magic-link', { email: 'ada@example.com' })
      const { token } = last(t.sent)
      assert.equal(new URL(last(t.sent).url).searchParams.get('callbackURL'), '/', 'better-auth puts callbackURL=/ in the link')
      const r = await api.get(`/auth/magic-link/verify?token=${encodeURIComponent(token)}`)
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.equal(r.body.user.email, 'ada@example.com')
      assert.equal(r.body.session.userId, r.body.user.id)
      assert.equal(r.body.token, api.sessionToken())
      const bad = await api.get('/auth/magic-link/verify?token=nope')
      assert.equal(bad.status, 400)
      assert.equal(bad.body.error.code, 'INVALID_TOKEN')
    })

    it('verifies the email of an account made with a password, and ends its earlier sessions', async () => {
      const owner = t.server.client()
      const up = await owner.post('/auth/sign-up', { email: 'grace@example.com', password: PASSWORD })
      assert.equal(up.status, 200)
      assert.equal(up.body.user.emailVerified, false)
      assert.equal((await owner.get('/auth/session')).status, 200)
      const browser = t.server.client()
      await browser.post('/auth/sign-in/magic-link', { email: 'grace@example.com', callbackURL: '/home' })
      const opened = await browser.get(pathOf(last(t.sent).url).slice(t.server.mount.length))
      assert.equal(opened.location, '/home')
      const me = await browser.get('/auth/session')
      assert.equal(me.body.user.emailVerified, true)
      assert.equal((await owner.get('/auth/session')).status, 401, 'the unproven holder is signed out')
    })

    it('ten concurrent clicks on one link make exactly one session', async () => {
      await t.server.client().post('/auth/sign-in/magic-link', { email: 'race@example.com' })
      const { token } = last(t.sent)
      const browsers = Array.from({ length: 10 }, () => t.server.client())
      const results = await Promise.all(browsers.map((b) => b.get(`/auth/magic-link/verify?token=${encodeURIComponent(token)}`)))
      const wins = results.filter((r) => r.status === 200)
      assert.equal(wins.length, 1, JSON.stringify(results.map((r) => r.status)))
      for (const r of results) if (r.status !== 200) assert.equal(r.body.error.code, 'INVALID_TOKEN')
      assert.equal(sessionsOf(t.database, 'race@example.com'), 1)
      assert.equal(Number(sql(t.database, "SELECT COUNT(*) FROM kavach_user WHERE email = 'race@example.com'")), 1)
    })

    it('expires after 5 minutes by default (TOKEN_EXPIRED, no session)', async () => {
      const browser = t.server.client()
      await browser.post('/auth/sign-in/magic-link', { email: 'ada@example.com', callbackURL: '/dashboard' })
      const fresh = last(t.sent)
      t.kavach.__advanceClock(4 * 60_000 + 50_000)
      const ok = await browser.get(pathOf(fresh.url).slice(t.server.mount.length))
      assert.equal(ok.location, '/dashboard', 'still valid just before 5 minutes')

      const late = t.server.client()
      await late.post('/auth/sign-in/magic-link', { email: 'ada@example.com', callbackURL: '/dashboard', errorCallbackURL: '/login?from=link' })
      const stale = last(t.sent)
      t.kavach.__advanceClock(5 * 60_000 + 1000)
      const r = await late.get(pathOf(stale.url).slice(t.server.mount.length))
      assert.equal(r.status, 302)
      assert.equal(r.location, '/login?from=link&error=TOKEN_EXPIRED')
      assert.equal(late.sessionToken(), undefined)
    })

    it('refuses a callbackURL on another origin when the link is asked for, and never redirects there', async () => {
      const browser = t.server.client()
      const before = t.sent.length
      for (const field of ['callbackURL', 'newUserCallbackURL', 'errorCallbackURL']) {
        for (const bad of ['https://evil.example/x', '//evil.example/x', 'javascript:alert(1)', '/\\evil.example']) {
          const r = await browser.post('/auth/sign-in/magic-link', { email: 'ada@example.com', [field]: bad })
          assert.equal(r.status, 400, `${field}=${bad}`)
          assert.equal(r.body.error.code, 'VALIDATION_FAILED')
        }
      }
      assert.equal(t.sent.length, before, 'no link sent')
      // An absolute URL on our own origin is fine.
      const own = await browser.post('/auth/sign-in/magic-link', { email: 'ada@example.com', callbackURL: `${t.server.origin}/dash` })
      assert.equal(own.status, 200)
      // A valid token with a foreign target in the query: a 400, no redirect, and the link survives.
      const { token } = last(t.sent)
      const r = await browser.get(`/auth/magic-link/verify?token=${encodeURIComponent(token)}&callbackURL=${encodeURIComponent('https://evil.example/')}`)
      assert.equal(r.status, 400)
      assert.equal(r.location, null)
      assert.equal(browser.sessionToken(), undefined)
      const e = await browser.get(`/auth/magic-link/verify?token=x&errorCallbackURL=${encodeURIComponent('https://evil.example/')}`)
      assert.equal(e.status, 400)
      assert.equal(e.location, null)
      const good = await browser.get(`/auth/magic-link/verify?token=${encodeURIComponent(token)}&callbackURL=${encodeURIComponent(`${t.server.origin}/dash`)}`)
      assert.equal(good.status, 302)
      assert.equal(good.location, `${t.server.origin}/dash`)
    })

    it('refuses a banned user (no session) and bad input at the boundary', async () => {
      await t.server.client().post('/auth/sign-in/magic-link', { email: 'mallory@example.com' })
      await t.server.client().get(`/auth/magic-link/verify?token=${encodeURIComponent(last(t.sent).token)}`)
      sql(t.database, "UPDATE kavach_user SET banned = TRUE WHERE email = 'mallory@example.com'")
      const sessions = sessionsOf(t.database, 'mallory@example.com')
      const browser = t.server.client()
      await browser.post('/auth/sign-in/magic-link', { email: 'mallory@example.com', callbackURL: '/app' })
      const r = await browser.get(pathOf(last(t.sent).url).slice(t.server.mount.length))
      assert.equal(r.status, 302)
      assert.equal(r.location, '/app?error=USER_BANNED')
      assert.equal(browser.sessionToken(), undefined)
      await browser.post('/auth/sign-in/magic-link', { email: 'mallory@example.com' })
      const j = await browser.get(`/auth/magic-link/verify?token=${encodeURIComponent(last(t.sent).token)}`)
      assert.equal(j.status, 403)
      assert.equal(j.body.error.code, 'USER_BANNED')
      assert.equal(sessionsOf(t.database, 'mallory@example.com'), sessions)

      for (const body of [{ email: 'a\u0000@example.com' }, { email: 'not-an-email' }, { email: 'a@example.com', name: 'x\u0000' }, { email: 'a@example.com', extra: 1 }, {}]) {
        const v = await browser.post('/auth/sign-in/magic-link', body)
        assert.equal(v.status, 400, JSON.stringify(body))
        assert.equal(v.body.error.code, 'VALIDATION_FAILED')
      }
      const nul = await browser.get('/auth/magic-link/verify?token=%00abc')
      assert.equal(nul.status, 400)
      assert.equal(nul.body.error.code, 'VALIDATION_FAILED', 'a NUL is refused as input on every route')
    })

    it('the client (npm/client) asks for a link and opens it: signIn.magicLink, magicLink.verify', async () => {
      const c = createKavachClient({ baseUrl: t.server.url })
      const asked = await c.signIn.magicLink({ email: 'client@example.com', name: 'Cli' })
      assert.equal(asked.success, true, JSON.stringify(asked.error))
      assert.deepEqual(asked.data, { status: true })
      const opened = await c.magicLink.verify({ query: { token: last(t.sent).token } })
      assert.equal(opened.success, true, JSON.stringify(opened.error))
      assert.equal(opened.data.user.email, 'client@example.com')
      assert.equal(opened.data.user.name, 'Cli')
      const me = await c.auth.getSession()
      assert.equal(me.data.user.email, 'client@example.com')
      const again = await c.magicLink.verify({ token: last(t.sent).token })
      assert.equal(again.success, false)
      assert.equal(again.error.code, 'INVALID_TOKEN')
    })

    it('never stores a link token in clear', async () => {
      assert.ok(t.sent.length > 5)
      await t.server.client().post('/auth/sign-in/magic-link', { email: 'kept@example.com' })
      const rows = sql(t.database, 'SELECT * FROM kavach_one_time')
      assert.ok(rows.includes('magic-link'), 'the live link is there (hashed)')
      for (const m of t.sent) assert.ok(!rows.includes(m.token), 'token in clear')
    })
  })

  describe(`magicLink() options on ${backend}`, () => {
    it('disableSignUp: an unknown email gets NEW_USER_SIGNUP_DISABLED; expiresIn as a string', async () => {
      const t = await boot(backend, { options: { disableSignUp: true, expiresIn: '1m' }, tag: 'magicoff' })
      try {
        const b = t.server.client()
        await b.post('/auth/sign-in/magic-link', { email: 'new@example.com', callbackURL: '/in' })
        const r = await b.get(pathOf(last(t.sent).url).slice(t.server.mount.length))
        assert.equal(r.status, 302)
        assert.equal(r.location, '/in?error=NEW_USER_SIGNUP_DISABLED')
        await b.post('/auth/sign-in/magic-link', { email: 'new@example.com' })
        const j = await b.get(`/auth/magic-link/verify?token=${encodeURIComponent(last(t.sent).token)}`)
        assert.equal(j.status, 400)
        assert.equal(j.body.error.code, 'NEW_USER_SIGNUP_DISABLED')
        assert.equal(sql(t.database, "SELECT COUNT(*) FROM kavach_user WHERE email = 'new@example.com'"), '0')

        // An existing account still signs in; a 1m link is stale after 61 s.
        assert.equal((await b.post('/auth/sign-up', { email: 'old@example.com', password: PASSWORD })).status, 200)
        await b.post('/auth/sign-in/magic-link', { email: 'old@example.com' })
        const ok = await t.server.client().get(`/auth/magic-link/verify?token=${encodeURIComponent(last(t.sent).token)}`)
        assert.equal(ok.status, 200)
        await b.post('/auth/sign-in/magic-link', { email: 'old@example.com' })
        t.kavach.__advanceClock(61_000)
        const stale = await t.server.client().get(`/auth/magic-link/verify?token=${encodeURIComponent(last(t.sent).token)}`)
        assert.equal(stale.status, 400)
        assert.equal(stale.body.error.code, 'TOKEN_EXPIRED')
      } finally {
        await t.close()
      }
    })

    it('shares the per-IP credential limit: 429 with Retry-After', async () => {
      const t = await boot(backend, { rateLimit: { maxCredentialRequestsPerIp: 3 }, tag: 'magicrl' })
      try {
        const b = t.server.client()
        const statuses = []
        let limited
        for (let i = 0; i < 5; i++) {
          const r = await b.post('/auth/sign-in/magic-link', { email: `u${i}@example.com` })
          statuses.push(r.status)
          if (r.status === 429) limited = r
        }
        assert.deepEqual(statuses, [200, 200, 200, 429, 429])
        assert.equal(limited.body.error.code, 'RATE_LIMITED')
        assert.match(limited.headers.get('retry-after'), /^\d+$/)
        assert.equal(t.sent.length, 3)
        const v = await b.get('/auth/magic-link/verify?token=whatever')
        assert.equal(v.status, 429, 'opening links counts too')
      } finally {
        await t.close()
      }
    })

    it('refuses to boot without sendMagicLink or with a bad expiresIn', async () => {
      const database = freshDatabase(backend, 'magicbad')
      for (const plugin of [{ id: 'magic-link', options: {} }, magicLink({ sendMagicLink: () => {}, expiresIn: 'soon' })]) {
        await assert.rejects(
          createKavach({ database, secret: SECRET, emailAndPassword: { enabled: true }, plugins: [plugin] }),
          (e) => e.code === 'CONFIG_INVALID',
        )
      }
    })
  })
}
