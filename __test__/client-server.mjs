// A real kavachos server for the client and React tests: Hono + @hono/node-server on 127.0.0.1, the
// API mounted at /api/kavach, every request logged (method and mount-relative path) so that tests
// can count what the client really sent.
import { Hono } from 'hono'
import { serve } from '@hono/node-server'
import { createKavach } from '../index.mjs'
import { organization } from '../plugins.mjs'
import { freshDatabase, SECRET } from './helpers.mjs'

export const MOUNT = '/api/kavach'

/** `options.config` is merged into the kavach config; `options.routes(app)` adds routes of the test's own. */
export async function startServer(backend, tag, options = {}) {
  const mails = []
  const kavach = await createKavach({
    database: freshDatabase(backend, tag),
    secret: SECRET,
    emailAndPassword: {
      enabled: true,
      pbkdf2Iterations: 2000,
      sendResetPassword: (m) => void mails.push({ kind: 'reset', ...m }),
      sendVerificationEmail: (m) => void mails.push({ kind: 'verify', ...m }),
    },
    rateLimit: { enabled: false },
    plugins: [organization()],
    ...options.config,
  })
  const log = []
  const requests = []
  const app = new Hono()
  app.use('*', async (c, next) => {
    const path = new URL(c.req.url).pathname
    if (path.startsWith(MOUNT)) {
      log.push(`${c.req.method} ${path.slice(MOUNT.length)}`)
      requests.push({ method: c.req.method, path: path.slice(MOUNT.length), origin: c.req.header('origin') ?? null })
    }
    await next()
  })
  if (options.routes) options.routes(app)
  app.route(MOUNT, (await import('../shims/hono.mjs')).kavachHono(kavach))
  const server = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s))
  })
  const origin = `http://127.0.0.1:${server.address().port}`
  return {
    kavach,
    origin,
    log,
    requests,
    mails,
    /** How many logged requests match `method path`. */
    count: (what) => log.filter((l) => l === what).length,
    close: async () => {
      await new Promise((r) => server.close(r))
      await kavach.close()
    },
  }
}
