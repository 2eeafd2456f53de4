// `kavach-cli import better-auth` on a real better-auth 1.7 database: its own migrations, users
// signed up through its own handler, an organization with members and an invitation, an OAuth
// link with provider tokens, a TOTP enrollment through its twoFactor plugin; then people sign in
// to kavachos with the passwords they set in better-auth (and the 2FA user with the code of the
// authenticator app they set up there, or a backup code), their better-auth cookie is accepted
// through cookieAuth, and re-runs and dry runs write nothing.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { betterAuth } from 'better-auth'
import { organization, twoFactor } from 'better-auth/plugins'
import { authenticator } from 'otplib'
import { getMigrations } from 'better-auth/db/migration'
import Database from 'better-sqlite3'
import pg from 'pg'
import mysql from 'mysql2/promise'
import { createKavach, importBetterAuth } from '../index.mjs'
import * as migrateModule from '../migrate.mjs'
import { cookieAuth } from '../adapters.mjs'
import { organization as kavachOrganization, twoFactor as kavachTwoFactor } from '../plugins.mjs'
import { backends, builtCli, freshDatabase, sql, SECRET } from './helpers.mjs'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))
const BA_SECRET = 'better-auth-secret-better-auth-secret-42'

const cli = (...args) => run(builtCli(), args, { env: { ...process.env } })
/** The CLI with the secrets in the environment the app runs with (never on the command line). */
const cliWithSecrets = (...args) => run(builtCli(), args, { env: { ...process.env, KAVACHOS_SECRET: SECRET, BETTER_AUTH_SECRET: BA_SECRET } })

function baDatabase(database) {
  if (database.provider === 'sqlite') return new Database(database.url)
  if (database.provider === 'postgres') return new pg.Pool({ connectionString: database.url })
  return mysql.createPool(database.url)
}
const closeBa = (db) => (typeof db.end === 'function' ? db.end() : db.close())

function kavachTables(database) {
  if (database.provider === 'sqlite') return sql(database, "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'kavach%'")
  if (database.provider === 'postgres') return sql(database, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name LIKE 'kavach%'")
  return sql(database, "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'kavach%'")
}

/** Every row of our tables, for comparing runs. */
function snapshot(database) {
  return ['kavach_user', 'kavach_account', 'kavach_session', 'kavach_organizations', 'kavach_org_members', 'kavach_org_invitations', 'kavach_two_factor', 'kavach_two_factor_backup']
    .map((t) => `${t}:\n${sql(database, `SELECT * FROM ${t} ORDER BY 1`)}`)
    .join('\n')
}

/** `users: 3 read 3 imported 0 unchanged 0 skipped` → numbers. */
function counts(stdout, table) {
  const m = stdout.match(new RegExp(`^${table}:\\s+(\\d+) read\\s+(\\d+) (?:imported|would import)\\s+(\\d+) unchanged\\s+(\\d+) skipped`, 'm'))
  assert.ok(m, `no ${table} line in:\n${stdout}`)
  return { read: +m[1], imported: +m[2], unchanged: +m[3], skipped: +m[4] }
}

const PEOPLE = [
  { email: 'ada@example.com', password: 'ada-lovelace-1815', name: 'Ada' },
  { email: 'Grace@Example.com', password: 'gr\u00e4ce-hopper-1906', name: 'Grace' },
  { email: 'linus@example.com', password: 'linus-torvalds-1969', name: 'Linus' },
]

for (const backend of backends()) {
  describe(`import better-auth on ${backend}`, () => {
    const database = freshDatabase(backend, 'baimp')
    const cookies = {}
    let orgId
    let kavach
    let totpSecret
    let backupCodes

    before(async () => {
      const db = baDatabase(database)
      const options = { database: db, secret: BA_SECRET, baseURL: 'http://localhost:3000', emailAndPassword: { enabled: true }, plugins: [organization(), twoFactor()] }
      const { runMigrations } = await getMigrations(options)
      await runMigrations()
      const auth = betterAuth(options)
      for (const p of PEOPLE) {
        const r = await auth.api.signUpEmail({ body: p, returnHeaders: true })
        cookies[p.email] = r.headers.get('set-cookie').split(';')[0]
        p.id = r.response.user.id
      }
      const headers = new Headers({ cookie: cookies[PEOPLE[0].email] })
      const org = await auth.api.createOrganization({ body: { name: 'Acme', slug: 'acme' }, headers })
      orgId = org.id
      await auth.api.addMember({ body: { userId: PEOPLE[1].id, role: 'admin', organizationId: orgId } })
      await auth.api.createInvitation({ body: { email: 'newcomer@example.com', role: 'member', organizationId: orgId }, headers })
      const ctx = await auth.$context
      await ctx.internalAdapter.linkAccount({ userId: PEOPLE[2].id, providerId: 'github', accountId: '4242', accessToken: 'gho_secret_token', refreshToken: 'ghr_refresh_token', accessTokenExpiresAt: new Date(Date.now() + 3600_000), scope: 'read:user' })
      // Grace turns on TOTP in better-auth: enable, then confirm with a first code from her app.
      const graceHeaders = new Headers({ cookie: cookies[PEOPLE[1].email] })
      const enabled = await auth.api.enableTwoFactor({ body: { password: PEOPLE[1].password }, headers: graceHeaders })
      totpSecret = new URL(enabled.totpURI).searchParams.get('secret')
      backupCodes = enabled.backupCodes
      const confirmed = await auth.api.verifyTOTP({ body: { code: authenticator.generate(totpSecret) }, headers: graceHeaders, returnHeaders: true })
      // Confirming replaces her session: keep the cookie she holds now.
      cookies[PEOPLE[1].email] = confirmed.headers.get('set-cookie').match(/better-auth\.session_token=[^;]+/)[0]
      await closeBa(db)
    })
    after(async () => kavach && kavach.close())

    it('--dry-run reads everything and writes nothing, not even our tables', async () => {
      const { stdout } = await cli('import', 'better-auth', '--from', database.url, '--dry-run')
      assert.match(stdout, /dry run: nothing was written/)
      assert.match(stdout, /camelCase columns/)
      assert.deepEqual(counts(stdout, 'users'), { read: 3, imported: 3, unchanged: 0, skipped: 0 })
      assert.deepEqual(counts(stdout, 'accounts'), { read: 4, imported: 4, unchanged: 0, skipped: 0 })
      assert.deepEqual(counts(stdout, 'members'), { read: 2, imported: 2, unchanged: 0, skipped: 0 })
      assert.match(stdout, /note: 1 two-factor enrollment\(s\) were NOT imported: that needs both the kavachos secret/)
      assert.equal(kavachTables(database), '')
    })

    it('imports users, accounts, sessions, organizations, members, invitations, two-factor and provider tokens', async () => {
      const { stdout, stderr } = await cliWithSecrets('import', 'better-auth', '--from', database.url)
      assert.match(stderr, /using the kavachos secret from KAVACHOS_SECRET and better-auth's secret from BETTER_AUTH_SECRET/)
      assert.doesNotMatch(stdout + stderr, new RegExp(`${SECRET}|${BA_SECRET}`), 'no secret printed')
      assert.match(stdout, /kavachos migrations applied: 1,/)
      assert.deepEqual(counts(stdout, 'users'), { read: 3, imported: 3, unchanged: 0, skipped: 0 })
      assert.deepEqual(counts(stdout, 'accounts'), { read: 4, imported: 4, unchanged: 0, skipped: 0 })
      assert.equal(counts(stdout, 'sessions').imported, 3)
      assert.deepEqual(counts(stdout, 'organizations'), { read: 1, imported: 1, unchanged: 0, skipped: 0 })
      assert.deepEqual(counts(stdout, 'members'), { read: 2, imported: 2, unchanged: 0, skipped: 0 })
      assert.deepEqual(counts(stdout, 'invitations'), { read: 1, imported: 1, unchanged: 0, skipped: 0 })
      assert.deepEqual(counts(stdout, 'two-factor'), { read: 1, imported: 1, unchanged: 0, skipped: 0 })
      assert.match(stdout, /note: 1 OAuth account\(s\) had their provider access\/refresh tokens copied, encrypted under the kavachos secret/)
      assert.equal(sql(database, `SELECT email FROM kavach_user WHERE id = '${PEOPLE[1].id}'`), 'grace@example.com')
      assert.equal(sql(database, "SELECT provider_account_id FROM kavach_account WHERE provider_id = 'github'"), '4242')
      const [access, refresh] = sql(database, "SELECT access_token, refresh_token FROM kavach_account WHERE provider_id = 'github'").split(/[\t|]/)
      assert.match(access, /^v1\.[A-Za-z0-9_-]+$/, 'sealed, not in clear')
      assert.match(refresh, /^v1\.[A-Za-z0-9_-]+$/)
      assert.equal(sql(database, "SELECT COUNT(*) FROM kavach_account WHERE access_token LIKE '%gho_%' OR refresh_token LIKE '%ghr_%'"), '0', 'no provider token in clear')
      assert.notEqual(sql(database, "SELECT expires_at FROM kavach_account WHERE provider_id = 'github'"), '')
      const stored = sql(database, `SELECT secret FROM kavach_two_factor WHERE user_id = '${PEOPLE[1].id}'`)
      assert.match(stored, /^v1\./)
      assert.ok(!stored.includes(totpSecret))
      assert.equal(sql(database, `SELECT COUNT(*) FROM kavach_two_factor_backup WHERE user_id = '${PEOPLE[1].id}'`), String(backupCodes.length))
      assert.equal(sql(database, `SELECT owner_id FROM kavach_organizations WHERE id = '${orgId}'`), PEOPLE[0].id)
    })

    it('a second import changes no row', async () => {
      const before = snapshot(database)
      const { stdout } = await cliWithSecrets('import', 'better-auth', `--from=${database.url}`, `--to=${database.url}`)
      assert.match(stdout, /kavachos migrations: up to date/)
      assert.deepEqual(counts(stdout, 'users'), { read: 3, imported: 0, unchanged: 3, skipped: 0 })
      assert.deepEqual(counts(stdout, 'members'), { read: 2, imported: 0, unchanged: 2, skipped: 0 })
      assert.deepEqual(counts(stdout, 'two-factor'), { read: 1, imported: 0, unchanged: 1, skipped: 0 })
      assert.equal(snapshot(database), before)
    })

    it('each user signs in with the password set in better-auth, and the hash becomes PBKDF2', async () => {
      kavach = await createKavach({
        database,
        secret: SECRET,
        baseUrl: 'http://localhost:3000',
        emailAndPassword: { enabled: true },
        externalAuth: [cookieAuth({ secret: BA_SECRET, cookieName: 'better-auth.session_token' })],
        plugins: [kavachOrganization(), kavachTwoFactor()],
      })
      for (const p of PEOPLE) {
        const stored = sql(database, `SELECT password FROM kavach_account WHERE user_id = '${p.id}' AND provider_id = 'credential'`)
        assert.match(stored, /^[0-9a-f]{32}:[0-9a-f]{128}$/, 'better-auth scrypt as imported')
        const wrong = await kavach.auth.signIn({ email: p.email, password: p.password + 'x' })
        assert.equal(wrong.success, false)
        assert.equal(wrong.error.code, 'INVALID_CREDENTIALS')
        let r = await kavach.auth.signIn({ email: p.email, password: p.password })
        assert.equal(r.success, true, JSON.stringify(r.error))
        if (p === PEOPLE[1]) {
          // Her second factor came across: the code of the app she set up in better-auth.
          assert.equal(r.data.twoFactorRequired, true)
          assert.equal(r.data.session, undefined)
          r = await kavach.twoFactor.verify({ twoFactorToken: r.data.twoFactorToken, code: authenticator.generate(totpSecret) })
          assert.equal(r.success, true, JSON.stringify(r.error))
        }
        assert.equal(r.data.user.id, p.id)
        assert.match(sql(database, `SELECT password FROM kavach_account WHERE user_id = '${p.id}' AND provider_id = 'credential'`), /^pbkdf2:/)
      }
    })

    it('a better-auth backup code works once, and a re-import does not bring it back', async () => {
      const grace = PEOPLE[1]
      const pending = async () => (await kavach.auth.signIn({ email: grace.email, password: grace.password })).data.twoFactorToken
      const ok = await kavach.twoFactor.verify({ twoFactorToken: await pending(), backupCode: backupCodes[0] })
      assert.equal(ok.success, true, JSON.stringify(ok.error))
      await cliWithSecrets('import', 'better-auth', '--from', database.url)
      const again = await kavach.twoFactor.verify({ twoFactorToken: await pending(), backupCode: backupCodes[0] })
      assert.equal(again.error.code, 'INVALID_CODE')
      assert.equal((await kavach.twoFactor.verify({ twoFactorToken: await pending(), backupCode: backupCodes[1] })).success, true)
    })

    it('their better-auth session cookie is accepted through cookieAuth', async () => {
      const res = await kavach.handler(new Request('http://localhost:3000/api/kavach/auth/session', { headers: { cookie: cookies[PEOPLE[0].email] } }))
      assert.equal(res.status, 200)
      assert.equal((await res.json()).user.email, 'ada@example.com')
      const inProcess = await kavach.auth.getSession({ headers: new Headers({ cookie: cookies[PEOPLE[1].email] }) })
      assert.equal(inProcess.data.user.email, 'grace@example.com')
    })

    it('organizations and roles came across', async () => {
      const orgs = await kavach.organizations.list({ userId: PEOPLE[1].id })
      assert.deepEqual(orgs.data.map((o) => o.slug), ['acme'])
      const members = await kavach.organizations.listMembers({ organizationId: orgId })
      const roles = Object.fromEntries(members.data.map((m) => [m.userId, m.role]))
      assert.deepEqual(roles, { [PEOPLE[0].id]: 'owner', [PEOPLE[1].id]: 'admin' })
      assert.equal(sql(database, `SELECT email, role, status FROM kavach_org_invitations WHERE org_id = '${orgId}'`).split(/[\s|]+/).join(' '), 'newcomer@example.com member pending')
    })

    it('the npm bin (cli.js) and importBetterAuth from code run the same importer', async () => {
      const { stdout } = await run(process.execPath, [root + 'cli.js', 'import', 'better-auth', '--from', database.url, '--dry-run'])
      assert.match(stdout, /dry run: nothing was written/)
      assert.deepEqual(counts(stdout, 'users'), { read: 3, imported: 0, unchanged: 3, skipped: 0 })
      assert.equal(migrateModule.importBetterAuth, importBetterAuth)
      const seen = []
      const report = await importBetterAuth({ from: database.url, batchSize: 2, secret: SECRET, sourceSecret: BA_SECRET, onProgress: (c) => seen.push(`${c.table}:${c.read}`) })
      assert.deepEqual(report.tables.find((t) => t.table === 'two-factor'), { table: 'two-factor', read: 1, imported: 0, unchanged: 1, skipped: 0 })
      await assert.rejects(importBetterAuth({ from: database.url, secret: 'too-short' }), (e) => e.code === 'CONFIG_INVALID' && !e.message.includes('too-short'))
      assert.equal(report.dryRun, false)
      assert.equal(report.naming, 'camelCase')
      assert.deepEqual(report.migrationsApplied, [])
      assert.deepEqual(report.tables.find((t) => t.table === 'users'), { table: 'users', read: 3, imported: 0, unchanged: 3, skipped: 0 })
      await new Promise((r) => setImmediate(r))
      assert.ok(seen.includes('users:2') && seen.includes('users:3'), seen.join(' '))
      await assert.rejects(importBetterAuth({ from: join(root, 'no-such.db') }), (e) => e.code === 'DB_UNREACHABLE')
    })

    it('bad input gets a clear error and writes nothing', async () => {
      const notBa = freshDatabase(backend, 'notba')
      if (backend === 'sqlite') sql(notBa, 'CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT)')
      else sql(notBa, 'CREATE TABLE customers (id VARCHAR(64) PRIMARY KEY, email TEXT)')
      const e1 = await cli('import', 'better-auth', '--from', notBa.url).then(() => null, (e) => e)
      assert.equal(e1.code, 1)
      assert.match(e1.stderr, /IMPORT_SOURCE_INVALID: this is not a better-auth database: it has no "user" table/)
      assert.equal(kavachTables(notBa), '', 'no migration ran on a source that is not better-auth')

      const target = freshDatabase(backend, 'target')
      const missing = backend === 'sqlite' ? join(root, 'no-such-dir', 'missing.db') : backend === 'postgres' ? 'postgres://postgres@127.0.0.1:5432/no_such_db_here' : 'mysql://root@127.0.0.1:3306/no_such_db_here'
      const e2 = await cli('import', 'better-auth', '--from', missing, '--to', target.url).then(() => null, (e) => e)
      assert.equal(e2.code, 1)
      assert.match(e2.stderr, /DB_UNREACHABLE/)
      assert.doesNotMatch(e2.stderr, /SELECT|no_such_db_here|missing\.db/, 'no SQL, URL or path in the error')
      if (backend === 'sqlite') assert.equal(existsSync(target.url), false, 'the target was not even created')
      else assert.equal(kavachTables(target), '')

      const e3 = await cli('import', 'better-auth').then(() => null, (e) => e)
      assert.equal(e3.code, 2)
      assert.match(e3.stderr, /usage: kavach-cli/)
    })
  })
}
