// username() over a real node:http server on every database: sign-up with a username, sign-in by
// it (the core's password sign-in), availability, case-insensitive uniqueness, changes through
// update-user, the app's validator, bans, two-factor's interruption and the credential limits.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach } from '../index.mjs'
import { username, twoFactor } from '../plugins.mjs'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'
import { serve } from './http-server.mjs'

const PASSWORD = 'correct horse battery'

async function until(check, ms = 2000) {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 10))
  }
  return true
}

for (const backend of backends()) {
  describe(`username() over HTTP on ${backend}`, () => {
    let kavach
    let server
    let database
    const events = []
    const validated = []
    before(async () => {
      database = freshDatabase(backend, 'username')
      kavach = await createKavach({
        database,
        secret: SECRET,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        rateLimit: { maxFailedSignIns: 3, maxCredentialRequestsPerIp: 1000 },
        hooks: { events: { 'auth.sign-in': (e) => events.push(e) } },
        plugins: [
          username({
            maxUsernameLength: 20,
            // The app's own rule on top of the default's characters: no 'admin' in it.
            usernameValidator: async (name) => {
              validated.push(name)
              return /^[a-zA-Z0-9_.]+$/.test(name) && !/admin/i.test(name)
            },
          }),
          twoFactor(),
        ],
      })
      server = await serve(kavach)
    })
    after(async () => {
      await server.close()
      await kavach.close()
    })

    const signUp = (b, body) => b.post('/auth/sign-up', { password: PASSWORD, ...body })

    it('signs up with a username, stored lowercased and shown as typed, and signs in by it in any case', async () => {
      const a = server.client()
      const up = await signUp(a, { email: 'ada@example.com', name: 'Ada', username: 'Ada.Lovelace' })
      assert.equal(up.status, 200, JSON.stringify(up.body))
      assert.equal(up.body.user.username, 'ada.lovelace')
      assert.equal(up.body.user.displayUsername, 'Ada.Lovelace')
      assert.deepEqual(validated.includes('Ada.Lovelace'), true)
      assert.equal(sql(database, "SELECT username FROM kavach_user WHERE email = 'ada@example.com'"), 'ada.lovelace')
      assert.equal(sql(database, "SELECT display_username FROM kavach_user WHERE email = 'ada@example.com'"), 'Ada.Lovelace')

      const b = server.client()
      const before = events.length
      const r = await b.post('/auth/sign-in/username', { username: 'ADA.lovelace', password: PASSWORD, rememberMe: true })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.equal(r.body.user.email, 'ada@example.com')
      assert.equal(typeof r.body.session.id, 'string')
      assert.equal(r.body.token, undefined, 'the token travels only in the cookie')
      assert.ok(b.sessionToken())
      const s = await b.get('/auth/session')
      assert.equal(s.status, 200)
      assert.equal(s.body.user.username, 'ada.lovelace')
      assert.ok(await until(() => events.length > before), 'auth.sign-in fired')
      assert.equal(events.at(-1).data.userId, up.body.user.id)
    })

    it('refuses a wrong password and an unknown username alike', async () => {
      const c = server.client()
      const wrong = await c.post('/auth/sign-in/username', { username: 'ada.lovelace', password: 'nope nope nope' })
      const unknown = await c.post('/auth/sign-in/username', { username: 'nobody_here', password: PASSWORD })
      assert.equal(wrong.status, 401)
      assert.equal(unknown.status, 401)
      assert.equal(wrong.body.error.code, unknown.body.error.code)
      assert.equal(c.sessionToken(), undefined)
    })

    it('ignores case for uniqueness: sign-up, update-user and availability', async () => {
      const c = server.client()
      const taken = await signUp(c, { email: 'imp@example.com', username: 'ADA.LOVELACE' })
      assert.equal(taken.status, 409)
      assert.equal(taken.body.error.code, 'USERNAME_TAKEN')
      assert.equal(sql(database, "SELECT COUNT(*) FROM kavach_user WHERE email = 'imp@example.com'"), '0')

      const avail = await c.post('/auth/is-username-available', { username: 'Ada.LOVELACE' })
      assert.equal(avail.status, 200)
      assert.deepEqual(avail.body, { available: false })
      const free = await c.post('/auth/is-username-available', { username: 'grace_h' })
      assert.deepEqual(free.body, { available: true })

      const g = server.client()
      assert.equal((await signUp(g, { email: 'grace@example.com', username: 'grace_h' })).status, 200)
      const steal = await g.post('/auth/update-user', { username: 'Ada.Lovelace' })
      assert.equal(steal.status, 409)
      assert.equal(steal.body.error.code, 'USERNAME_TAKEN')
    })

    it('two concurrent sign-ups of one username in two cases: exactly one wins', async () => {
      const rs = await Promise.all(['Twin_Name', 'twin_name'].map((u, i) => signUp(server.client(), { email: `twin${i}@example.com`, username: u })))
      assert.deepEqual(rs.map((r) => r.status).sort(), [200, 409])
      assert.equal(sql(database, "SELECT COUNT(*) FROM kavach_user WHERE username = 'twin_name'"), '1')
    })

    it('changes a username through update-user; the old one no longer signs in', async () => {
      const c = server.client()
      assert.equal((await signUp(c, { email: 'linus@example.com', username: 'linus' })).status, 200)
      const r = await c.post('/auth/update-user', { username: 'Linus.T' })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.equal(r.body.user.username, 'linus.t')
      assert.equal(r.body.user.displayUsername, 'Linus.T')
      const same = await c.post('/auth/update-user', { username: 'linus.t', displayUsername: 'LINUS.t' })
      assert.equal(same.status, 200, 'keeping one\'s own username in another case is no conflict')
      assert.equal(same.body.user.displayUsername, 'LINUS.t')
      assert.equal((await server.client().post('/auth/sign-in/username', { username: 'linus', password: PASSWORD })).status, 401)
      assert.equal((await server.client().post('/auth/sign-in/username', { username: 'LINUS.T', password: PASSWORD })).status, 200)
      assert.deepEqual((await c.post('/auth/is-username-available', { username: 'linus' })).body, { available: true })
    })

    it('refuses malformed usernames with VALIDATION_FAILED naming better-auth\'s code', async () => {
      const c = server.client()
      const cases = [
        ['ab', 'USERNAME_TOO_SHORT'],
        ['a'.repeat(21), 'USERNAME_TOO_LONG'],
        ['has space', 'INVALID_USERNAME'],
        // Refused by the input layer before the plugin sees it (input.rs: every body's strings).
        ['nul\u0000byte', 'control characters'],
        ['superadmin', 'INVALID_USERNAME'], // the app's validator says no
      ]
      for (const [name, code] of cases) {
        const r = await signUp(c, { email: `bad${name.length}${code}@example.com`, username: name })
        assert.equal(r.status, 400, name)
        assert.equal(r.body.error.code, 'VALIDATION_FAILED')
        assert.match(r.body.error.message, new RegExp(code))
        const a = await c.post('/auth/is-username-available', { username: name })
        assert.equal(a.status, 400)
        const s = await c.post('/auth/sign-in/username', { username: name, password: PASSWORD })
        assert.equal(s.status, 400)
      }
      assert.equal(sql(database, "SELECT COUNT(*) FROM kavach_user WHERE email LIKE 'bad%'"), '0')
      const notString = await signUp(c, { email: 'num@example.com', username: 42 })
      assert.equal(notString.status, 400)
    })

    it('refuses a banned user, only after the password', async () => {
      const c = server.client()
      assert.equal((await signUp(c, { email: 'bob@example.com', username: 'bob_b' })).status, 200)
      sql(database, "UPDATE kavach_user SET banned = TRUE WHERE email = 'bob@example.com'")
      const r = await server.client().post('/auth/sign-in/username', { username: 'bob_b', password: PASSWORD })
      assert.equal(r.status, 403)
      assert.equal(r.body.error.code, 'USER_BANNED')
      const wrong = await server.client().post('/auth/sign-in/username', { username: 'bob_b', password: 'wrong wrong wrong' })
      assert.equal(wrong.status, 401, 'a ban never tells a right password from a wrong one')
    })

    it('holds the sign-in back for a second factor, as email sign-in does', async () => {
      const c = server.client()
      assert.equal((await signUp(c, { email: 'tf@example.com', username: 'two_f' })).status, 200)
      const id = sql(database, "SELECT id FROM kavach_user WHERE email = 'tf@example.com'")
      const enrolled = await kavach.twoFactor.enable({ userId: id, password: PASSWORD })
      assert.equal(enrolled.success, true, JSON.stringify(enrolled))
      const { authenticator } = await import('otplib')
      const on = await kavach.twoFactor.activate({ userId: id, code: authenticator.generate(enrolled.data.secret) })
      assert.equal(on.success, true)
      const b = server.client()
      const r = await b.post('/auth/sign-in/username', { username: 'Two_F', password: PASSWORD })
      assert.equal(r.status, 200)
      assert.deepEqual(r.body, { twoFactorRequired: true })
      assert.equal(b.sessionToken(), undefined)
      assert.ok(b.jar.has('kavach_2fa'))
    })

    it('counts failed sign-ins per username and answers 429 with Retry-After', async () => {
      const c = server.client()
      assert.equal((await signUp(c, { email: 'lim@example.com', username: 'limited' })).status, 200)
      for (let i = 0; i < 3; i++) {
        const r = await server.client().post('/auth/sign-in/username', { username: 'LIMITED', password: 'wrong wrong wrong' })
        assert.equal(r.status, 401)
      }
      const r = await server.client().post('/auth/sign-in/username', { username: 'limited', password: PASSWORD })
      assert.equal(r.status, 429)
      assert.equal(r.body.error.code, 'RATE_LIMITED')
      assert.ok(Number(r.headers.get('retry-after')) > 0)
      // The email sign-in of another account is untouched by it.
      assert.equal((await server.client().post('/auth/sign-in', { email: 'ada@example.com', password: PASSWORD })).status, 200)
    })
  })
}

describe('username() per-IP credential limit', () => {
  it('shares the per-IP limit with the core sign-in routes', async () => {
    const database = freshDatabase('sqlite', 'usernameip')
    const kavach = await createKavach({
      database,
      secret: SECRET,
      emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
      rateLimit: { maxCredentialRequestsPerIp: 3 },
      plugins: [username()],
    })
    const server = await serve(kavach)
    try {
      const c = server.client()
      const statuses = []
      for (const path of ['/auth/sign-in', '/auth/sign-in/username', '/auth/is-username-available', '/auth/sign-in/username']) {
        const body = path === '/auth/sign-in' ? { email: 'x@example.com', password: PASSWORD } : path.endsWith('available') ? { username: 'someone' } : { username: 'someone', password: PASSWORD }
        const r = await c.post(path, body)
        statuses.push(r.status)
        if (r.status === 429) assert.ok(Number(r.headers.get('retry-after')) > 0)
      }
      assert.deepEqual(statuses, [401, 401, 200, 429])
    } finally {
      await server.close()
      await kavach.close()
    }
  })
})

describe('username() through @kavachos/client', () => {
  it('signUp with a username, isUsernameAvailable, signIn.username, updateUser', async () => {
    const { createKavachClient } = await import('../npm/client/index.mjs')
    const kavach = await createKavach({
      database: freshDatabase('sqlite', 'usernameclient'),
      secret: SECRET,
      emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
      rateLimit: { enabled: false },
      plugins: [username()],
    })
    const server = await serve(kavach)
    try {
      const c = createKavachClient({ baseUrl: server.url })
      const up = await c.auth.signUp({ email: 'cli@example.com', password: PASSWORD, username: 'Cli_User' })
      assert.equal(up.success, true, JSON.stringify(up))
      assert.equal(up.data.user.username, 'cli_user')
      assert.deepEqual(await c.isUsernameAvailable({ username: 'CLI_USER' }), { success: true, data: { available: false } })
      const other = createKavachClient({ baseUrl: server.url })
      const s = await other.signIn.username({ username: 'cli_USER', password: PASSWORD })
      assert.equal(s.success, true, JSON.stringify(s))
      assert.equal(s.data.user.id, up.data.user.id)
      assert.equal((await other.auth.getSession()).data.user.id, up.data.user.id)
      const u = await other.updateUser({ username: 'renamed' })
      assert.equal(u.success, true, JSON.stringify(u))
      assert.equal(u.data.user.username, 'renamed')
      const bad = await other.signIn.username({ username: 'cli_user', password: PASSWORD })
      assert.equal(bad.success, false)
      assert.equal(bad.error.code, 'INVALID_CREDENTIALS')
    } finally {
      await server.close()
      await kavach.close()
    }
  })
})
