// A real node:http server in front of `kavach.handler`, on 127.0.0.1, and a small browser-like client
// with a cookie jar, for the tests of the sign-in methods. Nothing here answers for kavachos: every
// request goes through the handler as an app's own server would send it.
import { createServer } from 'node:http'

export const MOUNT = '/api/auth'

/**
 * Serves `kavach` at `mount` (default `/api/auth`). Returns `{ url, origin, mount, client(), close() }`.
 * `options.clientIp(req)` may fake the socket address (per-IP limits); by default the socket's.
 */
export async function serve(kavach, options = {}) {
  const mount = options.mount ?? MOUNT
  const server = createServer(async (req, res) => {
    try {
      const chunks = []
      for await (const c of req) chunks.push(c)
      const body = chunks.length ? Buffer.concat(chunks) : undefined
      const origin = `http://${req.headers.host}`
      const headers = new Headers()
      for (const [k, v] of Object.entries(req.headers)) {
        if (Array.isArray(v)) for (const x of v) headers.append(k, x)
        else if (v !== undefined) headers.set(k, v)
      }
      const method = req.method.toUpperCase()
      const request = new Request(origin + req.url, {
        method,
        headers,
        body: method === 'GET' || method === 'HEAD' ? undefined : body,
      })
      const response = await kavach.handler(request, {
        mount,
        clientIp: options.clientIp ? options.clientIp(req) : req.socket.remoteAddress,
      })
      const out = {}
      for (const [k, v] of response.headers) if (k !== 'set-cookie') out[k] = v
      const cookies = response.headers.getSetCookie()
      if (cookies.length) out['set-cookie'] = cookies
      res.writeHead(response.status, out)
      res.end(Buffer.from(await response.arrayBuffer()))
    } catch (e) {
      res.writeHead(599, { 'content-type': 'text/plain' })
      res.end(String(e && e.stack))
    }
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${server.address().port}`
  const url = origin + mount
  return {
    url,
    origin,
    mount,
    server,
    /** A new browser: its own cookie jar, Origin set to the server's on every request. */
    client: () => new Browser(url, origin),
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()) }),
  }
}

/** A client with a cookie jar. `request(method, path, body?, headers?)` answers `{ status, body, headers, location }`. */
export class Browser {
  constructor(url, origin) {
    this.url = url
    this.origin = origin
    this.jar = new Map()
  }

  cookieHeader() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  /** The session cookie's value (any cookie whose name ends in `session_token` or `session`). */
  sessionToken() {
    for (const [k, v] of this.jar) if (/session(_token)?$/.test(k)) return v
    return undefined
  }

  store(response) {
    for (const c of response.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';')
      const i = pair.indexOf('=')
      const name = pair.slice(0, i).trim()
      const value = pair.slice(i + 1).trim()
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === ''
      if (expired) this.jar.delete(name)
      else this.jar.set(name, value)
    }
  }

  async request(method, path, body, headers = {}) {
    const h = { origin: this.origin, ...headers }
    if (this.jar.size) h.cookie = this.cookieHeader()
    let payload
    if (body !== undefined) {
      h['content-type'] ??= 'application/json'
      payload = typeof body === 'string' ? body : JSON.stringify(body)
    }
    const target = path.startsWith('http') ? path : this.url + path
    const response = await fetch(target, { method, headers: h, body: payload, redirect: 'manual' })
    this.store(response)
    const text = await response.text()
    let parsed = text
    try { parsed = text ? JSON.parse(text) : null } catch {}
    return { status: response.status, body: parsed, headers: response.headers, location: response.headers.get('location') }
  }

  get(path, headers) { return this.request('GET', path, undefined, headers) }
  post(path, body = {}, headers) { return this.request('POST', path, body, headers) }
}
