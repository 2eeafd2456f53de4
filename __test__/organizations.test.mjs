// Seed 000's organizations snippet, as written, on every database; Results and LAST_OWNER from JS.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach } from '../index.mjs'
import { organization } from '../plugins.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

for (const backend of backends()) {
  describe(`organizations on ${backend}`, () => {
    let instance = null
    const database = freshDatabase(backend, 'orgs')
    async function getKavach() {
      if (!instance) {
        instance = await createKavach({ database, secret: SECRET, emailAndPassword: { enabled: true }, plugins: [organization()] })
      }
      return instance
    }
    after(() => instance && instance.close())

    it('runs the seed 000 snippet', async () => {
      const userId = 'user_owner'
      const otherUserId = 'user_other'
      // Seed 000, "Organizations" AFTER, verbatim.
      const kavach = await getKavach()
      const org = await kavach.organizations.create({
        name: 'Acme',
        ownerId: userId,
      })
      await kavach.organizations.addMember({
        organizationId: org.data.id,
        userId: otherUserId,
        role: 'member',
      })
      // What it did.
      assert.equal(org.success, true)
      assert.equal(org.data.slug, 'acme')
      assert.ok(org.data.createdAt instanceof Date)
      const members = await kavach.organizations.listMembers({ organizationId: org.data.id })
      assert.deepEqual(members.data.map((m) => [m.userId, m.role]), [['user_owner', 'owner'], ['user_other', 'member']])
      const mine = await kavach.organizations.list({ userId: otherUserId })
      assert.deepEqual(mine.data.map((o) => o.name), ['Acme'])
    })

    it('answers failures as Results with codes', async () => {
      const kavach = await getKavach()
      const [org] = (await kavach.organizations.list({ userId: 'user_owner' })).data
      const last = await kavach.organizations.removeMember({ organizationId: org.id, userId: 'user_owner' })
      assert.deepEqual(last, { success: false, error: { code: 'LAST_OWNER', message: 'an organization must keep at least one owner' } })
      const dup = await kavach.organizations.addMember({ organizationId: org.id, userId: 'user_other', role: 'admin' })
      assert.equal(dup.error.code, 'CONFLICT')
      const bad = await kavach.organizations.create({ name: '', ownerId: 'x' })
      assert.equal(bad.error.code, 'VALIDATION_FAILED')
      assert.deepEqual(await kavach.organizations.get('missing'), { success: true, data: null })
      const updated = await kavach.organizations.update(org.id, { name: 'Acme Corp' })
      assert.equal(updated.data.name, 'Acme Corp')
      assert.deepEqual(await kavach.organizations.delete(org.id), { success: true, data: undefined })
    })

    it('without the plugin, the calls say so', async () => {
      const k = await createKavach({ database: { provider: 'sqlite', url: ':memory:' }, secret: SECRET })
      const r = await k.organizations.create({ name: 'A', ownerId: 'u' })
      assert.equal(r.error.code, 'CONFIG_INVALID')
      await k.close()
    })
  })
}
