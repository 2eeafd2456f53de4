// oneTap() (Google One Tap) over real HTTP on SQLite, PostgreSQL and MariaDB: ID tokens are signed with npm
// `jose` by keys a local JWKS server on 127.0.0.1 publishes (the plugin's `issuer` and `jwksUrl`
// point at it). A good token signs in or up; a wrong audience, an expired token, a bad signature,
// an unknown `kid` and a wrong issuer are refused; a key the issuer adds later is fetched.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { generateKeyPair, exportJWK, SignJWT } from 'jose'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'
import { serve } from './http-server.mjs'
import { createKavachClient } from '../npm/client/index.mjs'
import { createKavach } from '../index.mjs'
import { oneTap } from '../plugins.mjs'

const CLIENT_ID = 'kavach-test.apps.googleusercontent.com'
const PASSWORD = 'correct horse battery'

/** An OIDC issuer's key set on 127.0.0.1: `publish(key)` adds a key; `fetches` counts GETs. */
async function issuer() {
  const keys = []
  const state = { fetches: 0 }
  const server = createServer((req, res) => {
    if (req.url !== '/jwks') return res.writeHead(404).end()
    state.fetches++
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }))
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const origin = `http://127.0.0.1:${server.address().port}`
  const newKey = async (kid) => {
    const { publicKey, privateKey } = await generateKeyPair('RS256')
    return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } }
  }
  return {
    state,
    iss: origin,
    jwksUrl: `${origin}/jwks`,
    newKey,
    publish: (key) => keys.push(key.jwk),
    close: () => new Promise((r) => server.close(r)),
  }
}

let subs = 0
/** A Google-shaped ID token; `over` replaces claims, `key` signs it (its kid in the header). */
function idToken(iss, key, over = {}, header = {}) {
  const now = Math.floor(Date.now() / 1000)
  const claims = {
    iss: iss.iss,
    aud: CLIENT_ID,
    sub: `g-${++subs}`,
    email: `person${subs}@example.com`,
    email_verified: true,
    name: 'Grace Hopper',
    picture: 'https://example.com/g.png',
    iat: now,
    exp: now + 600,
    ...over,
  }
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...header })
  return jwt.sign(key.privateKey)
}

for (const backend of backends()) {
  describe(`oneTap() on ${backend}`, () => {
    let t, iss, k1
    before(async () => {
      iss = await issuer()
      k1 = await iss.newKey('k1')
      iss.publish(k1)
      const database = freshDatabase(backend, 'onetap')
      const kavach = await createKavach({
        database,
        secret: SECRET,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        rateLimit: { enabled: false },
        plugins: [oneTap({ clientId: CLIENT_ID, issuer: iss.iss, jwksUrl: iss.jwksUrl })],
      })
      const server = await serve(kavach)
      t = { database, kavach, server }
    })
    after(async () => {
      await t.server.close()
      await t.kavach.close()
      await iss.close()
    })

    const callback = (body, browser = t.server.client()) => browser.post('/auth/one-tap/callback', body).then((r) => ({ r, browser }))

    it('signs a new Google user up, sets the session cookie, and signs the same user in again', async () => {
      const token = await idToken(iss, k1, { sub: 'g-new', email: 'Grace@Example.com' })
      const { r, browser } = await callback({ idToken: token })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.equal(r.body.user.email, 'grace@example.com')
      assert.equal(r.body.user.name, 'Grace Hopper')
      assert.equal(r.body.user.emailVerified, true)
      assert.equal(typeof r.body.token, 'string')
      assert.equal(browser.sessionToken(), r.body.token)
      const me = await browser.get('/auth/session')
      assert.equal(me.status, 200)
      assert.equal(me.body.user.id, r.body.user.id)

      const again = await callback({ idToken: await idToken(iss, k1, { sub: 'g-new', email: 'grace@example.com' }) })
      assert.equal(again.r.status, 200)
      assert.equal(again.r.body.user.id, r.body.user.id, 'the same Google sub is the same user')
      const cols = ['provider_id', "':'", 'provider_account_id', "':'", "COALESCE(access_token, 'none')"]
      const joined = backend === 'mysql' ? `CONCAT(${cols.join(', ')})` : cols.join(' || ')
      const rows = sql(t.database, `SELECT ${joined} FROM kavach_account WHERE user_id = '${r.body.user.id}'`)
      assert.equal(rows.trim(), 'google:g-new:none', 'linked as a google account; no token kept')
      // No ID token in clear anywhere it could be stored.
      const dump = sql(t.database, `SELECT COUNT(*) FROM kavach_account WHERE access_token LIKE '%${token.slice(0, 20)}%' OR refresh_token LIKE '%${token.slice(0, 20)}%'`)
      assert.equal(Number(dump), 0)
    })

    it('links a verified Google email to the existing account; refuses an unverified one', async () => {
      const browser = t.server.client()
      const up = await browser.post('/auth/sign-up', { email: 'linus@example.com', password: PASSWORD, name: 'Linus' })
      assert.equal(up.status, 200, JSON.stringify(up.body))
      const unverified = await callback({ idToken: await idToken(iss, k1, { sub: 'g-linus-x', email: 'linus@example.com', email_verified: false }) })
      assert.equal(unverified.r.status, 400)
      assert.equal(unverified.r.body.error.code, 'OAUTH_ACCOUNT_NOT_LINKED')
      assert.equal(unverified.browser.sessionToken(), undefined)
      const verified = await callback({ idToken: await idToken(iss, k1, { sub: 'g-linus', email: 'linus@example.com' }) })
      assert.equal(verified.r.status, 200, JSON.stringify(verified.r.body))
      assert.equal(verified.r.body.user.id, up.body.user.id)
    })

    for (const [what, make] of [
      ['a wrong audience', () => idToken(iss, k1, { aud: 'someone-else.apps.googleusercontent.com' })],
      ['an expired token', () => idToken(iss, k1, { iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 })],
      ['a wrong issuer', () => idToken(iss, k1, { iss: 'https://evil.example.com' })],
      ['a bad signature (another key under the published kid)', async () => idToken(iss, { ...(await iss.newKey('k1')) })],
      ['an unknown kid', async () => idToken(iss, await iss.newKey('never-published'))],
      ['a tampered payload', async () => {
        const [h, , s] = (await idToken(iss, k1)).split('.')
        const p = Buffer.from(JSON.stringify({ iss: iss.iss, aud: CLIENT_ID, sub: 'admin', email: 'admin@example.com', email_verified: true, exp: 9999999999 })).toString('base64url')
        return `${h}.${p}.${s}`
      }],
      ['an HS256 token', async () => new SignJWT({ iss: iss.iss, aud: CLIENT_ID, sub: 'h', exp: Math.floor(Date.now() / 1000) + 60 }).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode(SECRET))],
      ['not a JWT', async () => 'not-a-jwt'],
    ]) {
      it(`refuses ${what} with no session`, async () => {
        const { r, browser } = await callback({ idToken: await make() })
        assert.equal(r.status, 400, JSON.stringify(r.body))
        assert.equal(r.body.error.code, 'OAUTH_ID_TOKEN_INVALID')
        assert.equal(browser.sessionToken(), undefined)
      })
    }

    it('refuses a body without idToken, and a callbackURL on another site', async () => {
      const none = await callback({})
      assert.equal(none.r.status, 400)
      assert.equal(none.r.body.error.code, 'VALIDATION_FAILED')
      const away = await callback({ idToken: await idToken(iss, k1), callbackURL: 'https://evil.example.com/' })
      assert.equal(away.r.status, 400)
      assert.equal(away.r.body.error.code, 'VALIDATION_FAILED')
    })

    it('the client posts an ID token with oneTap({ idToken }) and holds the session', async () => {
      const c = createKavachClient({ baseUrl: t.server.url })
      const r = await c.oneTap({ idToken: await idToken(iss, k1, { sub: 'g-client', email: 'client@example.com' }) })
      assert.equal(r.success, true, JSON.stringify(r.error))
      assert.equal(r.data.user.email, 'client@example.com')
      const s = await c.auth.getSession()
      assert.equal(s.success, true)
      assert.equal(s.data.user.email, 'client@example.com')
      const bad = await c.oneTap({ idToken: await idToken(iss, k1, { aud: 'nope' }) })
      assert.equal(bad.success, false)
      assert.equal(bad.error.code, 'OAUTH_ID_TOKEN_INVALID')
    })

    it('a banned user is refused', async () => {
      const { r } = await callback({ idToken: await idToken(iss, k1, { sub: 'g-banned', email: 'banned@example.com' }) })
      assert.equal(r.status, 200)
      sql(t.database, `UPDATE kavach_user SET banned = ${backend === 'postgres' ? 'TRUE' : '1'} WHERE id = '${r.body.user.id}'`)
      const again = await callback({ idToken: await idToken(iss, k1, { sub: 'g-banned', email: 'banned@example.com' }) })
      assert.equal(again.r.status, 403, JSON.stringify(again.r.body))
      assert.equal(again.r.body.error.code, 'USER_BANNED')
    })

    // The key cache is the same code on every database: its 10 s wait runs once.
    it('a key the issuer publishes later is fetched on its unknown kid (after the 10 s retry pause)', { timeout: 30_000, skip: backend !== backends()[0] }, async () => {
      const k2 = await iss.newKey('k2')
      const first = await callback({ idToken: await idToken(iss, k2) })
      assert.equal(first.r.status, 400, 'not published yet')
      iss.publish(k2)
      const before = iss.state.fetches
      await new Promise((r) => setTimeout(r, 10_500))
      const later = await callback({ idToken: await idToken(iss, k2, { sub: 'g-rotated', email: 'rotated@example.com' }) })
      assert.equal(later.r.status, 200, JSON.stringify(later.r.body))
      assert.equal(iss.state.fetches, before + 1, 'the set was fetched once more')
      // Cached: another token by a known key fetches nothing.
      await callback({ idToken: await idToken(iss, k1) })
      assert.equal(iss.state.fetches, before + 1)
    })
  })
}

describe('oneTap() options', () => {
  it('needs clientId (CONFIG_INVALID at boot)', async () => {
    await assert.rejects(
      createKavach({ database: freshDatabase('sqlite', 'onetap-opt'), secret: SECRET, plugins: [oneTap({})] }),
      (e) => e.code === 'CONFIG_INVALID' && /clientId/.test(e.message),
    )
  })
  it('disableSignup refuses a Google account with no user here', async () => {
    const iss = await issuer()
    const key = await iss.newKey('d1')
    iss.publish(key)
    const kavach = await createKavach({
      database: freshDatabase('sqlite', 'onetap-nosignup'),
      secret: SECRET,
      rateLimit: { enabled: false },
      plugins: [oneTap({ clientId: CLIENT_ID, issuer: iss.iss, jwksUrl: iss.jwksUrl, disableSignup: true })],
    })
    const server = await serve(kavach)
    try {
      const r = await server.client().post('/auth/one-tap/callback', { idToken: await idToken(iss, key) })
      assert.equal(r.status, 400)
      assert.equal(r.body.error.code, 'OAUTH_SIGN_UP_DISABLED')
    } finally {
      await server.close()
      await kavach.close()
      await iss.close()
    }
  })
})
