// Migrations: several processes booting at once, the CLI, and a migration interrupted halfway.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { createKavach } from '../index.mjs'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))
// The versions shipped (the same in every dialect folder), e.g. ['1', '2'].
const shipped = readdirSync(new URL('../migrations/sqlite', import.meta.url)).filter((f) => f.endsWith('.sql')).map((f) => String(Number(f.slice(0, 4)))).sort((a, b) => a - b)

async function versions(database) {
  if (database.provider === 'sqlite') {
    // Read through kavachos itself: the instance boots only when every version is recorded.
    const k = await createKavach({ database, secret: SECRET, skipMigrations: true })
    await k.close()
    return 'complete'
  }
  return sql(database, 'SELECT COUNT(*) FROM kavach_migrations')
}

for (const backend of backends()) {
  describe(`migrations on ${backend}`, () => {
    it('six processes booting at once on one empty database all succeed', async () => {
      const database = freshDatabase(backend, 'race')
      const script = `
        const { createKavach } = require(${JSON.stringify(root + 'index.js')});
        createKavach({ database: ${JSON.stringify(database)}, secret: ${JSON.stringify(SECRET)} })
          .then(async (k) => { await k.agent.list(); await k.close(); console.log('ok') })
          .catch((e) => { console.error(e.code, e.message); process.exit(1) })`
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => run(process.execPath, ['-e', script], { env: { ...process.env, NODE_ENV: 'test' } })))
      for (const r of results) assert.equal(r.status, 'fulfilled', r.reason && r.reason.stderr)
      if (backend !== 'sqlite') assert.equal(await versions(database), String(shipped.length))
      else assert.equal(await versions(database), 'complete')
    })

    it('kavach-cli migrate prepares a database that boots with skipMigrations', async () => {
      const database = freshDatabase(backend, 'cli')
      const first = await run(process.execPath, [root + 'cli.js', 'migrate', '--url', database.url])
      assert.equal(first.stdout.trim(), `applied migrations: ${shipped.join(', ')}`)
      const second = await run(process.execPath, [root + 'cli.js', 'migrate', `--url=${database.url}`])
      assert.match(second.stdout, /up to date/)
      const k = await createKavach({ database, secret: SECRET, skipMigrations: true })
      const a = await k.agent.create({ ownerId: 'o', name: 'n', type: 'service', permissions: [{ resource: '*', actions: ['*'] }] })
      assert.equal((await k.authorizeByToken(a.token, { action: 'a', resource: 'b' })).allowed, true)
      await k.close()
      await assert.rejects(run(process.execPath, [root + 'cli.js', 'migrate']), (e) => e.code === 2)
    })

    if (backend !== 'sqlite') {
      it('a migration cut off halfway is completed by the next boot', async () => {
        const database = freshDatabase(backend, 'half')
        // What a process killed after the first statement leaves behind: one table, no version row.
        const file = readFileSync(new URL(`../migrations/${backend}/0001_agents_audit.sql`, import.meta.url), 'utf8')
        const firstStatement = file.slice(0, file.indexOf(';') + 1)
        sql(database, firstStatement)
        const k = await createKavach({ database, secret: SECRET })
        const a = await k.agent.create({ ownerId: 'o', name: 'n', type: 'service', permissions: [{ resource: '*', actions: ['*'] }] })
        const d = await k.authorizeByToken(a.token, { action: 'a', resource: 'b' })
        assert.equal(d.allowed, true)
        assert.equal((await k.audit.query({})).length, 1)
        await k.close()
        assert.equal(await versions(database), String(shipped.length))
      })
    }
  })
}
