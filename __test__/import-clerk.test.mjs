// `kavach-cli import clerk`: the Dashboard CSV (bcrypt digests made by the npm bcrypt package) and
// the JSON of @clerk/backend User objects that seed 000's export script writes.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import bcrypt from 'bcrypt'
import { createKavach, importClerk } from '../index.mjs'
import { backends, builtCli, freshDatabase, sql, SECRET } from './helpers.mjs'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))

const cli = (...args) => run(builtCli(), args)
const fail = (...args) => cli(...args).then(() => assert.fail('expected a failure'), (e) => e)

const dir = join(tmpdir(), 'kavach-js-tests')
mkdirSync(dir, { recursive: true })
const file = (name, text) => {
  const p = join(dir, `${Date.now()}_${Math.random().toString(16).slice(2)}_${name}`)
  writeFileSync(p, text)
  return p
}

const HEADER = 'id,first_name,last_name,username,primary_email_address,primary_phone_number,verified_email_addresses,unverified_email_addresses,verified_phone_numbers,unverified_phone_numbers,totp_secret,password_digest,password_hasher'

function counts(stdout, table) {
  const m = stdout.match(new RegExp(`^${table}:\\s+(\\d+) read\\s+(\\d+) (?:imported|would import)\\s+(\\d+) unchanged\\s+(\\d+) skipped`, 'm'))
  assert.ok(m, `no ${table} line in:\n${stdout}`)
  return { read: +m[1], imported: +m[2], unchanged: +m[3], skipped: +m[4] }
}

const hashOf = (database, userId) => sql(database, `SELECT password FROM kavach_account WHERE user_id = '${userId}' AND provider_id = 'credential'`)

for (const backend of backends()) {
  describe(`import clerk on ${backend}`, () => {
    const database = freshDatabase(backend, 'clerk')
    let csvPath, jsonPath, kavach
    before(async () => {
      const digest = await bcrypt.hash('clerk-password-1', 10)
      csvPath = file('users.csv', [
        HEADER,
        `user_2a,Ada,,,Ada@Example.com,,ada@example.com,,,,,${digest},bcrypt`,
        'user_2b,,Hopper,,grace@example.com,,,grace@example.com,,,,,',
        'user_2c,No,Email,,,,,,,,,,',
      ].join('\n') + '\n')
      jsonPath = file('users.json', JSON.stringify([
        {
          id: 'user_3x', firstName: 'Linus', lastName: 'Torvalds', imageUrl: 'https://img.example/l.png',
          primaryEmailAddressId: 'idn_1',
          emailAddresses: [{ id: 'idn_1', emailAddress: 'linus@example.com', verification: { status: 'verified', strategy: 'from_oauth_github' } }],
          externalAccounts: [{ id: 'eac_1', provider: 'oauth_github', externalId: '4242', emailAddress: 'linus@example.com' }],
          createdAt: 1700000000000, updatedAt: 1700000005000,
          _raw: { id: 'user_3x', object: 'user' },
        },
        { id: 'user_3y', firstName: null, lastName: null, primaryEmailAddressId: null, emailAddresses: [{ id: 'idn_2', emailAddress: 'nobody@example.com', verification: null }], externalAccounts: [], createdAt: 1700000000000, updatedAt: 1700000000000, _raw: {} },
      ], null, 2))
    })
    after(async () => kavach && kavach.close())

    it('imports the Dashboard CSV: names without stray spaces, verification, bcrypt digests', async () => {
      const dry = await cli('import', 'clerk', '--file', csvPath, '--to', database.url, '--dry-run')
      assert.match(dry.stdout, /dry run: nothing was written/)
      assert.deepEqual(counts(dry.stdout, 'users'), { read: 3, imported: 2, unchanged: 0, skipped: 1 })
      if (backend === 'sqlite') assert.equal(existsSync(database.url) ? sql(database, "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'kavach%'") : '0', '0')
      const { stdout } = await cli('import', 'clerk', '--file', csvPath, '--to', database.url)
      assert.deepEqual(counts(stdout, 'users'), { read: 3, imported: 2, unchanged: 0, skipped: 1 })
      assert.match(stdout, /user_2c: it has no valid email address/)
      assert.match(stdout, /1 user\(s\) have no password digest/)
      assert.equal(sql(database, "SELECT name FROM kavach_user WHERE id = 'user_2a'"), 'Ada')
      assert.equal(sql(database, "SELECT name FROM kavach_user WHERE id = 'user_2b'"), 'Hopper')
      assert.equal(sql(database, "SELECT email FROM kavach_user WHERE id = 'user_2a'"), 'ada@example.com')
      const verified = sql(database, "SELECT id, email_verified FROM kavach_user WHERE id IN ('user_2a', 'user_2b') ORDER BY id").split('\n').map((l) => l.split(/[\t|]/)[1])
      assert.deepEqual(verified.map((v) => ['1', 't', 'true'].includes(v)), [true, false])
    })

    it('the old password signs in and is rehashed; wrong ones and users without a digest are refused', async () => {
      kavach = await createKavach({ database, secret: SECRET, emailAndPassword: { enabled: true } })
      assert.match(hashOf(database, 'user_2a'), /^\$2b\$10\$/)
      const wrong = await kavach.auth.signIn({ email: 'ada@example.com', password: 'clerk-password-2' })
      assert.equal(wrong.error.code, 'INVALID_CREDENTIALS')
      const ok = await kavach.auth.signIn({ email: 'ada@example.com', password: 'clerk-password-1' })
      assert.equal(ok.success, true, JSON.stringify(ok.error))
      assert.equal(ok.data.user.id, 'user_2a', 'Clerk ids are kept')
      assert.match(hashOf(database, 'user_2a'), /^pbkdf2:/)
      const none = await kavach.auth.signIn({ email: 'grace@example.com', password: 'anything-at-all' })
      assert.equal(none.error.code, 'INVALID_CREDENTIALS', 'no digest: refused until a reset')
    })

    it('imports the @clerk/backend JSON with OAuth links mapped to our provider ids', async () => {
      const { stdout } = await cli('import', 'clerk', '--file', jsonPath, '--to', database.url)
      assert.deepEqual(counts(stdout, 'users'), { read: 2, imported: 2, unchanged: 0, skipped: 0 })
      assert.equal(sql(database, "SELECT provider_id, provider_account_id, user_id FROM kavach_account WHERE id = 'eac_1'").split(/[\t|]/).join(' '), 'github 4242 user_3x')
      assert.equal(sql(database, "SELECT name FROM kavach_user WHERE id = 'user_3x'"), 'Linus Torvalds')
      assert.equal(sql(database, "SELECT COUNT(*) FROM kavach_user WHERE id = 'user_3y' AND name IS NULL"), '1')
    })

    it('a second import adds nothing', async () => {
      const before = sql(database, 'SELECT * FROM kavach_user ORDER BY id') + sql(database, 'SELECT id, user_id, provider_id FROM kavach_account ORDER BY id')
      const a = await cli('import', 'clerk', '--file', jsonPath, '--to', database.url)
      assert.deepEqual(counts(a.stdout, 'users'), { read: 2, imported: 0, unchanged: 2, skipped: 0 })
      const b = await cli('import', 'clerk', '--file', csvPath, '--to', database.url)
      assert.deepEqual(counts(b.stdout, 'users'), { read: 3, imported: 0, unchanged: 2, skipped: 1 })
      // The npm bin (npx kavach-cli) runs the same Clerk import.
      const c = await run(process.execPath, [join(root, 'cli.js'), 'import', 'clerk', '--file', csvPath, '--to', database.url])
      assert.match(c.stdout, /^source: Clerk export file, into /m)
      assert.deepEqual(counts(c.stdout, 'users'), { read: 3, imported: 0, unchanged: 2, skipped: 1 })
      const after = sql(database, 'SELECT * FROM kavach_user ORDER BY id') + sql(database, 'SELECT id, user_id, provider_id FROM kavach_account ORDER BY id')
      // user_2a's hash was upgraded by the sign-in: the import did not put the bcrypt digest back.
      assert.equal(after, before)
      assert.match(hashOf(database, 'user_2a'), /^pbkdf2:/)
    })

    it('one call sends every user without a password a reset, and the reset lets them in', async () => {
      const mails = []
      const k = await createKavach({
        database, secret: SECRET, baseUrl: 'http://localhost:3000',
        emailAndPassword: { enabled: true, sendResetPassword: async ({ user, token }) => { mails.push({ email: user.email, token }) } },
      })
      try {
        const r = await k.auth.sendPasswordResets({ redirectTo: '/reset' })
        assert.deepEqual(r, { success: true, data: { sent: 3 } })
        assert.deepEqual(mails.map((m) => m.email).sort(), ['grace@example.com', 'linus@example.com', 'nobody@example.com'], 'not ada, who has a password')
        const grace = mails.find((m) => m.email === 'grace@example.com')
        const res = await k.handler(new Request('http://localhost:3000/api/kavach/auth/reset-password', {
          method: 'POST', headers: { 'content-type': 'application/json', origin: 'http://localhost:3000' },
          body: JSON.stringify({ token: grace.token, newPassword: 'grace-new-password-1' }),
        }))
        assert.equal(res.status, 200, await res.clone().text())
        const signedIn = await k.auth.signIn({ email: 'grace@example.com', password: 'grace-new-password-1' })
        assert.equal(signedIn.data.user.id, 'user_2b')
        const again = await k.auth.sendPasswordResets()
        assert.equal(again.data.sent, 2, 'grace has a password now')
      } finally {
        await k.close()
      }
    })

    it('importClerk from code gives the same report', async () => {
      const seen = []
      const report = await importClerk({ file: csvPath, to: database.url, dryRun: true, onProgress: (c) => seen.push(c.read) })
      assert.equal(report.source, 'clerk')
      assert.equal(report.dryRun, true)
      assert.deepEqual(report.tables[0], { table: 'users', read: 3, imported: 0, unchanged: 2, skipped: 1 })
      assert.deepEqual(report.skipped, [{ table: 'users', id: 'user_2c', reason: 'it has no valid email address' }])
      await new Promise((r) => setImmediate(r))
      assert.deepEqual(seen, [3])
    })

    it('a truncated or malformed export gets a clear error and writes nothing', async () => {
      const target = freshDatabase(backend, 'clerkbad')
      const text = JSON.stringify([{ id: 'user_1', emailAddresses: [{ emailAddress: 'a@x.dev' }] }, { id: 'user_2', emailAddresses: [{ emailAddress: 'b@x.dev' }] }])
      const truncated = await fail('import', 'clerk', '--file', file('t.json', text.slice(0, -10)), '--to', target.url)
      assert.equal(truncated.code, 1)
      assert.match(truncated.stderr, /IMPORT_SOURCE_INVALID: the export file is malformed: the JSON ends early/)
      const ragged = await fail('import', 'clerk', '--file', file('r.csv', `${HEADER}\nuser_1,A,B,,a@x.dev,,,,,,,,\nuser_2,C\n`), '--to', target.url)
      assert.match(ragged.stderr, /record 3 has 2 fields where the header has 13/)
      const notClerk = await fail('import', 'clerk', '--file', file('n.csv', 'email,name\na@x.dev,A\n'), '--to', target.url)
      assert.match(notClerk.stderr, /this is not a Clerk export/)
      if (backend === 'sqlite') assert.equal(existsSync(target.url), false)
      else assert.equal(sql(target, backend === 'postgres' ? "SELECT COUNT(*) FROM information_schema.tables WHERE table_name LIKE 'kavach%'" : "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'kavach%'"), '0')
    })
  })
}
