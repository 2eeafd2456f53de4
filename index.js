'use strict'
// kavachos: the documented API over the native core. This layer only converts values: validation,
// SQL, crypto and decisions all happen in Rust.

// The native addon is loaded through the runtime's own `require`, which bundlers do not follow:
// Next.js (Turbopack and webpack) cannot place a `.node` file in a bundle, and seeds' apps set no
// `serverExternalPackages`. Unbundled, this is plain `require('./binding.js')`; inside a bundle,
// Node resolves `kavachos/binding.js` from the app's node_modules.
function platformPackage() {
  const { platform, arch } = process
  if (platform === 'win32') return `kavachos-win32-${arch}-msvc`
  if (platform === 'linux') {
    let musl = false
    try {
      musl = !(process.report && process.report.getReport().header.glibcVersionRuntime)
    } catch {}
    return `kavachos-linux-${arch}-${musl ? 'musl' : 'gnu'}`
  }
  return `kavachos-${platform}-${arch}`
}

function loadNative() {
  // eslint-disable-next-line no-eval
  const nodeRequire = eval('require')
  try {
    try {
      return nodeRequire('./binding.js')
    } catch (e) {
      if (!e || e.code !== 'MODULE_NOT_FOUND' || !String(e.message).includes('binding.js')) throw e
      return nodeRequire('kavachos/binding.js')
    }
  } catch (cause) {
    const pkg = platformPackage()
    const err = new Error(
      `kavachos has no native binary for this platform (${process.platform}-${process.arch}). ` +
        `Add the package ${pkg} (npm install ${pkg}); it is an optional dependency of kavachos, so an install ` +
        `with --omit=optional or a lockfile made on another platform leaves it out.`,
      { cause },
    )
    err.code = 'NATIVE_BINDING_MISSING'
    throw err
  }
}
const native = loadNative()

const SEP = '\u0001'

/** The one error type kavachos throws; switch on `code`, never on `message`. */
class KavachError extends Error {
  constructor(code, message, options) {
    super(message, options)
    this.name = 'KavachError'
    this.code = code
  }
}

function toKavachError(e) {
  if (e instanceof KavachError) return e
  const message = e && typeof e.message === 'string' ? e.message : String(e)
  const i = message.indexOf(SEP)
  if (i > 0) return new KavachError(message.slice(0, i), message.slice(i + 1))
  if (e && (e.code === 'InvalidArg' || e.code === 'NumberExpected' || e.code === 'StringExpected' || e.code === 'ObjectExpected')) {
    return new KavachError('VALIDATION_FAILED', 'an argument has the wrong type')
  }
  return new KavachError('INTERNAL_ERROR', 'an internal error occurred')
}

const rethrow = (e) => {
  throw toKavachError(e)
}

function call(fn) {
  try {
    return fn().catch(rethrow)
  } catch (e) {
    return Promise.reject(toKavachError(e))
  }
}

function toMillis(v, field) {
  if (v === undefined) return undefined
  if (v === null) return null
  const ms = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : typeof v === 'number' ? v : NaN
  if (!Number.isFinite(ms)) throw new KavachError('VALIDATION_FAILED', `${field} must be a Date, an ISO string or a number of milliseconds`)
  return Math.trunc(ms)
}

const toDate = (ms) => (ms === null || ms === undefined ? null : new Date(ms))

function agentFromNative(a) {
  return a === null || a === undefined ? null : withDates(a)
}

function approvalFromNative(a) {
  if (!a) return a
  for (const k of ['createdAt', 'expiresAt', 'decidedAt', 'usedAt']) if (k in a) a[k] = toDate(a[k])
  return a
}

function decidedBy(options) {
  if (options === undefined || options === null) return undefined
  if (typeof options !== 'object' || (options.decidedBy !== undefined && typeof options.decidedBy !== 'string')) {
    throw new KavachError('VALIDATION_FAILED', 'options.decidedBy must be a string')
  }
  return options.decidedBy
}

function requireString(v, field) {
  if (typeof v !== 'string') throw new KavachError('VALIDATION_FAILED', `${field} must be a string`)
  return v
}

function authzInput(req) {
  if (req === null || typeof req !== 'object') throw new KavachError('VALIDATION_FAILED', 'the request must be an object with action and resource')
  const { action, resource, arguments: args, ip } = req
  if (typeof action !== 'string' || typeof resource !== 'string') {
    throw new KavachError('VALIDATION_FAILED', 'action and resource must be strings')
  }
  if (ip !== undefined && ip !== null && typeof ip !== 'string') throw new KavachError('VALIDATION_FAILED', 'ip must be a string')
  return { action, resource, arguments: args === undefined ? undefined : args, ip: ip === null ? undefined : ip }
}

function decision(r) {
  if (r.auditId === undefined) r.auditId = null
  return r
}

const INVALID_TOKEN = Object.freeze({ allowed: false, code: 'INVALID_TOKEN', reason: 'the agent token is not valid', auditId: null })

// One inline (same-thread) commit per microtask checkpoint: a caller that awaits each decision gets
// the cheap path every time, while a burst of concurrent calls goes to the group-committing writer.
let inlineTaken = false
const releaseInline = () => {
  inlineTaken = false
}
function takeInline() {
  if (inlineTaken) return false
  inlineTaken = true
  queueMicrotask(releaseInline)
  return true
}

// Fair to the event loop: a caller that awaits inline answers back to back never gives Node's loop a
// turn (each answer resolves in a microtask), so timers and sockets would starve. The first inline
// answer after a turn of the loop starts a clock and books a setImmediate that marks the next turn;
// once about a millisecond has passed without one, the next call waits for that turn first. The
// calls that wait share one promise, settled by that same setImmediate: with 64 in flight, one
// callback a turn rather than 64.
const INLINE_BUDGET_MS = 1
let burstStart = -1
let turn = null
let endTurn = null
const endBurst = () => {
  burstStart = -1
  if (endTurn !== null) {
    const settle = endTurn
    turn = endTurn = null
    settle()
  }
}
function inlineBudgetLeft() {
  if (burstStart < 0) {
    burstStart = performance.now()
    setImmediate(endBurst)
    return true
  }
  return performance.now() - burstStart < INLINE_BUDGET_MS
}
// Only called once inlineBudgetLeft() said no, so a burst is open and its endBurst is booked.
const nextTurn = () => (turn ??= new Promise((resolve) => (endTurn = resolve)))

function auditFilter(filter) {
  if (filter === undefined || filter === null) return {}
  if (typeof filter !== 'object') throw new KavachError('VALIDATION_FAILED', 'the filter must be an object')
  const out = { ...filter }
  if ('since' in out) out.since = toMillis(out.since, 'since') ?? undefined
  if ('until' in out) out.until = toMillis(out.until, 'until') ?? undefined
  if ('format' in out) delete out.format
  if ('stream' in out) delete out.stream
  return out
}

/**
 * A Web ReadableStream<Uint8Array> over a native export: each pull awaits one page (at most 1,000
 * rows, one keyset query) from Rust, so memory stays flat whatever the row count. Node's
 * ReadableStream is async-iterable too.
 */
function exportStream(cursor) {
  return new ReadableStream(
    {
      async pull(controller) {
        try {
          for (;;) {
            const chunk = await cursor.next()
            if (chunk === null) return controller.close()
            if (chunk.length === 0) continue
            return controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
          }
        } catch (e) {
          controller.error(toKavachError(e))
        }
      },
    },
    { highWaterMark: 1 },
  )
}

function auditEntryFromNative(e) {
  e.timestamp = new Date(e.timestamp)
  return e
}

const NOT_YET = []

// `mcp: { ... }` (seed 004) runs as the built-in `mcp` plugin: the block becomes its description,
// and `autoApprove` (a function) crosses as a hook called by name.
function mcpDescription(mcp) {
  if (mcp === undefined || mcp === null || mcp === false) return { description: undefined, autoApprove: undefined }
  if (typeof mcp !== 'object' || Array.isArray(mcp)) throw new KavachError('CONFIG_INVALID', 'mcp must be an object')
  if (mcp.enabled === false) return { description: undefined, autoApprove: undefined }
  const { autoApprove, ...options } = mcp
  if (autoApprove !== undefined && typeof autoApprove !== 'function') throw new KavachError('CONFIG_INVALID', 'mcp.autoApprove must be a function')
  if (autoApprove) options.autoApprove = true
  return {
    description: { id: 'mcp', options },
    autoApprove: autoApprove ? (client) => Promise.resolve().then(() => autoApprove(client)).then((v) => ({ approve: v === true })) : undefined,
  }
}

/** `resource_metadata` of RFC 9728 for a resource URL: `{origin}/.well-known/oauth-protected-resource{path}`. */
function resourceMetadataUrl(resource) {
  const u = new URL(resource)
  const path = u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '')
  return `${u.origin}/.well-known/oauth-protected-resource${path}`
}

const ok = (data) => ({ success: true, data })
const fail = (e) => {
  const k = toKavachError(e)
  return { success: false, error: { code: k.code, message: k.message } }
}

// The core speaks Unix milliseconds; the documented objects carry Dates.
const DATE_KEYS = ['createdAt', 'updatedAt', 'expiresAt', 'banExpires']
function withDates(o) {
  if (!o) return o
  for (const k of DATE_KEYS) if (k in o) o[k] = toDate(o[k])
  return o
}
const orgFromNative = withDates
const memberFromNative = withDates
const userFromNative = withDates
const sessionFromNative = withDates

function signedFromNative(r) {
  userFromNative(r.user)
  sessionFromNative(r.session)
  return r
}

// Reads one header from a Web Request, a Headers object (Next's headers() too), a Node
// IncomingMessage-style object, or a plain record.
function headerOf(source, name) {
  if (!source) return undefined
  const h = source.headers !== undefined && !(typeof source.get === 'function') ? source.headers : source
  if (!h) return undefined
  if (typeof h.get === 'function') return h.get(name) ?? undefined
  const v = h[name] ?? h[name.toLowerCase()] ?? h[name[0].toUpperCase() + name.slice(1)]
  return Array.isArray(v) ? v.join('; ') : v ?? undefined
}

// `{ request }`, `{ headers }`, a Request, or a Headers object. With `extra` (header names, the
// apiKey plugin's), the first of them present comes third as `[name, value]`.
function credentialsOf(arg, extra) {
  if (!arg || typeof arg !== 'object') throw new KavachError('VALIDATION_FAILED', 'pass { request }, { headers } or a Request')
  const source = arg.request ?? (arg.headers !== undefined && !('method' in arg) && !('url' in arg) ? { headers: arg.headers } : arg)
  const out = [headerOf(source, 'cookie'), headerOf(source, 'authorization')]
  if (extra) {
    for (const name of extra) {
      const v = headerOf(source, name)
      if (typeof v === 'string' && v !== '') {
        out.push([name, v])
        break
      }
    }
  }
  return out
}

// apiKey({ enableSessionForAPIKeys: true }): the headers a key may come in (default x-api-key).
function apiKeySessionHeaders(plugins) {
  const p = Array.isArray(plugins) ? plugins.find((x) => x && (x.id === 'api-key' || x.id === 'api-keys')) : undefined
  if (!p || !p.options || p.options.enableSessionForAPIKeys !== true) return undefined
  const h = p.options.apiKeyHeaders ?? 'x-api-key'
  const list = (Array.isArray(h) ? h : [h]).filter((x) => typeof x === 'string' && x !== '').map((x) => x.toLowerCase())
  return list.length ? list : undefined
}

const API_KEY_DATES = ['createdAt', 'updatedAt', 'expiresAt', 'lastRefillAt', 'lastRequest']
function apiKeyFromNative(k) {
  if (!k || typeof k !== 'object') return k
  for (const f of API_KEY_DATES) if (f in k) k[f] = toDate(k[f])
  return k
}

async function readBody(request, max) {
  const declared = Number(request.headers.get('content-length'))
  if (Number.isFinite(declared) && declared > max) return null
  if (!request.body) return undefined
  const reader = request.body.getReader()
  const chunks = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > max) {
      await reader.cancel().catch(() => {})
      return null
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks, size)
}

const TOO_LARGE = JSON.stringify({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'the request body is too large' } })
const NO_ROUTE = JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no such route' } })

const SHARED = Symbol.for('kavachos.instances')
function sharedInstances() {
  if (!globalThis[SHARED]) globalThis[SHARED] = new Map()
  return globalThis[SHARED]
}

// `extras`: what runs in JS around the core's answers: `customSession` (kavachos/plugins), the
// A lone surrogate cannot cross into Rust: napi turns it into U+FFFD, a different string. So every
// string handed to the binding (arguments, and the strings and keys of objects and arrays inside
// them) is checked here, once, and refused as VALIDATION_FAILED, as the HTTP API refuses a "\ud800"
// escape. Bytes (a request body) are not strings and pass as they are.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u
const wellFormed = String.prototype.isWellFormed ? (s) => s.isWellFormed() : (s) => !LONE_SURROGATE.test(s)

function checkWellFormed(v, depth = 0) {
  if (typeof v === 'string') {
    if (!wellFormed(v)) throw new KavachError('VALIDATION_FAILED', 'a string holds a lone surrogate (not a Unicode character)')
    return
  }
  if (v === null || typeof v !== 'object' || depth > 256 || ArrayBuffer.isView(v)) return
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) checkWellFormed(v[i], depth + 1)
    return
  }
  for (const k in v) {
    checkWellFormed(k)
    checkWellFormed(v[k], depth + 1)
  }
}

// The binding's methods behind that check: the same-thread ones (`*Inline`, SYNC_METHODS) throw,
// the others answer a rejected promise, as the binding itself does for its own errors (napi throws
// on the spot for a value it cannot convert, such as undefined inside an array: that too becomes a
// rejected VALIDATION_FAILED, never a synchronous throw from a call that promises a Result).
function checkArgs(a, b, c, e) {
  checkWellFormed(a)
  checkWellFormed(b)
  checkWellFormed(c)
  checkWellFormed(e)
}

// The decisions' hot path: the subject and authzInput's four fields, without walking an object
// (~60 ns against ~400 for the generic walk).
const isWellFormedOrNot = (s) => typeof s !== 'string' || wellFormed(s)
function checkAuthz(subject, req) {
  if (!isWellFormedOrNot(subject) || !isWellFormedOrNot(req.action) || !isWellFormedOrNot(req.resource) || !isWellFormedOrNot(req.ip)) {
    throw new KavachError('VALIDATION_FAILED', 'a string holds a lone surrogate (not a Unicode character)')
  }
  if (req.arguments !== undefined) checkWellFormed(req.arguments)
}
const AUTHZ_METHODS = new Set(['authorize', 'authorizeByToken', 'authorizeInline', 'authorizeByTokenInline'])
// The binding's synchronous methods besides the `*Inline` ones: they throw, never reject.
const SYNC_METHODS = new Set(['advanceClock', 'auditExportStream'])

function guardStrings(n) {
  const out = {}
  const proto = Object.getPrototypeOf(n)
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === 'constructor') continue
    const d = Object.getOwnPropertyDescriptor(proto, name)
    if (typeof d.value === 'function') {
      const fn = d.value
      const check = AUTHZ_METHODS.has(name) ? checkAuthz : checkArgs
      out[name] =
        name.endsWith('Inline') || SYNC_METHODS.has(name)
          ? (a, b, c, e) => {
              check(a, b, c, e)
              return fn.call(n, a, b, c, e)
            }
          : (a, b, c, e) => {
              try {
                check(a, b, c, e)
                return fn.call(n, a, b, c, e)
              } catch (err) {
                return Promise.reject(toKavachError(err))
              }
            }
    } else if (d.get) {
      Object.defineProperty(out, name, { get: () => n[name], enumerable: true })
    }
  }
  return out
}

// `user.additionalFields` of type date (handed out as Dates), and `keyHeaders`: the apiKey plugin's
// headers when its keys make sessions.
function makeInstance(native, maxBody, release, extras = {}) {
  const n = guardStrings(native)
  const keyHeaders = extras.keyHeaders
  const basePath = n.basePath
  const dateFields = extras.dateFields || []
  const customSession = extras.customSession
  const userOut = (u) => {
    if (!u) return u
    userFromNative(u)
    for (const k of dateFields) if (typeof u[k] === 'string' || typeof u[k] === 'number') u[k] = new Date(u[k])
    return u
  }
  const signedOut = (r) => {
    userOut(r.user)
    sessionFromNative(r.session)
    return r
  }
  // customSession(fn): its answer is getSession's data and GET /auth/session's body; a throw is
  // CUSTOM_SESSION_FAILED.
  const shape = async (data) => {
    if (!customSession) return data
    try {
      return await customSession(data)
    } catch (e) {
      throw new KavachError('CUSTOM_SESSION_FAILED', `customSession failed: ${e && e.message ? e.message : e}`, { cause: e })
    }
  }
  // A Date among a sign-up's fields (an additional field of type date) crosses as milliseconds.
  const plainInput = (input) => {
    if (!input || typeof input !== 'object' || Array.isArray(input)) return input ?? {}
    const out = {}
    for (const [k, v] of Object.entries(input)) out[k] = v instanceof Date ? v.getTime() : v
    return out
  }
  // One shape for both calls: the same-thread commit when it is free, else the queued one.
  const decideWith = (inline, queued) => {
    const decide = (subject, req) => {
      let input
      try {
        input = authzInput(req)
        if (takeInline()) {
          if (!inlineBudgetLeft()) return nextTurn().then(() => decide(subject, req))
          const r = inline(subject, input)
          if (r !== null) return Promise.resolve(decision(r))
        }
      } catch (e) {
        return Promise.reject(toKavachError(e))
      }
      return queued(subject, input).then(decision, rethrow)
    }
    return decide
  }
  const byToken = decideWith(
    (token, input) => n.authorizeByTokenInline(token, input),
    (token, input) => n.authorizeByToken(token, input),
  )
  const byId = decideWith(
    (agentId, input) => n.authorizeInline(agentId, input),
    (agentId, input) => n.authorize(agentId, input),
  )
  const authorizeByToken = (token, req) => (typeof token === 'string' ? byToken(token, req) : Promise.resolve({ ...INVALID_TOKEN }))
  const authorize = (agentId, req) =>
    typeof agentId === 'string' ? byId(agentId, req) : Promise.reject(new KavachError('VALIDATION_FAILED', 'agentId must be a string'))

  // organizations.* answer Results, as the docs show them (`org.data!.id`).
  const org = (op, input, convert) =>
    n.plugin('organizations', op, input === undefined ? null : input).then((r) => ok(convert(r)), fail)

  const tf = (op, input, convert) =>
    call(() => n.plugin('twoFactor', op, input === undefined ? null : input)).then((r) => ok(convert(r)), fail)
  // admin.* answer Results too; timestamps in, Dates out.
  const adm = (op, input, convert) =>
    Promise.resolve()
      .then(() => n.plugin('admin', op, (typeof input === 'function' ? input() : input) ?? null))
      .then((r) => ok(convert(r)), fail)
  const none = () => undefined
  const ak = (op, input, convert) =>
    call(() => n.plugin('apiKeys', op, input === undefined ? null : input)).then((r) => ok(convert(r)), fail)

  // One read on this thread when that is all it takes (SQLite, no refresh due); else the async call.
  const lookupSession = (arg) => {
    if (!inlineBudgetLeft()) return nextTurn().then(() => lookupSession(arg))
    const [cookie, authorization, key] = credentialsOf(arg, keyHeaders)
    if (key !== undefined) {
      // An API key (apiKey({ enableSessionForAPIKeys })): the core asks the plugin when the
      // request carries no session cookie or Bearer token.
      const flat = []
      if (cookie !== undefined) flat.push('cookie', cookie)
      if (authorization !== undefined) flat.push('authorization', authorization)
      flat.push(key[0], key[1])
      const found = n.getSessionHeadersInline(flat)
      return found === null || found === undefined ? n.getSessionHeaders(flat) : JSON.parse(found)
    }
    const text = n.getSessionInline(cookie, authorization)
    return text === null || text === undefined ? n.getSession(cookie, authorization) : JSON.parse(text)
  }

  return {
    agent: {
      create: (input) =>
        call(() => {
          if (input === null || typeof input !== 'object') throw new KavachError('VALIDATION_FAILED', 'agent.create needs an object')
          const body = { ...input }
          if ('expiresAt' in body) {
            body.expiresAt = toMillis(body.expiresAt, 'expiresAt')
            if (body.expiresAt === null) delete body.expiresAt
          }
          return n.createAgent(body).then(agentFromNative)
        }),
      get: (id) => call(() => n.getAgent(requireString(id, 'id')).then(agentFromNative)),
      list: (filter) => call(() => n.listAgents(filter ?? {}).then((list) => list.map(agentFromNative))),
      update: (id, patch) =>
        call(() => {
          if (patch === null || typeof patch !== 'object') throw new KavachError('VALIDATION_FAILED', 'agent.update needs a patch object')
          const body = { ...patch }
          if ('expiresAt' in body) body.expiresAt = toMillis(body.expiresAt, 'expiresAt')
          return n.updateAgent(requireString(id, 'id'), body).then(agentFromNative)
        }),
      revoke: (id) => call(() => n.revokeAgent(requireString(id, 'id'))),
      rotate: (id) => call(() => n.rotateAgent(requireString(id, 'id')).then(agentFromNative)),
    },
    authorize,
    authorizeByToken,
    // approvals.*: what requireApproval waits for; the agent's owner decides.
    approvals: {
      list: (filter) => call(() => n.listApprovals(filter ?? {}).then((list) => list.map(approvalFromNative))),
      get: (id) => call(() => n.getApproval(requireString(id, 'id')).then(approvalFromNative)),
      approve: (id, options) => call(() => n.decideApproval(requireString(id, 'id'), true, decidedBy(options)).then(approvalFromNative)),
      deny: (id, options) => call(() => n.decideApproval(requireString(id, 'id'), false, decidedBy(options)).then(approvalFromNative)),
    },
    // delegation.*: an agent hands a subset of its permissions to another, up to a depth.
    delegation: {
      create: (input) =>
        call(() => {
          if (input === null || typeof input !== 'object') throw new KavachError('VALIDATION_FAILED', 'delegation.create needs an object')
          const body = { ...input }
          if ('expiresAt' in body) {
            body.expiresAt = toMillis(body.expiresAt, 'expiresAt')
            if (body.expiresAt === null) delete body.expiresAt
          }
          return n.createDelegation(body).then(withDates)
        }),
      revoke: (id) => call(() => n.revokeDelegation(requireString(id, 'id'))),
      list: (filter) => call(() => n.listDelegations(requireString(filter && filter.agentId, 'agentId')).then((list) => list.map(withDates))),
    },
    trust: {
      /** The agent's trust score (0-100) from its age and audit trail; README gives the formula. */
      score: (agentId) => call(() => n.trustScore(requireString(agentId, 'agentId')).then((t) => ({ ...t, computedAt: toDate(t.computedAt) }))),
    },
    audit: {
      query: (filter) => call(() => n.auditQuery(auditFilter(filter)).then((rows) => rows.map(auditEntryFromNative))),
      // A string (up to 100,000 rows, more is EXPORT_TOO_LARGE), or with `stream: true` a Web
      // ReadableStream of every matching row, read from Rust a page at a time.
      export: (options) =>
        call(async () => {
          const format = (options && options.format) || 'json'
          const filter = auditFilter(options)
          if (options && options.stream === true) return exportStream(n.auditExportStream(filter, format))
          return n.auditExport(filter, format)
        }),
    },
    auth: {
      signUp: (input, ctx) =>
        n.signUp(plainInput(input), ctx?.ip, ctx?.userAgent).then((r) => ok(signedOut(r)), fail),
      // With twoFactor() on, an account whose second factor is on answers { twoFactorRequired, twoFactorToken }.
      signIn: (input, ctx) =>
        n
          .signIn(input ?? {}, ctx?.ip, ctx?.userAgent, ctx?.trustedDeviceToken)
          .then((r) => ok(r.twoFactorRequired ? r : signedOut(r)), fail),
      signOut: async (arg) => {
        try {
          const [cookie, authorization] = credentialsOf(arg)
          return ok(await n.signOut(cookie, authorization))
        } catch (e) {
          return fail(e)
        }
      },
      getSession: async (arg) => {
        try {
          const r = await lookupSession(arg)
          if (r === null) return ok(null)
          return ok(await shape({ session: sessionFromNative(r.session), user: userOut(r.user) }))
        } catch (e) {
          return fail(e)
        }
      },
      sendPasswordResets: (options) =>
        n.sendPasswordResets(options?.redirectTo).then((sent) => ok({ sent }), fail),
      getUser: async (arg) => {
        try {
          const r = await lookupSession(arg)
          return ok(r === null ? null : userOut(r.user))
        } catch (e) {
          return fail(e)
        }
      },
    },
    /**
     * The whole HTTP API for a Web `Request`. `options.path` is the route inside the mount (the shims
     * compute it); without it the configured basePath is stripped from the URL.
     */
    handler: async (request, options = {}) => {
      const url = new URL(request.url)
      let path = options.path
      if (url.pathname.startsWith('/.well-known/')) {
        // RFC 8414 / RFC 9728 documents live at the site's root, outside the mount: whatever a
        // shim mounted at /.well-known computed, the route is the whole path.
        path = url.pathname
      }
      if (path === undefined) {
        const mount = options.mount ?? basePath
        if (mount && url.pathname !== mount && !url.pathname.startsWith(mount + '/')) {
          return new Response(NO_ROUTE, { status: 404, headers: { 'content-type': 'application/json; charset=utf-8' } })
        }
        path = url.pathname.slice(mount.length) || '/'
      }
      const method = request.method.toUpperCase()
      let body
      if (method !== 'GET' && method !== 'HEAD') {
        body = options.body !== undefined ? options.body : await readBody(request, maxBody)
        if (body === null) return new Response(TOO_LARGE, { status: 413, headers: { 'content-type': 'application/json; charset=utf-8' } })
      }
      const headers = []
      for (const [k, v] of request.headers) headers.push(k, v)
      // GET /auth/session: the same one read on this thread as auth.getSession when it is enough
      // (SQLite, no refresh due), else the async call below. GET /audit/export streams: the rows
      // are read a page at a time from r.export.
      const streamed = method === 'GET' && path === '/audit/export'
      let r = null
      if (method === 'GET' && path === '/auth/session') {
        // Past the inline budget, wait for the event loop's next turn and read inline then: cheaper
        // than the async call, and just as fair to timers and sockets.
        while (!inlineBudgetLeft()) await nextTurn()
        r = n.handleHttpInline(method, path, headers, url.origin)
      }
      r ??= await (streamed ? n.handleHttpStreaming : n.handleHttp).call(n, {
        method,
        path,
        query: url.search.slice(1),
        headers,
        body: body ?? undefined,
        urlOrigin: url.origin,
        clientIp: options.clientIp ?? undefined,
        // The mount as this request reached it (a shim passes only the path inside it).
        mount: path.startsWith('/.well-known/') ? undefined : url.pathname.endsWith(path) ? url.pathname.slice(0, url.pathname.length - path.length).replace(/\/+$/, '') : undefined,
      })
      const out = new Headers()
      for (let i = 0; i < r.headers.length; i += 2) out.append(r.headers[i], r.headers[i + 1])
      if (customSession && method === 'GET' && path === '/auth/session' && r.status === 200) {
        // The same data getSession answers, shaped by customSession, without another lookup.
        out.delete('content-length')
        let text
        try {
          const found = JSON.parse(Buffer.from(r.body).toString('utf8'))
          const shaped = await shape({ session: sessionFromNative(found.session), user: userOut(found.user) })
          text = JSON.stringify(shaped === undefined ? null : shaped)
        } catch (e) {
          const k = toKavachError(e)
          return new Response(JSON.stringify({ error: { code: k.code, message: k.message } }), { status: 500, headers: out })
        }
        return new Response(text, { status: 200, headers: out })
      }
      if (streamed && r.export) return new Response(exportStream(r.export), { status: r.status, headers: out })
      return new Response(r.status === 204 || method === 'HEAD' ? null : r.body, { status: r.status, headers: out })
    },
    organizations: {
      create: (input) => org('create', input, orgFromNative),
      get: (id) => org('get', id, orgFromNative),
      update: (id, patch) => org('update', { id, patch }, orgFromNative),
      delete: (id) => org('delete', id, () => undefined),
      addMember: (input) => org('addMember', input, memberFromNative),
      removeMember: (input) => org('removeMember', input, memberFromNative),
      updateMemberRole: (input) => org('updateMemberRole', input, memberFromNative),
      listMembers: (input) => org('listMembers', input, (list) => list.map(memberFromNative)),
      list: (input) => org('list', input, (list) => list.map(orgFromNative)),
      /** Whether the member's role grants `permission` (a string, or a list that must all be held). */
      hasPermission: (input) => org('hasPermission', input, (v) => v),
      /** Invites `email` with `role`; `sendInvitationEmail` of the plugin gets the link. */
      invite: (input) => org('invite', input, withDates),
      getInvitation: (id) => org('getInvitation', id, withDates),
      listInvitations: (input) => org('listInvitations', input, (list) => list.map(withDates)),
      /** Pending invitations addressed to `email`. */
      listUserInvitations: (input) => org('listUserInvitations', input, (list) => list.map(withDates)),
      acceptInvitation: (input) => org('acceptInvitation', input, memberFromNative),
      declineInvitation: (input) => org('declineInvitation', input, withDates),
      cancelInvitation: (input) => org('cancelInvitation', input, withDates),
      /**
       * Sets the organization the session acts in (`organizationId: null` clears it). The session is
       * the one `{ request }` / `{ headers }` carries, or `{ sessionId, userId }`.
       */
      setActive: async (input) => {
        try {
          if (input === null || typeof input !== 'object') throw new KavachError('VALIDATION_FAILED', 'setActive needs an object')
          const organizationId = input.organizationId ?? null
          let sessionId = input.sessionId
          let userId = input.userId
          if (sessionId === undefined) {
            const found = await lookupSession(input.request ? { request: input.request } : { headers: input.headers })
            if (found === null) return { success: false, error: { code: 'UNAUTHORIZED', message: 'sign in first' } }
            sessionId = found.session.id
            userId = found.user.id
          }
          await n.plugin('organizations', 'setActive', { sessionId, userId, organizationId })
          return ok(undefined)
        } catch (e) {
          return fail(e)
        }
      },
    },
    // twoFactor.* answer Results; verify completes a sign-in that answered twoFactorRequired.
    twoFactor: {
      enable: (input) => tf('enable', input, (r) => r),
      activate: (input) => tf('activate', input, (r) => r),
      disable: (input) => tf('disable', input, (r) => r),
      status: (userId) => tf('status', userId, (r) => r),
      generateBackupCodes: (input) => tf('generateBackupCodes', input, (r) => r),
      verify: (input) => tf('verify', input, signedFromNative),
    },
    admin: {
      listUsers: (query) => adm('listUsers', query ?? {}, (r) => ({ users: r.users.map(userFromNative), total: r.total })),
      getUser: (id) => adm('getUser', id, (u) => (u === null ? null : userFromNative(u))),
      banUser: (input) =>
        adm(
          'banUser',
          () => (input && typeof input === 'object' && 'expiresAt' in input ? { ...input, expiresAt: toMillis(input.expiresAt, 'expiresAt') } : input),
          none,
        ),
      unbanUser: (userId) => adm('unbanUser', userId, none),
      setRole: (input) => adm('setRole', input, none),
      removeUser: (userId) => adm('removeUser', userId, none),
      impersonate: (input) => adm('impersonate', input, signedFromNative),
      stopImpersonating: (token) => adm('stopImpersonating', token, none),
    },
    // jwt.* (the jwt() plugin): Results, except getJwks, which throws like the HTTP route fails.
    jwt: {
      issue: async (arg) => {
        try {
          const [cookie, authorization] = credentialsOf(arg)
          return ok(await n.plugin('jwt', 'issue', { cookie: cookie ?? null, authorization: authorization ?? null }))
        } catch (e) {
          return fail(e)
        }
      },
      verify: (token) =>
        typeof token === 'string'
          ? n.plugin('jwt', 'verify', token).then(ok, fail)
          : Promise.resolve(fail(new KavachError('VALIDATION_FAILED', 'the token must be a string'))),
      getJwks: () => call(() => n.plugin('jwt', 'jwks', null)),
      rotateKeys: () => n.plugin('jwt', 'rotateKeys', null).then(ok, fail),
    },
    // apiKeys.* (the apiKey() plugin): Results; the key itself only in create's answer.
    apiKeys: {
      create: (input) => ak('create', input, apiKeyFromNative),
      verify: (input) => ak('verify', input, (r) => (r && r.key ? { ...r, key: apiKeyFromNative(r.key) } : r)),
      get: (input) => ak('get', input, apiKeyFromNative),
      list: (input) => ak('list', input, (list) => list.map(apiKeyFromNative)),
      update: (input) => ak('update', input, apiKeyFromNative),
      delete: (input) => ak('delete', input, (r) => r),
    },
    // mcp.* (createKavach({ mcp })): the resource server's side of the MCP OAuth 2.1 server.
    mcp: makeMcp(n),
    // oauth.* (the oauth() plugin from kavachos/auth): Results; timestamps in, Dates out.
    oauth: {
      getAccessToken: (input) =>
        n.plugin('oauth', 'getAccessToken', input ?? null).then((r) => ok({ ...r, accessTokenExpiresAt: toDate(r.accessTokenExpiresAt) }), fail),
      listAccounts: (input) =>
        n.plugin('oauth', 'listAccounts', input ?? null).then((list) => ok(list.map((a) => ({ ...a, createdAt: toDate(a.createdAt), updatedAt: toDate(a.updatedAt) }))), fail),
      unlinkAccount: (input) => n.plugin('oauth', 'unlinkAccount', input ?? null).then(ok, fail),
      /** The configured providers, `{ id, name }` (for sign-in buttons). */
      providers: () => n.plugin('oauth', 'providers', null).then(ok, fail),
    },
    // webhooks.*: what the outbox holds for the configured webhooks.
    webhooks: {
      deliveries: (filter) =>
        call(() => {
          if (filter !== undefined && filter !== null && typeof filter !== 'object') throw new KavachError('VALIDATION_FAILED', 'deliveries takes { status?, limit? }')
          const status = filter && filter.status !== undefined ? requireString(filter.status, 'status') : null
          const limit = filter && filter.limit !== undefined ? filter.limit : null
          return n.webhookDeliveries(status, limit).then((list) => list.map(deliveryFromNative))
        }),
      redeliver: (id) => call(() => n.webhookRedeliver(requireString(id, 'id'))),
    },
    /** The configured mount (default `/api/kavach`). */
    basePath,
    close: release,
    // Tests only: moves the instance clock (booted with NODE_ENV=test and KAVACH_TEST_CLOCK=1).
    __advanceClock: (ms) => n.advanceClock(ms),
  }
}

const HOOKS = ['beforeAuthorize', 'afterAuthorize', 'beforeAgentCreate', 'afterAgentCreate', 'onAgentRevoke', 'onViolation']

// `hooks`: checked here; the core learns only the names of the functions given (`event:<name>`
// for the listeners) and calls them back through hookCall (awaited) and hookFire (not awaited).
function prepareHooks(hooks) {
  if (hooks === undefined || hooks === null) return { hooks: undefined, names: [] }
  if (typeof hooks !== 'object' || Array.isArray(hooks)) throw new KavachError('CONFIG_INVALID', 'hooks must be an object')
  const table = {}
  for (const [k, v] of Object.entries(hooks)) {
    if (k === 'events') continue
    if (!HOOKS.includes(k)) throw new KavachError('CONFIG_INVALID', `hooks.${k} is not a hook kavachos calls (${HOOKS.join(', ')}, events)`)
    if (v === undefined) continue
    if (typeof v !== 'function') throw new KavachError('CONFIG_INVALID', `hooks.${k} must be a function`)
    table[k] = v
  }
  if (hooks.events !== undefined && hooks.events !== null) {
    if (typeof hooks.events !== 'object' || Array.isArray(hooks.events)) throw new KavachError('CONFIG_INVALID', 'hooks.events must be an object of functions by event name')
    for (const [name, v] of Object.entries(hooks.events)) {
      if (v === undefined) continue
      if (typeof v !== 'function') throw new KavachError('CONFIG_INVALID', `hooks.events['${name}'] must be a function`)
      table[`event:${name}`] = v
    }
  }
  return { hooks: table, names: Object.keys(table) }
}

// What a hook receives: the documented objects (Dates where the API shows Dates); an event
// listener gets `{ id, event, timestamp, data }` as webhooks do (ISO strings).
function hookArgument(name, payload) {
  if (name === 'afterAgentCreate') return agentFromNative(payload)
  if (name === 'beforeAgentCreate' && payload && typeof payload.expiresAt === 'number') return { ...payload, expiresAt: toDate(payload.expiresAt) }
  if (name === 'plugin:anonymous.onLinkAccount' && payload) {
    for (const side of [payload.anonymousUser, payload.newUser]) {
      if (!side) continue
      withDates(side.user)
      withDates(side.session)
    }
  }
  return payload
}

// A before* hook, awaited by Rust: its answer as JSON (`null` for none); a throw rejects, which
// the core takes as a refusal (fail closed).
function hookCall(table, { name, payload }) {
  return Promise.resolve()
    .then(() =>
      // better-auth calls it with two arguments: onDeviceAuthRequest(clientId, scope).
      name === 'plugin:device-authorization.onDeviceAuthRequest' && payload
        ? table[name](payload.clientId, payload.scope ?? undefined)
        : table[name](hookArgument(name, payload)),
    )
    .then((v) => {
      // A plugin option function may answer any JSON value (usernameValidator: a boolean).
      if (name.startsWith('plugin:')) return v === undefined || typeof v === 'function' || typeof v === 'symbol' ? null : JSON.parse(JSON.stringify(v))
      return v === undefined || v === null || typeof v !== 'object' ? null : JSON.parse(JSON.stringify(v))
    })
}

// An after-hook or event listener: never awaited by the caller; a throw or a rejection is logged
// with the hook's name and the error's message only (never the payload).
function hookFire(table, { name, payload }) {
  Promise.resolve()
    .then(() => table[name](hookArgument(name, payload)))
    .catch((e) => console.error(`kavachos: the ${name.replace(/^event:/, 'events.')} hook failed: ${e && e.message ? e.message : e}`))
  return Promise.resolve()
}

function deliveryFromNative(d) {
  for (const k of ['nextAttemptAt', 'createdAt', 'deliveredAt']) if (k in d) d[k] = toDate(d[k])
  return d
}

const WWW_ERRORS = { INVALID_TOKEN: 'invalid_token', INSUFFICIENT_SCOPE: 'insufficient_scope' }

function bearerChallenge(request, error, options = {}) {
  const code = typeof error === 'string' ? error.toUpperCase() : error && error.code
  const kind = WWW_ERRORS[code] || 'invalid_token'
  const message = (error && typeof error === 'object' && error.message) || (kind === 'insufficient_scope' ? 'the access token lacks a scope' : 'a valid access token is required')
  const resource = options.resource || new URL(request.url).origin + new URL(request.url).pathname
  const quote = (v) => String(v).replace(/[\\"]/g, '')
  let header = `Bearer error="${kind}", error_description="${quote(message)}", resource_metadata="${quote(resourceMetadataUrl(resource))}"`
  if (kind === 'insufficient_scope' && options.scopes && options.scopes.length) header += `, scope="${quote(options.scopes.join(' '))}"`
  return new Response(JSON.stringify({ error: kind, error_description: message }), {
    status: kind === 'insufficient_scope' ? 403 : 401,
    headers: { 'content-type': 'application/json; charset=utf-8', 'www-authenticate': header, 'access-control-expose-headers': 'WWW-Authenticate', 'cache-control': 'no-store' },
  })
}

function makeMcp(n) {
  const authenticate = (request, options = {}) => {
    const authorization = request && request.headers && typeof request.headers.get === 'function' ? request.headers.get('authorization') : undefined
    return n.plugin('mcp', 'authenticate', { authorization: authorization ?? null, resource: options.resource, scopes: options.scopes ?? [] }).then((a) => ok({ ...a, expiresAt: toDate(a.expiresAt) }), fail)
  }
  const challenge = (request, error, options) => bearerChallenge(request, error, options)
  return {
    /** Checks the request's Bearer access token for `resource` (and `scopes`): `{ agentId, userId, clientId, scopes, expiresAt, token }`. */
    authenticate,
    /** A 401 (403 for a missing scope) with `WWW-Authenticate` as RFC 6750 and RFC 9728 say. */
    challenge,
    /** Wraps a Web handler: authenticated requests reach it with their `auth`, others get the challenge. */
    withMcpAuth: (handler, options = {}) => async (request) => {
      const r = await authenticate(request, options)
      if (!r.success) return challenge(request, r.error, options)
      return handler(request, r.data)
    },
    registerClient: (metadata) => n.plugin('mcp', 'registerClient', metadata ?? null).then(ok, fail),
    rotateKeys: () => n.plugin('mcp', 'rotateKeys', null).then(ok, fail),
    jwks: () => n.plugin('mcp', 'jwks', null).then(ok, fail),
    metadata: () => n.plugin('mcp', 'metadata', null).then(ok, fail),
    revokeGrant: (grantId) => n.plugin('mcp', 'revokeGrant', grantId ?? null).then(ok, fail),
  }
}

/**
 * Boots kavachos: checks the configuration, connects, runs migrations (unless skipped).
 * @param {import('./index').KavachConfig} config
 */
async function createKavach(config) {
  if (config === null || typeof config !== 'object') {
    throw new KavachError('CONFIG_INVALID', 'createKavach needs a configuration object')
  }
  for (const key of NOT_YET) {
    const v = config[key]
    const on = Array.isArray(v) ? v.length > 0 : v && typeof v === 'object' ? v.enabled !== false : Boolean(v)
    if (on) throw new KavachError('CONFIG_INVALID', `${key} is not available in this version of kavachos yet`)
  }

  // customSession(fn) (kavachos/plugins) runs in JS over the core's answers: it never crosses.
  const custom = takeCustomSession(config)
  config = custom.config
  const dateFields = additionalDateFields(config.user)
  const mcp = mcpDescription(config.mcp)
  if (mcp.description) {
    const { mcp: _block, ...rest } = config
    config = { ...rest, plugins: [...(Array.isArray(config.plugins) ? config.plugins : []), mcp.description] }
  }
  let json
  try {
    // Hooks are functions: only their names cross (below), never as configuration.
    json = JSON.stringify(config, (k, v) => (k === 'hooks' && v !== null && typeof v === 'object' && !Array.isArray(v) ? undefined : v))
  } catch {
    throw new KavachError('CONFIG_INVALID', 'the configuration must be serializable (no cycles)')
  }
  const ep = config.emailAndPassword || {}
  for (const key of ['verifyLegacyHash', 'sendResetPassword', 'sendVerificationEmail']) {
    if (ep[key] !== undefined && typeof ep[key] !== 'function') {
      throw new KavachError('CONFIG_INVALID', `emailAndPassword.${key} must be a function`)
    }
  }
  // Rust awaits a promise of the declared type whatever the app's function returns.
  const legacy = ep.verifyLegacyHash
  const verifyLegacyHash = legacy ? (input) => Promise.resolve().then(() => legacy(input)).then((v) => v === true) : undefined
  const mailer = (fn) =>
    fn
      ? (message) =>
          Promise.resolve()
            .then(() => fn({ ...message, user: userFromNative(message.user) }))
            .then(() => undefined)
      : undefined
  // jwt({ customClaims }): handed `{ session, user }` with Dates; its answer crosses as JSON (a
  // non-object answer fails the issue in Rust with JWT_CLAIMS_INVALID, a throw with JWT_CLAIMS_FAILED).
  const jwtPlugin = Array.isArray(config.plugins) ? config.plugins.find((p) => p && p.id === 'jwt') : undefined
  const claimsFn = jwtPlugin && jwtPlugin.options ? jwtPlugin.options.customClaims : undefined
  if (claimsFn !== undefined && typeof claimsFn !== 'function') {
    throw new KavachError('CONFIG_INVALID', 'jwt({ customClaims }) must be a function')
  }
  const customClaims = claimsFn
    ? (input) =>
        Promise.resolve()
          .then(() => claimsFn({ session: sessionFromNative(input.session), user: userFromNative(input.user) }))
          .then((v) => (v === undefined || typeof v === 'function' || typeof v === 'symbol' ? null : JSON.parse(JSON.stringify(v))))
    : undefined
  const orgPlugin = Array.isArray(config.plugins) ? config.plugins.find((p) => p && p.id === 'organization') : undefined
  const sendInvitation = orgPlugin && orgPlugin.options ? orgPlugin.options.sendInvitationEmail : undefined
  if (sendInvitation !== undefined && typeof sendInvitation !== 'function') {
    throw new KavachError('CONFIG_INVALID', 'organization({ sendInvitationEmail }) must be a function')
  }
  const inviteMailer = sendInvitation
    ? (message) =>
        Promise.resolve()
          .then(() => sendInvitation({ ...message, expiresAt: toDate(message.expiresAt) }))
          .then(() => undefined)
    : undefined
  const prepared = prepareHooks(config.hooks)
  if (mcp.autoApprove) {
    prepared.hooks = { ...(prepared.hooks || {}), 'plugin:mcp.autoApprove': mcp.autoApprove }
    prepared.names = [...prepared.names, 'plugin:mcp.autoApprove']
  }
  // A function among a plugin's options (magicLink's sendMagicLink, phoneNumber's sendOTP, ...)
  // crosses by name, as a hook: Rust awaits `plugin:<id>.<option>` with a JSON argument and reads
  // its JSON answer (Hooks::plugin_fn). The options themselves travel as JSON without it.
  for (const p of Array.isArray(config.plugins) ? config.plugins : []) {
    if (!p || typeof p !== 'object' || typeof p.id !== 'string' || !p.options || typeof p.options !== 'object') continue
    if (p.id === 'organization' || p.id === 'jwt') continue
    for (const [option, fn] of Object.entries(p.options)) {
      if (typeof fn !== 'function') continue
      const name = `plugin:${p.id}.${option}`
      prepared.hooks = { ...(prepared.hooks || {}), [name]: fn }
      prepared.names = [...prepared.names, name]
    }
  }
  // Functions one level down (phoneNumber's signUpOnVerification.getTempEmail) cross the same way,
  // as `plugin:<id>.<option>.<key>`; the option itself still travels as JSON (an object).
  for (const p of Array.isArray(config.plugins) ? config.plugins : []) {
    if (!p || typeof p !== 'object' || typeof p.id !== 'string' || !p.options || typeof p.options !== 'object') continue
    if (p.id === 'organization' || p.id === 'jwt') continue
    for (const [option, group] of Object.entries(p.options)) {
      if (!group || typeof group !== 'object' || Array.isArray(group)) continue
      for (const [key, fn] of Object.entries(group)) {
        if (typeof fn !== 'function') continue
        const name = `plugin:${p.id}.${option}.${key}`
        prepared.hooks = { ...(prepared.hooks || {}), [name]: fn }
        prepared.names = [...prepared.names, name]
      }
    }
  }
  const callbacks = {
    verifyLegacyHash,
    sendResetPassword: mailer(ep.sendResetPassword),
    sendVerificationEmail: mailer(ep.sendVerificationEmail),
    sendInvitationEmail: inviteMailer,
    customClaims,
    hooks: prepared.hooks,
  }
  const maxBody = typeof config.maxBodySize === 'number' ? config.maxBodySize : 1024 * 1024
  // One instance per configuration and process: Next.js evaluates lib/kavach.ts once per route
  // bundle, and dev hot reload evaluates it again on every edit; each would open its own pools.
  // The native instance is shared and counts its holders; the newest callbacks are the ones called.
  // A private `:memory:` database, or `shareInstance: false`, always gets an instance of its own.
  const url = config.database && typeof config.database === 'object' ? config.database.url : undefined
  const shareable = config.shareInstance !== false && url !== ':memory:'
  const key = shareable ? `${json}\u0000${Object.keys(callbacks).filter((k) => callbacks[k]).join(',')}\u0000${prepared.names.join(',')}` : undefined
  let entry = key !== undefined ? sharedInstances().get(key) : undefined
  if (entry) {
    entry.callbacks = callbacks
  } else {
    entry = { callbacks, holders: 0, native: undefined }
    const via = (name) => (callbacks[name] ? (input) => entry.callbacks[name](input) : undefined)
    entry.native = native.open(
      json,
      process.env.NODE_ENV,
      via('verifyLegacyHash'),
      via('sendResetPassword'),
      via('sendVerificationEmail'),
      via('sendInvitationEmail'),
      via('customClaims'),
      prepared.names.length ? (msg) => hookCall(entry.callbacks.hooks, msg) : undefined,
      prepared.names.length ? (msg) => hookFire(entry.callbacks.hooks, msg) : undefined,
      prepared.names,
    )
    if (key !== undefined) {
      sharedInstances().set(key, entry)
      entry.native.catch(() => sharedInstances().get(key) === entry && sharedInstances().delete(key))
    }
  }
  entry.holders++
  let n
  try {
    n = await entry.native
  } catch (e) {
    entry.holders--
    throw toKavachError(e)
  }
  let closed = false
  const release = () => {
    if (closed) return Promise.resolve()
    closed = true
    if (--entry.holders > 0) return Promise.resolve()
    if (key !== undefined && sharedInstances().get(key) === entry) sharedInstances().delete(key)
    return call(() => n.close())
  }
  return makeInstance(n, maxBody, release, { customSession: custom.fn, dateFields, keyHeaders: apiKeySessionHeaders(config.plugins) })
}

// Takes customSession(fn)'s description out of `plugins`: `{ fn, config }` without it.
function takeCustomSession(config) {
  if (!Array.isArray(config.plugins)) return { fn: undefined, config }
  const found = config.plugins.filter((p) => p && p.id === 'custom-session')
  if (found.length === 0) return { fn: undefined, config }
  if (found.length > 1) throw new KavachError('CONFIG_INVALID', 'customSession is listed twice in plugins')
  const fn = found[0].options && found[0].options.fn
  if (typeof fn !== 'function') throw new KavachError('CONFIG_INVALID', 'customSession(fn) needs a function')
  return { fn, config: { ...config, plugins: config.plugins.filter((p) => !(p && p.id === 'custom-session')) } }
}

// The names of `user.additionalFields` of type date; a defaultValue that is a function cannot
// cross (the core checks the rest of each definition).
function additionalDateFields(user) {
  const fields = user && typeof user === 'object' ? user.additionalFields : undefined
  if (!fields || typeof fields !== 'object') return []
  const dates = []
  for (const [name, def] of Object.entries(fields)) {
    if (!def || typeof def !== 'object') continue
    if (typeof def.defaultValue === 'function') {
      throw new KavachError('CONFIG_INVALID', `user.additionalFields.${name}.defaultValue must be a value (a function is not supported)`)
    }
    if (def.type === 'date') dates.push(name)
  }
  return dates
}

/** Runs the embedded migrations against a database URL; resolves to the versions applied. */
function migrate(url) {
  return call(() => native.migrate(requireString(url, 'url')))
}

/**
 * Copies a better-auth database into kavachos's tables (what `kavach-cli import better-auth` does);
 * resolves to the report, or throws a KavachError (IMPORT_SOURCE_INVALID, DB_UNREACHABLE, ...).
 */
function importBetterAuth(options) {
  if (!options || typeof options !== 'object') return Promise.reject(new KavachError('VALIDATION_FAILED', 'importBetterAuth needs { from, to?, dryRun?, batchSize?, onProgress? }'))
  const { onProgress, ...rest } = options
  if (onProgress !== undefined && typeof onProgress !== 'function') return Promise.reject(new KavachError('VALIDATION_FAILED', 'onProgress must be a function'))
  const progress = onProgress ? (counts) => Promise.resolve().then(() => onProgress(counts)).then(() => undefined, () => undefined) : undefined
  return call(() => native.importBetterAuth(rest, progress))
}

/** A Clerk export (Dashboard CSV or @clerk/backend JSON) into kavachos's tables; resolves to the report. */
function importClerk(options) {
  if (!options || typeof options !== 'object') return Promise.reject(new KavachError('VALIDATION_FAILED', 'importClerk needs { file, to, dryRun?, batchSize?, onProgress? }'))
  const { onProgress, ...rest } = options
  if (onProgress !== undefined && typeof onProgress !== 'function') return Promise.reject(new KavachError('VALIDATION_FAILED', 'onProgress must be a function'))
  const progress = onProgress ? (counts) => Promise.resolve().then(() => onProgress(counts)).then(() => undefined, () => undefined) : undefined
  return call(() => native.importClerk(rest, progress))
}

module.exports = { createKavach, KavachError, migrate, importBetterAuth, importClerk }
