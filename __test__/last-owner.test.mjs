// An organization always keeps an owner (issue 17, point 8): removing, demoting, banning or deleting
// its last owner, or that owner leaving, is LAST_OWNER (HTTP 409) from every path, the admin
// plugin's included, and changes nothing. With a second owner the same calls go through.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach } from '../index.mjs'
import { admin, organization } from '../plugins.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

const ORIGIN = 'http://app.test'
const PASSWORD = 'long enough pw'

for (const backend of backends()) {
  describe(`organizations keep an owner on ${backend}`, () => {
    let kavach
    const ids = {}
    const cookies = {}
    let org

    const send = (who, method, path, json) => {
      const headers = { origin: ORIGIN }
      if (who) headers.cookie = cookies[who]
      if (json !== undefined) headers['content-type'] = 'application/json'
      return kavach.handler(new Request(`${ORIGIN}/api/kavach${path}`, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) }))
    }
    const expectLastOwner = async (res) => {
      assert.equal(res.status, 409)
      assert.equal((await res.json()).error.code, 'LAST_OWNER')
    }

    before(async () => {
      kavach = await createKavach({
        database: freshDatabase(backend, 'lastowner'),
        secret: SECRET,
        baseUrl: ORIGIN,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        plugins: [organization(), admin()],
      })
      for (const who of ['root', 'owner', 'second']) {
        const r = await kavach.auth.signUp({ email: `${who}@example.com`, password: PASSWORD, name: who })
        assert.equal(r.success, true)
        ids[who] = r.data.user.id
        cookies[who] = `kavach_session=${r.data.token}`
      }
      assert.equal((await kavach.admin.setRole({ userId: ids.root, role: 'admin' })).success, true)
      const created = await kavach.organizations.create({ name: 'Keep', ownerId: ids.owner })
      assert.equal(created.success, true)
      org = created.data
      assert.equal((await kavach.organizations.addMember({ organizationId: org.id, userId: ids.second, role: 'member' })).success, true)
    })
    after(async () => {
      await kavach.close()
    })

    it('refuses every path that would take the last owner away, and changes nothing', async () => {
      const ban = await kavach.admin.banUser({ userId: ids.owner, reason: 'test' })
      assert.equal(ban.success, false)
      assert.equal(ban.error.code, 'LAST_OWNER')
      const removed = await kavach.admin.removeUser(ids.owner)
      assert.equal(removed.success, false)
      assert.equal(removed.error.code, 'LAST_OWNER')
      const left = await kavach.organizations.removeMember({ organizationId: org.id, userId: ids.owner })
      assert.equal(left.error.code, 'LAST_OWNER')
      const demoted = await kavach.organizations.updateMemberRole({ organizationId: org.id, userId: ids.owner, role: 'member' })
      assert.equal(demoted.error.code, 'LAST_OWNER')
      // Over HTTP: the admin's ban and removal, the owner leaving and demoting itself.
      await expectLastOwner(await send('root', 'POST', `/admin/users/${ids.owner}/ban`, { reason: 'test' }))
      await expectLastOwner(await send('root', 'DELETE', `/admin/users/${ids.owner}`))
      await expectLastOwner(await send('owner', 'DELETE', `/organizations/${org.id}/members/${ids.owner}`))
      await expectLastOwner(await send('owner', 'PATCH', `/organizations/${org.id}/members/${ids.owner}`, { role: 'member' }))
      // Nothing changed: the owner still signs in, is not banned, and still owns the organization.
      const session = await kavach.auth.getSession({ headers: new Headers({ cookie: cookies.owner }) })
      assert.equal(session.data?.user.id, ids.owner)
      assert.ok(!session.data.user.banned)
      const members = await kavach.organizations.listMembers({ organizationId: org.id })
      assert.deepEqual(members.data.map((m) => [m.userId, m.role]).sort(), [[ids.owner, 'owner'], [ids.second, 'member']].sort())
    })

    it('with a second owner, the same calls go through', async () => {
      const promoted = await kavach.organizations.updateMemberRole({ organizationId: org.id, userId: ids.second, role: 'owner' })
      assert.equal(promoted.success, true)
      const ban = await send('root', 'POST', `/admin/users/${ids.owner}/ban`, { reason: 'test' })
      assert.equal(ban.status, 200, await ban.clone().text())
      const gone = await kavach.auth.getSession({ headers: new Headers({ cookie: cookies.owner }) })
      assert.equal(gone.data, null, 'a ban ends the sessions')
      // Now the second owner is the last one: the ban of it is refused in turn.
      await expectLastOwner(await send('root', 'POST', `/admin/users/${ids.second}/ban`, { reason: 'test' }))
      const removed = await kavach.admin.removeUser(ids.owner)
      assert.equal(removed.success, true)
      const members = await kavach.organizations.listMembers({ organizationId: org.id })
      assert.deepEqual(members.data.map((m) => [m.userId, m.role]), [[ids.second, 'owner']])
    })
  })
}
