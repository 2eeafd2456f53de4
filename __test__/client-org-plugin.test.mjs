// @kavachos/client against the organization plugin's invitation, active-organization and permission
// routes, on a real server on 127.0.0.1, on every database. Built before those routes were on this
// branch: each suite asks the server (an OPTIONS preflight) whether the routes exist and is skipped,
// visibly, where they do not.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavachClient } from '../npm/client/index.mjs'
import { backends } from './helpers.mjs'
import { startServer, MOUNT } from './client-server.mjs'

const PASSWORD = 'correct horse battery'

for (const backend of backends()) {
  describe(`@kavachos/client organization invitations on ${backend}`, () => {
    let srv
    let present = false
    before(async () => {
      srv = await startServer(backend, 'clientorg')
      present = (await fetch(`${srv.origin}${MOUNT}/invitations`, { method: 'OPTIONS' })).status === 204
    })
    after(() => srv.close())

    const newClient = () => createKavachClient({ baseUrl: srv.origin })
    async function verifiedUser(email) {
      const c = newClient()
      const up = await c.auth.signUp({ email, password: PASSWORD })
      assert.equal(up.success, true)
      const mail = srv.mails.filter((m) => m.kind === 'verify' && m.user.email === email).at(-1) ?? (await c.auth.sendVerificationEmail(), srv.mails.filter((m) => m.kind === 'verify' && m.user.email === email).at(-1))
      assert.equal((await c.auth.verifyEmail({ token: mail.token })).success, true)
      return { c, user: up.data.user }
    }

    it('invites, lists, accepts, declines and cancels; hasPermission; setActive', async (t) => {
      if (!present) return t.skip('the invitation routes are not on this branch')
      const owner = await verifiedUser('inv-owner@example.com')
      const guest = await verifiedUser('inv-guest@example.com')
      const other = await verifiedUser('inv-other@example.com')
      const org = (await owner.c.organizations.create({ name: 'Invites Inc' })).data

      const inv = await owner.c.organizations.invitations.create({ organizationId: org.id, email: 'inv-guest@example.com', role: 'member' })
      assert.equal(inv.success, true, JSON.stringify(inv))
      assert.equal(inv.data.status, 'pending')
      assert.ok(inv.data.expiresAt instanceof Date)
      assert.ok(inv.data.createdAt instanceof Date)
      const inv2 = (await owner.c.organizations.invitations.create({ organizationId: org.id, email: 'inv-other@example.com', role: 'admin' })).data
      const inv3 = (await owner.c.organizations.invitations.create({ organizationId: org.id, email: 'nobody-yet@example.com', role: 'member' })).data

      const listed = await owner.c.organizations.invitations.list({ organizationId: org.id })
      assert.deepEqual(listed.data.map((i) => i.id).sort(), [inv.data.id, inv2.id, inv3.id].sort())
      assert.equal((await guest.c.organizations.invitations.list({ organizationId: org.id })).error.code, 'FORBIDDEN', 'a non-member sees no invitations')

      const mine = await guest.c.organizations.invitations.listMine()
      assert.deepEqual(mine.data.map((i) => i.id), [inv.data.id])
      const one = await guest.c.organizations.invitations.get(inv.data.id)
      assert.equal(one.data.invitation.id, inv.data.id)
      assert.equal(one.data.organization.name, 'Invites Inc')
      assert.deepEqual(await other.c.organizations.invitations.get(inv.data.id), { success: true, data: null }, 'not addressed to them')

      const member = await guest.c.organizations.invitations.accept(inv.data.id)
      assert.equal(member.success, true, JSON.stringify(member))
      assert.equal(member.data.userId, guest.user.id)
      assert.equal(member.data.role, 'member')
      assert.deepEqual((await guest.c.organizations.list()).data.map((o) => o.id), [org.id])

      const declined = await other.c.organizations.declineInvitation(inv2.id)
      assert.equal(declined.data.status, 'declined')
      assert.deepEqual(await owner.c.organizations.invitations.cancel({ organizationId: org.id, invitationId: inv3.id }), { success: true, data: undefined })
      const statuses = Object.fromEntries((await owner.c.organizations.invitations.list({ organizationId: org.id })).data.map((i) => [i.id, i.status]))
      assert.deepEqual(statuses, { [inv.data.id]: 'accepted', [inv2.id]: 'declined', [inv3.id]: 'canceled' })

      assert.deepEqual((await owner.c.organizations.hasPermission({ organizationId: org.id, permission: 'invitations:create' })).data, { allowed: true })
      assert.deepEqual((await guest.c.organizations.hasPermission({ organizationId: org.id, permission: 'invitations:create' })).data, { allowed: false })
      assert.equal((await other.c.organizations.hasPermission({ organizationId: org.id, permission: 'invitations:create' })).error.code, 'FORBIDDEN')

      const changes = []
      guest.c.onSessionChange((x) => changes.push(x))
      const active = await guest.c.organizations.setActive(org.id)
      assert.equal(active.data.session.activeOrganizationId, org.id)
      assert.ok(active.data.session.expiresAt instanceof Date)
      assert.equal((await guest.c.auth.getSession()).data.session.activeOrganizationId, org.id)
      assert.deepEqual(changes, [undefined], 'listeners are told to read the session again')
      assert.equal((await other.c.organizations.setActive(org.id)).success, false, 'only members make it active')
      assert.equal((await guest.c.organizations.setActive(null)).data.session.activeOrganizationId ?? null, null)
    })
  })
}
