// The corrected SQL of the Clerk migration (examples/sql/clerk-import.postgres.sql) runs against our
// tables on PostgreSQL, maps Clerk's provider ids, leaves no stray spaces, and runs again harmlessly.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createKavach } from '../index.mjs'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'

const file = new URL('../examples/sql/clerk-import.postgres.sql', import.meta.url)

describe('the Clerk import SQL on PostgreSQL', { skip: !backends().includes('postgres') }, () => {
  it('imports users and OAuth links, twice without change', async () => {
    const database = freshDatabase('postgres', 'clerksql')
    const kavach = await createKavach({ database, secret: SECRET, emailAndPassword: { enabled: true } })
    sql(database, `CREATE TABLE clerk_user_import (id text, email_addresses jsonb, first_name text, last_name text, image_url text, created_at bigint, updated_at bigint, external_accounts jsonb);
      INSERT INTO clerk_user_import VALUES
      ('user_2a', '[{"email_address":"Ada@Example.com","verification":{"status":"verified"}}]', 'Ada', 'Lovelace', 'https://img.example/a.png', 1700000000123, 1700000500000, '[{"provider":"oauth_github","provider_user_id":"123"},{"provider":"oauth_google","provider_user_id":"g-9"}]'),
      ('user_2b', '[{"email_address":"bob@example.com","verification":{"status":"unverified"}}]', 'Bob', NULL, NULL, 1700000000000, 1700000000000, '[]'),
      ('user_2c', '[{"email_address":"nameless@example.com","verification":{"status":"verified"}}]', NULL, '', NULL, 1700000000000, 1700000000000, '[]')`)
    const statements = readFileSync(file, 'utf8')
    sql(database, statements)
    const snapshot = () => [
      sql(database, 'SELECT id, email, coalesce(name, \'<null>\'), email_verified, extract(epoch from created_at)::bigint FROM kavach_user ORDER BY id'),
      sql(database, 'SELECT user_id, provider_id, provider_account_id FROM kavach_account ORDER BY provider_id'),
    ]
    const [users, accounts] = snapshot()
    assert.deepEqual(users.split('\n'), [
      'user_2a|ada@example.com|Ada Lovelace|t|1700000000',
      'user_2b|bob@example.com|Bob|f|1700000000',
      'user_2c|nameless@example.com|<null>|t|1700000000',
    ])
    assert.deepEqual(accounts.split('\n'), ['user_2a|github|123', 'user_2a|google|g-9'])
    sql(database, statements)
    assert.deepEqual(snapshot(), [users, accounts], 'a second run changes nothing')
    // The imported user exists for kavachos (no password: the reset path).
    const signIn = await kavach.auth.signIn({ email: 'ada@example.com', password: 'whatever it was' })
    assert.equal(signIn.error.code, 'INVALID_CREDENTIALS')
    await kavach.close()
  })
})
