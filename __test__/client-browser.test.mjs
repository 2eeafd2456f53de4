// @kavachos/client in a real browser (headless Chromium through playwright-core), against a real
// server on 127.0.0.1: the browser keeps the HttpOnly session cookie itself (credentials: 'include'),
// sends its own Origin, and the client's Node-only headers are dropped without harm. Same origin with
// a relative basePath, and cross-origin with baseUrl (CORS with credentials, trustedOrigins).
// Needs Chromium: set KAVACH_CHROMIUM or install chromium-headless-shell (Debian) / chromium.
import { it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { chromium } from 'playwright-core'
import { Hono } from 'hono'
import { serve } from '@hono/node-server'
import { startServer } from './client-server.mjs'

const executablePath = [process.env.KAVACH_CHROMIUM, '/usr/bin/chromium-headless-shell', '/usr/bin/chromium'].find((p) => p && existsSync(p))
const clientJs = readFileSync(new URL('../npm/client/index.js', import.meta.url), 'utf8')
// The unchanged CommonJS file, loaded by a classic script with a `module` to fill (as a bundler would).
const page = (apiBase) => `<!doctype html><html><body>
<script>var module = { exports: {} };</script>
<script src="/client.js"></script>
<script>window.KC = module.exports; window.API_BASE = ${JSON.stringify(apiBase)};</script>
</body></html>`
const pageRoutes = (apiBase) => (app) => {
  app.get('/app', (c) => c.html(page(apiBase)))
  app.get('/client.js', (c) => c.body(clientJs, 200, { 'content-type': 'text/javascript' }))
}

let browser
let same
let cross
let pageServer
let pageOrigin
before(async () => {
  assert.ok(executablePath, 'no Chromium found: install chromium-headless-shell or set KAVACH_CHROMIUM')
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] })
  same = await startServer('sqlite', 'browser', { routes: pageRoutes(null) })
  // Cross-origin: the page on another port (the same site, so SameSite=Lax cookies still flow).
  const pageApp = new Hono()
  pageServer = await new Promise((resolve) => {
    const s = serve({ fetch: pageApp.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s))
  })
  pageOrigin = `http://127.0.0.1:${pageServer.address().port}`
  cross = await startServer('sqlite', 'browser_x', { config: { trustedOrigins: [pageOrigin] } })
  pageRoutes(`${cross.origin}/api/kavach`)(pageApp)
})
after(async () => {
  await browser?.close()
  await same?.close()
  await cross?.close()
  await new Promise((r) => (pageServer ? pageServer.close(r) : r()))
})

// Runs in the page.
async function journey(email) {
  const c = window.API_BASE ? window.KC.createKavachClient({ baseUrl: window.API_BASE }) : window.KC.createKavachClient({ basePath: '/api/kavach' })
  const out = {}
  out.before = await c.auth.getSession()
  const up = await c.auth.signUp({ email, password: 'correct horse battery' })
  out.upOk = up.success
  out.upDate = up.success && up.data.user.createdAt instanceof Date
  const s = await c.auth.getSession()
  out.sessionEmail = s.success && s.data ? s.data.user.email : null
  const a = await c.agents.create({ name: 'browser bot', type: 'autonomous', permissions: [{ resource: 'docs:*', actions: ['read'] }], expiresAt: new Date(Date.now() + 60000) })
  out.agentOk = a.success
  const z = await c.authorize(a.data.id, { action: 'read', resource: 'docs:1' })
  out.allowed = z.success && z.data.allowed
  const t = await c.authorizeByToken(a.data.token, { action: 'read', resource: 'docs:2' })
  out.byToken = t.success && t.data.allowed
  out.cookieVisible = document.cookie.includes('kavach_session')
  out.out = (await c.auth.signOut()).success
  const after = await c.auth.getSession()
  out.after = after.success ? after.data : after.error.code
  return out
}

for (const kind of ['same-origin', 'cross-origin']) {
  it(`signs up, manages an agent and signs out in Chromium (${kind})`, async () => {
    const srv = kind === 'same-origin' ? same : cross
    const context = await browser.newContext()
    const tab = await context.newPage()
    await tab.goto(kind === 'same-origin' ? `${same.origin}/app` : `${pageOrigin}/app`)
    const out = await tab.evaluate(journey, `${kind}@example.com`)
    assert.deepEqual(out, {
      before: { success: true, data: null },
      upOk: true,
      upDate: true,
      sessionEmail: `${kind}@example.com`,
      agentOk: true,
      allowed: true,
      byToken: true,
      cookieVisible: false,
      out: true,
      after: null,
    })
    // The browser, not the client, chose the Origin: the page's own.
    const expected = kind === 'same-origin' ? same.origin : pageOrigin
    const posts = srv.requests.filter((r) => r.method === 'POST')
    assert.ok(posts.length >= 4)
    assert.ok(posts.every((r) => r.origin === expected), JSON.stringify(posts))
    // The session cookie lived in the browser's own store, and sign-out cleared it.
    assert.equal((await context.cookies()).filter((c) => c.name === 'kavach_session').length, 0)
    await context.close()
  })
}
