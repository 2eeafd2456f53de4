// passkey(): the browser's own WebAuthn against a real server. Headless Chromium (playwright-core)
// with a CDP virtual authenticator (CTAP2, internal, resident keys, user verification) opens a page
// served by a node:http server on 127.0.0.1 that hands /api/auth to kavach.handler; the page is
// reached as http://localhost:PORT (a secure context), so the relying party is 'localhost'. The page
// runs @kavachos/client unchanged: register a passkey while signed in, sign out, sign in with it as
// a discoverable credential; a replayed assertion is refused; a deleted passkey no longer signs in.
// Needs Chromium: set KAVACH_CHROMIUM or install chromium-headless-shell (Debian) / chromium.
import { it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { chromium } from 'playwright-core'
import { createKavach } from '../index.mjs'
import { admin, passkey } from '../plugins.mjs'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'

const executablePath = [process.env.KAVACH_CHROMIUM, '/usr/bin/chromium-headless-shell', '/usr/bin/chromium'].find((p) => p && existsSync(p))
const clientJs = readFileSync(new URL('../npm/client/index.js', import.meta.url), 'utf8')
const MOUNT = '/api/auth'
const page = `<!doctype html><html><body>
<script>var module = { exports: {} };</script>
<script src="/client.js"></script>
<script>window.KC = module.exports;</script>
</body></html>`

// React in the page without a bundler: the published CommonJS files behind a tiny require().
const mod = (path) => readFileSync(new URL(`../node_modules/${path}`, import.meta.url), 'utf8')
const reactModules = {
  react: mod('react/cjs/react.production.js'),
  scheduler: mod('scheduler/cjs/scheduler.production.js'),
  'react-dom': mod('react-dom/cjs/react-dom.production.js'),
  'react-dom/client': mod('react-dom/cjs/react-dom-client.production.js'),
  '@kavachos/client': clientJs,
  '@kavachos/react': readFileSync(new URL('../npm/react/index.js', import.meta.url), 'utf8'),
}
const reactJs = `var process = { env: { NODE_ENV: 'production' } };
var __defs = {${Object.entries(reactModules).map(([k, src]) => `${JSON.stringify(k)}: function (module, exports, require) {\n${src}\n}`).join(',\n')}};
var __cache = {};
function require(name) {
  if (__cache[name]) return __cache[name].exports;
  var module = (__cache[name] = { exports: {} });
  __defs[name](module, module.exports, require);
  return module.exports;
}`
const reactPage = `<!doctype html><html><body><div id="root"></div><script src="/react.js"></script></body></html>`

let browser
before(async () => {
  assert.ok(executablePath, 'no Chromium found: install chromium-headless-shell or set KAVACH_CHROMIUM')
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] })
})
after(async () => {
  await browser?.close()
})

/** A node:http server: the page, the client, and kavach.handler under /api/auth. */
async function startApp(makeKavach) {
  let kavach
  const server = createServer(async (req, res) => {
    try {
      if (req.url === '/app') return res.writeHead(200, { 'content-type': 'text/html' }).end(page)
      if (req.url === '/client.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(clientJs)
      if (req.url === '/react') return res.writeHead(200, { 'content-type': 'text/html' }).end(reactPage)
      if (req.url === '/react.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(reactJs)
      const chunks = []
      for await (const c of req) chunks.push(c)
      const headers = new Headers()
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v)
      const method = req.method.toUpperCase()
      const request = new Request(`http://${req.headers.host}${req.url}`, { method, headers, body: method === 'GET' ? undefined : Buffer.concat(chunks) })
      const response = await kavach.handler(request, { mount: MOUNT, clientIp: req.socket.remoteAddress })
      const out = {}
      for (const [k, v] of response.headers) if (k !== 'set-cookie') out[k] = v
      const cookies = response.headers.getSetCookie()
      if (cookies.length) out['set-cookie'] = cookies
      res.writeHead(response.status, out).end(Buffer.from(await response.arrayBuffer()))
    } catch (e) {
      res.writeHead(599).end(String(e))
    }
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const origin = `http://localhost:${server.address().port}`
  kavach = await makeKavach(origin)
  return {
    kavach,
    origin,
    close: async () => {
      await new Promise((r) => server.close(r))
      await kavach.close()
    },
  }
}

// Runs in the page: one manual ceremony, so that its assertion can be sent twice.
async function replay() {
  const b2u = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
  const u2b = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4)), (c) => c.charCodeAt(0)).buffer
  const c = window.KC.createKavachClient({ basePath: '/api/auth' })
  const opts = await c.request('GET', '/auth/passkey/generate-authenticate-options')
  const cred = await navigator.credentials.get({ publicKey: { ...opts.data, challenge: u2b(opts.data.challenge), allowCredentials: [] } })
  const response = {
    id: cred.id,
    rawId: b2u(cred.rawId),
    type: cred.type,
    response: {
      clientDataJSON: b2u(cred.response.clientDataJSON),
      authenticatorData: b2u(cred.response.authenticatorData),
      signature: b2u(cred.response.signature),
      userHandle: cred.response.userHandle ? b2u(cred.response.userHandle) : undefined,
    },
  }
  const first = await c.request('POST', '/auth/passkey/verify-authentication', { body: { response } })
  const again = await c.request('POST', '/auth/passkey/verify-authentication', { body: { response } })
  // A new challenge does not make the old assertion good either.
  await c.request('GET', '/auth/passkey/generate-authenticate-options')
  const fresh = await c.request('POST', '/auth/passkey/verify-authentication', { body: { response } })
  await c.auth.signOut()
  return { first: first.success && first.data.user.email, again: again.success || again.error.code, fresh: fresh.success || fresh.error.code }
}

for (const backend of backends()) {
  it(`registers a passkey and signs in with it in Chromium (${backend})`, async () => {
    const database = freshDatabase(backend, 'passkey')
    // SQLite: the relying party comes from the request's origin; the others: from the options.
    const app = await startApp((origin) =>
      createKavach({
        database,
        secret: SECRET,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        rateLimit: { enabled: false },
        plugins: [backend === 'sqlite' ? passkey() : passkey({ rpID: 'localhost', rpName: 'Kavach test', origin }), admin()],
      }),
    )
    const context = await browser.newContext()
    try {
      const tab = await context.newPage()
      const cdp = await context.newCDPSession(tab)
      await cdp.send('WebAuthn.enable')
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
      })
      await tab.goto(`${app.origin}/app`)
      const email = `pk-${backend}@example.com`

      // Signed out, a passkey cannot be added.
      const anon = await tab.evaluate(async () => {
        const c = window.KC.createKavachClient({ basePath: '/api/auth' })
        return (await c.passkey.addPasskey()).error.code
      })
      assert.equal(anon, 'UNAUTHORIZED')

      const reg = await tab.evaluate(async (email) => {
        const c = window.KC.createKavachClient({ basePath: '/api/auth' })
        await c.auth.signUp({ email, password: 'correct horse battery' })
        const added = await c.passkey.addPasskey({ name: 'laptop' })
        const list = await c.passkey.listUserPasskeys()
        // The same authenticator again: excluded by the options, refused by the browser.
        const twice = await c.passkey.addPasskey({ name: 'again' })
        await c.auth.signOut()
        const out = await c.auth.getSession()
        return { added, list, twice: twice.success || twice.error.code, signedOut: out.data }
      }, email)
      assert.equal(reg.added.success, true, JSON.stringify(reg.added))
      assert.equal(reg.added.data.name, 'laptop')
      assert.equal(reg.list.data.length, 1)
      assert.equal(reg.list.data[0].id, reg.added.data.id)
      assert.equal(reg.list.data[0].deviceType, 'singleDevice')
      assert.match(reg.list.data[0].credentialID, /^[A-Za-z0-9_-]+$/)
      assert.equal(reg.list.data[0].transports, 'internal')
      assert.equal(reg.twice, 'PREVIOUSLY_REGISTERED')
      assert.equal(reg.signedOut, null)
      const creds = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials
      assert.equal(creds.length, 1)
      assert.equal(creds[0].isResidentCredential, true, 'a discoverable credential')

      // Signed out: the browser offers the discoverable credential; the core's session cookie follows.
      const signIn = await tab.evaluate(async () => {
        const c = window.KC.createKavachClient({ basePath: '/api/auth' })
        const r = await c.signIn.passkey()
        const s = await c.auth.getSession()
        const list = await c.passkey.listUserPasskeys()
        await c.auth.signOut()
        return { ok: r.success, email: r.success && r.data.user.email, session: s.data && s.data.user.email, counter: list.data[0].counter }
      })
      assert.deepEqual({ ...signIn, counter: undefined }, { ok: true, email, session: email, counter: undefined })
      assert.ok(signIn.counter >= 1, 'the sign counter moved')
      const allowed = await tab.evaluate(async (email) => {
        const c = window.KC.createKavachClient({ basePath: '/api/auth' })
        const o = await c.request('GET', '/auth/passkey/generate-authenticate-options', { query: { email } })
        const r = await c.signIn.passkey({ email })
        await c.auth.signOut()
        return { allow: o.data.allowCredentials.length, ok: r.success }
      }, email)
      assert.deepEqual(allowed, { allow: 1, ok: true })
      const cookies = (await context.cookies()).map((c) => c.name)
      assert.ok(!cookies.includes('kavach_session'))

      // A replayed assertion is refused, with the same challenge or a new one.
      const r = await tab.evaluate(replay)
      assert.deepEqual(r, { first: email, again: 'CHALLENGE_NOT_FOUND', fresh: 'AUTHENTICATION_FAILED' })

      // React: useSignIn({ factor: 'passkey' }) signs in with the passkey, and the session follows.
      await tab.goto(`${app.origin}/react`)
      const viaHook = await tab.evaluate(async () => {
        const React = require('react')
        const { createRoot } = require('react-dom/client')
        const { KavachProvider, useSignIn, useSession } = require('@kavachos/react')
        const h = React.createElement
        let result
        function Probe() {
          const signIn = useSignIn({ factor: 'passkey' })
          const { user } = useSession()
          return h('div', null, h('button', { id: 'go', onClick: () => signIn().then((r) => (result = r)) }, 'Sign in with a passkey'), h('p', { id: 'who' }, user ? user.email : 'nobody'))
        }
        createRoot(document.getElementById('root')).render(h(KavachProvider, { basePath: '/api/auth' }, h(Probe)))
        const until = async (f) => {
          for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 25))
          return f()
        }
        await until(() => document.getElementById('who')?.textContent === 'nobody')
        document.getElementById('go').click()
        await until(() => result)
        await until(() => document.getElementById('who').textContent !== 'nobody')
        const who = document.getElementById('who').textContent
        await window.fetch('/api/auth/auth/sign-out', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
        return { ok: result && result.success, who }
      })
      assert.deepEqual(viaHook, { ok: true, who: email })
      await tab.goto(`${app.origin}/app`)

      // A banned user's passkey signs nobody in.
      const userId = reg.added.data.userId
      assert.equal((await app.kavach.admin.banUser({ userId })).success, true)
      const banned = await tab.evaluate(async () => {
        const r = await window.KC.createKavachClient({ basePath: '/api/auth' }).signIn.passkey()
        return r.success || r.error.code
      })
      assert.equal(banned, 'USER_BANNED')
      assert.equal((await app.kavach.admin.unbanUser(userId)).success, true)

      // The challenge token lives only in the HttpOnly cookie; the table keeps its keyed hash.
      await tab.evaluate(() => fetch('/api/auth/auth/passkey/generate-authenticate-options'))
      const token = (await context.cookies()).find((c) => c.name === 'kavach_passkey')
      assert.ok(token && token.httpOnly && token.value.length >= 43)
      assert.equal(sql(database, `SELECT COUNT(*) FROM kavach_one_time WHERE purpose = 'passkey-authentication'`) >= '1', true)
      assert.equal(sql(database, `SELECT COUNT(*) FROM kavach_one_time WHERE secret_hash = '${token.value}' OR data LIKE '%${token.value}%'`), '0')
      const stored = sql(database, `SELECT credential_id, counter, device_type FROM kavach_passkey`)
      assert.ok(stored.startsWith(creds[0].credentialId.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')), stored)

      // Rename and delete: only the owner's own; a deleted passkey no longer signs in.
      const del = await tab.evaluate(async (email) => {
        const c = window.KC.createKavachClient({ basePath: '/api/auth' })
        await c.auth.signIn({ email, password: 'correct horse battery' })
        const [pk] = (await c.passkey.listUserPasskeys()).data
        const renamed = await c.passkey.updatePasskey({ id: pk.id, name: 'work laptop' })
        const blank = await c.passkey.updatePasskey({ id: pk.id, name: '  ' })
        await c.auth.signOut()
        await c.auth.signUp({ email: `other-${email}`, password: 'correct horse battery' })
        const foreignRename = await c.passkey.updatePasskey({ id: pk.id, name: 'mine now' })
        const foreignDelete = await c.passkey.deletePasskey({ id: pk.id })
        const foreignList = await c.passkey.listUserPasskeys()
        await c.auth.signOut()
        await c.auth.signIn({ email, password: 'correct horse battery' })
        const deleted = await c.passkey.deletePasskey({ id: pk.id })
        const after = await c.passkey.listUserPasskeys()
        await c.auth.signOut()
        const signIn = await c.signIn.passkey()
        const s = await c.auth.getSession()
        return {
          renamed: renamed.data.passkey.name,
          blank: blank.error.code,
          foreignRename: foreignRename.error.code,
          foreignDelete: foreignDelete.error.code,
          foreignList: foreignList.data.length,
          deleted: deleted.data,
          after: after.data.length,
          signIn: signIn.success || signIn.error.code,
          session: s.data,
        }
      }, email)
      assert.deepEqual(del, {
        renamed: 'work laptop',
        blank: 'VALIDATION_FAILED',
        foreignRename: 'PASSKEY_NOT_FOUND',
        foreignDelete: 'PASSKEY_NOT_FOUND',
        foreignList: 0,
        deleted: { status: true },
        after: 0,
        signIn: 'PASSKEY_NOT_FOUND',
        session: null,
      })
      assert.equal(sql(database, `SELECT COUNT(*) FROM kavach_passkey`), '0')

      // Deleting a user deletes their passkeys.
      const again = await tab.evaluate(async (email) => {
        const c = window.KC.createKavachClient({ basePath: '/api/auth' })
        await c.auth.signIn({ email, password: 'correct horse battery' })
        const r = await c.passkey.addPasskey()
        await c.auth.signOut()
        return r.success
      }, email)
      assert.equal(again, true)
      assert.equal(sql(database, `SELECT COUNT(*) FROM kavach_passkey WHERE user_id = '${userId}'`), '1')
      assert.equal((await app.kavach.admin.removeUser(userId)).success, true)
      assert.equal(sql(database, `SELECT COUNT(*) FROM kavach_passkey`), '0')
    } finally {
      await context.close()
      await app.close()
    }
  })
}

// The routes without a browser: the options' JSON shape, the challenge bound to its session and
// spent once, the per-IP limit, and options checked at boot.
for (const backend of backends()) {
  it(`passkey routes: options shape, session binding, limits (${backend})`, async () => {
    const { serve } = await import('./http-server.mjs')
    const kavach = await createKavach({
      database: freshDatabase(backend, 'passkeyhttp'),
      secret: SECRET,
      emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
      rateLimit: { maxCredentialRequestsPerIp: 8 },
      plugins: [passkey({ rpID: 'localhost', rpName: 'Kavach test', origin: 'http://localhost:3000' })],
    })
    const srv = await serve(kavach)
    try {
      const a = srv.client()
      const b = srv.client()
      assert.equal((await a.get('/auth/passkey/generate-register-options')).status, 401)
      assert.equal((await a.post('/auth/sign-up', { email: `a-${backend}@example.com`, password: 'correct horse battery' })).status, 200)
      assert.equal((await b.post('/auth/sign-up', { email: `b-${backend}@example.com`, password: 'correct horse battery' })).status, 200)
      const reg = await a.get('/auth/passkey/generate-register-options?name=key')
      assert.equal(reg.status, 200)
      const o = reg.body
      assert.deepEqual(o.rp, { id: 'localhost', name: 'Kavach test' })
      assert.match(o.challenge, /^[A-Za-z0-9_-]{43}$/)
      assert.match(o.user.id, /^[A-Za-z0-9_-]+$/)
      assert.equal(o.user.name, 'key')
      assert.ok(o.pubKeyCredParams.some((p) => p.type === 'public-key' && p.alg === -7))
      assert.equal(o.authenticatorSelection.residentKey, 'preferred')
      assert.equal(o.authenticatorSelection.userVerification, 'required')
      assert.equal(o.attestation, 'none')
      const challenge = a.jar.get('kavach_passkey')
      assert.ok(challenge)

      // B holds A's challenge cookie: refused, and the challenge is spent.
      b.jar.set('kavach_passkey', challenge)
      const stolen = await b.post('/auth/passkey/verify-registration', { response: {} })
      assert.equal(stolen.status, 401)
      assert.equal(stolen.body.error.code, 'YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY')
      const late = await a.post('/auth/passkey/verify-registration', { response: {} })
      assert.equal(late.body.error.code, 'CHALLENGE_NOT_FOUND')
      // A garbage answer to a live challenge fails verification (never a 5xx).
      await a.get('/auth/passkey/generate-register-options')
      const junk = await a.post('/auth/passkey/verify-registration', { response: { id: 'x', rawId: 'x', type: 'public-key', response: { clientDataJSON: 'e30', attestationObject: 'oA' } } })
      assert.equal(junk.status, 400)
      assert.equal(junk.body.error.code, 'FAILED_TO_VERIFY_REGISTRATION')

      // Sign-in options: discoverable for nobody in particular (and for an unknown email alike).
      const c = srv.client()
      const auth = await c.get('/auth/passkey/generate-authenticate-options')
      assert.equal(auth.status, 200)
      assert.equal(auth.body.rpId, 'localhost')
      assert.deepEqual(auth.body.allowCredentials, [])
      assert.equal(auth.body.userVerification, 'required')
      const unknown = await c.get('/auth/passkey/generate-authenticate-options?email=nobody%40example.com')
      assert.deepEqual(unknown.body.allowCredentials, [])
      const noCookie = srv.client()
      const missing = await noCookie.post('/auth/passkey/verify-authentication', { response: {} })
      assert.equal(missing.body.error.code, 'CHALLENGE_NOT_FOUND')
      // The per-IP credential limit counts these routes.
      const statuses = []
      for (let i = 0; i < 4; i++) statuses.push((await c.get('/auth/passkey/generate-authenticate-options')).status)
      assert.ok(statuses.includes(429), JSON.stringify(statuses))
    } finally {
      await srv.close()
      await kavach.close()
    }
    await assert.rejects(
      createKavach({ database: freshDatabase(backend, 'passkeybad'), secret: SECRET, plugins: [passkey({ rpID: 'example.com', origin: 'http://localhost:3000' })] }),
      (e) => e.code === 'CONFIG_INVALID',
    )
  })
}
