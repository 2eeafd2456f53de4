// createKavach once per process and configuration: Next.js evaluates lib/kavach.ts once per route
// bundle and again on every hot reload. Same configuration: one native instance, the newest
// callbacks, closed when its last holder closes. `:memory:` and `shareInstance: false` stay apart.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach } from '../index.mjs'
import { freshDatabase, SECRET } from './helpers.mjs'

describe('one instance per configuration and process', () => {
  it('shares the native instance, calls the newest callbacks, closes with its last holder', async () => {
    const database = freshDatabase('sqlite', 'shared')
    const seen = []
    const config = (tag) => ({
      database,
      secret: SECRET,
      baseUrl: 'http://localhost:3000',
      emailAndPassword: { enabled: true, pbkdf2Iterations: 2000, sendResetPassword: ({ user }) => { seen.push(`${tag}:${user.email}`) } },
    })
    const first = await createKavach(config('first'))
    const second = await createKavach(config('second')) // the module evaluated again
    await first.auth.signUp({ email: 'one@example.com', password: 'long enough pw' })
    const agent = await first.agent.create({ ownerId: 'u', name: 'a', type: 'service', permissions: [] })
    // The same pools and the same SQLite writer: what one wrote the other reads at once.
    assert.equal((await second.agent.get(agent.id)).id, agent.id)
    const res = await second.handler(new Request('http://localhost:3000/api/kavach/auth/forgot-password', {
      method: 'POST', headers: { 'content-type': 'application/json', origin: 'http://localhost:3000' }, body: JSON.stringify({ email: 'one@example.com' }),
    }))
    assert.equal(res.status, 200)
    assert.deepEqual(seen, ['second:one@example.com'], 'the newest callbacks are called')
    await first.close()
    await first.close()
    assert.equal((await second.agent.get(agent.id)).id, agent.id, 'still open for its other holder')
    await second.close()
    await assert.rejects(second.agent.get(agent.id), { code: 'CLOSED' })
    // After the last close a new call opens a fresh instance.
    const third = await createKavach(config('third'))
    assert.equal((await third.agent.get(agent.id)).id, agent.id)
    await third.close()
  })

  it('keeps :memory:, other configurations and shareInstance: false apart', async () => {
    const a = await createKavach({ database: { provider: 'sqlite', url: ':memory:' }, secret: SECRET })
    const b = await createKavach({ database: { provider: 'sqlite', url: ':memory:' }, secret: SECRET })
    const agent = await a.agent.create({ ownerId: 'u', name: 'a', type: 'service', permissions: [] })
    assert.equal(await b.agent.get(agent.id), null, 'each :memory: database is private')
    const database = freshDatabase('sqlite', 'apart')
    const c = await createKavach({ database, secret: SECRET })
    const d = await createKavach({ database, secret: SECRET, shareInstance: false })
    await c.close()
    await assert.rejects(c.agent.get('x'), { code: 'CLOSED' }, 'its only holder closed it')
    assert.equal(await d.agent.get('x'), null, 'a separate instance is unaffected')
    await Promise.all([a.close(), b.close(), d.close()])
  })
})
