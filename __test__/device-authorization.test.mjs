// deviceAuthorization() (RFC 8628) over real HTTP (node:http in front of kavach.handler) on every
// database. The device is openid-client v6, a standard RFC 8628 client library: it asks for codes
// and polls the token endpoint on its own schedule; the user approves or denies through the lookup
// and approve/deny routes with a signed-in cookie. The token it receives works as a Bearer session.
// slow_down is provoked by polling by hand; expiry moves the instance clock (a second instance).
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import * as oidc from 'openid-client'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'
import { serve } from './http-server.mjs'
import { createKavachClient } from '../npm/client/index.mjs'

const { createKavach } = await import('../index.mjs')
const { deviceAuthorization, admin } = await import('../plugins.mjs')

const PASSWORD = 'correct horse battery'
const CLIENT_ID = 'tv-app'
const GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

async function boot(backend, { options = {}, rateLimit = { enabled: false }, tag = 'device' } = {}) {
  const database = freshDatabase(backend, tag)
  const kavach = await createKavach({
    database,
    secret: SECRET,
    emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
    rateLimit,
    plugins: [deviceAuthorization(options), admin()],
  })
  const server = await serve(kavach)
  return { database, kavach, server, close: async () => { await server.close(); await kavach.close() } }
}

/** openid-client configured by hand (no discovery document), over plain http on 127.0.0.1. */
function device(server, clientId = CLIENT_ID) {
  const config = new oidc.Configuration(
    {
      issuer: server.origin,
      device_authorization_endpoint: `${server.url}/auth/device/code`,
      token_endpoint: `${server.url}/auth/device/token`,
    },
    clientId,
  )
  oidc.allowInsecureRequests(config)
  return config
}

/** A signed-in browser (cookie jar) for the user-code page. */
async function signedIn(server, email) {
  const browser = server.client()
  let r = await browser.post('/auth/sign-up', { email, password: PASSWORD })
  if (r.status !== 200) r = await browser.post('/auth/sign-in', { email, password: PASSWORD })
  assert.equal(r.status, 200, JSON.stringify(r.body))
  return browser
}

/** A device's token request by hand: a form body, no cookie, no Origin. */
async function poll(server, deviceCode, clientId = CLIENT_ID) {
  const r = await fetch(`${server.url}/auth/device/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: GRANT, device_code: deviceCode, client_id: clientId }),
  })
  return { status: r.status, body: await r.json(), headers: r.headers }
}

async function requestCodes(server, body = { client_id: CLIENT_ID }) {
  const r = await fetch(`${server.url}/auth/device/code`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body),
  })
  return { status: r.status, body: await r.json(), headers: r.headers }
}

const enc = encodeURIComponent

for (const backend of backends()) {
  describe(`deviceAuthorization() with openid-client on ${backend}`, () => {
    let t
    before(async () => { t = await boot(backend, { options: { interval: 1, verificationUri: '/activate' } }) })
    after(async () => { await t.close() })

    it('completes the whole flow: codes, lookup + approve, the poll ends with a Bearer session token', async () => {
      const config = device(t.server)
      const codes = await oidc.initiateDeviceAuthorization(config, { scope: 'read write' })
      assert.match(codes.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/)
      assert.match(codes.device_code, /^[A-Za-z0-9]{40}$/)
      assert.equal(codes.verification_uri, `${t.server.origin}/activate`)
      assert.equal(codes.verification_uri_complete, `${t.server.origin}/activate?user_code=${codes.user_code}`)
      assert.equal(codes.expires_in, 1800)
      assert.equal(codes.interval, 1)

      const polling = oidc.pollDeviceAuthorizationGrant(config, codes)

      // The user opens the page, types the code loosely (lower case, no dash) and approves it.
      const browser = await signedIn(t.server, 'ada@example.com')
      const typed = codes.user_code.replace('-', '').toLowerCase()
      const anon = await t.server.client().get(`/auth/device?user_code=${enc(typed)}`)
      assert.equal(anon.status, 200)
      assert.deepEqual(anon.body, { user_code: typed, status: 'pending' }, 'nobody signed in: no client details')
      const look = await browser.get(`/auth/device?user_code=${enc(typed)}`)
      assert.equal(look.status, 200, JSON.stringify(look.body))
      assert.deepEqual(look.body, { user_code: typed, status: 'pending', client_id: CLIENT_ID, scope: 'read write' })
      // Claimed by Ada: someone else signed in cannot take it over, approve or deny it.
      const mallory = await signedIn(t.server, 'mallory@example.com')
      const theirs = await mallory.get(`/auth/device?user_code=${enc(codes.user_code)}`)
      assert.deepEqual(theirs.body, { user_code: codes.user_code, status: 'pending' })
      const stolen = await mallory.post('/auth/device/approve', { userCode: codes.user_code })
      assert.equal(stolen.status, 403)
      assert.equal(stolen.body.error.code, 'ACCESS_DENIED')
      const noCookie = await t.server.client().post('/auth/device/approve', { userCode: codes.user_code })
      assert.equal(noCookie.status, 401)

      const approved = await browser.post('/auth/device/approve', { userCode: codes.user_code })
      assert.equal(approved.status, 200, JSON.stringify(approved.body))
      assert.deepEqual(approved.body, { success: true })
      const again = await browser.post('/auth/device/deny', { userCode: codes.user_code })
      // Already approved, or already redeemed by the device's next poll (the row is then gone).
      assert.ok(['DEVICE_CODE_ALREADY_PROCESSED', 'INVALID_USER_CODE'].includes(again.body.error.code), JSON.stringify(again.body))

      const tokens = await polling
      assert.equal(tokens.token_type.toLowerCase(), 'bearer')
      assert.equal(tokens.scope, 'read write')
      assert.ok(tokens.expires_in > 0)
      assert.ok(tokens.access_token)

      // A real core session: Bearer works on the session route and on auth.getSession.
      const me = await fetch(`${t.server.url}/auth/session`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
      assert.equal(me.status, 200)
      const session = await me.json()
      assert.equal(session.user.email, 'ada@example.com')
      const viaFacade = await t.kavach.auth.getSession({ headers: { authorization: `Bearer ${tokens.access_token}` } })
      assert.equal(viaFacade.data.user.email, 'ada@example.com')
      assert.equal(
        Number(sql(t.database, `SELECT COUNT(*) FROM kavach_session WHERE user_id = '${session.user.id}'`)),
        2,
        'the browser session and the device session',
      )

      // Redeemed once: the same device code again is invalid_grant, and its row is gone.
      const replay = await poll(t.server, codes.device_code)
      assert.equal(replay.status, 400)
      assert.equal(replay.body.error, 'invalid_grant')
      assert.equal(Number(sql(t.database, 'SELECT COUNT(*) FROM kavach_device_code')), 0)
    })

    it('ends the poll in access_denied when the user denies', async () => {
      const config = device(t.server)
      const codes = await oidc.initiateDeviceAuthorization(config, {})
      const polling = oidc.pollDeviceAuthorizationGrant(config, codes).then(
        () => assert.fail('a denied request gave a token'),
        (e) => e,
      )
      const browser = await signedIn(t.server, 'ada@example.com')
      const early = await browser.post('/auth/device/deny', { userCode: codes.user_code })
      assert.equal(early.body.error.code, 'DEVICE_CODE_NOT_CLAIMED', 'the page looks the code up first')
      assert.equal((await browser.get(`/auth/device?user_code=${enc(codes.user_code)}`)).status, 200)
      const denied = await browser.post('/auth/device/deny', { userCode: codes.user_code })
      assert.deepEqual(denied.body, { success: true })
      const err = await polling
      assert.ok(err instanceof oidc.ResponseBodyError, String(err))
      assert.equal(err.error, 'access_denied')
      const after = await poll(t.server, codes.device_code)
      assert.equal(after.body.error, 'invalid_grant', 'a denial is answered once, then the code is gone')
    })

    it('answers slow_down to a device that polls faster than the interval, and adds 5 seconds to it', async () => {
      const codes = await requestCodes(t.server)
      assert.equal(codes.status, 200)
      assert.equal(codes.headers.get('cache-control'), 'no-store')
      const first = await poll(t.server, codes.body.device_code)
      assert.equal(first.status, 400)
      assert.deepEqual(Object.keys(first.body).sort(), ['error', 'error_description'])
      assert.equal(first.body.error, 'authorization_pending')
      const fast = await poll(t.server, codes.body.device_code)
      assert.equal(fast.status, 400)
      assert.equal(fast.body.error, 'slow_down')
      const stored = sql(t.database, 'SELECT polling_interval FROM kavach_device_code')
      assert.equal(Number(stored), 6000, 'interval 1 s + 5 s')
      // The old interval is no longer enough.
      await new Promise((r) => setTimeout(r, 1200))
      assert.equal((await poll(t.server, codes.body.device_code)).body.error, 'slow_down')
    })

    it('ten concurrent polls of an approved code issue exactly one token', async () => {
      const codes = await requestCodes(t.server)
      const browser = await signedIn(t.server, 'race@example.com')
      await browser.get(`/auth/device?user_code=${enc(codes.body.user_code)}`)
      assert.equal((await browser.post('/auth/device/approve', { userCode: codes.body.user_code })).status, 200)
      const userId = sql(t.database, "SELECT id FROM kavach_user WHERE email = 'race@example.com'")
      const before = Number(sql(t.database, `SELECT COUNT(*) FROM kavach_session WHERE user_id = '${userId}'`))
      const polls = await Promise.all(Array.from({ length: 10 }, () => poll(t.server, codes.body.device_code)))
      const wins = polls.filter((r) => r.status === 200)
      assert.equal(wins.length, 1, JSON.stringify(polls.map((r) => r.body.error ?? 'token')))
      for (const r of polls) if (r.status !== 200) assert.ok(['slow_down', 'invalid_grant'].includes(r.body.error), r.body.error)
      assert.equal(Number(sql(t.database, `SELECT COUNT(*) FROM kavach_session WHERE user_id = '${userId}'`)), before + 1)
    })

    it('takes JSON as well, and answers RFC 6749 errors for bad requests', async () => {
      const json = await fetch(`${t.server.url}/auth/device/code`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: CLIENT_ID, scope: 'openid' }),
      })
      assert.equal(json.status, 200)
      const codes = await json.json()
      assert.match(codes.user_code, /^[A-Z]{4}-[A-Z]{4}$/)
      assert.deepEqual((await requestCodes(t.server, {})).body.error, 'invalid_request')
      const wrongGrant = await fetch(`${t.server.url}/auth/device/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', device_code: codes.device_code, client_id: CLIENT_ID }),
      })
      assert.equal((await wrongGrant.json()).error, 'unsupported_grant_type')
      const otherClient = await poll(t.server, codes.device_code, 'another-app')
      assert.equal(otherClient.body.error, 'invalid_grant')
      assert.equal((await poll(t.server, 'not-a-code')).body.error, 'invalid_grant')
      const bad = await t.server.client().get('/auth/device?user_code=AAAA-0000')
      assert.equal(bad.status, 400)
      assert.equal(bad.body.error.code, 'INVALID_USER_CODE')
    })

    it('works through @kavachos/client: device.code/token for the device, device()/approve for the page', async () => {
      const tv = createKavachClient({ baseUrl: t.server.url, cookies: false })
      const codes = await tv.device.code({ client_id: CLIENT_ID, scope: 'profile' })
      assert.equal(codes.success, true, JSON.stringify(codes.error))
      const pending = await tv.device.token({ device_code: codes.data.device_code, client_id: CLIENT_ID })
      assert.equal(pending.success, false)
      assert.equal(pending.error.code, 'AUTHORIZATION_PENDING')
      assert.equal(pending.error.error, 'authorization_pending')

      const page = createKavachClient({ baseUrl: t.server.url })
      assert.equal((await page.auth.signIn({ email: 'ada@example.com', password: PASSWORD })).success, true)
      const look = await page.device({ query: { user_code: codes.data.user_code } })
      assert.equal(look.success, true, JSON.stringify(look.error))
      assert.equal(look.data.client_id, CLIENT_ID)
      assert.equal(look.data.scope, 'profile')
      assert.deepEqual((await page.device.approve({ userCode: codes.data.user_code })).data, { success: true })

      await new Promise((r) => setTimeout(r, 1100))
      const token = await tv.device.token({ device_code: codes.data.device_code, client_id: CLIENT_ID })
      assert.equal(token.success, true, JSON.stringify(token.error))
      assert.equal(token.data.token_type, 'Bearer')
      assert.equal(token.data.scope, 'profile')
      const me = await createKavachClient({ baseUrl: t.server.url, token: token.data.access_token, cookies: false }).auth.getSession()
      assert.equal(me.data.user.email, 'ada@example.com')
    })

    it('stores no device code or user code in clear, and drops a deleted user\'s codes', async () => {
      const codes = await requestCodes(t.server, { client_id: CLIENT_ID })
      const browser = await signedIn(t.server, 'gone@example.com')
      await browser.get(`/auth/device?user_code=${enc(codes.body.user_code)}`)
      assert.ok(sql(t.database, 'SELECT * FROM kavach_device_code').length > 0)
      // Every table of the database, row by row.
      const listTables = {
        sqlite: "SELECT name FROM sqlite_master WHERE type = 'table'",
        postgres: "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        mysql: 'SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()',
      }[t.database.provider]
      const tables = sql(t.database, listTables).split('\n').filter(Boolean)
      assert.ok(tables.includes('kavach_device_code'))
      const plain = codes.body.user_code.replace('-', '')
      for (const table of tables) {
        const rows = sql(t.database, `SELECT * FROM ${table}`)
        for (const secret of [codes.body.device_code, codes.body.user_code, plain]) {
          assert.ok(!rows.includes(secret), `a code in clear in ${table}`)
        }
      }
      const userId = sql(t.database, "SELECT id FROM kavach_user WHERE email = 'gone@example.com'")
      assert.equal(Number(sql(t.database, `SELECT COUNT(*) FROM kavach_device_code WHERE user_id = '${userId}'`)), 1)
      const removed = await t.kavach.admin.removeUser(userId)
      assert.equal(removed.success, true, JSON.stringify(removed.error))
      assert.equal(Number(sql(t.database, `SELECT COUNT(*) FROM kavach_device_code WHERE user_id = '${userId}'`)), 0)
    })
  })

  describe(`deviceAuthorization() options and bans on ${backend}`, () => {
    let t
    const seen = []
    before(async () => {
      t = await boot(backend, {
        tag: 'devopts',
        options: {
          interval: '1s',
          expiresIn: '10m',
          userCodeLength: 10,
          verificationUri: 'https://tv.example.com/link',
          validateClient: async (clientId) => clientId === CLIENT_ID,
          onDeviceAuthRequest: async (clientId, scope) => {
            seen.push([clientId, scope])
            if (scope === 'forbidden') throw new Error('no such scope here')
          },
        },
      })
    })
    after(async () => { await t.close() })

    it('validateClient refuses unknown clients (invalid_client), onDeviceAuthRequest gets (clientId, scope)', async () => {
      const codes = await requestCodes(t.server, { client_id: CLIENT_ID, scope: 'profile' })
      assert.equal(codes.status, 200, JSON.stringify(codes.body))
      assert.deepEqual(seen, [[CLIENT_ID, 'profile']])
      assert.equal(codes.body.expires_in, 600)
      assert.match(codes.body.user_code, /^[A-Z]{5}-[A-Z]{5}$/)
      assert.equal(codes.body.verification_uri, 'https://tv.example.com/link')
      assert.equal(codes.body.verification_uri_complete, `https://tv.example.com/link?user_code=${codes.body.user_code}`)
      const unknown = await requestCodes(t.server, { client_id: 'stranger' })
      assert.equal(unknown.status, 400)
      assert.equal(unknown.body.error, 'invalid_client')
      assert.equal(seen.length, 1, 'not asked for a refused client')
      assert.equal((await poll(t.server, codes.body.device_code, 'stranger')).body.error, 'invalid_client')
      const refused = await requestCodes(t.server, { client_id: CLIENT_ID, scope: 'forbidden' })
      assert.equal(refused.status, 400)
      assert.equal(refused.body.error, 'invalid_request')
    })

    it('a user banned after approving gets no token (access_denied)', async () => {
      const codes = await requestCodes(t.server)
      const browser = await signedIn(t.server, 'banned@example.com')
      await browser.get(`/auth/device?user_code=${enc(codes.body.user_code)}`)
      assert.equal((await browser.post('/auth/device/approve', { userCode: codes.body.user_code })).status, 200)
      const userId = sql(t.database, "SELECT id FROM kavach_user WHERE email = 'banned@example.com'")
      const banned = await t.kavach.admin.banUser({ userId, reason: 'test' })
      assert.equal(banned.success, true, JSON.stringify(banned.error))
      const r = await poll(t.server, codes.body.device_code)
      assert.equal(r.status, 400)
      assert.equal(r.body.error, 'access_denied')
    })
  })

  describe(`deviceAuthorization() expiry and limits on ${backend}`, () => {
    let t
    before(async () => {
      process.env.KAVACH_TEST_CLOCK = '1'
      try {
        t = await boot(backend, { tag: 'devclock', rateLimit: { maxCredentialRequestsPerIp: 6, credentialWindow: 60 } })
      } finally {
        delete process.env.KAVACH_TEST_CLOCK
      }
    })
    after(async () => { await t.close() })

    it('a device code expires after 30 minutes by default: expired_token, and the page says EXPIRED_USER_CODE', async () => {
      const codes = await requestCodes(t.server)
      assert.equal(codes.body.expires_in, 1800)
      assert.equal(codes.body.interval, 5)
      t.kavach.__advanceClock(29 * 60_000)
      assert.equal((await poll(t.server, codes.body.device_code)).body.error, 'authorization_pending')
      t.kavach.__advanceClock(60_000 + 1)
      const late = await t.server.client().get(`/auth/device?user_code=${enc(codes.body.user_code)}`)
      assert.equal(late.status, 400)
      assert.equal(late.body.error.code, 'EXPIRED_USER_CODE')
      const expired = await poll(t.server, codes.body.device_code)
      assert.equal(expired.status, 400)
      assert.equal(expired.body.error, 'expired_token')
      t.kavach.__advanceClock(61_000)
    })

    it('slow_down is measured from the last poll and grows by 5 seconds each time', async () => {
      const codes = await requestCodes(t.server)
      assert.equal((await poll(t.server, codes.body.device_code)).body.error, 'authorization_pending')
      t.kavach.__advanceClock(4_999)
      assert.equal((await poll(t.server, codes.body.device_code)).body.error, 'slow_down')
      t.kavach.__advanceClock(9_999)
      assert.equal((await poll(t.server, codes.body.device_code)).body.error, 'slow_down', '10 s is now due')
      t.kavach.__advanceClock(15_000)
      assert.equal((await poll(t.server, codes.body.device_code)).body.error, 'authorization_pending')
      t.kavach.__advanceClock(61_000)
    })

    it('shares the per-IP credential limit (429 with Retry-After)', async () => {
      t.kavach.__advanceClock(61_000)
      const answers = []
      for (let i = 0; i < 9; i++) answers.push(await requestCodes(t.server))
      const limited = answers.filter((r) => r.status === 429)
      assert.equal(limited.length, 3, JSON.stringify(answers.map((r) => r.status)))
      assert.ok(Number(limited[0].headers.get('retry-after')) > 0)
    })
  })
}
