// The rest of the organization plugin: custom roles with permissions and hasPermission, invitations
// by email (send, accept, decline, cancel, expiry), and the active organization of a session. Over
// the HTTP API and in-process, on every database.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach } from '../index.mjs'
import { organization } from '../plugins.mjs'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'

const BASE = 'http://localhost:3000'

for (const backend of backends()) {
  describe(`organization invitations, permissions and active organization on ${backend}`, () => {
    let kavach
    let database
    const sent = []
    const people = {}
    const send = async (who, method, path, json) => {
      const headers = new Headers({ origin: BASE })
      if (who) headers.set('cookie', people[who].cookie)
      if (json) headers.set('content-type', 'application/json')
      return kavach.handler(new Request(`${BASE}/api/kavach${path}`, { method, headers, body: json ? JSON.stringify(json) : undefined }))
    }
    const signUp = async (who) => {
      const r = await kavach.auth.signUp({ email: `${who}@example.com`, password: 'long enough pw' })
      assert.equal(r.success, true, JSON.stringify(r.error))
      people[who] = { id: r.data.user.id, email: r.data.user.email, cookie: `kavach_session=${r.data.token}`, token: r.data.token }
    }
    const verify = (who) => sql(database, `UPDATE kavach_user SET email_verified = ${backend === 'sqlite' ? 1 : 'true'} WHERE id = '${people[who].id}'`)

    before(async () => {
      database = freshDatabase(backend, 'orginv')
      kavach = await createKavach({
        database,
        secret: SECRET,
        baseUrl: BASE,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        plugins: [
          organization({
            roles: { billing: ['billing:*', 'organization:read'], recruiter: ['members:read', 'invitations:create', 'invitations:read'] },
            invitationUrl: '/join',
            sendInvitationEmail: async (message) => {
              await new Promise((r) => setTimeout(r, 5))
              sent.push(message)
            },
          }),
        ],
      })
      for (const who of ['owner', 'billing', 'recruiter', 'member', 'invitee', 'stranger']) await signUp(who)
    })
    after(() => kavach.close())

    it('custom roles carry permissions, checked by hasPermission and on the routes', async () => {
      const org = (await kavach.organizations.create({ name: 'Perm Co', ownerId: people.owner.id })).data
      for (const [who, role] of [['billing', 'billing'], ['recruiter', 'recruiter'], ['member', 'member']]) {
        const m = await kavach.organizations.addMember({ organizationId: org.id, userId: people[who].id, role })
        assert.equal(m.success, true, JSON.stringify(m.error))
      }
      const has = (who, permission) => kavach.organizations.hasPermission({ organizationId: org.id, userId: people[who].id, permission })
      assert.deepEqual(await has('billing', 'billing:refund'), { success: true, data: true })
      assert.equal((await has('billing', ['billing:read', 'organization:read'])).data, true)
      assert.equal((await has('billing', ['billing:read', 'members:remove'])).data, false, 'every permission of a list is needed')
      assert.equal((await has('billing', 'members:remove')).data, false)
      assert.equal((await has('owner', 'anything:at-all')).data, true, 'the owner holds every permission')
      assert.equal((await has('member', 'members:read')).data, true)
      assert.equal((await has('member', 'members:remove')).data, false)
      assert.equal((await has('stranger', 'organization:read')).data, false, 'a non-member holds nothing')
      const bad = await has('member', '')
      assert.equal(bad.success, false)
      assert.equal(bad.error.code, 'VALIDATION_FAILED')
      const unknownRole = await kavach.organizations.addMember({ organizationId: org.id, userId: people.stranger.id, role: 'wizard' })
      assert.equal(unknownRole.error.code, 'VALIDATION_FAILED')

      // Over HTTP the same permissions decide the routes.
      const check = async (who, permission) => (await (await send(who, 'POST', `/organizations/${org.id}/has-permission`, { permission })).json()).allowed
      assert.equal(await check('billing', 'billing:export'), true)
      assert.equal(await check('billing', 'members:add'), false)
      assert.equal((await send('billing', 'GET', `/organizations/${org.id}`)).status, 200, 'organization:read')
      assert.equal((await send('billing', 'GET', `/organizations/${org.id}/members`)).status, 403, 'no members:read')
      assert.equal((await send('recruiter', 'GET', `/organizations/${org.id}/members`)).status, 200)
      assert.equal((await send('recruiter', 'GET', `/organizations/${org.id}`)).status, 403, 'no organization:read')
      assert.equal((await send('stranger', 'POST', `/organizations/${org.id}/has-permission`, { permission: 'x:y' })).status, 403)
      assert.equal((await send('recruiter', 'POST', `/organizations/${org.id}/invitations`, { email: 'new-hire@example.com', role: 'member' })).status, 200, 'invitations:create')
      assert.equal((await send('member', 'POST', `/organizations/${org.id}/invitations`, { email: 'other@example.com', role: 'member' })).status, 403)
      assert.equal((await send('recruiter', 'POST', `/organizations/${org.id}/invitations`, { email: 'boss@example.com', role: 'owner' })).status, 403, 'only owners invite owners')
    })

    it('invites by email; only the invited address accepts, once', async () => {
      const org = (await kavach.organizations.create({ name: 'Invite Co', ownerId: people.owner.id })).data
      sent.length = 0
      const res = await send('owner', 'POST', `/organizations/${org.id}/invitations`, { email: 'Invitee@Example.com', role: 'admin' })
      assert.equal(res.status, 200)
      const inv = await res.json()
      assert.equal(inv.email, 'invitee@example.com')
      assert.equal(inv.status, 'pending')
      assert.equal(inv.inviterId, people.owner.id)
      assert.match(inv.expiresAt, /^\d{4}-\d\d-\d\dT/)
      assert.equal(sent.length, 1, 'sendInvitationEmail was awaited')
      assert.equal(sent[0].email, 'invitee@example.com')
      assert.equal(sent[0].url, `${BASE}/join?invitationId=${inv.id}`)
      assert.equal(sent[0].organization.name, 'Invite Co')
      assert.equal(sent[0].inviter.id, people.owner.id)
      assert.ok(sent[0].expiresAt instanceof Date)

      const again = await send('owner', 'POST', `/organizations/${org.id}/invitations`, { email: 'invitee@example.com', role: 'member' })
      assert.equal(again.status, 409, 'one pending invitation per email')
      const memberAlready = await send('owner', 'POST', `/organizations/${org.id}/invitations`, { email: 'owner@example.com', role: 'member' })
      assert.equal(memberAlready.status, 409, 'members are not invited')

      const listed = await (await send('owner', 'GET', `/organizations/${org.id}/invitations`)).json()
      assert.deepEqual(listed.map((i) => i.id), [inv.id])

      // The invitee's own list needs a verified address.
      const unverified = await send('invitee', 'GET', '/invitations')
      assert.equal(unverified.status, 403)
      assert.equal((await unverified.json()).error.code, 'EMAIL_NOT_VERIFIED')
      verify('invitee')
      const mine = await (await send('invitee', 'GET', '/invitations')).json()
      assert.deepEqual(mine.map((i) => i.id), [inv.id])
      const view = await (await send('invitee', 'GET', `/invitations/${inv.id}`)).json()
      assert.equal(view.organization.name, 'Invite Co')
      assert.equal((await send('stranger', 'GET', `/invitations/${inv.id}`)).status, 404, 'someone else sees nothing')

      assert.equal((await send('stranger', 'POST', `/invitations/${inv.id}/accept`)).status, 404, 'another account cannot accept it')
      assert.equal((await send(null, 'POST', `/invitations/${inv.id}/accept`)).status, 401)
      const accepted = await send('invitee', 'POST', `/invitations/${inv.id}/accept`)
      assert.equal(accepted.status, 200)
      const member = await accepted.json()
      assert.equal(member.role, 'admin')
      assert.equal(member.userId, people.invitee.id)
      const twice = await send('invitee', 'POST', `/invitations/${inv.id}/accept`)
      assert.equal(twice.status, 409)
      assert.equal((await kavach.organizations.getInvitation(inv.id)).data.status, 'accepted')
      assert.equal((await send('invitee', 'GET', `/organizations/${org.id}/members`)).status, 200, 'now a member')
    })

    it('declines, cancels and expires invitations', async () => {
      const org = (await kavach.organizations.create({ name: 'Answer Co', ownerId: people.owner.id })).data
      const invite = (email) => kavach.organizations.invite({ organizationId: org.id, email, role: 'member', inviterId: people.owner.id })
      const a = (await invite('stranger@example.com')).data
      const declined = await kavach.organizations.declineInvitation({ invitationId: a.id, userId: people.stranger.id })
      assert.equal(declined.success, true, JSON.stringify(declined.error))
      assert.equal(declined.data.status, 'declined')
      const late = await kavach.organizations.acceptInvitation({ invitationId: a.id, userId: people.stranger.id })
      assert.equal(late.error.code, 'CONFLICT')

      const b = (await invite('stranger@example.com')).data
      assert.equal((await send('member', 'DELETE', `/organizations/${org.id}/invitations/${b.id}`)).status, 403, 'outsiders cannot cancel')
      assert.equal((await send('owner', 'DELETE', `/organizations/${org.id}/invitations/${b.id}`)).status, 200)
      assert.equal((await kavach.organizations.getInvitation(b.id)).data.status, 'canceled')

      const c = (await invite('stranger@example.com')).data
      assert.ok(c.expiresAt instanceof Date)
      // Two days later (the default lifetime is 48 hours): the row's expiry is in the past.
      const past = backend === 'sqlite' ? String(Date.now() - 1000) : backend === 'postgres' ? "now() - interval '1 second'" : 'UTC_TIMESTAMP(3) - INTERVAL 1 SECOND'
      sql(database, `UPDATE kavach_org_invitations SET expires_at = ${past} WHERE id = '${c.id}'`)
      const expired = await kavach.organizations.acceptInvitation({ invitationId: c.id, userId: people.stranger.id })
      assert.equal(expired.success, false)
      assert.equal(expired.error.code, 'INVITATION_EXPIRED')
      assert.equal((await kavach.organizations.getInvitation(c.id)).data.status, 'expired')
      const pending = await kavach.organizations.listUserInvitations({ email: 'stranger@example.com' })
      assert.equal(pending.data.filter((i) => i.organizationId === org.id).length, 0)
      // An expired invitation does not block a new one.
      assert.equal((await invite('stranger@example.com')).success, true)

      const failing = await createKavach({
        database: { provider: 'sqlite', url: ':memory:' },
        secret: SECRET,
        baseUrl: BASE,
        plugins: [organization({ sendInvitationEmail: () => { throw new Error('smtp down') } })],
      })
      const o = (await failing.organizations.create({ name: 'X', ownerId: 'u1' })).data
      const r = await failing.organizations.invite({ organizationId: o.id, email: 'x@example.com', role: 'member' })
      assert.equal(r.success, false)
      assert.doesNotMatch(r.error.message, /smtp down/)
      assert.equal((await failing.organizations.listInvitations({ organizationId: o.id })).data.length, 0, 'an unsent invitation is taken back')
      await failing.close()
    })

    it('keeps the active organization on the session', async () => {
      const org = (await kavach.organizations.create({ name: 'Active Co', ownerId: people.owner.id })).data
      await kavach.organizations.addMember({ organizationId: org.id, userId: people.member.id, role: 'member' })
      const set = await send('member', 'POST', '/organizations/active', { organizationId: org.id })
      assert.equal(set.status, 200)
      assert.equal((await set.json()).session.activeOrganizationId, org.id)
      const session = await (await send('member', 'GET', '/auth/session')).json()
      assert.equal(session.session.activeOrganizationId, org.id)
      const inProcess = await kavach.auth.getSession({ headers: { cookie: people.member.cookie } })
      assert.equal(inProcess.data.session.activeOrganizationId, org.id)

      assert.equal((await send('stranger', 'POST', '/organizations/active', { organizationId: org.id })).status, 403, 'members only')
      assert.equal((await send(null, 'POST', '/organizations/active', { organizationId: org.id })).status, 401)

      // Leaving the organization clears it.
      await kavach.organizations.removeMember({ organizationId: org.id, userId: people.member.id })
      const after = await kavach.auth.getSession({ headers: { cookie: people.member.cookie } })
      assert.equal(after.data.session.activeOrganizationId, null)

      const cleared = await kavach.organizations.setActive({ headers: { cookie: people.owner.cookie }, organizationId: org.id })
      assert.deepEqual(cleared, { success: true, data: undefined })
      assert.equal((await kavach.auth.getSession({ headers: { cookie: people.owner.cookie } })).data.session.activeOrganizationId, org.id)
      await kavach.organizations.setActive({ headers: { cookie: people.owner.cookie }, organizationId: null })
      assert.equal((await kavach.auth.getSession({ headers: { cookie: people.owner.cookie } })).data.session.activeOrganizationId, null)
      const anonymous = await kavach.organizations.setActive({ headers: {}, organizationId: org.id })
      assert.equal(anonymous.error.code, 'UNAUTHORIZED')
    })
  })
}
