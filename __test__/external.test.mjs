// Seed 004: better-auth rows moved with the guide's SQL (PostgreSQL), and cookieAuth accepting the
// better-auth cookie for a migrated session, then swapping it for a kavachos session; every database.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { createKavach } from '../index.mjs'
import { cookieAuth } from '../adapters.mjs'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'

const BETTER_AUTH_SECRET = 'better-auth-secret-of-the-old-app'
const signed = (token, secret = BETTER_AUTH_SECRET) =>
  encodeURIComponent(`${token}.${createHmac('sha256', secret).update(token).digest('base64')}`)

// Seed 004, "Data migration", verbatim.
const SEED_004_SQL = `
-- Users
INSERT INTO kavach_user (id, email, name, email_verified, created_at, updated_at)
SELECT
  id,
  email,
  name,
  email_verified,
  created_at,
  updated_at
FROM "user"           -- better-auth default table name
ON CONFLICT (id) DO NOTHING;

-- Accounts (OAuth connections)
INSERT INTO kavach_account (
  id, user_id, provider_id, provider_account_id,
  access_token, refresh_token, expires_at, created_at, updated_at
)
SELECT
  id,
  user_id,
  provider_id,
  account_id,          -- better-auth calls this account_id
  access_token,
  refresh_token,
  expires_at,
  created_at,
  updated_at
FROM account
ON CONFLICT (id) DO NOTHING;

-- Sessions (active sessions)
INSERT INTO kavach_session (
  id, user_id, token, expires_at, ip_address, user_agent, created_at, updated_at
)
SELECT
  id,
  user_id,
  token,
  expires_at,
  ip_address,
  user_agent,
  created_at,
  updated_at
FROM session
ON CONFLICT (id) DO NOTHING;`

function importBetterAuth(database, rawToken) {
  if (database.provider === 'postgres') {
    // The old app's tables, with the column names the guide's SQL reads.
    sql(database, `
      CREATE TABLE "user" (id TEXT PRIMARY KEY, email TEXT NOT NULL, name TEXT, email_verified BOOLEAN NOT NULL, created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL);
      CREATE TABLE account (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, provider_id TEXT NOT NULL, account_id TEXT NOT NULL, access_token TEXT, refresh_token TEXT, expires_at TIMESTAMPTZ, created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL);
      CREATE TABLE session (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, token TEXT NOT NULL, expires_at TIMESTAMPTZ NOT NULL, ip_address TEXT, user_agent TEXT, created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL);
      INSERT INTO "user" VALUES ('ba_user_1', 'grace@example.com', 'Grace', true, now() - interval '90 days', now());
      INSERT INTO account VALUES ('ba_acc_1', 'ba_user_1', 'github', '4242', NULL, NULL, NULL, now(), now());
      INSERT INTO session VALUES ('ba_sess_1', 'ba_user_1', '${rawToken}', now() + interval '5 days', '198.51.100.7', 'Firefox', now() - interval '2 days', now());
    `)
    sql(database, SEED_004_SQL)
    return
  }
  const ms = Date.now()
  const [now, later, yes] = database.provider === 'sqlite' ? [String(ms), String(ms + 5 * 86400000), '1'] : ['NOW(3)', 'NOW(3) + INTERVAL 5 DAY', '1']
  sql(database, `INSERT INTO kavach_user (id, email, name, email_verified, created_at, updated_at) VALUES ('ba_user_1', 'grace@example.com', 'Grace', ${yes}, ${now}, ${now})`)
  sql(database, `INSERT INTO kavach_session (id, user_id, token, expires_at, ip_address, user_agent, created_at, updated_at) VALUES ('ba_sess_1', 'ba_user_1', '${rawToken}', ${later}, '198.51.100.7', 'Firefox', ${now}, ${now})`)
}

for (const backend of backends()) {
  describe(`cookieAuth for migrated better-auth sessions on ${backend}`, () => {
    const database = freshDatabase(backend, 'external')
    const rawToken = randomBytes(24).toString('base64url')
    let kavach
    before(async () => {
      process.env.KAVACH_SECRET = SECRET
      process.env.AUTH_BASE_URL = 'http://localhost:3000'
      // Seed 004, "Session tokens", verbatim but for the database.
      const pending = createKavach({
        database: { provider: database.provider, url: database.url },
        secret: process.env.KAVACH_SECRET,
        baseUrl: process.env.AUTH_BASE_URL,
        externalAuth: [
          cookieAuth({
            // Accept better-auth sessions signed with the old secret
            secret: BETTER_AUTH_SECRET,
            cookieName: 'better-auth.session_token', // verify against your better-auth cookie config
          }),
        ],
      })
      kavach = await pending
      importBetterAuth(database, rawToken)
    })
    after(() => kavach.close())

    const get = (path, cookie) => kavach.handler(new Request(`http://localhost:3000/api/kavach${path}`, { headers: cookie ? { cookie } : {} }))

    it('the imported rows are there, account link included', async () => {
      const rows = sql(database, "SELECT email FROM kavach_user WHERE id = 'ba_user_1'")
      assert.equal(rows, 'grace@example.com')
      if (backend === 'postgres') assert.equal(sql(database, "SELECT provider_account_id FROM kavach_account WHERE id = 'ba_acc_1'"), '4242')
    })

    it('a forged or foreign-signed cookie is refused', async () => {
      assert.equal((await get('/auth/session', `better-auth.session_token=${signed(rawToken, 'another secret')}`)).status, 401)
      assert.equal((await get('/auth/session', `better-auth.session_token=${rawToken}`)).status, 401)
      const inProcess = await kavach.auth.getSession({ headers: new Headers({ cookie: `better-auth.session_token=${signed(rawToken, 'x')}` }) })
      assert.deepEqual(inProcess, { success: true, data: null })
    })

    it('getSession in-process reads the migrated session as it is', async () => {
      const r = await kavach.auth.getSession({ headers: new Headers({ cookie: `better-auth.session_token=${signed(rawToken)}` }) })
      assert.equal(r.success, true)
      assert.equal(r.data.user.email, 'grace@example.com')
      assert.equal(r.data.session.id, 'ba_sess_1')
    })

    it('over HTTP the better-auth cookie is accepted once and swapped for a kavachos session', async () => {
      const res = await get('/auth/session', `better-auth.session_token=${signed(rawToken)}`)
      assert.equal(res.status, 200)
      assert.equal((await res.json()).user.email, 'grace@example.com')
      const [setCookie] = res.headers.getSetCookie()
      assert.match(setCookie, /^kavach_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax/)
      const kavachCookie = setCookie.split(';')[0]
      const stored = sql(database, "SELECT token FROM kavach_session WHERE user_id = 'ba_user_1'")
      assert.match(stored, /^[0-9a-f]{64}$/, 'the migrated row with its raw token is gone; only a hash is stored')
      assert.equal((await get('/auth/session', `better-auth.session_token=${signed(rawToken)}`)).status, 401)
      assert.equal((await get('/auth/session', kavachCookie)).status, 200)
    })
  })
}
