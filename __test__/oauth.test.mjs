// OAuth sign-in (the oauth() plugin of kavachos/auth) end to end, on every database: kavachos on a
// real node:http server on 127.0.0.1 against a real OpenID Connect provider (npm oidc-provider, in
// fixtures/oidc-peer.mjs) played through over HTTP with cookie jars: the authorization-code flow
// with PKCE, state and nonce; the refused callbacks (state, code, denied, ID token); linking,
// auto-linking by verified email, unlinking; provider token refresh; the JSON routes; banned users;
// and the authorize URLs of the 17 first-class providers.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { createKavach } from '../index.mjs'
import { oauth } from '../auth.mjs'
import { admin } from '../plugins.mjs'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'
import { startOidcPeer, CookieJar } from './fixtures/oidc-peer.mjs'

const MOUNT = '/api/kavach'
const PROVIDER = 'test-oidc'
const CLIENT_ID = 'kavach-test-client'
const CLIENT_SECRET = 'kavach-test-client-secret-0123456789abcdef'
const PASSWORD = 'OAuth-test password 1'
const T = { timeout: 60_000 }

// The provider's users (subject => claims).
const ACCOUNTS = {
  alice: { email: 'alice@example.com', email_verified: true, name: 'Alice Liddell', picture: 'https://img.example/alice.png' },
  bob: { email: 'bob@example.com', email_verified: true, name: 'Bob', picture: 'https://img.example/bob.png' },
  dave: { email: 'dave@example.com', email_verified: true, name: 'Dave' },
  erin: { email: 'erin@example.com', email_verified: false, name: 'Erin' },
  frank: { email: 'frank@example.com', email_verified: true, name: 'Frank' },
  grace: { email: 'grace@example.com', email_verified: true, name: 'Grace' },
  ivan: { email: 'ivan@example.com', email_verified: true, name: 'Ivan' },
  judy: { email: 'judy@example.com', email_verified: true, name: 'Judy' },
  mallory: { email: 'mallory@example.com', email_verified: true, name: 'Mallory' },
  oscar: { email: 'oscar@example.com', email_verified: true, name: 'Oscar' },
}

/**
 * A node:http server on 127.0.0.1 that hands every request to `kavach.handler` (set later with
 * `serve`, once the port, and so baseUrl, is known). Set-Cookie headers are kept one by one.
 */
async function kavachServer() {
  let kavach = null
  const server = createServer(async (req, res) => {
    try {
      if (!kavach) throw new Error('kavach is not ready')
      const url = new URL(req.url, origin)
      const headers = new Headers()
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1])
      const chunks = []
      for await (const c of req) chunks.push(c)
      const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
      const r = await kavach.handler(new Request(url, { method: req.method, headers, body: hasBody ? Buffer.concat(chunks) : undefined }))
      const out = {}
      for (const [k, v] of r.headers) if (k !== 'set-cookie') out[k] = v
      const cookies = r.headers.getSetCookie()
      if (cookies.length) out['set-cookie'] = cookies
      res.writeHead(r.status, out)
      res.end(Buffer.from(await r.arrayBuffer()))
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' })
      res.end(`test server: ${e && e.stack}`)
    }
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${server.address().port}`
  return {
    origin,
    serve: (k) => void (kavach = k),
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** The Set-Cookie line named `name`, or undefined. */
const setCookieLine = (res, name) => res.headers.getSetCookie().find((s) => s.startsWith(`${name}=`))
/** A `kavach_session` Set-Cookie with a value (a cleared one does not count), or undefined. */
const sessionCookieSet = (res) => res.headers.getSetCookie().find((s) => /^kavach_session=[^;]/.test(s))
const valueOf = (line) => line.split(';')[0].slice(line.indexOf('=') + 1)

/** Waits for `fn()` to be truthy (listeners run after the response). */
async function waitFor(what, fn, ms = 5000) {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(15)
  }
}

for (const backend of backends()) {
  describe(`oauth() against a real OpenID Connect provider on ${backend}`, { timeout: 300_000 }, () => {
    let srv
    let origin
    let peer
    let database
    let kavach
    const events = []
    const redirectUri = () => `${origin}${MOUNT}/oauth/${PROVIDER}/callback`

    before(async () => {
      srv = await kavachServer()
      origin = srv.origin
      peer = await startOidcPeer({
        clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`${origin}${MOUNT}/oauth/${PROVIDER}/callback`] }],
        accounts: ACCOUNTS,
      })
      database = freshDatabase(backend, 'oauth')
      const listener = (name) => (e) => void events.push({ name, ...e })
      kavach = await createKavach({
        database,
        secret: SECRET,
        baseUrl: origin,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        rateLimit: { enabled: false },
        hooks: { events: Object.fromEntries(['user.created', 'auth.sign-up', 'session.created', 'auth.sign-in'].map((n) => [n, listener(n)])) },
        plugins: [
          admin(),
          oauth({
            providers: [
              { id: PROVIDER, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, issuer: peer.issuer, scopes: ['openid', 'email', 'profile', 'offline_access'] },
            ],
          }),
        ],
      })
      srv.serve(kavach)
    })
    after(async () => {
      if (srv) await srv.close()
      if (kavach) await kavach.close()
      if (peer) await peer.close()
    })

    const api = (path) => `${origin}${MOUNT}${path}`
    /** A JSON request on `jar` (Origin set for non-GET, as a browser on the app's origin sends it). */
    const send = (jar, method, path, json) => {
      const headers = {}
      if (method !== 'GET') headers.origin = origin
      if (json !== undefined) headers['content-type'] = 'application/json'
      return jar.fetch(api(path), { method, headers, body: json === undefined ? undefined : JSON.stringify(json) })
    }
    const expectError = async (res, status, code) => {
      const text = await res.text()
      assert.equal(res.status, status, text)
      let body
      try {
        body = JSON.parse(text)
      } catch {
        assert.fail(`not JSON: ${text}`)
      }
      assert.equal(body.error?.code, code, text)
      assert.equal(res.headers.get('location'), null)
      assert.equal(sessionCookieSet(res), undefined, 'no session cookie')
    }
    /** Where a redirect goes, resolved against the app's origin. */
    const locationOf = (res) => {
      assert.ok(res.status >= 300 && res.status < 400, `a redirect, not ${res.status}`)
      return new URL(res.headers.get('location'), origin)
    }
    /** A redirect back into the app at `path` with `error=code`, and no session. */
    const expectErrorRedirect = async (res, path, code) => {
      if (!res.bodyUsed) await res.arrayBuffer()
      const to = locationOf(res)
      assert.equal(to.origin, origin)
      assert.equal(to.pathname, path, to.href)
      assert.equal(to.searchParams.get('error'), code, to.href)
      assert.equal(sessionCookieSet(res), undefined, 'no session cookie')
    }

    /** GET /oauth/test-oidc?query on `jar`: answers the provider's authorize URL and the state. */
    async function start(jar, query = {}) {
      const res = await jar.fetch(api(`/oauth/${PROVIDER}?${new URLSearchParams(query)}`))
      await res.arrayBuffer()
      assert.equal(res.status, 302, `GET /oauth/${PROVIDER} answered ${res.status}`)
      const url = new URL(res.headers.get('location'))
      const cookie = setCookieLine(res, 'kavach_oauth_state')
      assert.ok(cookie, 'the state cookie is set')
      return { url, state: url.searchParams.get('state'), cookie, res }
    }

    /** A whole sign-in: start, the provider as `accountId`, the callback. Answers the callback's response. */
    async function flow(accountId, query = {}, { jar = new CookieJar(), rewrite } = {}) {
      const { url } = await start(jar, query)
      if (rewrite) rewrite(url)
      const back = await peer.login(url, { accountId })
      const res = await jar.fetch(back)
      await res.arrayBuffer()
      return { res, jar, back }
    }

    /** A successful sign-in as `accountId`: answers the session cookie and GET /auth/session. */
    async function signIn(accountId, query = { callbackURL: '/dashboard' }) {
      const { res, jar } = await flow(accountId, query)
      const to = locationOf(res)
      assert.equal(to.searchParams.get('error'), null, `sign-in as ${accountId} failed: ${to.href}`)
      const line = sessionCookieSet(res)
      assert.ok(line, 'a session cookie')
      const session = await (await send(jar, 'GET', '/auth/session')).json()
      return { res, jar, cookie: line.split(';')[0], session, to }
    }

    const userRows = (email) => Number(sql(database, `SELECT count(*) FROM kavach_user WHERE email = '${email}'`))
    // Rows as `provider_id<TAB>provider_account_id<TAB>user_id` lines (psql -A separates with '|'; no id holds one).
    const accountRows = (where) =>
      sql(database, `SELECT provider_id, provider_account_id, user_id FROM kavach_account WHERE ${where} ORDER BY provider_id`)
        .split('\n')
        .map((line) => (database.provider === 'postgres' ? line.split('|').join('\t') : line))
        .join('\n')
    /** One column of one account row (a column at a time: a sealed value may hold any separator). */
    const accountColumn = (column, accountId) => sql(database, `SELECT ${column} FROM kavach_account WHERE provider_id = '${PROVIDER}' AND provider_account_id = '${accountId}'`)
    const issuedFor = (accessToken) => peer.issued.find((t) => t.access_token === accessToken)

    async function signUpWithPassword(email, name) {
      const jar = new CookieJar()
      const res = await send(jar, 'POST', '/auth/sign-up', { email, password: PASSWORD, name })
      assert.equal(res.status, 200, await res.clone().text())
      const body = await res.json()
      assert.ok(jar.get(origin, 'kavach_session'), 'signed in after sign-up')
      return { jar, user: body.user }
    }

    it('signs up through the provider: PKCE, state and nonce out; a session, the user and a sealed account back; a second sign-in finds the same user', T, async () => {
      const jar = new CookieJar()
      const { url, state, cookie } = await start(jar, { callbackURL: '/dashboard', newUserCallbackURL: '/welcome' })
      assert.equal(url.origin + url.pathname, peer.config.authorization_endpoint)
      const p = url.searchParams
      assert.equal(p.get('response_type'), 'code')
      assert.equal(p.get('client_id'), CLIENT_ID)
      assert.equal(p.get('redirect_uri'), redirectUri())
      assert.deepEqual(p.get('scope').split(' ').sort(), ['email', 'offline_access', 'openid', 'profile'])
      assert.match(state, /^[A-Za-z0-9_-]{16,}$/)
      assert.equal(p.get('code_challenge_method'), 'S256')
      assert.match(p.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/)
      assert.match(p.get('nonce') ?? '', /^[A-Za-z0-9_-]{16,}$/)
      assert.equal(valueOf(cookie), state)
      for (const attr of ['Path=/', 'HttpOnly', 'SameSite=Lax', 'Max-Age=600']) assert.ok(cookie.split('; ').includes(attr), cookie)

      const back = new URL(await peer.login(url, { accountId: 'alice' }))
      assert.equal(back.origin + back.pathname, redirectUri())
      assert.equal(back.searchParams.get('state'), state)
      const res = await jar.fetch(back)
      await res.arrayBuffer()
      const to = locationOf(res)
      assert.equal(to.origin, origin)
      assert.equal(to.pathname, '/welcome', 'a new user goes to newUserCallbackURL')
      assert.equal(to.searchParams.get('error'), null)
      const line = sessionCookieSet(res)
      assert.match(line ?? '', /^kavach_session=[^;]+; /)
      assert.match(setCookieLine(res, 'kavach_oauth_state') ?? '', /^kavach_oauth_state=; .*Max-Age=0/, 'the state cookie is cleared')

      const s = await send(jar, 'GET', '/auth/session')
      assert.equal(s.status, 200)
      const { user, session } = await s.json()
      assert.equal(user.email, 'alice@example.com')
      assert.equal(user.name, 'Alice Liddell')
      assert.equal(user.image, 'https://img.example/alice.png')
      assert.equal(user.emailVerified, true)

      // The account row: the provider's subject, and tokens sealed (never the clear token).
      assert.equal(userRows('alice@example.com'), 1)
      const rows = accountRows(`user_id = '${user.id}'`).split('\n')
      assert.deepEqual(rows, [`${PROVIDER}\talice\t${user.id}`])
      const tokens = peer.issued.filter((t) => t.grantType === 'authorization_code' && t.clientId === CLIENT_ID)
      const issued = tokens[tokens.length - 1]
      assert.ok(issued?.access_token && issued.refresh_token, 'the provider issued an access and a refresh token')
      const storedAccess = accountColumn('access_token', 'alice')
      const storedRefresh = accountColumn('refresh_token', 'alice')
      const isNull = (v) => v === undefined || ['', 'None', 'NULL'].includes(v) // how sqlite3/psql/mysql print NULL
      assert.ok(!isNull(storedAccess), 'an access token is stored')
      assert.ok(!storedAccess.includes(issued.access_token), 'the access token is sealed')
      assert.ok(!isNull(storedRefresh), 'a refresh token is stored')
      assert.ok(!storedRefresh.includes(issued.refresh_token), 'the refresh token is sealed')

      // Events of a new user.
      const created = await waitFor('user.created', () => events.find((e) => e.name === 'user.created' && e.data.id === user.id))
      assert.equal(created.data.email, 'alice@example.com')
      const up = await waitFor('auth.sign-up', () => events.find((e) => e.name === 'auth.sign-up' && e.data.userId === user.id))
      assert.equal(up.data.email, 'alice@example.com')
      // The contract names no payload for an OAuth sign-up; a providerId, when given, is the provider's.
      if ('providerId' in up.data) assert.equal(up.data.providerId, PROVIDER)
      await waitFor('session.created', () => events.find((e) => e.name === 'session.created' && e.data.id === session.id))

      // Again: the same user, a new session.
      const again = await signIn('alice', { callbackURL: '/dashboard', newUserCallbackURL: '/welcome' })
      assert.equal(again.to.pathname, '/dashboard', 'a returning user goes to callbackURL')
      assert.equal(again.session.user.id, user.id)
      assert.notEqual(again.session.session.id, session.id)
      assert.notEqual(again.cookie, line.split(';')[0])
      assert.equal(userRows('alice@example.com'), 1, 'no second user')
      assert.equal(accountRows(`user_id = '${user.id}'`).split('\n').length, 1, 'no second account')
      const signedIn = await waitFor('auth.sign-in', () => events.find((e) => e.name === 'auth.sign-in' && e.data.sessionId === again.session.session.id))
      assert.equal(signedIn.data.userId, user.id)
      await waitFor('session.created', () => events.find((e) => e.name === 'session.created' && e.data.id === again.session.session.id))
      await sleep(300)
      assert.equal(events.filter((e) => e.name === 'user.created' && e.data.id === user.id).length, 1)
      assert.equal(events.filter((e) => e.name === 'auth.sign-up' && e.data.userId === user.id).length, 1)

      // The JS side sees the account too.
      const listed = await kavach.oauth.listAccounts({ userId: user.id })
      assert.equal(listed.success, true, JSON.stringify(listed.error))
      assert.equal(listed.data.length, 1)
      assert.equal(listed.data[0].providerId, PROVIDER)
      assert.equal(listed.data[0].accountId, 'alice')
      assert.equal(listed.data[0].userId, user.id)
      assert.ok(listed.data[0].createdAt instanceof Date)
      assert.ok(Array.isArray(listed.data[0].scopes))
      assert.ok(listed.data[0].scopes.includes('openid'), JSON.stringify(listed.data[0].scopes))
      for (const k of ['accessToken', 'refreshToken', 'idToken', 'password']) assert.equal(listed.data[0][k], undefined, `no ${k}`)
    })

    it('refuses callbacks with a bad, missing or replayed state (400 OAUTH_STATE_INVALID), and sends a used or missing code and a denial back with an error', T, async () => {
      assert.equal(userRows('grace@example.com'), 0)

      // The state in the query is not the one of the cookie.
      {
        const jar = new CookieJar()
        const { url } = await start(jar, { callbackURL: '/dashboard' })
        const back = new URL(await peer.login(url, { accountId: 'grace' }))
        // Another first character (never the same one, which would leave the state as it was).
        const state = back.searchParams.get('state')
        back.searchParams.set('state', (state[0] === 'x' ? 'y' : 'x') + state.slice(1))
        await expectError(await jar.fetch(back), 400, 'OAUTH_STATE_INVALID')
        // A state made up entirely, cookie and query alike, is no better.
        jar.set(origin, 'kavach_oauth_state', 'made-up-state-made-up-state')
        back.searchParams.set('state', 'made-up-state-made-up-state')
        await expectError(await jar.fetch(back), 400, 'OAUTH_STATE_INVALID')
      }
      // No state cookie (another browser).
      {
        const jar = new CookieJar()
        const { url } = await start(jar, { callbackURL: '/dashboard' })
        const back = await peer.login(url, { accountId: 'grace' })
        await expectError(await new CookieJar().fetch(back), 400, 'OAUTH_STATE_INVALID')
        // No state in the query at all.
        const bare = new URL(back)
        bare.searchParams.delete('state')
        await expectError(await jar.fetch(bare), 400, 'OAUTH_STATE_INVALID')
      }
      assert.equal(userRows('grace@example.com'), 0, 'no user from refused callbacks')

      // A replayed callback: the stored state is single-use, even with the cookie sent again.
      const first = await flow('grace', { callbackURL: '/dashboard' })
      assert.ok(sessionCookieSet(first.res), 'the first callback signs in')
      const used = new URL(first.back)
      first.jar.set(origin, 'kavach_oauth_state', used.searchParams.get('state'))
      await expectError(await first.jar.fetch(used), 400, 'OAUTH_STATE_INVALID')

      // The same callback ten times at once (a double click, a retrying proxy): exactly one session.
      {
        const jar = new CookieJar()
        const { url } = await start(jar, { callbackURL: '/dashboard' })
        const back = await peer.login(url, { accountId: 'grace' })
        const answers = await Promise.all(
          Array.from({ length: 10 }, async () => {
            const res = await jar.fetch(back)
            const text = await res.text()
            return { status: res.status, text, session: sessionCookieSet(res) }
          }),
        )
        const won = answers.filter((a) => a.session)
        assert.equal(won.length, 1, JSON.stringify(answers.map((a) => a.status)))
        for (const a of answers.filter((a) => !a.session)) {
          assert.equal(a.status, 400, a.text)
          assert.equal(JSON.parse(a.text).error.code, 'OAUTH_STATE_INVALID', a.text)
        }
      }

      // A used code with a fresh valid state: the token endpoint refuses it.
      {
        const jar = new CookieJar()
        const { url } = await start(jar, { callbackURL: '/dashboard', errorCallbackURL: '/sign-in-failed' })
        const back = new URL(await peer.login(url, { accountId: 'grace' }))
        back.searchParams.set('code', used.searchParams.get('code'))
        await expectErrorRedirect(await jar.fetch(back), '/sign-in-failed', 'OAUTH_CODE_INVALID')
      }
      // No code (errors go to callbackURL when there is no errorCallbackURL).
      {
        const jar = new CookieJar()
        const { url } = await start(jar, { callbackURL: '/dashboard' })
        const back = new URL(await peer.login(url, { accountId: 'grace' }))
        back.searchParams.delete('code')
        await expectErrorRedirect(await jar.fetch(back), '/dashboard', 'OAUTH_CODE_MISSING')
      }
      // The user says no at the provider.
      {
        const jar = new CookieJar()
        const { url } = await start(jar, { callbackURL: '/dashboard', errorCallbackURL: '/sign-in-failed' })
        const back = new URL(await peer.login(url, { accountId: 'grace', deny: true }))
        assert.equal(back.searchParams.get('error'), 'access_denied')
        await expectErrorRedirect(await jar.fetch(back), '/sign-in-failed', 'OAUTH_ACCESS_DENIED')
      }
      // Without callbackURL nor errorCallbackURL: '/'.
      {
        const jar = new CookieJar()
        const { url } = await start(jar)
        const back = new URL(await peer.login(url, { accountId: 'grace', deny: true }))
        await expectErrorRedirect(await jar.fetch(back), '/', 'OAUTH_ACCESS_DENIED')
      }
      assert.equal(userRows('grace@example.com'), 1, 'only the one good sign-in made a user')
    })

    it('links a provider account to a signed-in password user, lists and unlinks accounts, refuses to unlink the last one', T, async () => {
      const carol = await signUpWithPassword('carol@example.com', 'Carol')
      const carolId = carol.user.id

      // Linking needs a session.
      await expectError(await new CookieJar().fetch(api(`/oauth/${PROVIDER}?link=1&callbackURL=/settings`)), 401, 'UNAUTHORIZED')

      const { url } = await start(carol.jar, { link: '1', callbackURL: '/settings' })
      const back = await peer.login(url, { accountId: 'bob' })
      const res = await carol.jar.fetch(back)
      await res.arrayBuffer()
      const to = locationOf(res)
      assert.equal(to.pathname, '/settings')
      assert.equal(to.searchParams.get('error'), null, to.href)
      assert.equal(sessionCookieSet(res), undefined, 'linking makes no new session')
      assert.equal(userRows('bob@example.com'), 0, 'no user for the linked account')
      assert.equal(accountRows(`provider_account_id = 'bob'`), `${PROVIDER}\tbob\t${carolId}`, 'a second kavach_account row for carol')
      assert.deepEqual(accountRows(`user_id = '${carolId}'`).split('\n').map((r) => r.split('\t')[0]), ['credential', PROVIDER])

      const list = await send(carol.jar, 'GET', '/auth/list-accounts')
      assert.equal(list.status, 200, await list.clone().text())
      const accounts = await list.json()
      assert.deepEqual(accounts.map((a) => a.providerId).sort(), ['credential', PROVIDER])
      const linked = accounts.find((a) => a.providerId === PROVIDER)
      assert.equal(linked.accountId, 'bob')
      assert.equal(linked.userId, carolId)
      assert.ok(Array.isArray(linked.scopes))
      for (const a of accounts) {
        assert.deepEqual(Object.keys(a).sort(), ['accountId', 'createdAt', 'id', 'providerId', 'scopes', 'updatedAt', 'userId'], JSON.stringify(a))
        assert.ok(!Number.isNaN(Date.parse(a.createdAt)), a.createdAt)
      }
      const viaJs = await kavach.oauth.listAccounts({ userId: carolId })
      assert.deepEqual(viaJs.data.map((a) => a.id).sort(), accounts.map((a) => a.id).sort())

      // Signing in with the linked account is signing in as carol.
      const asBob = await signIn('bob')
      assert.equal(asBob.session.user.id, carolId)

      // An account linked to someone else cannot be linked.
      const ivan = await signIn('ivan')
      {
        const { url } = await start(carol.jar, { link: '1', callbackURL: '/settings' })
        const back = await peer.login(url, { accountId: 'ivan' })
        await expectErrorRedirect(await carol.jar.fetch(back), '/settings', 'OAUTH_ACCOUNT_IN_USE')
        assert.equal(accountRows(`provider_account_id = 'ivan'`), `${PROVIDER}\tivan\t${ivan.session.user.id}`)
      }

      // Unlink over HTTP, then the last account is refused.
      const unlinked = await send(carol.jar, 'POST', '/auth/unlink-account', { providerId: PROVIDER })
      assert.equal(unlinked.status, 200, await unlinked.clone().text())
      assert.deepEqual(await unlinked.json(), { success: true })
      const left = await (await send(carol.jar, 'GET', '/auth/list-accounts')).json()
      assert.deepEqual(left.map((a) => a.providerId), ['credential'])
      await expectError(await send(carol.jar, 'POST', '/auth/unlink-account', { providerId: 'credential' }), 400, 'FAILED_TO_UNLINK_LAST_ACCOUNT')

      // Link again through POST /auth/link-social.
      const social = await send(carol.jar, 'POST', '/auth/link-social', { provider: PROVIDER, callbackURL: '/settings/linked' })
      assert.equal(social.status, 200, await social.clone().text())
      const body = await social.json()
      assert.equal(body.redirect, true)
      const socialUrl = new URL(body.url)
      assert.equal(socialUrl.origin + socialUrl.pathname, peer.config.authorization_endpoint)
      assert.equal(carol.jar.get(origin, 'kavach_oauth_state'), socialUrl.searchParams.get('state'))
      const back2 = await peer.login(socialUrl, { accountId: 'bob' })
      const res2 = await carol.jar.fetch(back2)
      await res2.arrayBuffer()
      assert.equal(locationOf(res2).pathname, '/settings/linked')
      assert.equal(locationOf(res2).searchParams.get('error'), null)
      assert.deepEqual((await (await send(carol.jar, 'GET', '/auth/list-accounts')).json()).map((a) => a.providerId).sort(), ['credential', PROVIDER])
      // link-social needs a session too.
      await expectError(await send(new CookieJar(), 'POST', '/auth/link-social', { provider: PROVIDER }), 401, 'UNAUTHORIZED')

      // The JS calls: an OAuth-only user cannot unlink their only account; carol can unlink one of two.
      const alice = await signIn('alice')
      const last = await kavach.oauth.unlinkAccount({ userId: alice.session.user.id, providerId: PROVIDER })
      assert.equal(last.success, false)
      assert.equal(last.error.code, 'FAILED_TO_UNLINK_LAST_ACCOUNT')
      assert.equal(accountRows(`user_id = '${alice.session.user.id}'`).split('\n').length, 1)
      const js = await kavach.oauth.unlinkAccount({ userId: carolId, providerId: PROVIDER, accountId: 'bob' })
      assert.equal(js.success, true, JSON.stringify(js.error))
      assert.deepEqual((await kavach.oauth.listAccounts({ userId: carolId })).data.map((a) => a.providerId), ['credential'])
    })

    it('links a same-email password user automatically only when the provider says the email is verified', T, async () => {
      const dave = await signUpWithPassword('dave@example.com', 'Dave')
      const asDave = await signIn('dave')
      assert.equal(asDave.session.user.id, dave.user.id, 'the verified email signs in to the existing user')
      assert.equal(userRows('dave@example.com'), 1)
      const daves = await (await send(asDave.jar, 'GET', '/auth/list-accounts')).json()
      assert.deepEqual(daves.map((a) => a.providerId).sort(), ['credential', PROVIDER])

      const erin = await signUpWithPassword('erin@example.com', 'Erin')
      const { res } = await flow('erin', { callbackURL: '/dashboard', errorCallbackURL: '/sign-in-failed' })
      await expectErrorRedirect(res, '/sign-in-failed', 'OAUTH_ACCOUNT_NOT_LINKED')
      assert.equal(userRows('erin@example.com'), 1)
      assert.equal(accountRows(`provider_account_id = 'erin'`), '', 'no account row for the unverified email')
      assert.deepEqual((await kavach.oauth.listAccounts({ userId: erin.user.id })).data.map((a) => a.providerId), ['credential'])
    })

    it('refreshes an expiring provider access token through the token endpoint (getAccessToken)', T, async () => {
      // A long-lived token comes back as stored.
      const alice = await signIn('alice')
      const aliceId = alice.session.user.id
      const kept = await kavach.oauth.getAccessToken({ userId: aliceId, providerId: PROVIDER })
      assert.equal(kept.success, true, JSON.stringify(kept.error))
      const keptIssued = issuedFor(kept.data.accessToken)
      assert.ok(keptIssued, 'a token the provider issued')
      assert.equal(keptIssued.grantType, 'authorization_code', 'not refreshed while far from expiry')
      assert.ok(kept.data.accessTokenExpiresAt instanceof Date)
      assert.ok(kept.data.accessTokenExpiresAt.getTime() > Date.now() + 3000_000)
      assert.ok(Array.isArray(kept.data.scopes) && kept.data.scopes.includes('openid'), JSON.stringify(kept.data.scopes))

      // A token that expires within 5 s is refreshed, stored sealed, and works at the provider.
      peer.ttl.AccessToken = 4
      let judyId
      try {
        const judy = await signIn('judy')
        judyId = judy.session.user.id
        const firstIssued = peer.issued.filter((t) => t.grantType === 'authorization_code').at(-1)
        assert.equal(firstIssued.expires_in, 4)
        const refreshesBefore = peer.issued.filter((t) => t.grantType === 'refresh_token').length
        const r = await kavach.oauth.getAccessToken({ userId: judyId, providerId: PROVIDER })
        assert.equal(r.success, true, JSON.stringify(r.error))
        assert.notEqual(r.data.accessToken, firstIssued.access_token)
        const refreshed = issuedFor(r.data.accessToken)
        assert.ok(refreshed, 'the new token is one the provider issued')
        assert.equal(refreshed.grantType, 'refresh_token')
        assert.equal(peer.issued.filter((t) => t.grantType === 'refresh_token').length, refreshesBefore + 1)
        assert.ok(r.data.accessTokenExpiresAt instanceof Date)
        const info = await peer.userinfo(r.data.accessToken)
        assert.equal(info.status, 200, JSON.stringify(info.body))
        assert.equal(info.body.sub, 'judy')
        const stored = accountColumn('access_token', 'judy')
        assert.ok(!stored.includes(r.data.accessToken) && !stored.includes(firstIssued.access_token), 'sealed')
      } finally {
        peer.ttl.AccessToken = 3600
      }
      // Still within 5 s of expiry: refreshed again, now for an hour; then kept.
      const again = await kavach.oauth.getAccessToken({ userId: judyId, providerId: PROVIDER })
      assert.equal(again.success, true, JSON.stringify(again.error))
      assert.equal(issuedFor(again.data.accessToken)?.grantType, 'refresh_token')
      assert.ok(again.data.accessTokenExpiresAt.getTime() > Date.now() + 3000_000)
      const third = await kavach.oauth.getAccessToken({ userId: judyId, providerId: PROVIDER })
      assert.equal(third.data.accessToken, again.data.accessToken)
      assert.equal((await peer.userinfo(third.data.accessToken)).status, 200)

      const none = await kavach.oauth.getAccessToken({ userId: judyId, providerId: 'github' })
      assert.equal(none.success, false)
    })

    it('refuses an ID token for another audience, or with another nonce, though validly signed', T, async () => {
      peer.tamperIdToken((claims) => ({ ...claims, aud: 'someone-else' }))
      try {
        const { res } = await flow('frank', { callbackURL: '/dashboard', errorCallbackURL: '/sign-in-failed' })
        await expectErrorRedirect(res, '/sign-in-failed', 'OAUTH_ID_TOKEN_INVALID')
      } finally {
        peer.tamperIdToken(null)
      }
      assert.equal(userRows('frank@example.com'), 0)

      const { res } = await flow('frank', { callbackURL: '/dashboard', errorCallbackURL: '/sign-in-failed' }, { rewrite: (url) => url.searchParams.set('nonce', 'a-nonce-kavach-never-sent') })
      await expectErrorRedirect(res, '/sign-in-failed', 'OAUTH_ID_TOKEN_INVALID')
      assert.equal(userRows('frank@example.com'), 0)
      assert.equal(accountRows(`provider_account_id = 'frank'`), '')

      // The peer's re-signing itself is sound: the same claims re-signed pass.
      peer.tamperIdToken((claims) => claims)
      try {
        const ok = await signIn('frank')
        assert.equal(ok.session.user.email, 'frank@example.com')
      } finally {
        peer.tamperIdToken(null)
      }
    })

    it('POST /auth/sign-in/social answers the authorize URL; unknown providers are 404, foreign callback URLs 400', T, async () => {
      const jar = new CookieJar()
      const res = await send(jar, 'POST', '/auth/sign-in/social', { provider: PROVIDER, callbackURL: '/from-social' })
      assert.equal(res.status, 200, await res.clone().text())
      const body = await res.json()
      assert.equal(body.redirect, true)
      const url = new URL(body.url)
      assert.equal(url.origin + url.pathname, peer.config.authorization_endpoint)
      assert.equal(url.searchParams.get('client_id'), CLIENT_ID)
      assert.equal(url.searchParams.get('redirect_uri'), redirectUri())
      assert.equal(url.searchParams.get('code_challenge_method'), 'S256')
      const cookie = setCookieLine(res, 'kavach_oauth_state')
      assert.equal(valueOf(cookie), url.searchParams.get('state'))
      for (const attr of ['Path=/', 'HttpOnly', 'SameSite=Lax', 'Max-Age=600']) assert.ok(cookie.split('; ').includes(attr), cookie)
      const back = await peer.login(url, { accountId: 'oscar' })
      const done = await jar.fetch(back)
      await done.arrayBuffer()
      assert.equal(locationOf(done).pathname, '/from-social')
      assert.ok(sessionCookieSet(done))

      await expectError(await send(new CookieJar(), 'POST', '/auth/sign-in/social', { provider: 'no-such-provider' }), 404, 'NOT_FOUND')
      await expectError(await new CookieJar().fetch(api('/oauth/no-such-provider')), 404, 'NOT_FOUND')
      for (const foreign of ['https://evil.example/x', '//evil.example/x']) {
        const q = new URLSearchParams({ callbackURL: foreign })
        const j = new CookieJar()
        await expectError(await j.fetch(api(`/oauth/${PROVIDER}?${q}`)), 400, 'VALIDATION_FAILED')
        assert.equal(j.get(origin, 'kavach_oauth_state'), undefined, 'no state cookie')
        await expectError(await send(new CookieJar(), 'POST', '/auth/sign-in/social', { provider: PROVIDER, callbackURL: foreign }), 400, 'VALIDATION_FAILED')
      }
      await expectError(await new CookieJar().fetch(api(`/oauth/${PROVIDER}?${new URLSearchParams({ errorCallbackURL: 'https://evil.example/x' })}`)), 400, 'VALIDATION_FAILED')
      // The POST routes check Origin.
      const noOrigin = await new CookieJar().fetch(api('/auth/sign-in/social'), { method: 'POST', headers: { 'content-type': 'application/json', origin: 'https://evil.example' }, body: JSON.stringify({ provider: PROVIDER }) })
      await expectError(noOrigin, 403, 'INVALID_ORIGIN')
    })

    it('a banned user cannot sign in through the provider', T, async () => {
      const first = await signIn('mallory')
      const id = first.session.user.id
      const banned = await kavach.admin.banUser({ userId: id, reason: 'abuse' })
      assert.equal(banned.success, true, JSON.stringify(banned.error))
      const sessionsBefore = Number(sql(database, `SELECT count(*) FROM kavach_session WHERE user_id = '${id}'`))
      const { res } = await flow('mallory', { callbackURL: '/dashboard', errorCallbackURL: '/sign-in-failed' })
      await expectErrorRedirect(res, '/sign-in-failed', 'USER_BANNED')
      assert.ok(Number(sql(database, `SELECT count(*) FROM kavach_session WHERE user_id = '${id}'`)) <= sessionsBefore, 'no new session row')
      assert.equal((await kavach.admin.unbanUser(id)).success, true)
      const back = await signIn('mallory')
      assert.equal(back.session.user.id, id)
    })
  })

  describe(`oauth() first-class providers' authorize URLs on ${backend}`, { timeout: 120_000 }, () => {
    const BASE = 'http://localhost:3000'
    // Each provider's real authorization host.
    const HOSTS = {
      apple: ['appleid.apple.com'],
      atlassian: ['auth.atlassian.com'],
      discord: ['discord.com'],
      dropbox: ['www.dropbox.com'],
      figma: ['www.figma.com'],
      github: ['github.com'],
      gitlab: ['gitlab.com'],
      google: ['accounts.google.com'],
      linkedin: ['www.linkedin.com'],
      microsoft: ['login.microsoftonline.com'],
      notion: ['api.notion.com'],
      reddit: ['www.reddit.com'],
      slack: ['slack.com'],
      spotify: ['accounts.spotify.com'],
      twitch: ['id.twitch.tv'],
      twitter: ['x.com', 'twitter.com'],
      zoom: ['zoom.us'],
    }
    // Where PKCE is required or supported and must be sent.
    const PKCE = new Set(['google', 'twitter', 'gitlab'])
    // Providers without a scope parameter: Notion has no scopes (capabilities are set on the
    // integration) and Zoom grants the scopes set on the app.
    const NO_SCOPE = new Set(['notion', 'zoom'])
    let kavach
    before(async () => {
      kavach = await createKavach({
        database: freshDatabase(backend, 'oauth_fc'),
        secret: SECRET,
        baseUrl: BASE,
        plugins: [oauth({ providers: Object.keys(HOSTS).map((id) => ({ id, clientId: `client-${id}`, clientSecret: `secret-${id}-0123456789` })) })],
      })
    })
    after(async () => {
      if (kavach) await kavach.close()
    })

    for (const id of Object.keys(HOSTS)) {
      it(`GET /oauth/${id} redirects to ${HOSTS[id].join(' or ')}`, T, async () => {
        const res = await kavach.handler(new Request(`${BASE}${MOUNT}/oauth/${id}?callbackURL=/after`))
        assert.equal(res.status, 302, await res.clone().text())
        const url = new URL(res.headers.get('location'))
        assert.equal(url.protocol, 'https:')
        assert.ok(HOSTS[id].includes(url.hostname), `${id}: ${url.href}`)
        const p = url.searchParams
        assert.equal(p.get('client_id'), `client-${id}`)
        assert.equal(p.get('redirect_uri'), `${BASE}${MOUNT}/oauth/${id}/callback`)
        assert.equal(p.get('response_type'), 'code')
        assert.match(p.get('state') ?? '', /^[A-Za-z0-9_-]{16,}$/)
        const cookie = setCookieLine(res, 'kavach_oauth_state')
        assert.ok(cookie, 'the state cookie')
        assert.equal(valueOf(cookie), p.get('state'))
        if (!NO_SCOPE.has(id)) assert.ok((p.get('scope') ?? '').trim().length > 0, `${id}: a scope`)
        if (PKCE.has(id)) {
          assert.equal(p.get('code_challenge_method'), 'S256', `${id}: PKCE`)
          assert.match(p.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/)
        }
        if (id === 'apple') assert.equal(p.get('response_mode'), 'form_post')
      })
    }

    it("takes Apple's form POST callback (from Apple's origin) and redirects it to the GET callback", T, async () => {
      const res = await kavach.handler(
        new Request(`${BASE}${MOUNT}/oauth/apple/callback`, {
          method: 'POST',
          headers: { origin: 'https://appleid.apple.com', 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ code: 'apple-code', state: 'apple-state-0123456789' }).toString(),
        }),
      )
      // A redirect that turns the POST into a GET (302 as the contract says; 303 is the status made for it).
      assert.ok([302, 303].includes(res.status), `${res.status}: ${await res.clone().text()}`)
      const to = new URL(res.headers.get('location'), BASE)
      assert.equal(to.origin, BASE)
      assert.equal(to.pathname, `${MOUNT}/oauth/apple/callback`)
      assert.equal(to.searchParams.get('code'), 'apple-code')
      assert.equal(to.searchParams.get('state'), 'apple-state-0123456789')
      assert.equal(res.headers.getSetCookie().length, 0, 'no cookie from the POST')
    })

    it("passes better-auth's accessType and prompt (Google's refresh token), and refuses ones the protocol has not", T, async () => {
      const withOffline = await createKavach({
        database: freshDatabase(backend, 'oauth_offline'),
        secret: SECRET,
        baseUrl: BASE,
        plugins: [oauth({ providers: [{ id: 'google', clientId: 'client-google', clientSecret: 'secret-google-0123456789', accessType: 'offline', prompt: 'select_account consent' }] })],
      })
      try {
        const res = await withOffline.handler(new Request(`${BASE}${MOUNT}/oauth/google`))
        assert.equal(res.status, 302, await res.clone().text())
        const p = new URL(res.headers.get('location')).searchParams
        assert.equal(p.get('access_type'), 'offline')
        assert.equal(p.get('prompt'), 'select_account consent')
      } finally {
        await withOffline.close()
      }
      for (const bad of [{ prompt: 'consent\nX-Injected: 1' }, { prompt: 'always' }, { accessType: 'forever' }]) {
        await assert.rejects(
          createKavach({
            database: freshDatabase(backend, 'oauth_badprompt'),
            secret: SECRET,
            baseUrl: BASE,
            plugins: [oauth({ providers: [{ id: 'google', clientId: 'c', clientSecret: 's', ...bad }] })],
          }),
          (e) => e.code === 'CONFIG_INVALID',
          JSON.stringify(bad),
        )
      }
    })
  })
}
