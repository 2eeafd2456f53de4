// @kavachos/react's OAuth sign-in: useSignIn({ factor: 'social' }) and useLinkSocial, with React
// Testing Library in jsdom. The API is a small node:http stand-in of this file that answers the routes
// of API.md ("OAuth sign-in") as the contract says, so the tests see exactly what the hooks send and
// whether the page moves; the full-stack check (real handler, OpenID Connect provider, callback and
// session) is __test__/oauth.test.mjs, and the browser one __test__/nextjs-e2e.test.mjs.
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { dom } from './jsdom-env.mjs'

const React = (await import('react')).default
const { render, screen, waitFor, act, cleanup, fireEvent } = await import('@testing-library/react')
const { KavachProvider, useSignIn, useLinkSocial, useSession } = await import('../npm/react/index.mjs')
const h = React.createElement
const MOUNT = '/api/kavach'

async function startFakeApi() {
  const requests = []
  let origin
  const api = {
    requests,
    // Where sign-in sends the page: an external provider (jsdom reports the navigation it cannot do)
    // or a fragment of the page itself (jsdom follows it, so the exact URL can be read back).
    providerUrl: (provider) => `https://${provider}.example/authorize?client_id=${provider}-client&state=s1`,
    routes: (method, path) => requests.filter((r) => r.method === method && r.path === path),
  }
  const server = createServer(async (req, res) => {
    const chunks = []
    for await (const c of req) chunks.push(c)
    const url = new URL(req.url, origin)
    const path = url.pathname.slice(MOUNT.length)
    const entry = { method: req.method, path, origin: req.headers.origin ?? null, cookie: req.headers.cookie ?? '', body: undefined }
    if (chunks.length) entry.body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    requests.push(entry)
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(JSON.stringify(body))
    }
    const signedIn = entry.cookie.includes('kavach_session=u1')
    const user = { id: 'u1', email: 'ada@example.com', name: 'Ada', emailVerified: true, image: null, createdAt: '2026-04-01T00:00:00.000Z', updatedAt: '2026-04-01T00:00:00.000Z' }
    const session = { id: 's1', userId: 'u1', expiresAt: '2026-05-01T00:00:00.000Z', ipAddress: null, userAgent: null, createdAt: '2026-04-01T00:00:00.000Z', updatedAt: '2026-04-01T00:00:00.000Z' }
    if (req.method === 'POST' && entry.origin !== origin) return send(403, { error: { code: 'INVALID_ORIGIN', message: 'foreign origin' } })
    switch (`${req.method} ${path}`) {
      case 'GET /auth/session':
        return signedIn ? send(200, { user, session }) : send(401, { error: { code: 'UNAUTHORIZED', message: 'no session' } })
      case 'POST /auth/sign-in':
        return send(200, { user, session }, { 'set-cookie': 'kavach_session=u1; Path=/' })
      case 'POST /auth/sign-in/social':
        if (!['github', 'corp'].includes(entry.body.provider)) return send(404, { error: { code: 'NOT_FOUND', message: 'no such provider' } })
        return send(200, { url: api.providerUrl(entry.body.provider), redirect: true }, { 'set-cookie': 'kavach_oauth_state=s1; Path=/api/kavach/oauth; HttpOnly' })
      case 'POST /auth/link-social':
        if (!signedIn) return send(401, { error: { code: 'UNAUTHORIZED', message: 'no session' } })
        return send(200, { url: api.providerUrl(entry.body.provider), redirect: true })
      default:
        return send(404, { error: { code: 'NOT_FOUND', message: 'no such route' } })
    }
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  origin = `http://127.0.0.1:${server.address().port}`
  api.origin = origin
  api.close = () => new Promise((r) => server.close(r))
  return api
}

// The sign-in page of examples/nextjs in miniature: one button per provider, each with data-provider.
function SocialButtons({ providers, results, callbackURL = '/dashboard', disableRedirect }) {
  const signIn = useSignIn({ factor: 'social' })
  return h(
    'div',
    null,
    ...providers.map((id) =>
      h('button', { key: id, type: 'button', 'data-provider': id, disabled: signIn.isLoading, onClick: () => signIn({ provider: id, callbackURL, disableRedirect }).then((r) => results.push(r)) }, `Sign in with ${id}`),
    ),
    h('p', { 'data-testid': 'state' }, signIn.isLoading ? 'loading' : signIn.error ? signIn.error.code : 'idle'),
  )
}

describe('@kavachos/react OAuth sign-in (useSignIn({ factor: "social" }), useLinkSocial)', () => {
  let api
  const navigations = []
  // jsdom cannot leave the document: it reports each navigation as a "not implemented" error, which
  // is counted here (and not printed); every other report goes where it went before.
  let printers = []
  const onJsdomError = (e) => {
    if (/navigation/i.test(e.message)) navigations.push(e.message)
    else for (const p of printers) p(e)
  }
  before(async () => {
    api = await startFakeApi()
    printers = dom.virtualConsole.listeners('jsdomError')
    dom.virtualConsole.removeAllListeners('jsdomError')
    dom.virtualConsole.on('jsdomError', onJsdomError)
  })
  after(async () => {
    dom.virtualConsole.off('jsdomError', onJsdomError)
    for (const p of printers) dom.virtualConsole.on('jsdomError', p)
    await api.close()
  })
  afterEach(() => {
    cleanup()
    navigations.length = 0
    dom.reconfigure({ url: `${api.origin}/sign-in` })
  })
  const page = () => dom.reconfigure({ url: `${api.origin}/sign-in` })

  it('a provider button calls signIn.social and the page goes to the provider', async () => {
    page()
    // The provider's URL as a fragment of this page: jsdom follows it, so location.href shows it.
    const saved = api.providerUrl
    api.providerUrl = (provider) => `${api.origin}/sign-in#authorize-${provider}`
    try {
      const results = []
      render(h(KavachProvider, { basePath: MOUNT }, h(SocialButtons, { providers: ['github', 'corp'], results })))
      const before = api.routes('POST', '/auth/sign-in/social').length
      fireEvent.click(document.querySelector('[data-provider="github"]'))
      await waitFor(() => assert.equal(results.length, 1))
      assert.deepEqual(results[0], { success: true, data: { url: `${api.origin}/sign-in#authorize-github`, redirect: true } })
      assert.equal(window.location.href, `${api.origin}/sign-in#authorize-github`, 'window.location.href = data.url')
      const sent = api.routes('POST', '/auth/sign-in/social')
      assert.equal(sent.length - before, 1)
      assert.deepEqual(sent.at(-1).body, { provider: 'github', callbackURL: '/dashboard' })
      assert.equal(sent.at(-1).origin, api.origin)
      await waitFor(() => assert.equal(screen.getByTestId('state').textContent, 'idle'))
    } finally {
      api.providerUrl = saved
    }
  })

  it('an external provider URL is a real navigation (jsdom reports the one it cannot do)', async () => {
    page()
    const results = []
    render(h(KavachProvider, { basePath: MOUNT }, h(SocialButtons, { providers: ['corp'], results })))
    fireEvent.click(screen.getByText('Sign in with corp'))
    await waitFor(() => assert.equal(results.length, 1))
    assert.equal(results[0].success, true)
    assert.equal(results[0].data.url, 'https://corp.example/authorize?client_id=corp-client&state=s1')
    assert.equal(navigations.length, 1, 'one navigation away from the page')
  })

  it('disableRedirect answers the URL and the page stays', async () => {
    page()
    const results = []
    render(h(KavachProvider, { basePath: MOUNT }, h(SocialButtons, { providers: ['github'], results, disableRedirect: true })))
    fireEvent.click(document.querySelector('[data-provider="github"]'))
    await waitFor(() => assert.equal(results.length, 1))
    assert.equal(results[0].data.url, 'https://github.example/authorize?client_id=github-client&state=s1')
    assert.deepEqual(api.routes('POST', '/auth/sign-in/social').at(-1).body, { provider: 'github', callbackURL: '/dashboard', disableRedirect: true })
    assert.equal(navigations.length, 0)
    assert.equal(window.location.href, `${api.origin}/sign-in`)
  })

  it('errors are Results on the action (isLoading, error), with no navigation', async () => {
    page()
    const results = []
    const seen = []
    function Probe() {
      const signIn = useSignIn({ factor: 'social' })
      seen.push(signIn.isLoading)
      return h(
        'div',
        null,
        h('button', { onClick: () => signIn({ provider: 'nope' }).then((r) => results.push(r)) }, 'unknown'),
        h('button', { onClick: () => signIn({ callbackURL: '/dashboard' }).then((r) => results.push(r)) }, 'no provider'),
        h('button', { onClick: () => signIn.signIn('corp').then((r) => results.push(r)) }, 'by name'),
        h('p', { 'data-testid': 'error' }, signIn.error ? signIn.error.code : ''),
      )
    }
    render(h(KavachProvider, { basePath: MOUNT }, h(Probe)))
    fireEvent.click(screen.getByText('unknown'))
    await waitFor(() => assert.equal(results.length, 1))
    assert.deepEqual(results[0], { success: false, error: { code: 'NOT_FOUND', message: 'no such provider' } })
    await waitFor(() => assert.equal(screen.getByTestId('error').textContent, 'NOT_FOUND'))
    assert.ok(seen.includes(true), 'isLoading while the call is in flight')

    const sent = api.requests.length
    fireEvent.click(screen.getByText('no provider'))
    await waitFor(() => assert.equal(results.length, 2))
    assert.equal(results[1].error.code, 'VALIDATION_FAILED')
    assert.equal(api.requests.length, sent, 'no request without a provider')
    assert.equal(navigations.length, 0)

    fireEvent.click(screen.getByText('by name'))
    await waitFor(() => assert.equal(results.length, 3))
    assert.equal(results[2].success, true)
    assert.deepEqual(api.routes('POST', '/auth/sign-in/social').at(-1).body, { provider: 'corp' })
    await waitFor(() => assert.equal(screen.getByTestId('error').textContent, ''), 'a new call clears the error')
  })

  it("'password' (and no factor) still sign in with a password; unknown factors are not available; passkey without WebAuthn says so", async () => {
    page()
    const out = {}
    function Probe() {
      const password = useSignIn({ factor: 'password' })
      const plain = useSignIn()
      const passkey = useSignIn({ factor: 'passkey' })
      const unknown = useSignIn({ factor: 'telepathy' })
      const { user, isLoading } = useSession()
      return h(
        'div',
        null,
        h('button', { onClick: () => passkey({ provider: 'github' }).then((r) => (out.passkey = r)) }, 'passkey'),
        h('button', { onClick: () => unknown({ provider: 'github' }).then((r) => (out.unknown = r)) }, 'unknown'),
        h('button', { onClick: () => password({ provider: 'github' }).then((r) => (out.wrong = r)) }, 'password without one'),
        h('button', { onClick: () => plain({ email: 'ada@example.com', password: 'correct horse battery' }).then((r) => (out.plain = r)) }, 'password'),
        h('p', { 'data-testid': 'who' }, isLoading ? 'loading' : user ? user.email : 'anonymous'),
      )
    }
    render(h(KavachProvider, { basePath: MOUNT }, h(Probe)))
    await waitFor(() => assert.equal(screen.getByTestId('who').textContent, 'anonymous'))
    const sent = api.requests.length
    fireEvent.click(screen.getByText('passkey'))
    await waitFor(() => assert.ok(out.passkey))
    // jsdom has no navigator.credentials: the passkey factor exists and says why it cannot run here
    assert.equal(out.passkey.success, false)
    assert.equal(out.passkey.error.code, 'WEBAUTHN_UNSUPPORTED')
    fireEvent.click(screen.getByText('unknown'))
    await waitFor(() => assert.ok(out.unknown))
    assert.deepEqual(out.unknown, { success: false, error: { code: 'VALIDATION_FAILED', message: 'the sign-in factor "telepathy" is not available' } })
    fireEvent.click(screen.getByText('password without one'))
    await waitFor(() => assert.ok(out.wrong))
    assert.equal(out.wrong.error.code, 'VALIDATION_FAILED')
    assert.equal(api.requests.length, sent, 'neither reached the API')
    fireEvent.click(screen.getByText('password'))
    await waitFor(() => assert.equal(screen.getByTestId('who').textContent, 'ada@example.com'))
    assert.equal(out.plain.success, true)
    assert.equal(api.routes('POST', '/auth/sign-in').at(-1).body.email, 'ada@example.com')
    assert.equal(api.routes('POST', '/auth/sign-in/social').length > 0, true)
    assert.equal(navigations.length, 0)
  })

  it('useLinkSocial links another provider for the signed-in user', async () => {
    page()
    const out = []
    function Probe() {
      const link = useLinkSocial()
      return h(
        'div',
        null,
        h('button', { onClick: () => link({ provider: 'github', callbackURL: '/settings' }).then((r) => out.push(r)) }, 'link'),
        h('button', { onClick: () => link.linkSocial({ provider: '' }).then((r) => out.push(r)) }, 'link nothing'),
        h('p', { 'data-testid': 'error' }, link.error ? link.error.code : ''),
      )
    }
    render(h(KavachProvider, { basePath: MOUNT }, h(Probe)))
    // In jsdom each client keeps its own cookies (Node's fetch): the provider's fresh client has no
    // session, so linking is refused; with a signed-in client the same call goes to the provider.
    fireEvent.click(screen.getByText('link'))
    await waitFor(() => assert.equal(out.length, 1))
    assert.equal(out[0].error.code, 'UNAUTHORIZED')
    await waitFor(() => assert.equal(screen.getByTestId('error').textContent, 'UNAUTHORIZED'))
    cleanup()
    const { createKavachClient } = await import('../npm/client/index.mjs')
    const client = createKavachClient({ basePath: MOUNT })
    await act(async () => {
      assert.equal((await client.auth.signIn({ email: 'ada@example.com', password: 'correct horse battery' })).success, true)
    })
    render(h(KavachProvider, { client }, h(Probe)))
    fireEvent.click(screen.getByText('link'))
    await waitFor(() => assert.equal(out.length, 2))
    assert.equal(out[1].success, true, JSON.stringify(out[1]))
    assert.deepEqual(api.routes('POST', '/auth/link-social').at(-1).body, { provider: 'github', callbackURL: '/settings' })
    assert.equal(navigations.length, 1, 'the page goes to the provider')
    fireEvent.click(screen.getByText('link nothing'))
    await waitFor(() => assert.equal(out.length, 3))
    assert.equal(out[2].error.code, 'VALIDATION_FAILED')
  })
})
