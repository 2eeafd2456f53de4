// examples/nextjs as a user runs it: the example is copied to a temporary folder, installed from the
// packed tarballs (its scripts/install-packed.mjs: `npm pack` of the repository's packages, then
// `npm install`), built with `next build` and served with `next start` on 127.0.0.1, then driven in
// headless Chromium (playwright-core): the seed 000 middleware on the Edge runtime, the sign-up and
// sign-in pages (hooks), the dashboard server component, the Profile (useUser/useSignOut), the
// agents page over the HTTP API, and "Add a passkey" / "Sign in with a passkey" with a CDP virtual
// authenticator. Screenshots go to $KAVACH_ARTIFACTS (default
// $TMPDIR/kavach-artifacts). Then the webpack build, and the `output: 'standalone'` build moved out
// of the app folder, each served and checked over HTTP.
//
// Needs Chromium (chromium-headless-shell or chromium from Debian, or KAVACH_CHROMIUM), npm, and the
// built addon (`npm run build`). Fails, never skips, when Chromium is missing.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { startOidcPeer } from './fixtures/oidc-peer.mjs'
import { freePort } from './helpers.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const example = join(root, 'examples', 'nextjs')
const executablePath = [process.env.KAVACH_CHROMIUM, '/usr/bin/chromium-headless-shell', '/usr/bin/chromium'].find((p) => p && existsSync(p))
const artifacts = process.env.KAVACH_ARTIFACTS || join(tmpdir(), 'kavach-artifacts')
const secret = 'e2e-secret-'.padEnd(48, 'x')
const password = 'correct horse battery staple'
const isLinuxX64 = process.platform === 'linux' && process.arch === 'x64'
// KAVACH_E2E_NEXT=15 installs that Next.js over the example's (16) after setup, and checks it the same way.
const nextVersion = process.env.KAVACH_E2E_NEXT
const next15 = nextVersion !== undefined && Number.parseInt(nextVersion, 10) < 16
// Next 16 makes the middleware's req.url from the -H hostname, Next 15 always from `localhost`
// (route handlers get localhost in both): the browser uses the name the redirects point to.
const host = next15 ? 'localhost' : '127.0.0.1'
// The default bundler and the other one (Next 16: Turbopack by default; Next 15: webpack).
const defaultBuild = next15 ? 'webpack' : 'Turbopack'
const otherBuild = next15 ? ['--turbopack'] : ['--webpack']

// The environment of every next process: production, no telemetry, nothing inherited that changes it.
function appEnv(extra) {
  const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', KAVACHOS_SECRET: secret, ...extra }
  delete env.NODE_ENV
  delete env.NODE_OPTIONS
  delete env.NODE_TEST_CONTEXT
  return env
}

function sh(cmd, args, cwd, { env, timeout = 150_000 } = {}) {
  const started = Date.now()
  try {
    return execFileSync(cmd, args, { cwd, env: env ?? appEnv(), encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 })
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')} failed after ${Date.now() - started} ms\n${e.stdout ?? ''}\n${e.stderr ?? ''}`.slice(-6000))
  } finally {
    console.log(`# ${[cmd, ...args].join(' ').replace(root, '<repo>')}: ${((Date.now() - started) / 1000).toFixed(1)} s`)
  }
}

const servers = new Set()
// Starts a server process in its own process group and waits until it answers on `origin`.
async function serve(args, cwd, extraEnv = {}, fixedPort = undefined) {
  const port = fixedPort ?? (await freePort())
  const child = spawn(process.execPath, args(port), {
    cwd,
    // baseUrl as seed 000 sets it: Next.js hands route handlers a request.url on localhost whatever
    // the Host, so the same-origin check needs the app's own origin configured.
    env: appEnv({ PORT: String(port), HOSTNAME: '127.0.0.1', AUTH_BASE_URL: `http://${host}:${port}`, ...extraEnv }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const server = { child, origin: `http://${host}:${port}`, output: () => output }
  servers.add(server)
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}):\n${output}`)
    try {
      const res = await fetch(`${server.origin}/`, { redirect: 'manual' })
      await res.arrayBuffer()
      if (res.status < 500) return server
    } catch {}
    if (Date.now() > deadline) throw new Error(`the server did not answer within 30 s:\n${output}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

async function stop(server) {
  if (!server || !servers.has(server)) return
  servers.delete(server)
  if (server.child.exitCode !== null) return
  const exited = new Promise((r) => server.child.once('exit', r))
  try {
    process.kill(-server.child.pid, 'SIGTERM')
  } catch {}
  const timer = setTimeout(() => {
    try {
      process.kill(-server.child.pid, 'SIGKILL')
    } catch {}
  }, 5000)
  await exited
  clearTimeout(timer)
}

// The form's own error. Not getByRole('alert'): Next's route announcer is a role="alert" too (in a
// shadow root), and after a client-side navigation it holds the new page's title.
const formAlert = (page) => page.locator('main p[role="alert"]')
const nextBin = (app) => join(app, 'node_modules', 'next', 'dist', 'bin', 'next')
const nextStart = (app) => (port) => [nextBin(app), 'start', '-H', '127.0.0.1', '-p', String(port)]

// Over plain HTTP, as another client would: sign up, then the middleware and the server component
// with the session cookie.
async function checkOverHttp(origin, email) {
  const anonymous = await fetch(`${origin}/dashboard`, { redirect: 'manual' })
  assert.equal(anonymous.status, 307, 'the middleware redirects an anonymous visitor')
  const to = new URL(anonymous.headers.get('location'), origin)
  assert.equal(to.pathname, '/sign-in')
  assert.equal(to.searchParams.get('next'), '/dashboard')
  const up = await fetch(`${origin}/api/auth/auth/sign-up`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify({ email, password }),
  })
  const body = await up.json()
  assert.equal(up.status, 200, JSON.stringify(body))
  assert.equal(body.user.email, email)
  const cookie = up.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
  assert.ok(cookie, 'sign-up sets the session cookie')
  const dashboard = await fetch(`${origin}/dashboard`, { headers: { cookie }, redirect: 'manual' })
  assert.equal(dashboard.status, 200)
  assert.match(await dashboard.text(), new RegExp(`Hello, (<!-- -->)?${email.replace(/[.+]/g, '\\$&')}`), 'the server component greets the user')
}

describe('examples/nextjs: next build, next start and a real browser', { skip: !isLinuxX64 && 'the example installs the linux-x64-gnu binary' }, () => {
  let work
  let app
  let browser
  let peer
  before(async () => {
    assert.ok(executablePath, 'no Chromium found: install chromium-headless-shell (scripts/services.sh does) or set KAVACH_CHROMIUM')
    assert.ok(existsSync(join(root, 'kavachos.linux-x64-gnu.node')), 'the addon is not built: npm run build')
    mkdirSync(artifacts, { recursive: true })
    rmSync(join(artifacts, 'nextjs-failure.png'), { force: true })
    console.log(`# screenshots: ${artifacts}`)
    work = mkdtempSync(join(tmpdir(), 'kavach-nextjs-'))
    app = join(work, 'app')
    const skip = /(^|\/)(node_modules|\.next|\.packs|\.env\.local|[^/]*\.db(-shm|-wal)?|next-env\.d\.ts)$/
    cpSync(example, app, { recursive: true, filter: (src) => !skip.test(src.slice(example.length)) })
    sh(process.execPath, [join(app, 'scripts', 'install-packed.mjs')], app, { env: appEnv({ KAVACH_REPO: root }), timeout: 180_000 })
    if (nextVersion) sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', `next@${nextVersion}`], app, { timeout: 180_000 })
    browser = await chromium.launch({
      executablePath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
  })
  after(async () => {
    for (const s of [...servers]) await stop(s)
    await peer?.close()
    await browser?.close()
    if (work && !process.env.KAVACH_KEEP) rmSync(work, { recursive: true, force: true })
  })

  it(`next build (${defaultBuild}, no next.config): the seed pages in Chromium, from the middleware redirect to sign-out`, { timeout: 150_000 }, async () => {
    const built = sh(process.execPath, [nextBin(app), 'build'], app)
    assert.match(built, /Proxy \(Middleware\)|Middleware/, 'the middleware is built')
    // A real OpenID Connect provider (npm oidc-provider) for the "Sign in with ..." button: the app
    // configures it from its environment (OIDC_*), as it would any provider.
    const port = await freePort()
    const redirectUri = `http://${host}:${port}/api/auth/oauth/oidc/callback`
    const socialEmail = `social-${Date.now()}@example.com`
    peer = await startOidcPeer({
      clients: [{ client_id: 'nextjs-example', client_secret: 'nextjs-example-secret', redirect_uris: [redirectUri] }],
      accounts: { carol: { email: socialEmail, email_verified: true, name: 'Carol Social' } },
    })
    const server = await serve(nextStart(app), app, {
      DATABASE_URL: join(work, 'turbopack.db'),
      OIDC_ISSUER: peer.issuer,
      OIDC_CLIENT_ID: 'nextjs-example',
      OIDC_CLIENT_SECRET: 'nextjs-example-secret',
      OIDC_PROVIDER_NAME: 'Test IdP',
    }, port)
    const { origin } = server
    const email = `e2e-${Date.now()}@example.com`
    const context = await browser.newContext()
    const page = await context.newPage()
    const errors = []
    page.on('pageerror', (e) => errors.push(String(e)))
    const shot = (name) => page.screenshot({ path: join(artifacts, `nextjs-${name}.png`), fullPage: true })
    const atSignIn = () => {
      const u = new URL(page.url())
      return u.pathname === '/sign-in' && u.searchParams.get('next') === '/dashboard'
    }
    try {
      // Anonymous: the Edge middleware sends /dashboard to the sign-in page.
      await page.goto(`${origin}/dashboard`)
      assert.ok(atSignIn(), page.url())
      await page.getByRole('heading', { name: 'Sign in' }).waitFor()
      await shot('01-sign-in-redirect')

      // Sign up (useSignUp), which signs in and goes on to `next`.
      await page.getByRole('link', { name: 'Sign up' }).click()
      await page.waitForURL((u) => u.pathname === '/sign-up')
      assert.equal(new URL(page.url()).searchParams.get('next'), '/dashboard')
      await page.getByLabel('Name').fill('E2E User')
      await page.getByLabel('Email').fill(email)
      await page.getByLabel('Password').fill(password)
      await shot('02-sign-up')
      await page.getByRole('button', { name: 'Sign up' }).click()
      await page.waitForURL((u) => u.pathname === '/dashboard')
      await page.locator('#greeting').getByText(email).waitFor()

      // Sign out (Profile: useSignOut), then the middleware protects /dashboard again.
      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.waitForURL((u) => u.pathname === '/sign-in')
      await page.goto(`${origin}/dashboard`)
      assert.ok(atSignIn(), page.url())

      // A wrong password is an error on the page, and no session.
      await page.getByLabel('Email').fill(email)
      await page.getByLabel('Password').fill('not the password')
      await page.getByRole('button', { name: 'Sign in', exact: true }).click()
      await formAlert(page).waitFor()
      assert.ok(atSignIn())

      // Sign in (useSignIn) and land on `next`: the server component greets the user by email.
      await page.getByLabel('Password').fill(password)
      await page.getByRole('button', { name: 'Sign in', exact: true }).click()
      await page.waitForURL((u) => u.pathname === '/dashboard')
      assert.equal(await page.locator('#greeting').textContent(), `Hello, ${email}`)
      await page.locator('#profile-email').getByText(email).waitFor() // useUser, on the client
      // The greeting is in the server's HTML (a server component), fetched with the browser's cookie.
      const html = await (await context.request.get(`${origin}/dashboard`, { maxRedirects: 0 })).text()
      assert.match(html, new RegExp(`id="greeting">Hello, (<!-- -->)?${email.replace(/[.+]/g, '\\$&')}<`))
      await shot('03-dashboard')

      // A reload keeps the session.
      await page.reload()
      assert.equal(new URL(page.url()).pathname, '/dashboard')
      assert.equal(await page.locator('#greeting').textContent(), `Hello, ${email}`)

      // Agents: create one through the HTTP API, see its token once, authorize a call with it.
      await page.getByRole('link', { name: 'Agents' }).click()
      await page.waitForURL((u) => u.pathname === '/dashboard/agents')
      await page.getByLabel('Agent name').fill('e2e-agent')
      await page.getByRole('button', { name: 'Create agent' }).click()
      const token = (await page.locator('#agent-token').textContent()).trim()
      assert.match(token, /^kv_/)
      await page.locator('#agents').getByText('e2e-agent').waitFor()
      await page.getByRole('button', { name: /^Authorize/ }).click()
      await page.locator('#decision').getByText(/^allowed/).waitFor()
      await shot('04-agent-token-and-decision')
      // Once: the list (the page's and the API's) never carries it again.
      const listed = await (await context.request.get(`${origin}/api/auth/agents`)).text()
      assert.match(listed, /e2e-agent/)
      assert.ok(!listed.includes(token), 'the agents list never carries the token')
      await page.reload()
      await page.locator('#agents').getByText('e2e-agent').waitFor()
      assert.equal(await page.locator('#agent-token').count(), 0)
      assert.ok(!(await page.content()).includes(token))

      // Sign out: /dashboard redirects again.
      await page.goto(`${origin}/dashboard`)
      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.waitForURL((u) => u.pathname === '/sign-in')
      await page.goto(`${origin}/dashboard`)
      assert.ok(atSignIn(), page.url())
      await shot('05-signed-out')

      // "Sign in with Test IdP": to the provider (its sign-in page), back through the callback with a
      // session, on to `next`; the user is the provider's, new to the app.
      await page.locator('[data-provider="oidc"]').click()
      await page.waitForURL((u) => u.origin === peer.issuer)
      await shot('06-provider-sign-in')
      await page.getByRole('button', { name: 'Continue as carol' }).click()
      await page.waitForURL((u) => u.origin === origin && u.pathname === '/dashboard')
      assert.equal(await page.locator('#greeting').textContent(), `Hello, ${socialEmail}`)
      await page.locator('#profile-email').getByText(socialEmail).waitFor()
      await shot('07-social-dashboard')
      const accounts = await (await context.request.get(`${origin}/api/auth/auth/list-accounts`)).json()
      assert.deepEqual(accounts.map((a) => a.providerId), ['oidc'])
      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.waitForURL((u) => u.pathname === '/sign-in')
      assert.deepEqual(errors, [], 'no error in the page')
    } catch (e) {
      await shot('failure').catch(() => {})
      e.message += `\n--- next start output ---\n${server.output().slice(-4000)}`
      throw e
    } finally {
      await context.close()
      await stop(server)
    }
  })

  // WebAuthn needs a domain name for the relying party: this server's AUTH_BASE_URL is
  // http://localhost:<port> (passkeys on, lib/passkeys.ts) and the browser uses that name. It
  // listens on 127.0.0.1 (what localhost resolves to here); the steps never rely on a middleware
  // redirect, whose URL Next 16 builds from the -H hostname.
  it('"Add a passkey" and "Sign in with a passkey" in Chromium with a virtual authenticator: a replayed assertion and a deleted passkey sign nobody in', { timeout: 150_000 }, async () => {
    const port = await freePort()
    const origin = `http://localhost:${port}`
    const server = await serve(nextStart(app), app, { DATABASE_URL: join(work, 'passkey.db'), AUTH_BASE_URL: origin }, port)
    const email = `passkey-${Date.now()}@example.com`
    const context = await browser.newContext()
    const page = await context.newPage()
    const errors = []
    page.on('pageerror', (e) => errors.push(String(e)))
    const shot = (name) => page.screenshot({ path: join(artifacts, `nextjs-${name}.png`), fullPage: true })
    // The assertions the page sends, to replay one.
    const assertions = []
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().endsWith('/api/auth/auth/passkey/verify-authentication')) assertions.push(r.postData())
    })
    try {
      const cdp = await context.newCDPSession(page)
      await cdp.send('WebAuthn.enable')
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
      })

      // Sign up, then "Add a passkey" on the dashboard.
      await page.goto(`${origin}/sign-up?next=/dashboard`)
      await page.getByLabel('Email').fill(email)
      await page.getByLabel('Password').fill(password)
      await page.getByRole('button', { name: 'Sign up' }).click()
      await page.waitForURL((u) => u.pathname === '/dashboard')
      await page.locator('#greeting').getByText(email).waitFor()
      await page.getByRole('button', { name: 'Add a passkey' }).click()
      assert.equal(await page.locator('#passkey-status').textContent(), 'Passkey added.')
      const creds = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials
      assert.equal(creds.length, 1)
      assert.equal(creds[0].isResidentCredential, true, 'a discoverable credential')
      assert.equal(creds[0].rpId, 'localhost')
      const listed = await (await context.request.get(`${origin}/api/auth/auth/passkey/list-user-passkeys`)).json()
      assert.equal(listed.length, 1)
      assert.equal(listed[0].name, 'This device')
      await shot('08-passkey-added')

      // Sign out, then "Sign in with a passkey": no email, no password, on to `next`.
      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.waitForURL((u) => u.pathname === '/sign-in')
      await page.goto(`${origin}/sign-in?next=/dashboard`)
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click()
      await page.waitForURL((u) => u.pathname === '/dashboard')
      assert.equal(await page.locator('#greeting').textContent(), `Hello, ${email}`)
      await page.locator('#profile-email').getByText(email).waitFor()
      await shot('09-passkey-dashboard')
      assert.equal(assertions.length, 1)

      // The same assertion again, from this browser (its cookies) and from a client with none: refused.
      const again = await context.request.post(`${origin}/api/auth/auth/passkey/verify-authentication`, {
        headers: { origin, 'content-type': 'application/json' },
        data: assertions[0],
      })
      assert.ok(again.status() >= 400 && again.status() < 500, `${again.status()} ${await again.text()}`)
      assert.ok((await again.json()).error.code)
      const replayed = await fetch(`${origin}/api/auth/auth/passkey/verify-authentication`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin },
        body: assertions[0],
      })
      const refused = await replayed.json()
      assert.ok(replayed.status >= 400 && replayed.status < 500, `${replayed.status} ${JSON.stringify(refused)}`)
      assert.ok(refused.error.code)
      assert.deepEqual(replayed.headers.getSetCookie().filter((c) => /kavach_session=[^;]/.test(c)), [], 'no session cookie')

      // Delete the passkey (signed in), sign out: the browser still holds the credential, the app no
      // longer takes it, and the page says so.
      const deleted = await context.request.post(`${origin}/api/auth/auth/passkey/delete-passkey`, {
        headers: { origin },
        data: { id: listed[0].id },
      })
      assert.equal(deleted.status(), 200, await deleted.text())
      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.waitForURL((u) => u.pathname === '/sign-in')
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click()
      await formAlert(page).waitFor()
      assert.match(await formAlert(page).textContent(), /passkey is not registered/)
      assert.equal(new URL(page.url()).pathname, '/sign-in')
      assert.equal(assertions.length, 2, 'the browser answered with the deleted passkey')
      assert.equal((await context.request.get(`${origin}/api/auth/auth/session`)).status(), 401, 'no session')
      await shot('10-deleted-passkey-refused')
      assert.deepEqual(errors, [], 'no error in the page')
    } catch (e) {
      await shot('passkey-failure').catch(() => {})
      e.message += `\n--- next start output ---\n${server.output().slice(-4000)}`
      throw e
    } finally {
      await context.close()
      await stop(server)
    }
  })

  it(`next build ${otherBuild[0]}: the route handler, the middleware redirect and the server component`, { timeout: 150_000 }, async () => {
    sh(process.execPath, [nextBin(app), 'build', ...otherBuild], app)
    const server = await serve(nextStart(app), app, { DATABASE_URL: join(work, 'webpack.db') })
    try {
      await checkOverHttp(server.origin, `webpack-${Date.now()}@example.com`)
    } catch (e) {
      e.message += `\n--- next start output ---\n${server.output().slice(-4000)}`
      throw e
    } finally {
      await stop(server)
    }
  })

  it("output: 'standalone' with the documented next.config line carries the .node, moved out of the app", { timeout: 150_000 }, async () => {
    writeFileSync(
      join(app, 'next.config.mjs'),
      "export default { output: 'standalone', outputFileTracingIncludes: { '/*': ['./node_modules/kavachos*/**/*'] } };\n",
    )
    sh(process.execPath, [nextBin(app), 'build'], app)
    // Deployed as a folder of its own: nothing above it to resolve packages from.
    const deployed = join(work, 'deployed')
    cpSync(join(app, '.next', 'standalone'), deployed, { recursive: true })
    assert.ok(existsSync(join(deployed, 'node_modules', 'kavachos-linux-x64-gnu', 'kavachos.linux-x64-gnu.node')), 'the .node is carried')
    assert.ok(existsSync(join(deployed, 'node_modules', 'kavachos', 'binding.js')))
    const server = await serve((port) => [join(deployed, 'server.js')], deployed, { DATABASE_URL: join(work, 'standalone.db') })
    try {
      await checkOverHttp(server.origin, `standalone-${Date.now()}@example.com`)
    } catch (e) {
      e.message += `\n--- server.js output ---\n${server.output().slice(-4000)}`
      throw e
    } finally {
      await stop(server)
    }
  })
})
