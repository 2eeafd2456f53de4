// The MCP authorization server over plain HTTP (the browser dance is mcp.test.mjs): autoApprove for
// first-party clients, the app's own consentPage (JSON accept), prompt=none, scopes and resources it
// does not serve, a consent that widens the grant (same agent, more permissions), key rotation that
// keeps issued tokens valid, and the token's claims checked with jose. On every database.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { createKavach } from '../index.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

const ORIGIN = 'https://app.example.com'
const MOUNT = '/api/auth'
const RESOURCE = `${ORIGIN}/mcp`
const REDIRECT = 'http://127.0.0.1:9/callback'
const T = { timeout: 60_000 }

for (const backend of backends()) {
  describe(`the MCP authorization server over HTTP on ${backend}`, { timeout: 300_000 }, () => {
    let kavach
    const asked = []
    before(async () => {
      kavach = await createKavach({
        database: freshDatabase(backend, 'mcpsrv'),
        secret: SECRET,
        baseUrl: ORIGIN,
        basePath: MOUNT,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        rateLimit: { enabled: false },
        mcp: {
          enabled: true,
          resources: [RESOURCE],
          consentPage: '/consent',
          scopes: {
            'tools:read': [{ resource: 'mcp:tools:*', actions: ['list'] }],
            'tools:call': [{ resource: 'mcp:tools:*', actions: ['call'] }],
          },
          autoApprove: (client) => {
            asked.push(client)
            return client.clientName === 'first-party'
          },
        },
      })
    })
    after(async () => {
      await kavach?.close()
    })

    const h = (path, init = {}) => kavach.handler(new Request(`${ORIGIN}${path}`, init))
    const form = (o) => new URLSearchParams(o).toString()
    async function signUp() {
      const res = await h(`${MOUNT}/auth/sign-up`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: ORIGIN },
        body: JSON.stringify({ email: `u-${randomBytes(4).toString('hex')}@example.com`, password: 'password-1234', name: 'U' }),
      })
      assert.equal(res.status, 200)
      return res.headers.getSetCookie()[0].split(';')[0]
    }
    async function register(name, method = 'none') {
      const res = await h(`${MOUNT}/mcp/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_name: name, redirect_uris: [REDIRECT], token_endpoint_auth_method: method }),
      })
      assert.equal(res.status, 201, await res.clone().text())
      return res.json()
    }
    function pkce() {
      const verifier = randomBytes(32).toString('base64url')
      return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
    }
    const authorizeQuery = (client, challenge, extra = {}) =>
      new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'S256', state: 'st', scope: 'tools:read', resource: RESOURCE, ...extra })
    async function token(client, code, verifier) {
      const res = await h(`${MOUNT}/mcp/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: client.client_id, resource: RESOURCE }),
      })
      return { status: res.status, body: await res.json() }
    }
    const codeOf = (res) => {
      assert.equal(res.status, 302)
      const to = new URL(res.headers.get('location'))
      assert.equal(`${to.origin}${to.pathname}`, REDIRECT)
      return to.searchParams
    }

    it('autoApprove skips consent for the clients it names; the app decides on the client it is shown', T, async () => {
      const cookie = await signUp()
      const first = await register('first-party')
      const { verifier, challenge } = pkce()
      const back = codeOf(await h(`${MOUNT}/mcp/authorize?${authorizeQuery(first, challenge)}`, { headers: { cookie } }))
      assert.equal(back.get('state'), 'st')
      assert.equal(back.get('iss'), `${ORIGIN}${MOUNT}`)
      const t = await token(first, back.get('code'), verifier)
      assert.equal(t.status, 200, JSON.stringify(t.body))
      assert.equal(t.body.scope, 'tools:read')
      assert.ok(asked.some((c) => c.clientId === first.client_id && c.clientName === 'first-party' && c.redirectUris[0] === REDIRECT))

      // A third-party client goes to the app's consent page with the request's parameters.
      const third = await register('third-party')
      const q = authorizeQuery(third, pkce().challenge)
      const res = await h(`${MOUNT}/mcp/authorize?${q}`, { headers: { cookie } })
      assert.equal(res.status, 302)
      const consent = new URL(res.headers.get('location'), ORIGIN)
      assert.equal(consent.pathname, '/consent')
      assert.equal(consent.searchParams.get('client_id'), third.client_id)
    })

    it("the app's consent page posts JSON { ...params, accept } and gets the redirect URL; prompt=none never asks", T, async () => {
      const cookie = await signUp()
      const client = await register('needs consent')
      const { verifier, challenge } = pkce()
      const q = authorizeQuery(client, challenge)
      const none = await h(`${MOUNT}/mcp/authorize?${authorizeQuery(client, challenge, { prompt: 'none' })}`, { headers: { cookie } })
      assert.equal(codeOf(none).get('error'), 'consent_required')
      const noSession = await h(`${MOUNT}/mcp/authorize?${authorizeQuery(client, challenge, { prompt: 'none' })}`)
      assert.equal(codeOf(noSession).get('error'), 'login_required')

      const denied = await h(`${MOUNT}/mcp/authorize`, {
        method: 'POST',
        headers: { cookie, origin: ORIGIN, 'content-type': 'application/json' },
        body: JSON.stringify({ ...Object.fromEntries(q), accept: false }),
      })
      assert.equal(denied.status, 200)
      assert.equal(new URL((await denied.json()).url).searchParams.get('error'), 'access_denied')

      const accepted = await h(`${MOUNT}/mcp/authorize`, {
        method: 'POST',
        headers: { cookie, origin: ORIGIN, 'content-type': 'application/json' },
        body: JSON.stringify({ ...Object.fromEntries(q), accept: true }),
      })
      assert.equal(accepted.status, 200)
      const { url, redirect } = await accepted.json()
      assert.equal(redirect, true)
      const code = new URL(url).searchParams.get('code')
      assert.equal((await token(client, code, verifier)).status, 200)
      // Consent given: the next authorization for the same scopes needs none.
      const again = pkce()
      const back = codeOf(await h(`${MOUNT}/mcp/authorize?${authorizeQuery(client, again.challenge)}`, { headers: { cookie } }))
      assert.equal((await token(client, back.get('code'), again.verifier)).status, 200)
    })

    it('scopes and resources it does not serve are refused back to the client', T, async () => {
      const cookie = await signUp()
      const client = await register('picky')
      const { challenge } = pkce()
      const scope = await h(`${MOUNT}/mcp/authorize?${authorizeQuery(client, challenge, { scope: 'tools:read admin:everything' })}`, { headers: { cookie } })
      assert.equal(codeOf(scope).get('error'), 'invalid_scope')
      const target = await h(`${MOUNT}/mcp/authorize?${authorizeQuery(client, challenge, { resource: 'https://elsewhere.example.com/mcp' })}`, { headers: { cookie } })
      assert.equal(codeOf(target).get('error'), 'invalid_target')
      const plain = await h(`${MOUNT}/mcp/authorize?${authorizeQuery(client, challenge, { code_challenge_method: 'plain' })}`, { headers: { cookie } })
      assert.equal(codeOf(plain).get('error'), 'invalid_request')
      const nul = await h(`${MOUNT}/mcp/authorize?${authorizeQuery(client, challenge)}&x=%00`, { headers: { cookie } })
      assert.equal(nul.status, 400)
      assert.equal((await nul.json()).error, 'invalid_request')
    })

    it('a wider consent widens the same grant and agent; the token is an EdDSA at+jwt; rotated keys keep old tokens valid', T, async () => {
      const cookie = await signUp()
      const client = await register('first-party')
      const a = pkce()
      const t1 = await token(client, codeOf(await h(`${MOUNT}/mcp/authorize?${authorizeQuery(client, a.challenge)}`, { headers: { cookie } })).get('code'), a.verifier)
      const b = pkce()
      const t2 = await token(client, codeOf(await h(`${MOUNT}/mcp/authorize?${authorizeQuery(client, b.challenge, { scope: 'tools:read tools:call' })}`, { headers: { cookie } })).get('code'), b.verifier)
      assert.equal(t2.body.scope, 'tools:call tools:read')

      const jwks = createLocalJWKSet(await (await h(`${MOUNT}/mcp/jwks`)).json())
      const { payload: p1 } = await jwtVerify(t1.body.access_token, jwks, { issuer: `${ORIGIN}${MOUNT}`, audience: RESOURCE, typ: 'at+jwt' })
      const { payload: p2, protectedHeader } = await jwtVerify(t2.body.access_token, jwks, { issuer: `${ORIGIN}${MOUNT}`, audience: RESOURCE, typ: 'at+jwt' })
      assert.equal(protectedHeader.alg, 'EdDSA')
      assert.equal(p1.sub, p2.sub, 'the same agent acts for the user and this client')
      assert.equal(p1.client_id, client.client_id)
      const agent = await kavach.agent.get(p2.sub)
      assert.deepEqual(agent.permissions.map((p) => p.actions[0]).sort(), ['call', 'list'])
      assert.equal((await kavach.authorize(p2.sub, { action: 'call', resource: 'mcp:tools:echo' })).allowed, true)

      const oldKid = decodeProtectedHeader(t2.body.access_token).kid
      const rotated = await kavach.mcp.rotateKeys()
      assert.equal(rotated.success, true)
      assert.notEqual(rotated.data.kid, oldKid)
      const request = (tok) => new Request(RESOURCE, { headers: { authorization: `Bearer ${tok}` } })
      assert.equal((await kavach.mcp.authenticate(request(t2.body.access_token), { resource: RESOURCE })).success, true, 'a token of the retired key still verifies')
      const c = pkce()
      const t3 = await token(client, codeOf(await h(`${MOUNT}/mcp/authorize?${authorizeQuery(client, c.challenge)}`, { headers: { cookie } })).get('code'), c.verifier)
      assert.equal(decodeProtectedHeader(t3.body.access_token).kid, rotated.data.kid)
      const keys = (await kavach.mcp.jwks()).data.keys.map((k) => k.kid)
      assert.deepEqual(keys.sort(), [oldKid, rotated.data.kid].sort())
      // A token for another resource is refused for this one.
      assert.equal((await kavach.mcp.authenticate(request(t3.body.access_token), { resource: `${ORIGIN}/other` })).error.code, 'INVALID_TOKEN')
      // A grant revoked from the server side ends its tokens.
      assert.equal((await kavach.mcp.revokeGrant(p1.gid)).data.revoked, true)
      assert.equal((await kavach.mcp.authenticate(request(t3.body.access_token), { resource: RESOURCE })).error.code, 'INVALID_TOKEN')
    })

    it('the token and revocation endpoints share the per-IP credential limit (429 with Retry-After)', T, async () => {
      const limited = await createKavach({
        database: freshDatabase(backend, 'mcprl'),
        secret: SECRET,
        baseUrl: ORIGIN,
        basePath: MOUNT,
        shareInstance: false,
        rateLimit: { maxCredentialRequestsPerIp: 3 },
        mcp: { enabled: true, resources: [RESOURCE] },
      })
      try {
        const reg = await limited.mcp.registerClient({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' })
        const guess = (path, body) =>
          limited.handler(new Request(`${ORIGIN}${MOUNT}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form(body) }), { clientIp: '203.0.113.9' })
        for (let i = 0; i < 3; i++) {
          const res = await guess('/mcp/token', { grant_type: 'authorization_code', code: `guess-${i}`, code_verifier: 'v'.repeat(43), redirect_uri: REDIRECT, client_id: reg.data.client_id })
          assert.equal(res.status, 400)
          assert.equal((await res.json()).error, 'invalid_grant')
        }
        const blocked = await guess('/mcp/revoke', { token: 'anything', client_id: reg.data.client_id })
        assert.equal(blocked.status, 429)
        assert.ok(Number(blocked.headers.get('retry-after')) > 0)
      } finally {
        await limited.close()
      }
    })

    it('createKavach refuses an mcp block it cannot serve', T, async () => {
      const database = freshDatabase(backend, 'mcpbad')
      for (const mcp of [
        { enabled: true, scopes: { 'bad scope': [] } },
        { enabled: true, resources: ['not a url'] },
        { enabled: true, accessTokenTtl: 5 },
        { enabled: true, loginPage: 'javascript:alert(1)' },
        { enabled: true, autoApprove: 'yes' },
      ]) {
        await assert.rejects(createKavach({ database, secret: SECRET, baseUrl: ORIGIN, shareInstance: false, mcp }), (e) => e.code === 'CONFIG_INVALID', JSON.stringify(mcp))
      }
      await assert.rejects(createKavach({ database, secret: SECRET, shareInstance: false, mcp: { enabled: true } }), (e) => e.code === 'CONFIG_INVALID', 'no baseUrl')
    })
  })
}
