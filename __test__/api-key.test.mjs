// apiKey() on every database: the server's calls (kavach.apiKeys.*), the HTTP routes the client
// calls, keys as sessions (x-api-key), and the limits that must hold under concurrency and across
// processes (remaining uses, the per-key rate limit, a key disabled or deleted elsewhere).
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'
import { serve } from './http-server.mjs'
import { createKavachClient } from '../npm/client/index.mjs'

// The instance clock moves only through __advanceClock (set before the addon loads).
process.env.KAVACH_TEST_CLOCK = '1'
const { createKavach } = await import('../index.mjs')
const { apiKey, apiKeys } = await import('../plugins.mjs')

const INDEX = fileURLToPath(new URL('../index.mjs', import.meta.url))
const sha256 = (s) => createHash('sha256').update(s).digest('hex')
const PASSWORD = 'correct horse battery'

// Runs `ops` ({ op, input }[]) through kavach.apiKeys in another Node process on the same database.
function inAnotherProcess(database, ops) {
  const script = `
    const { createKavach } = await import(${JSON.stringify(INDEX)})
    const { apiKey } = await import(${JSON.stringify(fileURLToPath(new URL('../plugins.mjs', import.meta.url)))})
    const k = await createKavach({ database: ${JSON.stringify(database)}, secret: ${JSON.stringify(SECRET)}, plugins: [apiKey({ enableSessionForAPIKeys: true })] })
    const out = []
    for (const { op, input } of ${JSON.stringify(ops)}) out.push(await k.apiKeys[op](input))
    await k.close()
    process.stdout.write(JSON.stringify(out))
  `
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, KAVACH_TEST_CLOCK: '' } })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout)
}

for (const backend of backends()) {
  describe(`apiKey() on ${backend}`, () => {
    let kavach
    let database
    let server
    let userId
    let other
    before(async () => {
      database = freshDatabase(backend, 'apikey')
      kavach = await createKavach({
        database,
        secret: SECRET,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        rateLimit: { enabled: false },
        plugins: [apiKey({ enableSessionForAPIKeys: true, enableMetadata: true, rateLimit: { enabled: true, timeWindow: 60_000, maxRequests: 1000 } })],
      })
      server = await serve(kavach)
      const a = await kavach.auth.signUp({ email: 'ada@example.com', password: PASSWORD, name: 'Ada' })
      assert.equal(a.success, true, JSON.stringify(a))
      userId = a.data.user.id
      const b = await kavach.auth.signUp({ email: 'bob@example.com', password: PASSWORD, name: 'Bob' })
      other = b.data.user.id
    })
    after(async () => {
      await server.close()
      await kavach.close()
    })

    it('apiKeys() is the same plugin as apiKey()', () => {
      assert.deepEqual(apiKeys({ a: 1 }), apiKey({ a: 1 }))
      assert.equal(apiKey().id, 'api-key')
    })

    it('creates a key shown once and stores only its SHA-256', async () => {
      const r = await kavach.apiKeys.create({ userId, name: 'ci', prefix: 'ci_', metadata: { env: 'prod' }, permissions: { files: ['read'] } })
      assert.equal(r.success, true, JSON.stringify(r))
      const k = r.data
      assert.match(k.key, /^ci_[A-Za-z]{64}$/)
      assert.equal(k.start, k.key.slice(0, 6))
      assert.equal(k.prefix, 'ci_')
      assert.equal(k.userId, userId)
      assert.equal(k.enabled, true)
      assert.deepEqual(k.metadata, { env: 'prod' })
      assert.deepEqual(k.permissions, { files: ['read'] })
      assert.ok(k.createdAt instanceof Date)
      const row = sql(database, `SELECT * FROM kavach_api_key WHERE id = '${k.id}'`)
      assert.ok(!row.includes(k.key), 'the key itself is not stored')
      assert.equal(sql(database, `SELECT key_hash FROM kavach_api_key WHERE id = '${k.id}'`), sha256(k.key))
      const got = await kavach.apiKeys.get({ keyId: k.id })
      assert.equal(got.success, true)
      assert.equal(got.data.key, undefined, 'never shown again')
      assert.equal(got.data.name, 'ci')
      const list = await kavach.apiKeys.list({ userId })
      assert.ok(list.data.some((x) => x.id === k.id))
      assert.ok(list.data.every((x) => x.key === undefined))
    })

    it('verifies, checks permissions, updates and deletes', async () => {
      const { data: k } = await kavach.apiKeys.create({ userId, permissions: { files: ['read', 'write'], users: ['read'] } })
      const v = await kavach.apiKeys.verify({ key: k.key })
      assert.equal(v.success, true)
      assert.equal(v.data.valid, true)
      assert.equal(v.data.key.id, k.id)
      assert.equal((await kavach.apiKeys.verify({ key: k.key, permissions: { files: ['read'] } })).data.valid, true)
      const denied = await kavach.apiKeys.verify({ key: k.key, permissions: { files: ['delete'] } })
      assert.equal(denied.data.valid, false)
      assert.equal(denied.data.error.code, 'KEY_NOT_FOUND')
      assert.equal((await kavach.apiKeys.verify({ key: k.key, permissions: { billing: ['read'] } })).data.valid, false)
      const bad = await kavach.apiKeys.verify({ key: k.key + 'x' })
      assert.deepEqual([bad.data.valid, bad.data.error.code], [false, 'INVALID_API_KEY'])

      const u = await kavach.apiKeys.update({ keyId: k.id, name: 'renamed', enabled: false })
      assert.equal(u.success, true, JSON.stringify(u))
      assert.deepEqual([u.data.name, u.data.enabled], ['renamed', false])
      assert.equal((await kavach.apiKeys.verify({ key: k.key })).data.error.code, 'KEY_DISABLED')
      assert.equal((await kavach.apiKeys.update({ keyId: k.id })).error.code, 'NO_VALUES_TO_UPDATE')
      assert.equal((await kavach.apiKeys.delete({ keyId: k.id })).success, true)
      assert.equal((await kavach.apiKeys.get({ keyId: k.id })).error.code, 'KEY_NOT_FOUND')
      assert.equal((await kavach.apiKeys.verify({ key: k.key })).data.error.code, 'INVALID_API_KEY')
      assert.equal((await kavach.apiKeys.create({ userId, name: 'x'.repeat(33) })).error.code, 'INVALID_NAME_LENGTH')
      assert.equal((await kavach.apiKeys.create({ userId, name: 'a\u0000b' })).error.code, 'VALIDATION_FAILED')
      assert.equal((await kavach.apiKeys.create({ userId, refillAmount: 5 })).error.code, 'REFILL_AMOUNT_AND_INTERVAL_REQUIRED')
      // Numbers beyond 32 bits (30 days in ms) cross from JS as floats.
      const big = await kavach.apiKeys.create({ userId, remaining: 1e10, refillAmount: 1e10, refillInterval: 30 * 86_400_000, rateLimitTimeWindow: 30 * 86_400_000 })
      assert.equal(big.success, true, JSON.stringify(big))
      assert.deepEqual([big.data.remaining, big.data.refillInterval, big.data.rateLimitTimeWindow], [1e10, 30 * 86_400_000, 30 * 86_400_000])
      assert.equal((await kavach.apiKeys.create({ userId, remaining: 1.5 })).error.code, 'VALIDATION_FAILED')
    })

    it('a key acts as its user in getSession and GET /auth/session', async () => {
      const { data: k } = await kavach.apiKeys.create({ userId, rateLimitEnabled: false })
      const s = await kavach.auth.getSession({ headers: { 'x-api-key': k.key } })
      assert.equal(s.success, true, JSON.stringify(s))
      assert.equal(s.data.user.id, userId)
      assert.equal(s.data.session.id, k.id)
      const viaRequest = await kavach.auth.getSession(new Request('http://x/', { headers: { 'X-API-Key': k.key } }))
      assert.equal(viaRequest.data.user.id, userId)
      assert.equal((await kavach.auth.getSession({ headers: { 'x-api-key': 'nope' } })).data, null)
      const browser = server.client()
      const res = await browser.get('/auth/session', { 'x-api-key': k.key })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.user.id, userId)
      assert.equal((await browser.get('/auth/session', { 'x-api-key': k.key + 'x' })).status, 401)
      // The signed-in routes accept it too: the key's user lists their keys.
      const list = await browser.get('/auth/api-key/list', { 'x-api-key': k.key })
      assert.equal(list.status, 200)
      assert.ok(list.body.some((x) => x.id === k.id))
    })

    it('the HTTP routes act on the signed-in user\'s own keys with better-auth\'s bodies', async () => {
      const browser = server.client()
      const up = await browser.post('/auth/sign-in', { email: 'ada@example.com', password: PASSWORD })
      assert.equal(up.status, 200)
      assert.equal((await server.client().post('/auth/api-key/create', { name: 'web' })).status, 401, 'needs a session')
      const created = await browser.post('/auth/api-key/create', { name: 'web', expiresIn: 7 * 86400 })
      assert.equal(created.status, 200, JSON.stringify(created.body))
      const k = created.body
      assert.match(k.key, /^[A-Za-z]{64}$/)
      assert.equal(typeof k.expiresAt, 'string')
      assert.equal(sql(database, `SELECT key_hash FROM kavach_api_key WHERE id = '${k.id}'`), sha256(k.key))
      const serverOnly = await browser.post('/auth/api-key/create', { name: 'x', remaining: 5 })
      assert.deepEqual([serverOnly.status, serverOnly.body.error.code], [400, 'SERVER_ONLY_PROPERTY'])
      assert.equal((await browser.post('/auth/api-key/create', { userId: other })).status, 401)
      const got = await browser.get(`/auth/api-key/get?id=${k.id}`)
      assert.equal(got.status, 200)
      assert.equal(got.body.key, undefined)
      assert.equal(got.body.name, 'web')
      const list = await browser.get('/auth/api-key/list')
      assert.equal(list.status, 200)
      assert.ok(Array.isArray(list.body) && list.body.length > 0)
      assert.ok(list.body.every((x) => x.userId === userId && x.key === undefined))
      const upd = await browser.post('/auth/api-key/update', { keyId: k.id, name: 'web2' })
      assert.deepEqual([upd.status, upd.body.name], [200, 'web2'])
      assert.equal((await browser.post('/auth/api-key/update', { keyId: k.id, remaining: 3 })).body.error.code, 'SERVER_ONLY_PROPERTY')
      // Another user's key does not exist for this user.
      const { data: bobs } = await kavach.apiKeys.create({ userId: other })
      assert.equal((await browser.get(`/auth/api-key/get?id=${bobs.id}`)).status, 404)
      assert.equal((await browser.post('/auth/api-key/update', { keyId: bobs.id, name: 'mine' })).status, 404)
      assert.equal((await browser.post('/auth/api-key/delete', { keyId: bobs.id })).status, 404)
      assert.equal((await kavach.apiKeys.get({ keyId: bobs.id })).success, true)
      // verify: a server holding a key, no cookie.
      const v = await server.client().post('/auth/api-key/verify', { key: k.key })
      assert.deepEqual([v.status, v.body.valid, v.body.key.id], [200, true, k.id])
      const del = await browser.post('/auth/api-key/delete', { keyId: k.id })
      assert.deepEqual([del.status, del.body], [200, { success: true }])
      const gone = await server.client().post('/auth/api-key/verify', { key: k.key })
      assert.deepEqual([gone.body.valid, gone.body.error.code], [false, 'INVALID_API_KEY'])
    })

    it('kavachos/client apiKey.* works against these routes', async () => {
      const client = createKavachClient({ baseUrl: server.url, basePath: server.mount })
      const up = await client.auth.signUp({ email: 'cleo@example.com', password: PASSWORD, name: 'Cleo' })
      assert.equal(up.success, true, JSON.stringify(up))
      const created = await client.apiKey.create({ name: 'cli' })
      assert.equal(created.success, true, JSON.stringify(created))
      assert.match(created.data.key, /^[A-Za-z]{64}$/)
      const list = await client.apiKey.list()
      assert.deepEqual(list.data.map((k) => k.id), [created.data.id])
      const got = await client.apiKey.get(created.data.id)
      assert.equal(got.data.name, 'cli')
      assert.equal((await client.apiKey.get('nope')).data, null)
      const upd = await client.apiKey.update({ keyId: created.data.id, enabled: false })
      assert.equal(upd.data.enabled, false)
      assert.equal((await client.apiKey.delete({ keyId: created.data.id })).data.success, true)
      assert.deepEqual((await client.apiKey.list()).data, [])
    })

    it('expires on the instance clock', async () => {
      const { data: k } = await kavach.apiKeys.create({ userId, expiresIn: 86400, rateLimitEnabled: false })
      assert.equal((await kavach.apiKeys.verify({ key: k.key })).data.valid, true)
      assert.equal((await kavach.auth.getSession({ headers: { 'x-api-key': k.key } })).data.user.id, userId)
      await kavach.__advanceClock(86400 * 1000 + 1)
      const v = await kavach.apiKeys.verify({ key: k.key })
      assert.deepEqual([v.data.valid, v.data.error.code], [false, 'KEY_EXPIRED'])
      assert.equal((await kavach.auth.getSession({ headers: { 'x-api-key': k.key } })).data, null)
      assert.equal((await kavach.apiKeys.create({ userId, expiresIn: 60 })).error.code, 'EXPIRES_IN_IS_TOO_SMALL')
    })

    it('remaining uses: exactly N of 10 concurrent verifies succeed, then refill', async () => {
      const { data: k } = await kavach.apiKeys.create({ userId, remaining: 4, rateLimitEnabled: false })
      const results = await Promise.all(Array.from({ length: 10 }, () => kavach.apiKeys.verify({ key: k.key })))
      assert.equal(results.filter((r) => r.data.valid).length, 4)
      assert.ok(results.filter((r) => !r.data.valid).every((r) => r.data.error.code === 'USAGE_EXCEEDED'))
      assert.equal(sql(database, `SELECT remaining FROM kavach_api_key WHERE id = '${k.id}'`), '0')
      // The session path spends uses the same way.
      const s = await kavach.auth.getSession({ headers: { 'x-api-key': k.key } })
      assert.deepEqual([s.success, s.error && s.error.code], [false, 'USAGE_EXCEEDED'])

      const { data: r } = await kavach.apiKeys.create({ userId, remaining: 1, refillAmount: 2, refillInterval: 1000, rateLimitEnabled: false })
      assert.equal((await kavach.apiKeys.verify({ key: r.key })).data.key.remaining, 0)
      assert.equal((await kavach.apiKeys.verify({ key: r.key })).data.error.code, 'USAGE_EXCEEDED')
      await kavach.__advanceClock(1001)
      const refilled = await Promise.all(Array.from({ length: 5 }, () => kavach.apiKeys.verify({ key: r.key })))
      assert.equal(refilled.filter((x) => x.data.valid).length, 2, 'one refill of 2 under concurrency')
    })

    it('per-key rate limit: exactly max per window, 429 over HTTP with Retry-After', async () => {
      const { data: k } = await kavach.apiKeys.create({ userId, rateLimitEnabled: true, rateLimitMax: 3, rateLimitTimeWindow: 60_000 })
      const results = await Promise.all(Array.from({ length: 10 }, () => kavach.apiKeys.verify({ key: k.key })))
      assert.equal(results.filter((r) => r.data.valid).length, 3)
      const limited = results.find((r) => !r.data.valid).data.error
      assert.equal(limited.code, 'RATE_LIMITED')
      assert.ok(limited.details.tryAgainIn > 0 && limited.details.tryAgainIn <= 61_000)
      const res = await server.client().get('/auth/session', { 'x-api-key': k.key })
      assert.equal(res.status, 429)
      assert.ok(Number(res.headers.get('retry-after')) > 0)
      await kavach.__advanceClock(60_001)
      assert.equal((await kavach.apiKeys.verify({ key: k.key })).data.valid, true)
      assert.equal((await kavach.auth.getSession({ headers: { 'x-api-key': k.key } })).data.user.id, userId)
    })

    it('a banned user\'s keys are refused', async () => {
      const { data: k } = await kavach.apiKeys.create({ userId: other, rateLimitEnabled: false })
      assert.equal((await kavach.auth.getSession({ headers: { 'x-api-key': k.key } })).data.user.id, other)
      sql(database, `UPDATE kavach_user SET banned = TRUE WHERE id = '${other}'`)
      assert.equal((await kavach.auth.getSession({ headers: { 'x-api-key': k.key } })).data, null)
      assert.equal((await kavach.apiKeys.verify({ key: k.key })).data.error.code, 'USER_BANNED')
      sql(database, `UPDATE kavach_user SET banned = FALSE WHERE id = '${other}'`)
      assert.equal((await kavach.apiKeys.verify({ key: k.key })).data.valid, true)
    })

    it('a key disabled or deleted in another process is refused here at once', async () => {
      const { data: k } = await kavach.apiKeys.create({ userId, rateLimitEnabled: false })
      const { data: d } = await kavach.apiKeys.create({ userId, rateLimitEnabled: false })
      for (const key of [k.key, d.key]) {
        assert.equal((await kavach.auth.getSession({ headers: { 'x-api-key': key } })).data.user.id, userId)
        assert.equal((await kavach.apiKeys.verify({ key })).data.valid, true)
      }
      const out = inAnotherProcess(database, [
        { op: 'verify', input: { key: k.key } },
        { op: 'update', input: { keyId: k.id, enabled: false } },
        { op: 'delete', input: { keyId: d.id } },
      ])
      assert.equal(out[0].data.valid, true, JSON.stringify(out))
      assert.equal(out[1].data.enabled, false)
      assert.equal(out[2].success, true)
      assert.equal((await kavach.auth.getSession({ headers: { 'x-api-key': k.key } })).data, null)
      assert.equal((await kavach.apiKeys.verify({ key: k.key })).data.error.code, 'KEY_DISABLED')
      assert.equal((await kavach.auth.getSession({ headers: { 'x-api-key': d.key } })).data, null)
      assert.equal((await kavach.apiKeys.verify({ key: d.key })).data.error.code, 'INVALID_API_KEY')
      assert.equal((await server.client().get('/auth/session', { 'x-api-key': k.key })).status, 401)
    })
  })
}
