// kavachos in the Edge runtime (the `edge-light` / `worker` export conditions): Next.js builds
// `middleware.ts` for Edge, where neither the native addon nor a database can be opened. Here
// `auth.getSession` / `auth.getUser` ask the app's own mounted kavachos handler (which runs on
// Node.js) about the request's session, so revocation stays instant; every other call says plainly
// that it needs the Node.js runtime.

/** The one error type kavachos throws; switch on `code`, never on `message`. */
export class KavachError extends Error {
  constructor(code, message, options) {
    super(message, options)
    this.name = 'KavachError'
    this.code = code
  }
}

const ok = (data) => ({ success: true, data })
const fail = (code, message) => ({ success: false, error: { code, message } })
const DATE_KEYS = ['createdAt', 'updatedAt', 'expiresAt', 'banExpires']
function withDates(o) {
  if (!o || typeof o !== 'object') return o
  for (const k of DATE_KEYS) if (typeof o[k] === 'string') o[k] = new Date(o[k])
  return o
}

// Where the handler may be mounted when no basePath is configured: seed 000 mounts
// app/api/auth/[...kavach]/route.ts, the default mount is /api/kavach.
const CANDIDATE_MOUNTS = ['/api/auth', '/api/kavach']

function requestParts(arg) {
  if (!arg || typeof arg !== 'object') throw new KavachError('VALIDATION_FAILED', 'pass { request }, { headers } or a Request')
  const request = arg.request ?? (typeof arg.url === 'string' && arg.headers ? arg : undefined)
  const headers = request ? request.headers : arg.headers
  const get = (name) => {
    if (!headers) return undefined
    if (typeof headers.get === 'function') return headers.get(name) ?? undefined
    const v = headers[name] ?? headers[name.toLowerCase()]
    return Array.isArray(v) ? v.join('; ') : v ?? undefined
  }
  const url = request ? (request.nextUrl ? request.nextUrl.href : request.url) : undefined
  return { url, cookie: get('cookie'), authorization: get('authorization') }
}

function normalizeMount(p) {
  const t = String(p).replace(/\/+$/, '')
  return t.startsWith('/') ? t : `/${t}`
}

function makeEdgeInstance(config) {
  const baseUrl = typeof config.baseUrl === 'string' ? config.baseUrl.replace(/\/+$/, '') : undefined
  let mount = typeof config.basePath === 'string' ? normalizeMount(config.basePath) : undefined
  const fetchImpl = typeof config.fetch === 'function' ? config.fetch : globalThis.fetch

  async function ask(origin, path, cookie, authorization) {
    const headers = { accept: 'application/json' }
    if (cookie) headers.cookie = cookie
    if (authorization) headers.authorization = authorization
    const res = await fetchImpl(`${origin}${path}/auth/session`, { headers, cache: 'no-store', redirect: 'manual' })
    const type = res.headers.get('content-type') || ''
    if (!type.includes('application/json')) return undefined
    const body = await res.json().catch(() => undefined)
    if (res.ok && body && body.session && body.user) return { session: withDates(body.session), user: withDates(body.user) }
    if (res.status === 401 && body && body.error) return null
    if (body && body.error && body.error.code !== 'NOT_FOUND') throw new KavachError(body.error.code, body.error.message)
    return undefined
  }

  async function lookup(arg) {
    const { url, cookie, authorization } = requestParts(arg)
    if (!cookie && !authorization) return null
    const origin = url ? new URL(url).origin : baseUrl
    if (!origin) throw new KavachError('CONFIG_INVALID', 'set baseUrl so that kavachos can reach its handler from the Edge runtime')
    for (const path of mount ? [mount] : CANDIDATE_MOUNTS) {
      const found = await ask(origin, path, cookie, authorization)
      if (found !== undefined) {
        mount = path
        return found
      }
    }
    throw new KavachError('CONFIG_INVALID', 'the kavachos handler was not found: set basePath to where it is mounted')
  }

  const asResult = (pick) => async (arg) => {
    try {
      const r = await lookup(arg)
      return ok(r === null ? null : pick(r))
    } catch (e) {
      if (e instanceof KavachError) return fail(e.code, e.message)
      return fail('SERVICE_UNAVAILABLE', 'the kavachos handler could not be reached')
    }
  }

  const nodeOnly = (name) => () => {
    throw new KavachError('UNSUPPORTED_RUNTIME', `${name} needs the Node.js runtime; in the Edge runtime kavachos answers auth.getSession and auth.getUser only`)
  }
  const namespace = (name, calls) => Object.fromEntries(calls.map((c) => [c, nodeOnly(`${name}.${c}`)]))
  return {
    auth: {
      getSession: asResult((r) => r),
      getUser: asResult((r) => r.user),
      ...namespace('auth', ['signUp', 'signIn', 'signOut']),
    },
    agent: namespace('agent', ['create', 'get', 'list', 'update', 'revoke', 'rotate']),
    authorize: nodeOnly('authorize'),
    authorizeByToken: nodeOnly('authorizeByToken'),
    audit: namespace('audit', ['query', 'export']),
    organizations: namespace('organizations', ['create', 'get', 'update', 'delete', 'addMember', 'removeMember', 'updateMemberRole', 'listMembers', 'list']),
    handler: nodeOnly('handler'),
    basePath: mount ?? '/api/kavach',
    close: async () => {},
  }
}

/** Edge build of `createKavach`: no database here; sessions are checked through the app's handler. */
export async function createKavach(config) {
  if (config === null || typeof config !== 'object') throw new KavachError('CONFIG_INVALID', 'createKavach needs a configuration object')
  return makeEdgeInstance(config)
}

export function migrate() {
  return Promise.reject(new KavachError('UNSUPPORTED_RUNTIME', 'migrate needs the Node.js runtime'))
}

export default { createKavach, KavachError, migrate }
