// anonymous() and customSession() over real HTTP (__test__/http-server.mjs) and in-process, on every
// database: a guest signs in with no credentials, cannot do it twice, and when they then sign up or
// sign in by email and password, onLinkAccount gets both users and the guest is deleted with their
// rows; customSession shapes getSession's data and GET /auth/session's body, and a throw in it is
// a CUSTOM_SESSION_FAILED error, never a crash.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach } from '../index.mjs'
import { anonymous, customSession, magicLink } from '../plugins.mjs'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'
import { serve } from './http-server.mjs'

const PASSWORD = 'long enough pw'
const count = (db, table, where) => sql(db, `SELECT COUNT(*) FROM ${table} WHERE ${where}`)
const truthy = (v) => ['1', 't', 'true'].includes(String(v).toLowerCase())

for (const backend of backends()) {
  describe(`anonymous() on ${backend}`, () => {
    let kavach
    let http
    let db
    const links = []
    const mails = []

    before(async () => {
      db = freshDatabase(backend, 'anon')
      kavach = await createKavach({
        database: db,
        secret: SECRET,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        rateLimit: { enabled: false },
        user: { additionalFields: { plan: { type: 'string', defaultValue: 'free' } } },
        plugins: [
          anonymous({
            emailDomainName: 'guests.example.com',
            generateName: () => 'Guest',
            onLinkAccount: async (link) => {
              if (link.newUser.user.email.startsWith('reject')) throw new Error('no thanks')
              links.push(link)
            },
          }),
          magicLink({ sendMagicLink: async (m) => { mails.push(m) } }),
        ],
      })
      http = await serve(kavach)
    })
    after(async () => {
      await http?.close()
      await kavach?.close()
    })

    const guest = async () => {
      const browser = http.client()
      const r = await browser.post('/auth/sign-in/anonymous', {})
      assert.equal(r.status, 200, JSON.stringify(r.body))
      return { browser, user: r.body.user, body: r.body }
    }

    it('signs a guest in: isAnonymous, temp email, generated name, defaults, a session and its cookie', async () => {
      const { browser, user, body } = await guest()
      assert.equal(user.isAnonymous, true)
      assert.match(user.email, /^temp-[a-z0-9-]+@guests\.example\.com$/)
      assert.equal(user.name, 'Guest')
      assert.equal(user.plan, 'free', 'additional field defaults apply to guests')
      assert.equal(typeof body.token, 'string')
      assert.equal(body.token, browser.sessionToken(), 'the token is the cookie')
      const s = await browser.get('/auth/session')
      assert.equal(s.status, 200)
      assert.equal(s.body.user.id, user.id)
      assert.equal(s.body.user.isAnonymous, true)
      assert.ok(truthy(sql(db, `SELECT is_anonymous FROM kavach_user WHERE id = '${user.id}'`)))
      const got = await kavach.auth.getSession({ headers: { cookie: browser.cookieHeader() } })
      assert.equal(got.data.user.isAnonymous, true)
    })

    it('refuses a second anonymous sign-in from a guest', async () => {
      const { browser, user } = await guest()
      const users = count(db, 'kavach_user', '1 = 1')
      const again = await browser.post('/auth/sign-in/anonymous', {})
      assert.equal(again.status, 400)
      assert.equal(again.body.error.code, 'ANONYMOUS_USERS_CANNOT_SIGN_IN_AGAIN_ANONYMOUSLY')
      assert.equal(count(db, 'kavach_user', '1 = 1'), users, 'no second guest was created')
      const s = await browser.get('/auth/session')
      assert.equal(s.body.user.id, user.id, 'the guest keeps their session')
      const body = await http.client().post('/auth/sign-in/anonymous', { name: 'x' })
      assert.equal(body.status, 400, 'the route takes no fields')
    })

    it('links on email sign-up: onLinkAccount gets both users, then the guest and their rows are gone', async () => {
      const { browser, user: g } = await guest()
      const agent = await kavach.agent.create({ ownerId: g.id, name: 'cart', type: 'autonomous', permissions: [{ resource: 'cart:*', actions: ['read'] }] })
      const before = links.length
      const r = await browser.post('/auth/sign-up', { email: 'linked@example.com', password: PASSWORD, name: 'Linked' })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.equal(links.length, before + 1, 'onLinkAccount was awaited once')
      const link = links.at(-1)
      assert.equal(link.anonymousUser.user.id, g.id)
      assert.equal(link.anonymousUser.user.isAnonymous, true)
      assert.equal(link.anonymousUser.session.userId, g.id)
      assert.ok(link.anonymousUser.session.expiresAt instanceof Date)
      assert.equal(link.newUser.user.email, 'linked@example.com')
      assert.equal(link.newUser.user.id, r.body.user.id)
      assert.equal(link.newUser.session.userId, r.body.user.id)
      assert.equal(count(db, 'kavach_user', `id = '${g.id}'`), '0', 'the guest is deleted')
      assert.equal(count(db, 'kavach_session', `user_id = '${g.id}'`), '0', 'with their sessions')
      assert.equal(count(db, 'kavach_account', `user_id = '${g.id}'`), '0')
      assert.equal(sql(db, `SELECT status FROM kavach_agents WHERE id = '${agent.id}'`), 'revoked', 'their agents are revoked')
      const s = await browser.get('/auth/session')
      assert.equal(s.status, 200)
      assert.equal(s.body.user.email, 'linked@example.com')
      assert.equal(s.body.user.isAnonymous, undefined)
    })

    it('links on email sign-in too', async () => {
      const made = await kavach.auth.signUp({ email: 'member@example.com', password: PASSWORD })
      assert.equal(made.success, true)
      const { browser, user: g } = await guest()
      const before = links.length
      const r = await browser.post('/auth/sign-in', { email: 'member@example.com', password: PASSWORD })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.equal(links.length, before + 1)
      assert.equal(links.at(-1).anonymousUser.user.id, g.id)
      assert.equal(links.at(-1).newUser.user.id, made.data.user.id)
      assert.equal(count(db, 'kavach_user', `id = '${g.id}'`), '0')
      assert.equal(count(db, 'kavach_session', `user_id = '${g.id}'`), '0')
      const s = await browser.get('/auth/session')
      assert.equal(s.body.user.id, made.data.user.id)
    })

    it('links on any sign-in method: a magic link opened by the guest', async () => {
      const { browser, user: g } = await guest()
      const before = links.length
      const sent = await browser.post('/auth/sign-in/magic-link', { email: 'by-link@example.com' })
      assert.equal(sent.status, 200, JSON.stringify(sent.body))
      const token = new URL(mails.at(-1).url).searchParams.get('token')
      const r = await browser.get(`/auth/magic-link/verify?token=${encodeURIComponent(token)}`)
      assert.ok(r.status === 200 || r.status === 302, `verified (${r.status})`)
      assert.equal(links.length, before + 1)
      assert.equal(links.at(-1).anonymousUser.user.id, g.id)
      assert.equal(links.at(-1).newUser.user.email, 'by-link@example.com')
      assert.equal(count(db, 'kavach_user', `id = '${g.id}'`), '0')
      const s = await browser.get('/auth/session')
      assert.equal(s.body.user.email, 'by-link@example.com')
      assert.equal(s.body.user.plan, 'free', 'a user made by a link gets the defaults')
    })

    it('a sign-in without a guest session links nothing; a throwing onLinkAccount fails the sign-in and keeps the guest', async () => {
      const before = links.length
      const plain = await http.client().post('/auth/sign-in', { email: 'member@example.com', password: PASSWORD })
      assert.equal(plain.status, 200)
      assert.equal(links.length, before)

      const { browser, user: g } = await guest()
      const r = await browser.post('/auth/sign-up', { email: 'reject@example.com', password: PASSWORD })
      assert.equal(r.status, 500)
      assert.equal(r.body.error.code, 'ANONYMOUS_LINK_FAILED')
      assert.equal(count(db, 'kavach_user', `id = '${g.id}'`), '1', 'the guest stays')
      const s = await browser.get('/auth/session')
      assert.equal(s.body.user.id, g.id, 'and keeps their session cookie')
    })

    it('POST /auth/delete-anonymous-user deletes the guest, and only a guest', async () => {
      const { browser, user: g } = await guest()
      const r = await browser.post('/auth/delete-anonymous-user', {})
      assert.equal(r.status, 200)
      assert.equal(r.body.success, true)
      assert.equal(count(db, 'kavach_user', `id = '${g.id}'`), '0')
      assert.equal((await browser.get('/auth/session')).status, 401)
      const member = http.client()
      await member.post('/auth/sign-in', { email: 'member@example.com', password: PASSWORD })
      const no = await member.post('/auth/delete-anonymous-user', {})
      assert.equal(no.status, 403)
      assert.equal(no.body.error.code, 'USER_IS_NOT_ANONYMOUS')
    })
  })

  describe(`anonymous({ disableDeleteAnonymousUser }) on ${backend}`, () => {
    it('keeps the guest after a link', async () => {
      const db = freshDatabase(backend, 'anonkeep')
      const kavach = await createKavach({
        database: db,
        secret: SECRET,
        baseUrl: 'http://shop.example.com:3000',
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        rateLimit: { enabled: false },
        plugins: [anonymous({ disableDeleteAnonymousUser: true })],
      })
      const http = await serve(kavach)
      try {
        const browser = http.client()
        // The app's own origin (baseUrl), as its pages would send it.
        browser.origin = 'http://shop.example.com:3000'
        const g = await browser.post('/auth/sign-in/anonymous')
        assert.equal(g.status, 200, JSON.stringify(g.body))
        assert.match(g.body.user.email, /@shop\.example\.com$/, "baseUrl's host is the default domain")
        assert.equal(g.body.user.name, 'Anonymous')
        const up = await browser.post('/auth/sign-up', { email: 'keep@example.com', password: PASSWORD })
        assert.equal(up.status, 200)
        assert.equal(count(db, 'kavach_user', `id = '${g.body.user.id}'`), '1')
        const second = http.client()
        second.origin = 'http://shop.example.com:3000'
        assert.equal((await second.post('/auth/sign-in/anonymous')).status, 200)
        const del = await second.post('/auth/delete-anonymous-user', {})
        assert.equal(del.status, 400)
        assert.equal(del.body.error.code, 'DELETE_ANONYMOUS_USER_DISABLED')
      } finally {
        await http.close()
        await kavach.close()
      }
    })
  })

  describe(`customSession() on ${backend}`, () => {
    let kavach
    let http
    let calls = 0

    before(async () => {
      kavach = await createKavach({
        database: freshDatabase(backend, 'custsess'),
        secret: SECRET,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        rateLimit: { enabled: false },
        user: { additionalFields: { plan: { type: 'string', defaultValue: 'free' }, since: { type: 'date', defaultValue: '2025-01-01' } } },
        plugins: [
          customSession(async ({ user, session }) => {
            calls++
            if (user.name === 'boom') throw new Error('shaping failed')
            return {
              user: { id: user.id, email: user.email, plan: user.plan, sinceYear: user.since.getUTCFullYear() },
              session: { id: session.id, expires: session.expiresAt.getTime() },
              roles: ['reader'],
            }
          }),
        ],
      })
      http = await serve(kavach)
    })
    after(async () => {
      await http?.close()
      await kavach?.close()
    })

    it('shapes getSession and GET /auth/session with what fn answers', async () => {
      const browser = http.client()
      const up = await browser.post('/auth/sign-up', { email: 'shaped@example.com', password: PASSWORD, name: 'Shaped' })
      assert.equal(up.status, 200)
      const r = await browser.get('/auth/session')
      assert.equal(r.status, 200)
      assert.deepEqual(r.body.roles, ['reader'])
      assert.deepEqual(Object.keys(r.body).sort(), ['roles', 'session', 'user'])
      assert.equal(r.body.user.email, 'shaped@example.com')
      assert.equal(r.body.user.plan, 'free')
      assert.equal(r.body.user.sinceYear, 2025)
      assert.equal(r.body.session.id, up.body.session.id)
      assert.equal(typeof r.body.session.expires, 'number')
      const n = calls
      const got = await kavach.auth.getSession({ headers: { cookie: browser.cookieHeader() } })
      assert.equal(got.success, true)
      assert.equal(calls, n + 1, 'fn runs once per lookup')
      assert.deepEqual(got.data, r.body)
      const none = await kavach.auth.getSession({ headers: {} })
      assert.deepEqual(none, { success: true, data: null }, 'no session: null, fn not called')
      assert.equal(calls, n + 1)
      assert.equal((await http.client().get('/auth/session')).status, 401)
    })

    it('a throwing fn is CUSTOM_SESSION_FAILED, for getSession and the route, and the server lives on', async () => {
      const browser = http.client()
      const up = await browser.post('/auth/sign-up', { email: 'boom@example.com', password: PASSWORD, name: 'boom' })
      assert.equal(up.status, 200)
      const r = await browser.get('/auth/session')
      assert.equal(r.status, 500)
      assert.equal(r.body.error.code, 'CUSTOM_SESSION_FAILED')
      const got = await kavach.auth.getSession({ headers: { cookie: browser.cookieHeader() } })
      assert.equal(got.success, false)
      assert.equal(got.error.code, 'CUSTOM_SESSION_FAILED')
      const other = http.client()
      await other.post('/auth/sign-in', { email: 'shaped@example.com', password: PASSWORD })
      assert.equal((await other.get('/auth/session')).status, 200)
    })
  })
}

describe('anonymous() and customSession() options', () => {
  for (const [what, plugins] of [
    ['a bad emailDomainName', [anonymous({ emailDomainName: 'not a domain' })]],
    ['an unknown option', [anonymous({ emailDomain: 'x.com' })]],
    ['a non-function onLinkAccount', [anonymous({ onLinkAccount: 'x' })]],
    ['customSession without a function', [customSession('x')]],
    ['customSession twice', [customSession(() => ({})), customSession(() => ({}))]],
  ]) {
    it(`refuses ${what} at boot with CONFIG_INVALID`, async () => {
      await assert.rejects(
        createKavach({ database: { provider: 'sqlite', url: ':memory:' }, secret: SECRET, plugins }),
        (e) => e.code === 'CONFIG_INVALID',
      )
    })
  }
})
