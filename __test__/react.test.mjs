// @kavachos/react with React Testing Library in jsdom, against a real server on 127.0.0.1: the hooks
// share one session store (one request for many readers), sign-in/out update every reader, focus
// refetches once, useUser gives { user, isLoading }, useOrganization reads the plugin's routes.
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { dom } from './jsdom-env.mjs'
import { backends } from './helpers.mjs'
import { startServer } from './client-server.mjs'
import { createKavachClient } from '../npm/client/index.mjs'

const React = (await import('react')).default
const { render, screen, waitFor, act, cleanup, fireEvent } = await import('@testing-library/react')
const { KavachProvider, useSession, useUser, useSignIn, useSignUp, useSignOut, useOrganization, useKavachClient } = await import('../npm/react/index.mjs')

const { renderToString } = await import('react-dom/server')
const { hydrateRoot } = await import('react-dom/client')

const h = React.createElement
const PASSWORD = 'correct horse battery'
const N = 20

function Reader({ i }) {
  const { user, isLoading } = useSession()
  return h('span', { 'data-testid': `reader-${i}` }, isLoading ? 'loading' : user ? user.email : 'anonymous')
}

function Readers() {
  return h(React.Fragment, null, ...Array.from({ length: N }, (_, i) => h(Reader, { key: i, i })))
}

const texts = () => Array.from({ length: N }, (_, i) => screen.getByTestId(`reader-${i}`).textContent)
const allShow = (t) => waitFor(() => assert.deepEqual(new Set(texts()), new Set([t])))

for (const backend of backends()) {
  describe(`@kavachos/react on ${backend}`, () => {
    let srv
    before(async () => {
      srv = await startServer(backend, 'react')
      dom.reconfigure({ url: `${srv.origin}/app` })
      for (const who of ['ada', 'grace', 'orgs']) {
        const r = await createKavachClient({ baseUrl: srv.origin, cookies: false }).auth.signUp({ email: `${who}@example.com`, password: PASSWORD, name: who })
        assert.equal(r.success, true)
      }
    })
    after(() => srv.close())
    afterEach(() => cleanup())

    it(`${N} readers make one session request; sign-in, focus and sign-out reach all of them`, async () => {
      const results = {}
      function Controls() {
        const signIn = useSignIn()
        const signOut = useSignOut()
        return h(
          'div',
          null,
          h('button', { onClick: () => signIn({ email: 'ada@example.com', password: 'wrong password!' }).then((r) => (results.bad = r)) }, 'bad sign in'),
          h('button', { onClick: () => signIn({ email: 'ada@example.com', password: PASSWORD }).then((r) => (results.in = r)) }, 'sign in'),
          h('button', { onClick: () => signOut().then((r) => (results.out = r)) }, 'sign out'),
          h('p', { 'data-testid': 'error' }, signIn.error ? signIn.error.message : ''),
        )
      }
      const before = srv.count('GET /auth/session')
      render(h(KavachProvider, { basePath: '/api/kavach', focusThrottleMs: 0 }, h(Readers), h(Controls)))
      assert.deepEqual(new Set(texts()), new Set(['loading']))
      await allShow('anonymous')
      assert.equal(srv.count('GET /auth/session') - before, 1, 'one request for all readers')

      fireEvent.click(screen.getByText('bad sign in'))
      await waitFor(() => assert.ok(results.bad))
      assert.equal(results.bad.success, false)
      assert.equal(results.bad.error.code, 'INVALID_CREDENTIALS')
      await waitFor(() => assert.notEqual(screen.getByTestId('error').textContent, ''))
      assert.deepEqual(new Set(texts()), new Set(['anonymous']))

      fireEvent.click(screen.getByText('sign in'))
      await allShow('ada@example.com')
      assert.equal(results.in.success, true)
      assert.equal(results.in.data.user.email, 'ada@example.com')
      assert.ok(results.in.data.session.expiresAt instanceof Date)
      await waitFor(() => assert.equal(screen.getByTestId('error').textContent, ''), 'a new call clears the error')
      assert.equal(srv.count('GET /auth/session') - before, 1, 'sign-in updates readers from its own answer')

      // Focus (and visibility, at the same moment) make exactly one refetch, which sees the cookie.
      await act(async () => {
        window.dispatchEvent(new window.FocusEvent('focus'))
        document.dispatchEvent(new window.Event('visibilitychange'))
      })
      await waitFor(() => assert.equal(srv.count('GET /auth/session') - before, 2))
      await new Promise((r) => setTimeout(r, 50))
      assert.equal(srv.count('GET /auth/session') - before, 2, 'one refetch, not two')
      assert.deepEqual(new Set(texts()), new Set(['ada@example.com']), 'the refetch found the session on the server')

      const outs = srv.count('POST /auth/sign-out')
      fireEvent.click(screen.getByText('sign out'))
      await allShow('anonymous')
      assert.equal(results.out.success, true)
      assert.equal(srv.count('POST /auth/sign-out') - outs, 1)
      // The server ended it: a refetch still finds nobody.
      await act(async () => {
        window.dispatchEvent(new window.FocusEvent('focus'))
      })
      await waitFor(() => assert.equal(srv.count('GET /auth/session') - before, 3))
      assert.deepEqual(new Set(texts()), new Set(['anonymous']))
    })

    it('throttles focus refetches (default 5 s), in StrictMode too', async () => {
      const before = srv.count('GET /auth/session')
      // StrictMode mounts, unmounts and mounts again: still one request.
      render(h(React.StrictMode, null, h(KavachProvider, { basePath: '/api/kavach' }, h(Readers))))
      await allShow('anonymous')
      assert.equal(srv.count('GET /auth/session') - before, 1)
      for (let i = 0; i < 5; i++) {
        await act(async () => {
          window.dispatchEvent(new window.FocusEvent('focus'))
        })
      }
      await new Promise((r) => setTimeout(r, 50))
      assert.equal(srv.count('GET /auth/session') - before, 1)
    })

    it('useUser gives { user, isLoading }; useSignUp and the { signIn } / positional forms work', async () => {
      const seen = []
      let actions
      function Probe() {
        const u = useUser()
        seen.push({ user: u.user ? u.user.email : null, isLoading: u.isLoading })
        const { signIn } = useSignIn()
        const signUp = useSignUp()
        const signOut = useSignOut()
        actions = { signIn, signUp, signOut }
        return h('p', { 'data-testid': 'probe' }, u.isLoading ? '...' : u.user ? u.user.name : 'nobody')
      }
      render(h(KavachProvider, { baseUrl: srv.origin }, h(Probe)))
      assert.deepEqual(seen[0], { user: null, isLoading: true })
      await waitFor(() => assert.equal(screen.getByTestId('probe').textContent, 'nobody'))
      assert.deepEqual(seen.at(-1), { user: null, isLoading: false })

      let r
      await act(async () => {
        r = await actions.signIn('grace@example.com', PASSWORD)
      })
      assert.equal(r.success, true)
      await waitFor(() => assert.equal(screen.getByTestId('probe').textContent, 'grace'))
      assert.deepEqual(seen.at(-1), { user: 'grace@example.com', isLoading: false })
      assert.equal(typeof actions.signIn.isLoading, 'boolean')

      await act(async () => {
        r = await actions.signUp({ email: 'new@example.com', password: PASSWORD, name: 'Newcomer' })
      })
      assert.equal(r.success, true)
      await waitFor(() => assert.equal(screen.getByTestId('probe').textContent, 'Newcomer'))
      await act(async () => {
        await actions.signOut()
      })
      await waitFor(() => assert.equal(screen.getByTestId('probe').textContent, 'nobody'))
    })

    it('useOrganization lists the user\'s organizations once for many readers and creates new ones', async () => {
      let api
      function OrgReader({ i }) {
        const o = useOrganization()
        if (i === 0) api = o
        return h('span', { 'data-testid': `org-${i}` }, o.isLoading ? 'loading' : o.organizations.map((x) => x.name).join(',') || 'none')
      }
      function SignedInAs() {
        const client = useKavachClient()
        return h('button', { onClick: () => client.auth.signIn({ email: 'orgs@example.com', password: PASSWORD }) }, 'enter')
      }
      const beforeLists = srv.count('GET /organizations')
      render(h(KavachProvider, { basePath: '/api/kavach' }, ...Array.from({ length: 5 }, (_, i) => h(OrgReader, { key: i, i })), h(SignedInAs, { key: 'b' })))
      await waitFor(() => assert.equal(screen.getByTestId('org-0').textContent, 'none'))
      assert.equal(srv.count('GET /organizations') - beforeLists, 0, 'no list request while signed out')

      // A sign-in through the provider's client (not a hook) still reaches the store.
      fireEvent.click(screen.getByText('enter'))
      await waitFor(() => assert.equal(srv.count('GET /organizations') - beforeLists, 1))
      await waitFor(() => assert.equal(screen.getByTestId('org-4').textContent, 'none'))
      let created
      await act(async () => {
        created = await api.create({ name: 'Acme' })
      })
      assert.equal(created.success, true)
      await waitFor(() => assert.equal(screen.getByTestId('org-3').textContent, 'Acme'))
      assert.equal(srv.count('GET /organizations') - beforeLists, 2)
      assert.equal(api.organization, null, 'no active organization yet')
      assert.ok(api.organizations[0].createdAt instanceof Date)
    })

    it('an older session answer never overwrites a newer sign-in', async () => {
      let release
      const gate = new Promise((r) => (release = r))
      // The real server answers at once; the answer to the first session read is held back.
      let held = 0
      const slowFetch = async (url, init) => {
        const res = await fetch(url, init)
        if (init.method === 'GET' && String(url).endsWith('/auth/session') && held++ === 0) await gate
        return res
      }
      let signIn
      function Grab() {
        signIn = useSignIn()
        return null
      }
      render(h(KavachProvider, { basePath: '/api/kavach', fetch: slowFetch }, h(Readers), h(Grab)))
      let r
      await act(async () => {
        r = await signIn({ email: 'ada@example.com', password: PASSWORD })
      })
      assert.equal(r.success, true)
      await allShow('ada@example.com')
      await act(async () => {
        release()
        await new Promise((res) => setTimeout(res, 50))
      })
      assert.deepEqual(new Set(texts()), new Set(['ada@example.com']), 'the stale "signed out" answer was dropped')
    })

    it('hydrates server HTML without a mismatch, then loads the session', async () => {
      const app = () => h(KavachProvider, { basePath: '/api/kavach' }, h(Readers))
      const container = document.createElement('div')
      container.innerHTML = renderToString(app())
      document.body.appendChild(container)
      assert.equal(container.querySelector('[data-testid="reader-0"]').textContent, 'loading')
      const errors = []
      let root
      await act(async () => {
        root = hydrateRoot(container, app(), { onRecoverableError: (e) => errors.push(e) })
      })
      await waitFor(() => assert.equal(container.querySelector('[data-testid="reader-19"]').textContent, 'anonymous'))
      assert.deepEqual(errors, [])
      await act(async () => root.unmount())
      container.remove()
    })

    it('initialSession: no first fetch and isLoading false from the first render', async () => {
      const raw = await srv.kavach.auth.signIn({ email: 'ada@example.com', password: PASSWORD })
      // As a server would pass it through JSON to the page.
      const initial = JSON.parse(JSON.stringify({ user: raw.data.user, session: raw.data.session }))
      const before = srv.count('GET /auth/session')
      const seen = []
      function Probe() {
        const s = useSession()
        seen.push(s.isLoading)
        return h('p', { 'data-testid': 'initial' }, s.user ? `${s.user.email} ${s.session.expiresAt instanceof Date}` : 'none')
      }
      render(h(KavachProvider, { basePath: '/api/kavach', initialSession: initial }, h(Probe)))
      assert.equal(screen.getByTestId('initial').textContent, 'ada@example.com true')
      await new Promise((r) => setTimeout(r, 50))
      assert.equal(srv.count('GET /auth/session') - before, 0)
      assert.deepEqual([...new Set(seen)], [false])
    })
  })
}
