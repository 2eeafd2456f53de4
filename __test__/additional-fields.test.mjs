// user.additionalFields over real HTTP (__test__/http-server.mjs) and in-process, on every database:
// definitions checked at boot, values stored in kavach_user.additional_fields, validated on sign-up
// and update-user (type, required, input: false), defaults filled, returned on sign-up, sign-in,
// GET /auth/session and getSession, `returned: false` stored but never answered.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach } from '../index.mjs'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'
import { serve } from './http-server.mjs'

const PASSWORD = 'long enough pw'
const FIELDS = {
  plan: { type: 'string', required: true },
  seats: { type: 'number', defaultValue: 1 },
  trialEnds: { type: 'date' },
  tags: { type: 'string[]' },
  scores: { type: 'number[]' },
  beta: { type: 'boolean', defaultValue: false },
  credits: { type: 'number', input: false, defaultValue: 5 },
  internalNote: { type: 'string', returned: false, defaultValue: 'kept' },
}

const stored = (db, email) => JSON.parse(sql(db, `SELECT additional_fields FROM kavach_user WHERE email = '${email}'`))

describe('user.additionalFields definitions', () => {
  for (const [what, additionalFields] of [
    ['an unknown type', { plan: { type: 'text' } }],
    ['a missing type', { plan: {} }],
    ['a core field name', { email: { type: 'string' } }],
    ['a default of the wrong type', { seats: { type: 'number', defaultValue: 'many' } }],
    ['an unsupported attribute', { plan: { type: 'string', unique: true } }],
    ['required, input: false and no default', { plan: { type: 'string', required: true, input: false } }],
    ['a function default', { plan: { type: 'string', defaultValue: () => 'x' } }],
  ]) {
    it(`refuses ${what} at boot with CONFIG_INVALID`, async () => {
      await assert.rejects(
        createKavach({ database: { provider: 'sqlite', url: ':memory:' }, secret: SECRET, user: { additionalFields } }),
        (e) => e.code === 'CONFIG_INVALID',
      )
    })
  }
})

for (const backend of backends()) {
  describe(`user.additionalFields on ${backend}`, () => {
    let kavach
    let http
    let db

    before(async () => {
      db = freshDatabase(backend, 'fields')
      kavach = await createKavach({
        database: db,
        secret: SECRET,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        rateLimit: { enabled: false },
        user: { additionalFields: FIELDS },
      })
      http = await serve(kavach)
    })
    after(async () => {
      await http?.close()
      await kavach?.close()
    })

    it('stores, defaults and returns the fields on sign-up', async () => {
      const browser = http.client()
      const r = await browser.post('/auth/sign-up', {
        email: 'ada@example.com',
        password: PASSWORD,
        name: 'Ada',
        plan: 'pro',
        trialEnds: '2026-03-01T12:00:00Z',
        tags: ['a', 'b'],
        scores: [1, 2.5],
      })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      const u = r.body.user
      assert.equal(u.plan, 'pro')
      assert.equal(u.seats, 1)
      assert.equal(u.beta, false)
      assert.equal(u.credits, 5)
      assert.equal(u.trialEnds, '2026-03-01T12:00:00.000Z')
      assert.deepEqual(u.tags, ['a', 'b'])
      assert.deepEqual(u.scores, [1, 2.5])
      assert.equal('internalNote' in u, false, 'returned: false is not answered')
      const row = stored(db, 'ada@example.com')
      assert.equal(row.plan, 'pro')
      assert.equal(row.internalNote, 'kept', 'returned: false is stored')
      assert.equal(row.credits, 5)

      const s = await browser.get('/auth/session')
      assert.equal(s.status, 200)
      assert.equal(s.body.user.plan, 'pro')
      assert.equal(s.body.user.trialEnds, '2026-03-01T12:00:00.000Z')
      assert.equal('internalNote' in s.body.user, false)

      const other = http.client()
      const signIn = await other.post('/auth/sign-in', { email: 'ada@example.com', password: PASSWORD })
      assert.equal(signIn.status, 200)
      assert.equal(signIn.body.user.plan, 'pro')
      assert.equal(signIn.body.user.credits, 5)
      assert.equal('internalNote' in signIn.body.user, false)

      const got = await kavach.auth.getSession({ headers: { cookie: other.cookieHeader() } })
      assert.equal(got.success, true)
      assert.equal(got.data.user.plan, 'pro')
      assert.ok(got.data.user.trialEnds instanceof Date, 'a date field is a Date in JS')
      assert.equal(got.data.user.trialEnds.toISOString(), '2026-03-01T12:00:00.000Z')
      assert.equal('internalNote' in got.data.user, false)
    })

    it('refuses a wrong type, a missing required field and an input: false field on sign-up', async () => {
      const base = { password: PASSWORD, plan: 'pro' }
      for (const [body, why] of [
        [{ ...base, email: 'b1@example.com', plan: 3 }, 'plan is a string'],
        [{ ...base, email: 'b2@example.com', seats: 'many' }, 'seats is a number'],
        [{ ...base, email: 'b3@example.com', tags: [1] }, 'tags are strings'],
        [{ ...base, email: 'b4@example.com', scores: ['x'] }, 'scores are numbers'],
        [{ ...base, email: 'b5@example.com', beta: 'yes' }, 'beta is a boolean'],
        [{ ...base, email: 'b6@example.com', trialEnds: 'next week' }, 'trialEnds is a date'],
        [{ ...base, email: 'b7@example.com', plan: 'a\u0000b' }, 'no NUL'],
        [{ password: PASSWORD, email: 'b8@example.com' }, 'plan is required'],
        [{ ...base, email: 'b9@example.com', credits: 100 }, 'credits is input: false'],
        [{ ...base, email: 'b10@example.com', internalNot: 'x' }, 'unknown field'],
      ]) {
        const r = await http.client().post('/auth/sign-up', body)
        assert.equal(r.status, 400, why)
        assert.equal(r.body.error.code, 'VALIDATION_FAILED', why)
        assert.equal(sql(db, `SELECT COUNT(*) FROM kavach_user WHERE email = '${body.email}'`), '0', `${why}: no user written`)
      }
      const js = await kavach.auth.signUp({ email: 'js@example.com', password: PASSWORD })
      assert.equal(js.success, false)
      assert.equal(js.error.code, 'VALIDATION_FAILED')
      const ok = await kavach.auth.signUp({ email: 'js@example.com', password: PASSWORD, plan: 'team', trialEnds: new Date('2027-01-02T03:04:05.006Z') })
      assert.equal(ok.success, true, JSON.stringify(ok.error))
      assert.equal(ok.data.user.plan, 'team')
      assert.equal(ok.data.user.trialEnds.toISOString(), '2027-01-02T03:04:05.006Z')
    })

    it('update-user validates the fields, refuses input: false, and keeps what it is not sent', async () => {
      const browser = http.client()
      const up = await browser.post('/auth/sign-up', { email: 'upd@example.com', password: PASSWORD, plan: 'free', tags: ['x'] })
      assert.equal(up.status, 200)
      const r = await browser.post('/auth/update-user', { plan: 'pro', seats: 7, tags: null })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.equal(r.body.user.plan, 'pro')
      assert.equal(r.body.user.seats, 7)
      assert.equal('tags' in r.body.user, false, 'null clears an optional field')
      assert.equal('internalNote' in r.body.user, false)
      const row = stored(db, 'upd@example.com')
      assert.equal(row.plan, 'pro')
      assert.equal(row.seats, 7)
      assert.equal(row.credits, 5)
      assert.equal(row.internalNote, 'kept', 'a returned: false field survives an update')

      for (const [body, why] of [
        [{ seats: 'seven' }, 'seats is a number'],
        [{ plan: null }, 'plan is required'],
        [{ credits: 1000 }, 'credits is input: false'],
        [{ internalNote: 'x', nope: 1 }, 'unknown field'],
      ]) {
        const bad = await browser.post('/auth/update-user', body)
        assert.equal(bad.status, 400, why)
        assert.equal(bad.body.error.code, 'VALIDATION_FAILED', why)
      }
      const after = stored(db, 'upd@example.com')
      assert.deepEqual(after, row, 'a refused update changes nothing')
      const s = await browser.get('/auth/session')
      assert.equal(s.body.user.seats, 7)
    })
  })
}
