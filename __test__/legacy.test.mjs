// Seed 000 "next sign-in rehash": the verifyLegacyHash snippet as written, with the npm bcrypt
// package, on every database; plus a format only the app's callback knows.
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomUUID } from 'node:crypto'
import bcrypt from 'bcrypt'
import { createKavach } from '../index.mjs'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'

const { compare: bcryptCompare } = bcrypt

const nowSql = (db) => (db.provider === 'sqlite' ? String(Date.now()) : db.provider === 'postgres' ? 'now()' : 'NOW(3)')

function importUser(db, email, hash) {
  const id = randomUUID()
  const now = nowSql(db)
  sql(db, `INSERT INTO kavach_user (id, email, name, email_verified, created_at, updated_at) VALUES ('${id}', '${email}', 'Imported', ${db.provider === 'postgres' ? 'true' : 1}, ${now}, ${now})`)
  sql(db, `INSERT INTO kavach_account (id, user_id, provider_id, provider_account_id, password, created_at, updated_at) VALUES ('${randomUUID()}', '${id}', 'credential', '${id}', '${hash}', ${now}, ${now})`)
}

const storedHash = (db, email) =>
  sql(db, `SELECT a.password FROM kavach_account a JOIN kavach_user u ON u.id = a.user_id WHERE u.email = '${email}'`)

for (const backend of backends()) {
  describe(`legacy password hashes on ${backend}`, () => {
    const database = freshDatabase(backend, 'legacy')
    const calls = []
    let kavach
    after(() => kavach && kavach.close())

    it('the seed 000 snippet boots, and an imported bcrypt user signs in and is rehashed to PBKDF2', async () => {
      // Seed 000, verbatim but for the database and a test-sized iteration count.
      kavach = await createKavach({
        database: { provider: database.provider, url: database.url },
        secret: SECRET,
        baseUrl: 'http://localhost:3000',
        emailAndPassword: {
          enabled: true,
          pbkdf2Iterations: 2000,
          verifyLegacyHash: async ({ storedHash, password }) => {
            calls.push(storedHash)
            if (storedHash.startsWith('sha256$')) {
              return storedHash === 'sha256$' + createHash('sha256').update(password).digest('hex')
            }
            if (!storedHash.startsWith('$2')) return false
            return bcryptCompare(password, storedHash)
          },
        },
      })
      // Migrations ran on boot: import the Clerk user with its bcrypt hash.
      const hash = await bcrypt.hash('clerk password', 10)
      importUser(database, 'clerk@example.com', hash)
      const wrong = await kavach.auth.signIn({ email: 'clerk@example.com', password: 'not it' })
      assert.equal(wrong.success, false)
      assert.equal(wrong.error.code, 'INVALID_CREDENTIALS')
      assert.equal(storedHash(database, 'clerk@example.com'), hash, 'a failed sign-in leaves the hash alone')
      const first = await kavach.auth.signIn({ email: 'clerk@example.com', password: 'clerk password' })
      assert.equal(first.success, true, JSON.stringify(first.error))
      const upgraded = storedHash(database, 'clerk@example.com')
      assert.match(upgraded, /^pbkdf2:2000:[0-9a-f]{32}:[0-9a-f]{64}$/)
      const second = await kavach.auth.signIn({ email: 'clerk@example.com', password: 'clerk password' })
      assert.equal(second.success, true)
      assert.equal(storedHash(database, 'clerk@example.com'), upgraded, 'the second sign-in verified the PBKDF2 hash')
      assert.deepEqual(calls, [], 'bcrypt is verified natively; the callback is for formats kavachos does not know')
    })

    it('a format only the callback knows is verified by it, awaited from Rust, then rehashed', async () => {
      const legacy = 'sha256$' + createHash('sha256').update('old system pw').digest('hex')
      importUser(database, 'old@example.com', legacy)
      const bad = await kavach.auth.signIn({ email: 'old@example.com', password: 'wrong pw here' })
      assert.equal(bad.error.code, 'INVALID_CREDENTIALS')
      const good = await kavach.auth.signIn({ email: 'old@example.com', password: 'old system pw' })
      assert.equal(good.success, true)
      assert.deepEqual(calls, [legacy, legacy])
      assert.match(storedHash(database, 'old@example.com'), /^pbkdf2:2000:/)
      assert.equal((await kavach.auth.signIn({ email: 'old@example.com', password: 'old system pw' })).success, true)
      assert.equal(calls.length, 2, 'no callback once the hash is PBKDF2')
    })

    it('a callback that throws fails the sign-in without crashing or signing in', async () => {
      const db = freshDatabase(backend, 'legacy_throw')
      const k = await createKavach({
        database: db,
        secret: SECRET,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000, verifyLegacyHash: () => { throw new Error('boom') } },
      })
      importUser(db, 'x@example.com', 'md5$whatever')
      const r = await k.auth.signIn({ email: 'x@example.com', password: 'whatever pw' })
      assert.equal(r.success, false)
      assert.equal(r.error.code, 'INTERNAL_ERROR', 'an app bug is reported as one, never as a sign-in')
      assert.ok(!r.error.message.includes('boom'), 'the callback error text stays inside')
      await k.close()
    })
  })
}
