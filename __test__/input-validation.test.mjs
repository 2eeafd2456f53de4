// Input at the boundary (API.md, "Settled details"): a NUL or another C0/C1 control character, a
// lone surrogate, or an email that is not an address is 400 VALIDATION_FAILED on every route and
// VALIDATION_FAILED on every call, on every database: PostgreSQL text refuses NUL, and that must
// never surface as a 500 DATABASE_ERROR; SQLite and MariaDB would store it.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach, KavachError } from '../index.mjs'
import { organization } from '../plugins.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

const BASE = 'http://localhost:3000'

// Each sits inside an otherwise fine value. JSON.stringify writes the C0 ones and the lone
// surrogates as \u escapes and the C1 ones as raw UTF-8, so both spellings reach the parser.
const CONTROLS = { NUL: '\u0000', SOH: '\u0001', US: '\u001f', DEL: '\u007f', NEL: '\u0085', CSI: '\u009b', APC: '\u009f' }
const SURROGATES = { 'lone high': '\ud800', 'lone low': '\udfff', 'reversed pair': '\ude00\ud83d' }
const BAD = { ...CONTROLS, ...SURROGATES }
const NOT_ADDRESSES = ['plain', 'a@b@example.com', 'a b@example.com', 'ada@', '@example.com', '"q"@example.com', 'a..b@example.com', 'a@exa_mple.com', 'a@example.com.', 'a@[127.0.0.1]']

const inside = (s, bad) => s.slice(0, 2) + bad + s.slice(2)

for (const backend of backends()) {
  describe(`input validation on ${backend}`, () => {
    let kavach
    let cookie
    let userId
    let agent
    before(async () => {
      kavach = await createKavach({
        database: freshDatabase(backend, 'valid'),
        secret: SECRET,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000, sendResetPassword: async () => {} },
        baseUrl: BASE,
        plugins: [organization()],
      })
      const r = await kavach.auth.signUp({ email: 'owner@example.com', password: 'long enough pw', name: 'Owner' })
      assert.equal(r.success, true, JSON.stringify(r.error))
      cookie = `kavach_session=${r.data.token}`
      userId = r.data.user.id
      agent = await kavach.agent.create({ ownerId: userId, name: 'bot', type: 'autonomous', permissions: [{ resource: 'doc:*', actions: ['read'] }] })
    })
    after(() => kavach.close())

    const send = (method, path, body, withCookie = true) => {
      const headers = new Headers({ origin: BASE })
      if (withCookie) headers.set('cookie', cookie)
      if (body !== undefined) headers.set('content-type', 'application/json')
      return kavach.handler(new Request(`${BASE}/api/kavach${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) }))
    }
    const refused = async (res, what) => {
      const text = await res.text()
      assert.equal(res.status, 400, `${what}: ${res.status} ${text}`)
      assert.equal(JSON.parse(text).error.code, 'VALIDATION_FAILED', `${what}: ${text}`)
    }

    // Each route with a body builder: `good` is the fine value of the field the builder places.
    const routes = () => [
      ['POST', '/auth/sign-up', 'new@example.com', (v) => ({ email: v, password: 'long enough pw', name: 'New' }), false],
      ['POST', '/auth/sign-up', 'New', (v) => ({ email: 'new2@example.com', password: 'long enough pw', name: v }), false],
      ['POST', '/auth/sign-in', 'owner@example.com', (v) => ({ email: v, password: 'long enough pw' }), false],
      ['POST', '/auth/forgot-password', 'owner@example.com', (v) => ({ email: v }), false],
      ['POST', '/auth/update-user', 'Owner', (v) => ({ name: v }), true],
      ['POST', '/agents', 'helper', (v) => ({ name: v, type: 'service', permissions: [{ resource: 'x:*', actions: ['read'] }] }), true],
      ['POST', '/agents', 'x:*', (v) => ({ name: 'a', type: 'service', permissions: [{ resource: v, actions: ['read'] }] }), true],
      ['POST', '/agents', 'read', (v) => ({ name: 'a', type: 'service', permissions: [{ resource: 'x:*', actions: [v] }] }), true],
      ['PATCH', `/agents/${agent.id}`, 'bot', (v) => ({ name: v }), true],
      ['POST', '/authorize', 'read', (v) => ({ agentId: agent.id, action: v, resource: 'doc:1' }), true],
      ['POST', '/authorize', 'doc:1', (v) => ({ agentId: agent.id, action: 'read', resource: v }), true],
      ['POST', '/authorize', agent.id, (v) => ({ agentId: v, action: 'read', resource: 'doc:1' }), true],
      ['POST', '/authorize/token', 'read', (v) => ({ token: agent.token, action: v, resource: 'doc:1' }), false],
      ['POST', '/organizations', 'Acme', (v) => ({ name: v }), true],
    ]

    it('a control character or a lone surrogate in any field is 400 VALIDATION_FAILED', async () => {
      for (const [method, path, good, body, withCookie] of routes()) {
        for (const [name, bad] of Object.entries(BAD)) {
          const spoiled = inside(good, bad)
          await refused(await send(method, path, JSON.stringify(body(spoiled)), withCookie), `${method} ${path} ${JSON.stringify(spoiled)} (${name})`)
        }
      }
      // Nothing was written by any of them.
      assert.equal((await kavach.agent.list({ ownerId: userId })).length, 1)
      assert.equal((await kavach.agent.get(agent.id)).name, 'bot')
    })

    it('a lone surrogate escape anywhere in a body, even an unknown field, is VALIDATION_FAILED, not INVALID_JSON', async () => {
      await refused(await send('POST', '/auth/sign-in', '{"email":"owner@example.com","password":"x\\ud800y"}', false), 'password')
      await refused(await send('POST', '/agents', '{"name":"a","type":"service","permissions":[],"metadata":{"k":"\\udc00"}}'), 'metadata')
      await refused(await send('POST', '/auth/sign-up', '{"\\ud800":1}', false), 'a key')
      const broken = await send('POST', '/auth/sign-in', '{"email":', false)
      assert.equal(broken.status, 400)
      assert.equal((await broken.json()).error.code, 'INVALID_JSON')
    })

    it('an email that is not an address is 400 VALIDATION_FAILED wherever an email is taken', async () => {
      const org = await (await send('POST', '/organizations', { name: 'Mail' })).json()
      for (const email of NOT_ADDRESSES) {
        await refused(await send('POST', '/auth/sign-up', { email, password: 'long enough pw' }, false), `sign-up ${email}`)
        await refused(await send('POST', '/auth/sign-in', { email, password: 'long enough pw' }, false), `sign-in ${email}`)
        await refused(await send('POST', '/auth/forgot-password', { email }, false), `forgot-password ${email}`)
        await refused(await send('POST', `/organizations/${org.id}/invitations`, { email, role: 'member' }), `invite ${email}`)
      }
    })

    it('tab and newline pass in free text; query parameters and the path are checked too', async () => {
      const ok = await send('POST', '/agents', { name: 'notes', type: 'service', permissions: [], metadata: { note: 'line one\nline two\tend' } })
      assert.equal(ok.status, 200, await ok.clone().text())
      assert.equal((await ok.json()).metadata.note, 'line one\nline two\tend')
      // A name is not free text.
      await refused(await send('PATCH', `/agents/${agent.id}`, { name: 'two\nlines' }), 'newline in a name')
      await refused(await send('GET', '/agents?status=%00'), 'NUL in a query value')
      await refused(await send('GET', '/audit?agentId=%C2%85'), 'C1 in a query value')
      await refused(await send('GET', '/audit?agentId=%ED%A0%80'), 'an encoded surrogate in a query value')
      const plain = await send('GET', '/agents?status=active')
      assert.equal(plain.status, 200)
    })

    it('JS calls refuse the same input with KavachError VALIDATION_FAILED', async () => {
      const rejects = async (p, what) => {
        await assert.rejects(p, (e) => e instanceof KavachError && e.code === 'VALIDATION_FAILED', what)
      }
      const fails = async (p, what) => {
        const r = await p
        assert.equal(r.success, false, `${what}: ${JSON.stringify(r)}`)
        assert.equal(r.error.code, 'VALIDATION_FAILED', `${what}: ${JSON.stringify(r.error)}`)
      }
      for (const [name, bad] of Object.entries(BAD)) {
        const what = `with ${name}`
        await fails(kavach.auth.signUp({ email: inside('zz@example.com', bad), password: 'long enough pw' }), `signUp email ${what}`)
        await fails(kavach.auth.signUp({ email: `n${name.length}@example.com`, password: 'long enough pw', name: inside('Name', bad) }), `signUp name ${what}`)
        await fails(kavach.auth.signIn({ email: inside('owner@example.com', bad), password: 'long enough pw' }), `signIn ${what}`)
        await rejects(kavach.agent.create({ ownerId: userId, name: inside('bot', bad), type: 'service', permissions: [] }), `agent.create name ${what}`)
        await rejects(kavach.agent.create({ ownerId: inside(userId, bad), name: 'bot', type: 'service', permissions: [] }), `agent.create ownerId ${what}`)
        await rejects(kavach.agent.update(agent.id, { name: inside('bot', bad) }), `agent.update ${what}`)
        await rejects(kavach.agent.get(inside(agent.id, bad)), `agent.get ${what}`)
        await rejects(kavach.agent.revoke(inside(agent.id, bad)), `agent.revoke ${what}`)
        await rejects(kavach.authorize(agent.id, { action: inside('read', bad), resource: 'doc:1' }), `authorize action ${what}`)
        await rejects(kavach.authorize(agent.id, { action: 'read', resource: inside('doc:1', bad) }), `authorize resource ${what}`)
        await rejects(kavach.authorize(inside(agent.id, bad), { action: 'read', resource: 'doc:1' }), `authorize agentId ${what}`)
        await rejects(kavach.authorizeByToken(agent.token, { action: inside('read', bad), resource: 'doc:1' }), `authorizeByToken ${what}`)
        await rejects(kavach.authorizeByToken(inside(agent.token, bad), { action: 'read', resource: 'doc:1' }), `authorizeByToken token ${what}`)
        await fails(kavach.organizations.create({ name: inside('Org', bad), ownerId: userId }), `organizations.create ${what}`)
        await fails(kavach.organizations.list({ userId: inside(userId, bad) }), `organizations.list ${what}`)
      }
      for (const email of NOT_ADDRESSES) {
        await fails(kavach.auth.signUp({ email, password: 'long enough pw' }), `signUp ${email}`)
        await fails(kavach.auth.signIn({ email, password: 'long enough pw' }), `signIn ${email}`)
      }
      // The agent is unchanged and still decides.
      const still = await kavach.authorize(agent.id, { action: 'read', resource: 'doc:1' })
      assert.equal(still.allowed, true)
      assert.equal((await kavach.agent.get(agent.id)).name, 'bot')
    })
  })
}
