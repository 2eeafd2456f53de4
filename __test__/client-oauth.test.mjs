// @kavachos/client's OAuth calls (signIn.social, linkSocial, listAccounts, unlinkAccount) from Node.
//
// The first suite checks what the client sends and how it reads the answers against a small
// node:http server of this file that answers the routes of API.md ("OAuth sign-in") the way the
// contract says; it does not sign anyone in through a provider. The full-stack check (a real kavach
// handler, an OpenID Connect provider, the callback and the session) is __test__/oauth.test.mjs. The
// second suite runs the same calls against a real kavach server with the oauth() plugin, and is
// skipped, visibly, while the built addon does not have that plugin.
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { freePort } from './helpers.mjs'
import { createRequire } from 'node:module'
import { createKavachClient } from '../npm/client/index.mjs'

const require = createRequire(import.meta.url)
const MOUNT = '/api/kavach'
const PROVIDERS = { github: 'https://github.example/login/oauth/authorize', corp: 'https://sso.example/authorize' }

/** A stand-in for the API's OAuth routes, logging every request (method, path, headers, JSON body). */
async function startFakeApi() {
  const requests = []
  // userId -> linked accounts
  const accounts = new Map([
    ['u1', [
      { id: 'acc_gh', providerId: 'github', accountId: '1001', userId: 'u1', scopes: ['read:user', 'user:email'], createdAt: '2026-04-01T10:00:00.000Z', updatedAt: '2026-04-02T10:00:00.000Z' },
      { id: 'acc_corp', providerId: 'corp', accountId: 'sub-7', userId: 'u1', scopes: ['openid', 'email'], createdAt: '2026-04-03T10:00:00.000Z', updatedAt: '2026-04-03T10:00:00.000Z' },
    ]],
  ])
  let origin
  const server = createServer(async (req, res) => {
    const chunks = []
    for await (const c of req) chunks.push(c)
    const raw = Buffer.concat(chunks).toString('utf8')
    const url = new URL(req.url, origin)
    const path = url.pathname.startsWith(MOUNT) ? url.pathname.slice(MOUNT.length) : url.pathname
    const entry = { method: req.method, path, headers: req.headers, raw, body: undefined }
    requests.push(entry)
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(JSON.stringify(body))
    }
    const error = (status, code, message) => send(status, { error: { code, message } })
    if (req.method === 'POST') {
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return error(415, 'UNSUPPORTED_MEDIA_TYPE', 'send JSON')
      try {
        entry.body = JSON.parse(raw)
      } catch {
        return error(400, 'INVALID_JSON', 'malformed JSON')
      }
      if (req.headers.origin !== origin) return error(403, 'INVALID_ORIGIN', 'foreign origin')
    }
    const cookies = Object.fromEntries((req.headers.cookie ?? '').split(';').filter(Boolean).map((p) => p.trim().split('=')))
    const userId = cookies.kavach_session
    const authorizeUrl = (provider, state) => {
      const u = new URL(PROVIDERS[provider])
      u.searchParams.set('response_type', 'code')
      u.searchParams.set('client_id', `${provider}-client`)
      u.searchParams.set('redirect_uri', `${origin}${MOUNT}/oauth/${provider}/callback`)
      u.searchParams.set('state', state)
      return u.toString()
    }
    const route = `${req.method} ${path}`
    if (route === 'POST /auth/sign-in') {
      const user = { id: 'u1', email: entry.body.email, name: null, emailVerified: true, image: null, createdAt: '2026-04-01T00:00:00.000Z', updatedAt: '2026-04-01T00:00:00.000Z' }
      const session = { id: 's1', userId: 'u1', expiresAt: '2026-05-01T00:00:00.000Z', ipAddress: null, userAgent: null, createdAt: '2026-04-01T00:00:00.000Z', updatedAt: '2026-04-01T00:00:00.000Z' }
      return send(200, { user, session }, { 'set-cookie': 'kavach_session=u1; Path=/; HttpOnly; SameSite=Lax' })
    }
    if (route === 'POST /auth/sign-in/social') {
      if (!PROVIDERS[entry.body.provider]) return error(404, 'NOT_FOUND', 'no such provider')
      const state = `state-${requests.length}`
      // Always `redirect: true`, whatever disableRedirect says: the client must honour its own flag.
      return send(200, { url: authorizeUrl(entry.body.provider, state), redirect: true }, { 'set-cookie': `kavach_oauth_state=${state}; Path=${MOUNT}/oauth; HttpOnly; SameSite=Lax; Max-Age=600` })
    }
    if (!userId && path.startsWith('/auth/')) return error(401, 'UNAUTHORIZED', 'sign in first')
    if (route === 'POST /auth/link-social') {
      if (!PROVIDERS[entry.body.provider]) return error(404, 'NOT_FOUND', 'no such provider')
      return send(200, { url: authorizeUrl(entry.body.provider, 'link-state'), redirect: true }, { 'set-cookie': 'kavach_oauth_state=link-state; Path=/api/kavach/oauth; HttpOnly' })
    }
    if (route === 'GET /auth/list-accounts') return send(200, accounts.get(userId) ?? [])
    if (route === 'POST /auth/unlink-account') {
      const mine = accounts.get(userId) ?? []
      const i = mine.findIndex((a) => a.providerId === entry.body.providerId && (entry.body.accountId === undefined || a.accountId === entry.body.accountId))
      if (i < 0) return error(404, 'NOT_FOUND', 'no such account')
      if (mine.length === 1) return error(400, 'FAILED_TO_UNLINK_LAST_ACCOUNT', 'the last account cannot be unlinked')
      mine.splice(i, 1)
      return send(200, { success: true })
    }
    return error(404, 'NOT_FOUND', `no route ${route}`)
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  origin = `http://127.0.0.1:${server.address().port}`
  return {
    origin,
    requests,
    last: () => requests.at(-1),
    close: () => new Promise((r) => server.close(r)),
  }
}

// A page for the client to move: in a browser `window.location`; Node has neither.
function fakeWindow(href = 'http://127.0.0.1/app/sign-in') {
  const location = { href }
  Object.defineProperty(globalThis, 'window', { configurable: true, writable: true, value: { location } })
  return location
}

describe('@kavachos/client OAuth calls (request shapes, against a stand-in server)', () => {
  let api
  before(async () => {
    api = await startFakeApi()
  })
  after(() => api.close())
  afterEach(() => {
    delete globalThis.window
  })

  const newClient = (opts = {}) => createKavachClient({ baseUrl: api.origin, ...opts })

  it('signIn.social POSTs the provider and callbacks as JSON and answers { url, redirect }; Node keeps the state cookie', async () => {
    const c = newClient()
    const r = await c.signIn.social({ provider: 'github', callbackURL: '/dashboard' })
    assert.equal(r.success, true, JSON.stringify(r))
    assert.deepEqual(Object.keys(r.data).sort(), ['redirect', 'url'])
    assert.equal(r.data.redirect, true)
    const url = new URL(r.data.url)
    assert.equal(url.origin + url.pathname, PROVIDERS.github)
    assert.equal(url.searchParams.get('redirect_uri'), `${api.origin}${MOUNT}/oauth/github/callback`)
    const sent = api.last()
    assert.equal(sent.method, 'POST')
    assert.equal(sent.path, '/auth/sign-in/social')
    assert.match(sent.headers['content-type'], /^application\/json/)
    assert.equal(sent.headers.origin, api.origin, 'Node sends the Origin the API checks')
    assert.deepEqual(sent.body, { provider: 'github', callbackURL: '/dashboard' }, 'no undefined fields, nothing else')

    // The state cookie goes back with the next request, as a browser would send it to the callback.
    await c.listAccounts()
    assert.match(api.last().headers.cookie ?? '', new RegExp(`kavach_oauth_state=${url.searchParams.get('state')}`))
  })

  it('passes errorCallbackURL, newUserCallbackURL and disableRedirect through', async () => {
    const r = await newClient().signIn.social({ provider: 'corp', callbackURL: '/dashboard', errorCallbackURL: '/sign-in', newUserCallbackURL: '/welcome', disableRedirect: true })
    assert.equal(r.success, true)
    assert.deepEqual(api.last().body, { provider: 'corp', callbackURL: '/dashboard', errorCallbackURL: '/sign-in', newUserCallbackURL: '/welcome', disableRedirect: true })
  })

  it('in a browser the page goes to the provider, unless disableRedirect or the call failed', async () => {
    const loc = fakeWindow()
    const r = await newClient().signIn.social({ provider: 'github', callbackURL: '/dashboard' })
    assert.equal(r.success, true)
    assert.equal(loc.href, r.data.url, 'window.location.href = data.url')

    const stay = fakeWindow()
    const quiet = await newClient().signIn.social({ provider: 'github', disableRedirect: true })
    assert.equal(quiet.success, true)
    assert.equal(stay.href, 'http://127.0.0.1/app/sign-in', 'disableRedirect: the page stays')

    const failed = await newClient().signIn.social({ provider: 'nope' })
    assert.deepEqual(failed, { success: false, error: { code: 'NOT_FOUND', message: 'no such provider' } })
    assert.equal(stay.href, 'http://127.0.0.1/app/sign-in', 'an error never moves the page')
  })

  it('refuses a missing provider without a request', async () => {
    const before = api.requests.length
    const c = newClient()
    for (const bad of [undefined, {}, { provider: '' }, { provider: 42 }]) {
      const r = await c.signIn.social(bad)
      assert.equal(r.success, false)
      assert.equal(r.error.code, 'VALIDATION_FAILED')
      assert.equal((await c.linkSocial(bad)).error.code, 'VALIDATION_FAILED')
    }
    assert.equal((await c.unlinkAccount({ provider: 'github' })).error.code, 'VALIDATION_FAILED', 'unlinking names providerId')
    assert.equal(api.requests.length, before)
  })

  it('linkSocial, listAccounts and unlinkAccount act for the signed-in user', async () => {
    const c = newClient()
    assert.equal((await c.listAccounts()).error.code, 'UNAUTHORIZED')
    assert.equal((await c.linkSocial({ provider: 'github' })).error.code, 'UNAUTHORIZED')
    assert.equal((await c.auth.signIn({ email: 'ada@example.com', password: 'correct horse battery' })).success, true)

    const loc = fakeWindow()
    const linked = await c.linkSocial({ provider: 'corp', callbackURL: '/settings' })
    assert.equal(linked.success, true, JSON.stringify(linked))
    assert.deepEqual(api.last().body, { provider: 'corp', callbackURL: '/settings' })
    assert.equal(api.last().path, '/auth/link-social')
    assert.equal(loc.href, linked.data.url, 'linking moves the page to the provider too')
    const still = fakeWindow()
    assert.equal((await c.linkSocial({ provider: 'github', disableRedirect: true })).success, true)
    assert.deepEqual(api.last().body, { provider: 'github' })
    assert.equal(still.href, 'http://127.0.0.1/app/sign-in')

    const listed = await c.listAccounts()
    assert.equal(listed.success, true)
    assert.equal(api.last().method, 'GET')
    assert.equal(api.last().path, '/auth/list-accounts')
    assert.deepEqual(listed.data.map((a) => [a.providerId, a.accountId]), [['github', '1001'], ['corp', 'sub-7']])
    assert.ok(listed.data[0].createdAt instanceof Date && listed.data[0].updatedAt instanceof Date, 'timestamps are Dates')
    assert.equal(listed.data[0].createdAt.toISOString(), '2026-04-01T10:00:00.000Z')
    assert.deepEqual(listed.data[0].scopes, ['read:user', 'user:email'])

    assert.deepEqual(await c.unlinkAccount({ providerId: 'corp', accountId: 'sub-7' }), { success: true, data: undefined })
    assert.deepEqual(api.last().body, { providerId: 'corp', accountId: 'sub-7' })
    assert.equal(api.last().headers.origin, api.origin)
    const last = await c.unlinkAccount({ providerId: 'github' })
    assert.deepEqual(last, { success: false, error: { code: 'FAILED_TO_UNLINK_LAST_ACCOUNT', message: 'the last account cannot be unlinked' } })
    assert.deepEqual(api.last().body, { providerId: 'github' })
    assert.deepEqual((await c.listAccounts()).data.map((a) => a.providerId), ['github'])
  })

  it('is the same module from CommonJS', async () => {
    const c = require('../npm/client/index.js').createKavachClient({ baseUrl: api.origin })
    const r = await c.signIn.social({ provider: 'github', disableRedirect: true })
    assert.equal(r.success, true)
    assert.equal(typeof c.linkSocial, 'function')
    assert.equal(typeof c.listAccounts, 'function')
    assert.equal(typeof c.unlinkAccount, 'function')
  })
})

// Against the real handler (SQLite: the routes' storage on every database is oauth.test.mjs's).
describe('@kavachos/client OAuth calls against a real kavach server with oauth()', () => {
  let srv
  let skip = null
  before(async () => {
    let kavachos, authMod, helpers
    try {
      kavachos = await import('../index.mjs')
      authMod = await import('../auth.mjs')
      helpers = await import('./helpers.mjs')
    } catch (e) {
      skip = `the addon does not load here (${e.code ?? e.message})`
      return
    }
    const { Hono } = await import('hono')
    const { serve } = await import('@hono/node-server')
    const { kavachHono } = await import('../shims/hono.mjs')
    const port = await freePort()
    const origin = `http://127.0.0.1:${port}`
    let kavach
    try {
      kavach = await kavachos.createKavach({
        database: helpers.freshDatabase('sqlite', 'clientoauth'),
        secret: helpers.SECRET,
        baseUrl: origin,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        rateLimit: { enabled: false },
        plugins: [
          authMod.oauth({
            providers: [
              { id: 'github', clientId: 'gh-client', clientSecret: 'gh-secret' },
              { id: 'corp', clientId: 'corp-client', clientSecret: 'corp-secret', authorizationEndpoint: 'https://sso.example/authorize', tokenEndpoint: 'https://sso.example/token', userInfoEndpoint: 'https://sso.example/userinfo' },
            ],
          }),
        ],
      })
    } catch (e) {
      // Only "this version has no such plugin" skips; anything else is a failure.
      if (e.code !== 'CONFIG_INVALID' || !/oauth/i.test(e.message)) throw e
      skip = `the built addon has no oauth() plugin yet (${e.message})`
      return
    }
    const app = new Hono()
    app.route(MOUNT, kavachHono(kavach))
    const server = await new Promise((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port }, () => resolve(s))
    })
    srv = {
      origin,
      close: async () => {
        await new Promise((r) => server.close(r))
        await kavach.close()
      },
    }
  })
  after(async () => {
    if (srv) await srv.close()
  })

  it('starts sign-in and linking at the provider; lists and unlinks accounts', async (t) => {
    if (skip) return t.skip(skip)
    const setCookies = []
    const recording = async (url, init) => {
      const res = await fetch(url, init)
      setCookies.push(...res.headers.getSetCookie())
      return res
    }
    const c = createKavachClient({ baseUrl: srv.origin, fetch: recording })
    const gh = await c.signIn.social({ provider: 'github', callbackURL: '/dashboard' })
    assert.equal(gh.success, true, JSON.stringify(gh))
    const url = new URL(gh.data.url)
    assert.equal(url.searchParams.get('response_type'), 'code')
    assert.equal(url.searchParams.get('client_id'), 'gh-client')
    assert.equal(url.searchParams.get('redirect_uri'), `${srv.origin}${MOUNT}/oauth/github/callback`)
    assert.ok(url.searchParams.get('state'), 'a state')
    assert.ok(setCookies.length > 0, 'sign-in/social sets a state cookie')

    const corp = await c.signIn.social({ provider: 'corp', disableRedirect: true })
    assert.equal(corp.success, true, JSON.stringify(corp))
    const corpUrl = new URL(corp.data.url)
    assert.equal(corpUrl.origin + corpUrl.pathname, 'https://sso.example/authorize')
    assert.equal(corpUrl.searchParams.get('code_challenge_method'), 'S256', 'PKCE for a generic provider')
    assert.equal(corpUrl.searchParams.get('redirect_uri'), `${srv.origin}${MOUNT}/oauth/corp/callback`)

    const unknown = await c.signIn.social({ provider: 'nope' })
    assert.equal(unknown.success, false)
    const foreign = await c.signIn.social({ provider: 'github', callbackURL: 'https://evil.example/' })
    assert.equal(foreign.success, false, 'a callbackURL on another origin is refused')

    assert.equal((await c.listAccounts()).error.code, 'UNAUTHORIZED')
    assert.equal((await c.auth.signUp({ email: 'oauth-client@example.com', password: 'correct horse battery' })).success, true)
    const listed = await c.listAccounts()
    assert.equal(listed.success, true, JSON.stringify(listed))
    assert.ok(Array.isArray(listed.data))
    for (const a of listed.data) {
      assert.equal(typeof a.providerId, 'string')
      assert.ok(a.createdAt instanceof Date)
    }
    assert.equal(listed.data.some((a) => a.providerId === 'github'), false)
    const link = await c.linkSocial({ provider: 'github', callbackURL: '/settings' })
    assert.equal(link.success, true, JSON.stringify(link))
    assert.equal(new URL(link.data.url).searchParams.get('client_id'), 'gh-client')
    assert.equal((await c.unlinkAccount({ providerId: 'github' })).success, false, 'nothing to unlink')
  })
})
