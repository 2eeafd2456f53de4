// Property test over the public surface: whatever a caller passes to kavach.auth.*, kavach.agent.*,
// authorize/authorizeByToken, organizations.* or the HTTP handler (random bodies, paths, queries and
// headers), the answer is a Result or a KavachError with a code, never a crash (a TypeError, an
// INTERNAL_ERROR), never a 5xx and never DATABASE_ERROR. Runs are bounded (KAVACH_PROPERTY_RUNS,
// default 150 per property) so each database takes well under a minute; a failure prints the seed
// and the shrunk input that fast-check found.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { createKavach, KavachError } from '../index.mjs'
import { organization } from '../plugins.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

const BASE = 'http://localhost:3000'
const RUNS = Number(process.env.KAVACH_PROPERTY_RUNS || 150)
const FORBIDDEN_CODES = new Set(['DATABASE_ERROR', 'INTERNAL_ERROR'])
// As a URL carries a path segment: a lone surrogate becomes U+FFFD there (the URL parser's rule).
const enc = (s) => encodeURIComponent(s.toWellFormed())

// Units strings are built from: the troublemakers (controls, surrogates, separators of our own
// formats) among plain letters.
const UNITS = ['\u0000', '\u0001', '\u001f', '\u007f', '\u0085', '\u009f', '\ud800', '\udfff', '\ud83d\ude00', '\t', '\n', '\r', ' ', '@', '.', ':', '*', '/', '%', '"', '\\', "'", ';', '=', 'a', 'b', 'Z', '0', 'é', '日', '\ufffd', '\u200b']
const FIELDS = ['email', 'password', 'name', 'image', 'ownerId', 'type', 'permissions', 'metadata', 'expiresAt', 'agentId', 'action', 'resource', 'arguments', 'ip', 'token', 'status', 'limit', 'offset', 'userId', 'organizationId', 'role', 'slug', 'id', 'patch', 'headers', 'request', 'callbackURL', 'redirectTo', 'newPassword', 'currentPassword']

function arbitraries(known) {
  const str = fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: fc.constantFrom(...UNITS), maxLength: 24 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
    { weight: 2, arbitrary: fc.emailAddress() },
    { weight: 2, arbitrary: fc.constantFrom(...known(), '', 'read', 'doc:1', '*', 'owner@example.com', '%ED%A0%80', '%00', 'x'.repeat(5000)) },
  )
  const scalar = fc.oneof(str, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.date({ noInvalidDate: false }))
  const value = fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('arr'), tie('obj')),
    arr: fc.array(tie('v'), { maxLength: 4 }),
    obj: fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), str), tie('v'), { maxKeys: 5 }),
  })).v
  // Inputs shaped like the calls' own, with any of their fields wrong, missing or spoiled.
  const shaped = fc.oneof(
    { weight: 4, arbitrary: fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 8 }) },
    { weight: 1, arbitrary: value },
  )
  return { str, value, shaped }
}

// The outcome of one call: a Result (failures with a code), or a KavachError with a code.
async function settle(what, run) {
  let out
  try {
    out = run()
  } catch (e) {
    assert.fail(`${what} threw synchronously: ${e && e.stack}`)
  }
  assert.ok(out && typeof out.then === 'function', `${what} did not answer a promise`)
  try {
    const r = await out
    if (r && typeof r === 'object' && r.success === false) {
      assert.equal(typeof r.error?.code, 'string', `${what}: a failed Result without a code`)
      assert.ok(!FORBIDDEN_CODES.has(r.error.code), `${what} answered ${r.error.code}: ${r.error.message}`)
    }
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e
    assert.ok(e instanceof KavachError, `${what} rejected with a ${e && e.constructor && e.constructor.name}: ${e && e.stack}`)
    assert.equal(typeof e.code, 'string', `${what}: a KavachError without a code`)
    assert.ok(!FORBIDDEN_CODES.has(e.code), `${what} rejected with ${e.code}: ${e.message}`)
  }
}

for (const backend of backends()) {
  describe(`property: no input breaks the API on ${backend}`, () => {
    let kavach
    let cookie
    let userId
    let agent
    let orgId
    before(async () => {
      kavach = await createKavach({
        database: freshDatabase(backend, 'prop'),
        secret: SECRET,
        baseUrl: BASE,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 1000, sendResetPassword: async () => {} },
        rateLimit: { enabled: false },
        plugins: [organization()],
      })
      const r = await kavach.auth.signUp({ email: 'owner@example.com', password: 'long enough pw' })
      cookie = `kavach_session=${r.data.token}`
      userId = r.data.user.id
      agent = await kavach.agent.create({ ownerId: userId, name: 'bot', type: 'autonomous', permissions: [{ resource: 'doc:*', actions: ['read'] }] })
      orgId = (await kavach.organizations.create({ name: 'Acme', ownerId: userId })).data.id
    })
    after(() => kavach.close())

    const known = () => [userId, agent.id, agent.token, orgId, cookie]

    it('every JS call answers a Result or a typed KavachError', async () => {
      const { shaped, value } = arbitraries(known)
      const k = () => kavach
      const calls = {
        'auth.signUp': (a, b) => k().auth.signUp(a, b),
        'auth.signIn': (a, b) => k().auth.signIn(a, b),
        'auth.signOut': (a) => k().auth.signOut(a),
        'auth.getSession': (a) => k().auth.getSession(a),
        'auth.getUser': (a) => k().auth.getUser(a),
        'agent.create': (a) => k().agent.create(a),
        'agent.get': (a) => k().agent.get(a),
        'agent.list': (a) => k().agent.list(a),
        'agent.update': (a, b) => k().agent.update(a, b),
        'agent.rotate': (a) => k().agent.rotate(a),
        'agent.revoke': (a) => k().agent.revoke(a),
        authorize: (a, b) => k().authorize(a, b),
        authorizeByToken: (a, b) => k().authorizeByToken(a, b),
        'organizations.create': (a) => k().organizations.create(a),
        'organizations.get': (a) => k().organizations.get(a),
        'organizations.update': (a, b) => k().organizations.update(a, b),
        'organizations.delete': (a) => k().organizations.delete(a),
        'organizations.addMember': (a) => k().organizations.addMember(a),
        'organizations.removeMember': (a) => k().organizations.removeMember(a),
        'organizations.updateMemberRole': (a) => k().organizations.updateMemberRole(a),
        'organizations.listMembers': (a) => k().organizations.listMembers(a),
        'organizations.list': (a) => k().organizations.list(a),
        'organizations.invite': (a) => k().organizations.invite(a),
        'organizations.setActive': (a) => k().organizations.setActive(a),
      }
      const names = Object.keys(calls)
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...names), fc.oneof(shaped, value), fc.oneof(shaped, value), async (name, a, b) => {
          await settle(name, () => calls[name](a, b))
        }),
        { numRuns: RUNS * 3, includeErrorInReport: true },
      )
    })

    it('the handler answers every request below 500 and never DATABASE_ERROR', async () => {
      const { str, shaped } = arbitraries(known)
      const ROUTES = [
        '/auth/sign-up', '/auth/sign-in', '/auth/sign-out', '/auth/session', '/auth/update-user', '/auth/forgot-password',
        '/auth/reset-password', '/auth/change-password', '/auth/verify-email', '/agents', '/agents/:agent', '/agents/:agent/rotate',
        '/authorize', '/authorize/token', '/audit', '/audit/export', '/approvals', '/organizations', '/organizations/:org',
        '/organizations/:org/members', '/organizations/:org/members/:user', '/organizations/:org/invitations', '/invitations',
        '/organizations/active', '/nope',
      ]
      const segment = fc.oneof(str, fc.constantFrom(...known()))
      const path = fc.oneof(
        { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...ROUTES), segment, fc.boolean()).map(([r, s, real]) => r.replace(':agent', real ? agent.id : enc(s)).replace(':org', orgId).replace(':user', enc(s))) },
        { weight: 1, arbitrary: fc.array(segment, { maxLength: 4 }).map((segs) => '/' + segs.map(enc).join('/')) },
      )
      // What the Fetch API lets a header carry (bytes 0-255 but NUL, CR, LF); our job is the rest.
      const headerValue = str.map((s) => [...s].filter((c) => c.charCodeAt(0) <= 0xff && !'\0\r\n'.includes(c)).join('').trim())
      const headers = fc.record(
        {
          cookie: fc.oneof(fc.constant(cookie), headerValue.map((v) => `kavach_session=${v}`), headerValue),
          authorization: fc.oneof(fc.constant(`Bearer ${agent.token}`), headerValue.map((v) => `Bearer ${v}`), headerValue),
          origin: fc.oneof(fc.constant(BASE), headerValue),
          'content-type': fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded'),
          'x-forwarded-for': headerValue,
          'user-agent': headerValue,
        },
        { requiredKeys: [] },
      )
      const body = fc.oneof(
        { weight: 4, arbitrary: shaped.map((v) => JSON.stringify(v) ?? 'null') },
        { weight: 1, arbitrary: fc.constantFrom('{"email":"a\\u0000@x.io","password":"long enough pw"}', '{"name":"\\ud800"}', '{"\\udc00":1}', '{', '[]', 'null', '"\\u0000"') },
        { weight: 1, arbitrary: str },
      )
      const query = fc.dictionary(fc.oneof(fc.constantFrom('status', 'agentId', 'limit', 'offset', 'since', 'until', 'actions', 'result', 'format', 'token', 'callbackURL', 'userId'), str), str, { maxKeys: 3 })
      const method = fc.constantFrom('GET', 'POST', 'PATCH', 'PUT', 'DELETE', 'OPTIONS', 'HEAD')
      await fc.assert(
        fc.asyncProperty(method, path, query, headers, body, async (m, p, q, h, b) => {
          const url = new URL(`${BASE}/api/kavach${p}`)
          for (const [k, v] of Object.entries(q)) url.searchParams.append(k, v)
          const init = { method: m, headers: new Headers(h) }
          if (m !== 'GET' && m !== 'HEAD') init.body = b
          const res = await kavach.handler(new Request(url, init))
          const text = await res.text()
          assert.ok(res.status < 500, `${m} ${url.pathname}${url.search}: ${res.status} ${text}`)
          if (res.status >= 400 && text.startsWith('{')) {
            const code = JSON.parse(text).error?.code
            assert.ok(!FORBIDDEN_CODES.has(code), `${m} ${url.pathname}: ${code}`)
          }
        }),
        { numRuns: RUNS * 3, includeErrorInReport: true },
      )
    })
  })
}
