// kavachos as the OAuth 2.1 authorization server of an MCP server (kavach.mcp), on every database:
// the official MCP TypeScript SDK client (discovery, dynamic client registration, PKCE, token
// exchange, refresh on 401) against fixtures/mcp-app.mjs on 127.0.0.1, with a real headless Chromium
// (playwright-core) as the user's browser: the login page, the built-in consent page, the redirect to
// the client's callback. Then the access token (an EdDSA `at+jwt` checked with jose against the
// JWKS), the delegated agent behind it, the audit row of the tool call; refresh-token rotation, reuse
// detection, revocation (RFC 7009 and kavach.agent.revoke); the metadata documents (RFC 8414, RFC
// 9728) and the 401 challenge; and the refused requests.
// Needs Chromium: set KAVACH_CHROMIUM or install chromium-headless-shell (Debian) / chromium.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { createHash, randomBytes } from 'node:crypto'
import { chromium } from 'playwright-core'
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader, decodeJwt } from 'jose'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js'
import { backends, freshDatabase, SECRET } from './helpers.mjs'
import { startMcpApp } from './fixtures/mcp-app.mjs'

const T = { timeout: 90_000 }
const PASSWORD = 'MCP-test password 1'
const SCOPES = ['tools:read', 'tools:call']
const executablePath = [process.env.KAVACH_CHROMIUM, '/usr/bin/chromium-headless-shell', '/usr/bin/chromium'].find((p) => p && existsSync(p))

let browser
before(async () => {
  assert.ok(executablePath, 'no Chromium found: install chromium-headless-shell or set KAVACH_CHROMIUM')
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] })
})
after(async () => {
  await browser?.close()
})

const b64url = (buf) => Buffer.from(buf).toString('base64url')
/** A PKCE pair (S256). */
function pkce() {
  const verifier = b64url(randomBytes(32))
  return { verifier, challenge: b64url(createHash('sha256').update(verifier).digest()) }
}
/** Fails on a `null` anywhere in `value` (the SDK's schemas reject null for optional fields). */
function assertNoNulls(value, where = '$') {
  if (value === null) assert.fail(`${where} is null`)
  if (Array.isArray(value)) value.forEach((v, i) => assertNoNulls(v, `${where}[${i}]`))
  else if (typeof value === 'object') for (const [k, v] of Object.entries(value)) assertNoNulls(v, `${where}.${k}`)
}
/** Reads a JSON body, failing with the raw text when it is not JSON. */
async function jsonOf(res) {
  const text = await res.text()
  try {
    return JSON.parse(text)
  } catch {
    assert.fail(`${res.status} with a body that is not JSON: ${text.slice(0, 500)}`)
  }
}
/** An OAuth error answer: status, `{ error: code }`, no redirect. */
async function expectOAuthError(res, status, code, what = '') {
  const body = await jsonOf(res)
  assert.equal(res.status, status, `${what}: ${JSON.stringify(body)}`)
  assert.equal(body.error, code, `${what}: ${JSON.stringify(body)}`)
  assert.equal(res.headers.get('location'), null, `${what}: no redirect`)
  return body
}
/** The token endpoint's client authentication for a registered client (as the SDK does it). */
function withClientAuth(ci, params, { secret } = {}) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }
  const body = new URLSearchParams(params)
  const method = ci.token_endpoint_auth_method ?? (ci.client_secret ? 'client_secret_basic' : 'none')
  const s = secret ?? ci.client_secret
  if (method === 'client_secret_basic') headers.authorization = `Basic ${Buffer.from(`${ci.client_id}:${s}`).toString('base64')}`
  else if (method === 'client_secret_post') {
    body.set('client_id', ci.client_id)
    body.set('client_secret', s)
  } else body.set('client_id', ci.client_id)
  return { method: 'POST', headers, body: body.toString() }
}

/** An OAuthClientProvider kept in memory; `open(url)` plays the user's browser. */
class TestProvider {
  constructor({ redirectUrl, clientName, authMethod, open }) {
    this._redirectUrl = redirectUrl
    this._clientName = clientName
    this._authMethod = authMethod
    this.open = open
    this.authorizationUrls = []
    this.invalidated = []
    this.lastState = undefined
  }
  get redirectUrl() {
    return this._redirectUrl
  }
  get clientMetadata() {
    return {
      client_name: this._clientName,
      redirect_uris: [this._redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: this._authMethod,
    }
  }
  state() {
    this.lastState = b64url(randomBytes(16))
    return this.lastState
  }
  clientInformation() {
    return this._ci
  }
  saveClientInformation(ci) {
    this._ci = ci
  }
  tokens() {
    return this._tokens
  }
  saveTokens(t) {
    this._tokens = t
  }
  saveCodeVerifier(v) {
    this._verifier = v
  }
  codeVerifier() {
    return this._verifier
  }
  invalidateCredentials(scope) {
    this.invalidated.push(scope)
    if (scope === 'all' || scope === 'client') this._ci = undefined
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined
    if (scope === 'all' || scope === 'verifier') this._verifier = undefined
  }
  async redirectToAuthorization(url) {
    this.authorizationUrls.push(new URL(url))
    if (this.open) await this.open(new URL(url))
  }
}

for (const backend of backends()) {
  describe(`MCP OAuth 2.1 with the official SDK client on ${backend}`, { timeout: 600_000 }, () => {
    let app
    let origin
    let issuer
    let mcpUrl
    let kavach
    let jwks
    let user
    let userCookie
    const EMAIL = `ada-${backend}@example.com`

    const api = (path) => `${issuer}${path}`
    const newClient = () => new Client({ name: 'kavach-mcp-test-client', version: '1.0.0' })

    /** Signs up over HTTP (as a browser on the app's origin would); answers the user and the session cookie. */
    async function signUp(email) {
      const res = await fetch(api('/auth/sign-up'), {
        method: 'POST',
        headers: { origin, 'content-type': 'application/json' },
        body: JSON.stringify({ email, password: PASSWORD, name: 'Ada' }),
      })
      const body = await jsonOf(res)
      assert.equal(res.status, 200, JSON.stringify(body))
      const line = res.headers.getSetCookie().find((s) => /^kavach_session=[^;]/.test(s))
      assert.ok(line, 'a session cookie after sign-up')
      return { user: body.user, cookie: line.split(';')[0] }
    }

    /** A raw JSON-RPC POST to /mcp (an `initialize` unless `message` is given). */
    function mcpPost(token, message) {
      const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
      if (token) headers.authorization = `Bearer ${token}`
      return fetch(mcpUrl, {
        method: 'POST',
        headers,
        body: JSON.stringify(
          message ?? { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } },
        ),
      })
    }
    /** /mcp refuses `token`: 401 and a Bearer challenge pointing at the protected resource metadata. */
    async function expectMcp401(token, what) {
      const res = await mcpPost(token)
      const text = await res.text()
      assert.equal(res.status, 401, `${what}: POST /mcp answered ${res.status} ${text.slice(0, 300)}`)
      const challenge = res.headers.get('www-authenticate') ?? ''
      assert.match(challenge, /^Bearer /, `${what}: ${challenge}`)
      assert.ok(challenge.includes(`resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"`), `${what}: ${challenge}`)
      return { res, challenge, text }
    }
    async function expectMcp200(token, what) {
      const res = await mcpPost(token)
      const text = await res.text()
      assert.equal(res.status, 200, `${what}: POST /mcp answered ${res.status} ${text.slice(0, 300)}`)
    }

    const token = (ci, params, opts) => fetch(api('/mcp/token'), withClientAuth(ci, params, opts))

    /** Registers a client over HTTP (RFC 7591). */
    async function register(meta = {}) {
      const res = await fetch(api('/mcp/register'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({
          client_name: 'raw client',
          redirect_uris: [`${origin}/callback`],
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
          ...meta,
        }),
      })
      const body = await jsonOf(res)
      assert.equal(res.status, 201, `POST /mcp/register: ${JSON.stringify(body)}`)
      return body
    }

    /** The parameters of an authorization request for `ci`. */
    function authParams(ci, { challenge, state = b64url(randomBytes(8)), scope = SCOPES.join(' '), resource = mcpUrl, redirectUri = `${origin}/callback` } = {}) {
      const p = { response_type: 'code', client_id: ci.client_id, redirect_uri: redirectUri, code_challenge_method: 'S256', state }
      if (challenge !== undefined) p.code_challenge = challenge
      if (scope) p.scope = scope
      if (resource) p.resource = resource
      return p
    }
    /** POST /mcp/authorize with the session cookie, as the consent form does; answers the response. */
    function decide(cookie, params, decision, { from = origin } = {}) {
      return fetch(api('/mcp/authorize'), {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, origin: from, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ ...params, decision }).toString(),
      })
    }
    /** A code for `ci` approved by the signed-up user (raw HTTP); answers { code, verifier, params }. */
    async function rawCode(ci, opts = {}) {
      const { verifier, challenge } = pkce()
      const params = authParams(ci, { challenge, ...opts })
      const res = await decide(userCookie, params, 'approve')
      await res.arrayBuffer()
      assert.equal(res.status, 302, `POST /mcp/authorize (approve) answered ${res.status}`)
      const to = new URL(res.headers.get('location'))
      assert.equal(to.origin + to.pathname, `${origin}/callback`)
      assert.equal(to.searchParams.get('error'), null, to.href)
      assert.equal(to.searchParams.get('state'), params.state)
      const code = to.searchParams.get('code')
      assert.ok(code, to.href)
      return { code, verifier, params }
    }
    /** A whole raw grant: code, then tokens. */
    async function rawGrant(ci, opts = {}) {
      const { code, verifier, params } = await rawCode(ci, opts)
      const res = await token(ci, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: params.redirect_uri, resource: mcpUrl })
      const body = await jsonOf(res)
      assert.equal(res.status, 200, `code exchange: ${JSON.stringify(body)}`)
      return body
    }

    /** Waits until the page's path satisfies `pred`; on a timeout, says where the page is and what it shows. */
    async function waitPath(page, pred, what) {
      try {
        await page.waitForURL((u) => pred(u.pathname), { timeout: 15_000 })
      } catch (e) {
        const body = await page
          .locator('body')
          .innerText()
          .catch(() => '?')
        assert.fail(`waiting for ${what}: the page is at ${page.url()} showing ${JSON.stringify(body.slice(0, 500))} (${e.message.split('\n')[0]})`)
      }
    }
    /** On the login page: fills Email/Password and signs in. */
    async function signInOnPage(page) {
      await page.getByLabel('Email').fill(EMAIL)
      await page.getByLabel('Password').fill(PASSWORD)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await waitPath(page, (p) => p !== '/sign-in', 'the page after signing in')
    }

    /**
     * The OAuth dance of the SDK client, the user in a fresh Chromium context: connect (401, discovery,
     * registration, redirect), the login page, the consent page (Approve or Deny), the callback, then
     * (when approved) finishAuth and a connected Client.
     */
    async function dance({ clientName, authMethod = 'client_secret_basic', decision = 'Approve' }) {
      const context = await browser.newContext()
      const page = await context.newPage()
      let lastAuthorizeGet = null
      page.on('response', async (r) => {
        if (r.request().method() === 'GET' && new URL(r.url()).pathname === '/api/auth/mcp/authorize') lastAuthorizeGet = { status: r.status(), headers: await r.allHeaders() }
      })
      const steps = []
      const provider = new TestProvider({
        redirectUrl: `${origin}/callback`,
        clientName,
        authMethod,
        open: async (url) => {
          await page.goto(url.href)
        },
      })
      try {
        const first = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider })
        await assert.rejects(newClient().connect(first), (e) => {
          assert.ok(e instanceof UnauthorizedError, `the first connect should stop for authorization, got ${e?.constructor?.name}: ${e?.stack}`)
          return true
        })
        assert.equal(provider.authorizationUrls.length, 1, 'the SDK redirected the user once')

        let at = new URL(page.url())
        const signInUrl = at
        if (at.pathname === '/sign-in') {
          steps.push('sign-in')
          await signInOnPage(page)
          at = new URL(page.url())
        }
        let consent = null
        if (at.pathname === '/api/auth/mcp/authorize') {
          steps.push('consent')
          consent = {
            html: await page.content(),
            approve: await page.getByRole('button', { name: 'Approve' }).count(),
            deny: await page.getByRole('button', { name: 'Deny' }).count(),
          }
          // The consent page's own response headers, to explain a refused form post.
          const consentHeaders = lastAuthorizeGet?.headers
          const [posted] = await Promise.all([
            page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/auth/mcp/authorize', { timeout: 15_000 }),
            page.getByRole('button', { name: decision }).click(),
          ])
          if (posted.status() !== 302) {
            const text = await posted.text().catch(() => '?')
            assert.fail(
              `the consent form (${decision}) POST /api/auth/mcp/authorize answered ${posted.status()} ${text.slice(0, 300)}; ` +
                `the browser sent Origin ${JSON.stringify(await posted.request().headerValue('origin'))}, ` +
                `Sec-Fetch-Site ${JSON.stringify(await posted.request().headerValue('sec-fetch-site'))}; ` +
                `the consent page was served with Referrer-Policy ${JSON.stringify(consentHeaders?.['referrer-policy'] ?? null)}`,
            )
          }
          await waitPath(page, (p) => p === '/callback', `the callback after ${decision}`)
          at = new URL(page.url())
        }
        assert.equal(at.pathname, '/callback', `the browser ended on ${at.href} (steps ${steps})`)
        steps.push('callback')
        assert.equal(at.searchParams.get('state'), provider.lastState, 'the callback carries the state the provider sent')
        const code = at.searchParams.get('code')
        const error = at.searchParams.get('error')
        if (decision !== 'Approve') return { provider, steps, signInUrl, consent, callback: at, code, error }
        assert.equal(error, null, at.href)
        assert.ok(code, at.href)

        await first.finishAuth(code)
        const client = newClient()
        await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }))
        return { provider, client, steps, signInUrl, consent, callback: at, code }
      } finally {
        provider.open = null // later re-authorizations only record the URL
        await context.close()
      }
    }

    before(async () => {
      app = await startMcpApp({ database: freshDatabase(backend, 'mcp'), secret: SECRET })
      ;({ origin, issuer, mcpUrl, kavach } = app)
      jwks = createRemoteJWKSet(new URL(`${issuer}/mcp/jwks`))
      ;({ user, cookie: userCookie } = await signUp(EMAIL))
    })
    after(async () => {
      await app?.close()
    })

    it('the official MCP SDK client does its OAuth dance (login page, consent, callback) and calls a tool', T, async () => {
      const d = await dance({ clientName: 'sdk basic client', authMethod: 'client_secret_basic' })
      try {
        assert.deepEqual(d.steps, ['sign-in', 'consent', 'callback'])
        // The browser was sent to the login page with the authorize URL to come back to.
        const next = d.signInUrl.searchParams.get('next') ?? ''
        assert.ok(next.startsWith('/api/auth/mcp/authorize?'), `next=${next}`)
        // The consent page: a form with Approve and Deny.
        assert.equal(d.consent.approve, 1, d.consent.html)
        assert.equal(d.consent.deny, 1, d.consent.html)

        // What the SDK registered and asked for.
        const ci = d.provider.clientInformation()
        assert.equal(typeof ci.client_id, 'string')
        assert.equal(typeof ci.client_secret, 'string', 'a confidential client has a secret')
        assert.equal(ci.token_endpoint_auth_method, 'client_secret_basic')
        assert.deepEqual(ci.redirect_uris, [`${origin}/callback`])
        const au = d.provider.authorizationUrls[0]
        assert.equal(au.origin + au.pathname, `${issuer}/mcp/authorize`)
        assert.equal(au.searchParams.get('client_id'), ci.client_id)
        assert.equal(au.searchParams.get('code_challenge_method'), 'S256')
        assert.equal(au.searchParams.get('resource'), mcpUrl)
        assert.deepEqual((au.searchParams.get('scope') ?? '').split(' ').sort(), [...SCOPES].sort())
        assert.deepEqual(app.callbacks.at(-1), { code: d.code, state: d.provider.lastState, error: null, errorDescription: null, url: d.callback.href })

        // The tokens.
        const tokens = d.provider.tokens()
        assert.match(tokens.token_type, /^bearer$/i)
        assert.equal(typeof tokens.refresh_token, 'string')
        assert.ok(tokens.expires_in > 0 && tokens.expires_in <= 3600, `expires_in ${tokens.expires_in}`)
        assert.deepEqual(tokens.scope.split(' ').sort(), [...SCOPES].sort())

        // The tools.
        const { tools } = await d.client.listTools()
        assert.ok(tools.some((t) => t.name === 'echo'), JSON.stringify(tools))
        const result = await d.client.callTool({ name: 'echo', arguments: { text: 'hi' } })
        assert.ok(!result.isError, JSON.stringify(result))
        assert.deepEqual(result.content, [{ type: 'text', text: 'echo: hi' }])

        // The access token: an EdDSA at+jwt for this resource, verified with jose against the JWKS.
        const access = tokens.access_token
        const header = decodeProtectedHeader(access)
        assert.equal(header.typ, 'at+jwt')
        assert.equal(header.alg, 'EdDSA')
        assert.equal(typeof header.kid, 'string')
        const { payload } = await jwtVerify(access, jwks, { issuer, audience: mcpUrl, typ: 'at+jwt', algorithms: ['EdDSA'] })
        assert.equal(payload.client_id, ci.client_id)
        assert.equal(payload.owner_id, user.id)
        assert.deepEqual(String(payload.scope).split(' ').sort(), [...SCOPES].sort())
        assert.equal(typeof payload.jti, 'string')
        assert.equal(typeof payload.gid, 'string')
        assert.ok(payload.exp > payload.iat)

        // Its subject is a delegated agent of the user, with the scopes' permissions.
        const agent = await kavach.agent.get(payload.sub)
        assert.ok(agent, `an agent ${payload.sub}`)
        assert.equal(agent.ownerId, user.id)
        assert.equal(agent.type, 'delegated')
        assert.equal(agent.status, 'active')
        assert.equal(agent.name, 'MCP: sdk basic client')
        const perms = agent.permissions.map((p) => `${p.resource} ${[...p.actions].sort()}`)
        assert.ok(
          perms.includes('mcp:tools:* call') || perms.includes('mcp:tools:* call,list'),
          `permissions ${JSON.stringify(agent.permissions)}`,
        )
        assert.ok(
          perms.includes('mcp:tools:* list') || perms.includes('mcp:tools:* call,list'),
          `permissions ${JSON.stringify(agent.permissions)}`,
        )

        // The tool saw the auth, and kavach.authorize audited the call.
        const call = app.toolCalls.at(-1)
        assert.equal(call.text, 'hi')
        assert.equal(call.agentId, payload.sub)
        assert.equal(call.userId, user.id)
        assert.equal(call.authInfo.clientId, ci.client_id)
        assert.equal(call.authInfo.token, access)
        assert.deepEqual(call.authInfo.extra, { agentId: payload.sub, userId: user.id })
        assert.equal(call.decision.allowed, true)
        const audit = await kavach.audit.query({ agentId: payload.sub })
        const row = audit.find((e) => e.id === call.decision.auditId)
        assert.ok(row, `the audit row ${call.decision.auditId} in ${JSON.stringify(audit)}`)
        assert.equal(row.action, 'call')
        assert.equal(row.resource, 'mcp:tools:echo')
        assert.equal(row.result, 'allowed')
        assert.equal(row.userId, user.id)
      } finally {
        await d.client?.close()
      }
    })

    it('refresh rotates the refresh token; a reused one is refused and revokes the whole grant', T, async () => {
      // Rotation and reuse detection (client_secret_post).
      const d = await dance({ clientName: 'sdk refresh client', authMethod: 'client_secret_post' })
      const ci = d.provider.clientInformation()
      assert.equal(ci.token_endpoint_auth_method, 'client_secret_post')
      const t0 = d.provider.tokens()
      await d.client.close()

      const r1 = await token(ci, { grant_type: 'refresh_token', refresh_token: t0.refresh_token, resource: mcpUrl })
      const t1 = await jsonOf(r1)
      assert.equal(r1.status, 200, `refresh: ${JSON.stringify(t1)}`)
      assertNoNulls(t1)
      assert.match(t1.token_type, /^bearer$/i)
      assert.equal(typeof t1.access_token, 'string')
      assert.equal(typeof t1.refresh_token, 'string')
      assert.notEqual(t1.access_token, t0.access_token, 'a new access token')
      assert.notEqual(t1.refresh_token, t0.refresh_token, 'a new refresh token (rotation)')
      assert.ok(t1.expires_in > 0)
      assert.equal(decodeJwt(t1.access_token).gid, decodeJwt(t0.access_token).gid, 'the same grant')
      await expectMcp200(t1.access_token, 'the refreshed access token')

      await expectOAuthError(
        await token(ci, { grant_type: 'refresh_token', refresh_token: t0.refresh_token, resource: mcpUrl }),
        400,
        'invalid_grant',
        'the old (rotated) refresh token again',
      )
      await expectOAuthError(
        await token(ci, { grant_type: 'refresh_token', refresh_token: t1.refresh_token, resource: mcpUrl }),
        400,
        'invalid_grant',
        'the newest refresh token after reuse was detected',
      )
      await expectMcp401(t1.access_token, 'the newest access token after reuse was detected')
      await expectMcp401(t0.access_token, 'the first access token after reuse was detected')
    })

    it('RFC 7009 revocation of an access token (the SDK refreshes on the 401), then kavach.agent.revoke kills the tokens at once', T, async () => {
      // RFC 7009: revoking the access token; the SDK refreshes on the 401 by itself (public client, 'none').
      const d2 = await dance({ clientName: 'sdk revoke client', authMethod: 'none' })
      try {
        const ci2 = d2.provider.clientInformation()
        assert.equal(ci2.token_endpoint_auth_method, 'none')
        assert.equal('client_secret' in ci2, false, 'a public client has no secret')
        const a0 = d2.provider.tokens()
        const agentId = decodeJwt(a0.access_token).sub
        assert.deepEqual((await d2.client.callTool({ name: 'echo', arguments: { text: 'one' } })).content, [{ type: 'text', text: 'echo: one' }])

        const rv = await fetch(api('/mcp/revoke'), withClientAuth(ci2, { token: a0.access_token, token_type_hint: 'access_token' }))
        assert.equal(rv.status, 200, `POST /mcp/revoke: ${await rv.text()}`)
        await expectMcp401(a0.access_token, 'a revoked access token')
        const again = await d2.client.callTool({ name: 'echo', arguments: { text: 'two' } })
        assert.deepEqual(again.content, [{ type: 'text', text: 'echo: two' }], 'the SDK refreshed on the 401 and retried')
        const a1 = d2.provider.tokens()
        assert.notEqual(a1.access_token, a0.access_token, 'a refreshed access token')
        assert.equal(d2.provider.authorizationUrls.length, 1, 'no new authorization was needed')
        assert.equal(decodeJwt(a1.access_token).sub, agentId, 'the same agent')

        // kavach.agent.revoke: the access and refresh tokens die at once; the SDK client has to start over.
        await kavach.agent.revoke(agentId)
        assert.equal((await kavach.agent.get(agentId)).status, 'revoked')
        const { challenge } = await expectMcp401(a1.access_token, 'the access token of a revoked agent')
        assert.match(challenge, /error="invalid_token"/)
        await expectOAuthError(
          await token(ci2, { grant_type: 'refresh_token', refresh_token: a1.refresh_token, resource: mcpUrl }),
          400,
          'invalid_grant',
          'the refresh token of a revoked agent',
        )
        const before = app.toolCalls.length
        await assert.rejects(d2.client.callTool({ name: 'echo', arguments: { text: 'three' } }), (e) => {
          assert.ok(e instanceof UnauthorizedError, `expected UnauthorizedError (refresh refused, a new authorization started), got ${e?.constructor?.name}: ${e?.message}`)
          return true
        })
        assert.equal(app.toolCalls.length, before, 'the tool did not run')
        assert.equal(d2.provider.authorizationUrls.length, 2, 'the SDK started a new authorization')
      } finally {
        await d2.client?.close().catch(() => {})
      }
    })

    it('RFC 7009 revocation of a refresh token revokes its grant; an unknown token still answers 200', T, async () => {
      // Raw grant, client_secret_basic.
      const c3 = await register({ client_name: 'raw revoke client' })
      const g = await rawGrant(c3)
      await expectMcp200(g.access_token, 'a fresh raw grant')
      const rv3 = await fetch(api('/mcp/revoke'), withClientAuth(c3, { token: g.refresh_token, token_type_hint: 'refresh_token' }))
      assert.equal(rv3.status, 200, `POST /mcp/revoke (refresh token): ${await rv3.text()}`)
      await expectOAuthError(
        await token(c3, { grant_type: 'refresh_token', refresh_token: g.refresh_token, resource: mcpUrl }),
        400,
        'invalid_grant',
        'a revoked refresh token',
      )
      await expectMcp401(g.access_token, 'the access token of a revoked grant')
      // Revoking an unknown token still answers 200.
      const rv4 = await fetch(api('/mcp/revoke'), withClientAuth(c3, { token: 'not-a-token' }))
      assert.equal(rv4.status, 200, `POST /mcp/revoke (unknown token): ${await rv4.text()}`)
    })

    it('the authorization server metadata (RFC 8414): path-inserted and the other two places, no nulls', T, async () => {
      const wanted = {
        issuer,
        authorization_endpoint: `${issuer}/mcp/authorize`,
        token_endpoint: `${issuer}/mcp/token`,
        registration_endpoint: `${issuer}/mcp/register`,
        revocation_endpoint: `${issuer}/mcp/revoke`,
        jwks_uri: `${issuer}/mcp/jwks`,
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code', 'refresh_token'],
        code_challenge_methods_supported: ['S256'],
      }
      let first
      for (const path of ['/.well-known/oauth-authorization-server/api/auth', '/.well-known/oauth-authorization-server', '/api/auth/.well-known/oauth-authorization-server']) {
        const res = await fetch(`${origin}${path}`, { headers: { accept: 'application/json' } })
        const body = await jsonOf(res)
        assert.equal(res.status, 200, `GET ${path}: ${JSON.stringify(body)}`)
        assert.match(res.headers.get('content-type') ?? '', /application\/json/)
        assertNoNulls(body, path)
        for (const [k, v] of Object.entries(wanted)) assert.deepEqual(body[k], v, `${path} ${k}`)
        assert.deepEqual([...body.scopes_supported].sort(), [...SCOPES].sort(), `${path} scopes_supported`)
        assert.deepEqual([...body.token_endpoint_auth_methods_supported].sort(), ['client_secret_basic', 'client_secret_post', 'none'], path)
        if (first) assert.deepEqual(body, first, `${path} is the same document`)
        first ??= body
      }
    })

    it('the protected resource metadata (RFC 9728) and the JWKS', T, async () => {
      for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
        const res = await fetch(`${origin}${path}`, { headers: { accept: 'application/json' } })
        const prm = await jsonOf(res)
        assert.equal(res.status, 200, `GET ${path}: ${JSON.stringify(prm)}`)
        assertNoNulls(prm, path)
        assert.equal(prm.resource, mcpUrl, path)
        assert.deepEqual(prm.authorization_servers, [issuer], path)
        assert.deepEqual([...prm.scopes_supported].sort(), [...SCOPES].sort(), path)
        assert.deepEqual(prm.bearer_methods_supported, ['header'], path)
      }

      const jr = await fetch(`${issuer}/mcp/jwks`)
      const set = await jsonOf(jr)
      assert.equal(jr.status, 200)
      assert.ok(Array.isArray(set.keys) && set.keys.length >= 1, JSON.stringify(set))
      for (const k of set.keys) {
        assert.equal(k.kty, 'OKP')
        assert.equal(k.crv, 'Ed25519')
        assert.equal(k.alg, 'EdDSA')
        assert.equal(k.use, 'sig')
        assert.equal(typeof k.kid, 'string')
        assert.equal(typeof k.x, 'string')
        assert.equal('d' in k, false, 'no private part')
      }
    })

    it('dynamic client registration (RFC 7591) answers: confidential and public clients, no nulls', T, async () => {
      const conf = await register({ client_name: 'meta conf', token_endpoint_auth_method: 'client_secret_basic', scope: 'tools:read' })
      assertNoNulls(conf, 'register (basic)')
      assert.equal(typeof conf.client_id, 'string')
      assert.equal(typeof conf.client_secret, 'string')
      assert.equal(typeof conf.client_id_issued_at, 'number')
      assert.equal(conf.client_secret_expires_at, 0)
      assert.deepEqual(conf.redirect_uris, [`${origin}/callback`])
      assert.equal(conf.client_name, 'meta conf')
      assert.equal(conf.token_endpoint_auth_method, 'client_secret_basic')
      assert.deepEqual(conf.grant_types, ['authorization_code', 'refresh_token'])
      assert.deepEqual(conf.response_types, ['code'])
      const pub = await register({ client_name: 'meta public', token_endpoint_auth_method: 'none' })
      assertNoNulls(pub, 'register (none)')
      assert.equal(typeof pub.client_id, 'string')
      assert.equal('client_secret' in pub, false)
      assert.equal('client_secret_expires_at' in pub, false)
      assert.equal(pub.token_endpoint_auth_method, 'none')
    })

    it('the 401 challenge of /mcp points at the protected resource metadata; GET/DELETE need a token and then answer 405', T, async () => {
      const none = await expectMcp401(null, 'no token')
      const noneBody = JSON.parse(none.text)
      assert.equal(typeof noneBody.error, 'string', none.text)
      const bad = await expectMcp401('not.a.token', 'a garbage token')
      assert.match(bad.challenge, /error="invalid_token"/)
      assert.equal(JSON.parse(bad.text).error, 'invalid_token')
      // A kavach agent token (kv_...) is not an OAuth access token.
      const plain = await kavach.agent.create({ ownerId: user.id, name: 'plain agent', type: 'autonomous', permissions: [{ resource: '*', actions: ['*'] }] })
      await expectMcp401(plain.token, 'a plain agent token')
      // GET and DELETE /mcp: 401 without a token; with one, the (stateless) MCP server answers 405.
      const g = await rawGrant(await register({ client_name: 'method client' }))
      for (const method of ['GET', 'DELETE']) {
        const r = await fetch(mcpUrl, { method })
        await r.arrayBuffer()
        assert.equal(r.status, 401, `${method} /mcp without a token`)
        const r2 = await fetch(mcpUrl, { method, headers: { authorization: `Bearer ${g.access_token}` } })
        await r2.arrayBuffer()
        assert.equal(r2.status, 405, `${method} /mcp with a token`)
      }
    })

    describe('refused requests', () => {
      let c
      before(async () => {
        c = await register({ client_name: 'refusals client', token_endpoint_auth_method: 'client_secret_basic' })
      })

      it('authorize with an unregistered redirect_uri or an unknown client: 400, never a redirect', T, async () => {
        const { challenge } = pkce()
        for (const cookie of [userCookie, null]) {
          const evil = new URLSearchParams(authParams(c, { challenge, redirectUri: `${origin}/evil-callback` }))
          const res = await fetch(`${issuer}/mcp/authorize?${evil}`, { redirect: 'manual', headers: cookie ? { cookie } : {} })
          const text = await res.text()
          const what = `unregistered redirect_uri (${cookie ? 'with' : 'without'} a session)`
          assert.equal(res.status, 400, `${what}: ${res.status} location=${res.headers.get('location')} ${text.slice(0, 300)}`)
          assert.equal(res.headers.get('location'), null)
          const body = JSON.parse(text)
          assert.ok(['invalid_request', 'invalid_client'].includes(body.error), `${what}: ${text}`)
        }
        const res = await fetch(`${issuer}/mcp/authorize?${new URLSearchParams(authParams({ client_id: 'no-such-client' }, { challenge }))}`, {
          redirect: 'manual',
          headers: { cookie: userCookie },
        })
        const body = await jsonOf(res)
        assert.equal(res.status, 400, `unknown client: ${JSON.stringify(body)}`)
        assert.equal(res.headers.get('location'), null)
        assert.ok(['invalid_request', 'invalid_client'].includes(body.error), JSON.stringify(body))
      })

      it('authorize without code_challenge: back to the client with error=invalid_request and the state', T, async () => {
        const p = authParams(c, { state: 'st-no-pkce' })
        const res = await fetch(`${issuer}/mcp/authorize?${new URLSearchParams(p)}`, { redirect: 'manual', headers: { cookie: userCookie } })
        const text = await res.text()
        assert.equal(res.status, 302, `no code_challenge: ${res.status} ${text.slice(0, 300)}`)
        const to = new URL(res.headers.get('location'))
        assert.equal(to.origin + to.pathname, `${origin}/callback`)
        assert.equal(to.searchParams.get('error'), 'invalid_request', to.href)
        assert.equal(to.searchParams.get('state'), 'st-no-pkce', to.href)
        assert.equal(to.searchParams.get('code'), null, to.href)
      })

      it('a code used twice: invalid_grant', T, async () => {
        const { code, verifier, params } = await rawCode(c)
        const exchange = () => token(c, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: params.redirect_uri, resource: mcpUrl })
        const ok = await exchange()
        assert.equal(ok.status, 200, `first use of the code: ${await ok.text()}`)
        await expectOAuthError(await exchange(), 400, 'invalid_grant', 'the code a second time')
      })

      it('a wrong code_verifier: invalid_grant', T, async () => {
        const { code, params } = await rawCode(c)
        await expectOAuthError(
          await token(c, { grant_type: 'authorization_code', code, code_verifier: pkce().verifier, redirect_uri: params.redirect_uri, resource: mcpUrl }),
          400,
          'invalid_grant',
          'a wrong code_verifier',
        )
      })

      it('a wrong client secret: 401 invalid_client; an unsupported grant type: unsupported_grant_type', T, async () => {
        const { code, verifier, params } = await rawCode(c)
        await expectOAuthError(
          await token(c, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: params.redirect_uri, resource: mcpUrl }, { secret: 'not-the-secret' }),
          401,
          'invalid_client',
          'a wrong client secret',
        )
        await expectOAuthError(await token(c, { grant_type: 'password', username: EMAIL, password: PASSWORD }), 400, 'unsupported_grant_type', 'grant_type=password')
      })

      it('the consent form posted from a foreign Origin: refused, no code', T, async () => {
        const { challenge } = pkce()
        const res = await decide(userCookie, authParams(c, { challenge }), 'approve', { from: 'https://evil.example' })
        const text = await res.text()
        const location = res.headers.get('location') ?? ''
        assert.ok(res.status >= 400 && res.status < 500, `approve from a foreign Origin answered ${res.status} ${location} ${text.slice(0, 200)}`)
        assert.ok(!location.includes('code='), location)
      })

      it('registration with a bad redirect URI: 400', T, async () => {
        const res = await fetch(`${issuer}/mcp/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ client_name: 'bad', redirect_uris: ['not a url'], token_endpoint_auth_method: 'none' }),
        })
        const body = await jsonOf(res)
        assert.equal(res.status, 400, JSON.stringify(body))
        assert.ok(['invalid_redirect_uri', 'invalid_client_metadata'].includes(body.error), JSON.stringify(body))
      })

      it('Deny on the consent page (in the browser): back to the callback with error=access_denied', T, async () => {
        const denied = await dance({ clientName: 'sdk denied client', decision: 'Deny' })
        assert.deepEqual(denied.steps, ['sign-in', 'consent', 'callback'])
        assert.equal(denied.error, 'access_denied', denied.callback.href)
        assert.equal(denied.code, null, denied.callback.href)
        assert.equal(app.callbacks.at(-1).error, 'access_denied')
        assert.equal(denied.provider.tokens(), undefined)
      })
    })

    it('kavach.mcp.authenticate and challenge in JS; a tools:read token may not call the tool (NO_PERMISSION, audited)', T, async () => {
      const c = await register({ client_name: 'read-only client', token_endpoint_auth_method: 'client_secret_basic' })
      const g = await rawGrant(c, { scope: 'tools:read' })
      assert.equal(g.scope, 'tools:read')
      const claims = decodeJwt(g.access_token)
      const req = (tok) => new Request(mcpUrl, { method: 'POST', headers: tok ? { authorization: `Bearer ${tok}` } : {} })

      const ok = await kavach.mcp.authenticate(req(g.access_token), { resource: mcpUrl })
      assert.equal(ok.success, true, JSON.stringify(ok))
      assert.equal(ok.data.agentId, claims.sub)
      assert.equal(ok.data.userId, user.id)
      assert.equal(ok.data.clientId, c.client_id)
      assert.deepEqual(ok.data.scopes, ['tools:read'])
      assert.ok(ok.data.expiresAt instanceof Date)
      assert.equal(Math.floor(ok.data.expiresAt.getTime() / 1000), claims.exp)
      assert.equal(ok.data.token, g.access_token)

      const scoped = await kavach.mcp.authenticate(req(g.access_token), { resource: mcpUrl, scopes: ['tools:call'] })
      assert.equal(scoped.success, false)
      assert.equal(scoped.error.code, 'INSUFFICIENT_SCOPE')
      const otherAud = await kavach.mcp.authenticate(req(g.access_token), { resource: `${origin}/other` })
      assert.equal(otherAud.success, false)
      assert.equal(otherAud.error.code, 'INVALID_TOKEN')
      const missing = await kavach.mcp.authenticate(req(null), { resource: mcpUrl })
      assert.equal(missing.success, false)
      assert.equal(missing.error.code, 'INVALID_TOKEN')

      const ch = kavach.mcp.challenge(req(null), 'insufficient_scope', { resource: mcpUrl, scopes: ['tools:call'] })
      assert.equal(ch.status, 403)
      const www = ch.headers.get('www-authenticate') ?? ''
      assert.match(www, /^Bearer /)
      assert.match(www, /error="insufficient_scope"/)
      assert.match(www, /scope="tools:call"/)
      assert.ok(www.includes(`resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"`), www)
      assert.equal((await ch.json()).error, 'insufficient_scope')
      const ch401 = kavach.mcp.challenge(req(null), { code: 'INVALID_TOKEN' }, { resource: mcpUrl })
      assert.equal(ch401.status, 401)
      assert.match(ch401.headers.get('www-authenticate') ?? '', /error="invalid_token"/)

      // The read-only agent lists the tools but kavach.authorize refuses the call (an SDK client with a fixed bearer).
      const agent = await kavach.agent.get(claims.sub)
      assert.deepEqual(agent.permissions.map((p) => ({ resource: p.resource, actions: p.actions })), [{ resource: 'mcp:tools:*', actions: ['list'] }])
      const client = newClient()
      await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers: { authorization: `Bearer ${g.access_token}` } } }))
      try {
        assert.ok((await client.listTools()).tools.some((t) => t.name === 'echo'))
        const r = await client.callTool({ name: 'echo', arguments: { text: 'nope' } })
        assert.equal(r.isError, true, JSON.stringify(r))
        assert.deepEqual(r.content, [{ type: 'text', text: 'NO_PERMISSION' }])
      } finally {
        await client.close()
      }
      const call = app.toolCalls.at(-1)
      assert.equal(call.decision.allowed, false)
      const denied = (await kavach.audit.query({ agentId: claims.sub, result: 'denied' })).find((e) => e.id === call.decision.auditId)
      assert.ok(denied, 'the denial is audited')
      assert.equal(denied.code, 'NO_PERMISSION')
      assert.equal(denied.resource, 'mcp:tools:echo')
    })
  })
}
