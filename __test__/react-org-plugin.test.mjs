// useOrganization with the organization plugin's active-organization route, in jsdom against a real
// server on 127.0.0.1. Skipped, visibly, where the route is not on this branch (asked with OPTIONS).
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { dom } from './jsdom-env.mjs'
import { backends } from './helpers.mjs'
import { startServer, MOUNT } from './client-server.mjs'
import { createKavachClient } from '../npm/client/index.mjs'

const React = (await import('react')).default
const { render, screen, waitFor, act, cleanup } = await import('@testing-library/react')
const { KavachProvider, useOrganization, useSession } = await import('../npm/react/index.mjs')
const h = React.createElement
const PASSWORD = 'correct horse battery'

for (const backend of backends()) {
  describe(`useOrganization with an active organization on ${backend}`, () => {
    let srv
    let present = false
    before(async () => {
      srv = await startServer(backend, 'reactorg')
      dom.reconfigure({ url: `${srv.origin}/app` })
      const res = await fetch(`${srv.origin}${MOUNT}/organizations/active`, { method: 'OPTIONS' })
      present = res.status === 204 && (res.headers.get('allow') ?? '').split(',').map((m) => m.trim()).includes('POST')
    })
    after(async () => {
      cleanup()
      await srv.close()
    })

    it('setActive makes it the organization of every reader', async (t) => {
      if (!present) return t.skip('the active-organization route is not on this branch')
      // The user and two organizations, made over HTTP before the page loads.
      const setup = createKavachClient({ baseUrl: srv.origin })
      await setup.auth.signUp({ email: 'active@example.com', password: PASSWORD })
      const a = (await setup.organizations.create({ name: 'Alpha' })).data
      await setup.organizations.create({ name: 'Beta' })

      let api
      function Active({ i }) {
        const o = useOrganization()
        if (i === 0) api = o
        return h('span', { 'data-testid': `active-${i}` }, o.isLoading ? 'loading' : o.organization ? o.organization.name : 'none')
      }
      function Sid() {
        const { session } = useSession()
        return h('span', { 'data-testid': 'sid' }, session ? session.activeOrganizationId ?? 'unset' : 'anon')
      }
      const client = createKavachClient({ basePath: '/api/kavach' })
      render(h(KavachProvider, { client }, h(Active, { i: 0 }), h(Active, { i: 1 }), h(Sid)))
      await act(async () => {
        assert.equal((await client.auth.signIn({ email: 'active@example.com', password: PASSWORD })).success, true)
      })
      await waitFor(() => assert.equal(screen.getByTestId('active-1').textContent, 'none'))
      assert.deepEqual(api.organizations.map((o) => o.name).sort(), ['Alpha', 'Beta'])
      const lists = srv.count('GET /organizations')
      let r
      await act(async () => {
        r = await api.setActive(a.id)
      })
      assert.equal(r.success, true, JSON.stringify(r))
      await waitFor(() => assert.equal(screen.getByTestId('active-0').textContent, 'Alpha'))
      assert.equal(screen.getByTestId('active-1').textContent, 'Alpha')
      assert.equal(screen.getByTestId('sid').textContent, a.id)
      assert.equal(api.activeOrganizationId, a.id)
      assert.equal(srv.count('GET /organizations'), lists, 'the same user: the list is not read again')
      await act(async () => {
        await api.setActive(null)
      })
      await waitFor(() => assert.equal(screen.getByTestId('active-0').textContent, 'none'))
    })
  })
}
