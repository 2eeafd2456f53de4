// The organization routes over the HTTP API: roles are enforced (a member cannot remove the owner,
// a non-member gets 403), on every database.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach } from '../index.mjs'
import { organization } from '../plugins.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

const BASE = 'http://localhost:3000'

for (const backend of backends()) {
  describe(`organization routes on ${backend}`, () => {
    let kavach
    const people = {}
    const send = async (who, method, path, json) => {
      const headers = new Headers({ origin: BASE, cookie: people[who].cookie })
      if (json) headers.set('content-type', 'application/json')
      return kavach.handler(new Request(`${BASE}/api/kavach${path}`, { method, headers, body: json ? JSON.stringify(json) : undefined }))
    }
    before(async () => {
      kavach = await createKavach({ database: freshDatabase(backend, 'orghttp'), secret: SECRET, emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 }, plugins: [organization()] })
      for (const who of ['owner', 'admin', 'member', 'outsider']) {
        const r = await kavach.auth.signUp({ email: `${who}@example.com`, password: 'long enough pw' })
        people[who] = { id: r.data.user.id, cookie: `kavach_session=${r.data.token}` }
      }
    })
    after(() => kavach.close())

    it('enforces roles on every organization route', async () => {
      const created = await send('owner', 'POST', '/organizations', { name: 'Acme' })
      assert.equal(created.status, 200)
      const org = await created.json()
      assert.equal(org.ownerId, people.owner.id)
      const add = (who, role, as = 'owner') => send(as, 'POST', `/organizations/${org.id}/members`, { userId: people[who].id, role })
      assert.equal((await add('admin', 'admin')).status, 200)
      assert.equal((await add('member', 'member', 'admin')).status, 200, 'an admin adds members')
      assert.equal((await send('outsider', 'GET', `/organizations/${org.id}`)).status, 403, 'a non-member gets 403')
      assert.equal((await send('outsider', 'GET', `/organizations/${org.id}/members`)).status, 403)
      assert.equal((await send('member', 'DELETE', `/organizations/${org.id}/members/${people.owner.id}`)).status, 403, 'a member cannot remove the owner')
      assert.equal((await send('member', 'PATCH', `/organizations/${org.id}`, { name: 'Mine now' })).status, 403)
      assert.equal((await send('admin', 'PATCH', `/organizations/${org.id}/members/${people.owner.id}`, { role: 'member' })).status, 403, 'an admin cannot demote the owner')
      assert.equal((await send('admin', 'POST', `/organizations/${org.id}/members`, { userId: people.outsider.id, role: 'owner' })).status, 403, 'only owners make owners')
      assert.equal((await send('admin', 'PATCH', `/organizations/${org.id}`, { name: 'Acme Corp' })).status, 200)
      const members = await (await send('member', 'GET', `/organizations/${org.id}/members`)).json()
      assert.equal(members.length, 3)
      const last = await send('owner', 'DELETE', `/organizations/${org.id}/members/${people.owner.id}`)
      assert.equal(last.status, 409)
      assert.equal((await last.json()).error.code, 'LAST_OWNER')
      assert.equal((await send('member', 'DELETE', `/organizations/${org.id}/members/${people.member.id}`)).status, 200, 'a member may leave')
      assert.equal((await send('admin', 'DELETE', `/organizations/${org.id}`)).status, 403, 'only the owner deletes')
      assert.deepEqual((await (await send('admin', 'GET', '/organizations')).json()).map((o) => o.name), ['Acme Corp'])
      assert.equal((await send('owner', 'DELETE', `/organizations/${org.id}`)).status, 200)
      assert.equal((await send('owner', 'GET', `/organizations/${org.id}`)).status, 403)
    })

    it('the routes do not exist without the plugin', async () => {
      const k = await createKavach({ database: { provider: 'sqlite', url: ':memory:' }, secret: SECRET })
      const res = await k.handler(new Request(`${BASE}/api/kavach/organizations`))
      assert.equal(res.status, 404)
      await k.close()
    })
  })
}
