'use strict'
// @kavachos/client: typed calls to the kavachos HTTP API, in the browser and in Node. Every call
// resolves to a Result (`{ success: true, data }` or `{ success: false, error: { code, message } }`),
// network failures included; no call throws or rejects.

const DEFAULT_BASE_PATH = '/api/kavach'

// Timestamps arrive as ISO strings and are handed out as Dates (as the server-side facade does).
const DATE_KEYS = new Set(['createdAt', 'updatedAt', 'expiresAt', 'timestamp', 'banExpires'])
// The caller's own data is never rewritten.
const OPAQUE_KEYS = new Set(['metadata', 'parameters', 'permissions', 'arguments'])

function reviveDates(v) {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = reviveDates(v[i])
    return v
  }
  if (v === null || typeof v !== 'object' || v instanceof Date) return v
  for (const k of Object.keys(v)) {
    const item = v[k]
    if (DATE_KEYS.has(k)) {
      if (typeof item === 'string' || typeof item === 'number') {
        const d = new Date(item)
        if (!Number.isNaN(d.getTime())) v[k] = d
      }
    } else if (!OPAQUE_KEYS.has(k) && item !== null && typeof item === 'object') {
      reviveDates(item)
    }
  }
  return v
}

const ok = (data) => ({ success: true, data })
const fail = (code, message) => ({ success: false, error: { code, message } })

function trimSlashes(s) {
  return s.replace(/\/+$/, '')
}

function normalizePath(p) {
  if (p === undefined || p === null) return undefined
  const t = trimSlashes(String(p).trim())
  if (t === '') return ''
  return t.startsWith('/') ? t : `/${t}`
}

/**
 * Where the API lives. `baseUrl` may already hold the mount path (`http://localhost:3000/api/kavach`,
 * as the docs write it); a bare origin gets `basePath` (default `/api/kavach`). Without `baseUrl` the
 * result is relative (`/api/kavach`) and resolved against the page's location.
 */
function resolveBase(baseUrl, basePath) {
  const path = normalizePath(basePath)
  if (baseUrl === undefined || baseUrl === null || baseUrl === '') return path ?? DEFAULT_BASE_PATH
  const base = trimSlashes(String(baseUrl).trim())
  let urlPath = ''
  try {
    urlPath = trimSlashes(new URL(base).pathname)
  } catch {
    urlPath = base
  }
  if (path === undefined) return urlPath === '' ? base + DEFAULT_BASE_PATH : base
  if (path === '' || urlPath.endsWith(path)) return base
  return base + path
}

function isAbsolute(url) {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(url)
}

// A small jar for runtimes whose fetch keeps no cookies (Node). Browsers never show Set-Cookie to
// scripts, so in a browser it stays empty and the browser's own cookie store does the work.
function createJar() {
  const cookies = new Map()
  return {
    store(res) {
      const list = typeof res.headers.getSetCookie === 'function' ? res.headers.getSetCookie() : []
      for (const line of list) {
        const [pair, ...attrs] = line.split(';')
        const eq = pair.indexOf('=')
        if (eq <= 0) continue
        const name = pair.slice(0, eq).trim()
        const value = pair.slice(eq + 1).trim()
        let expired = value === ''
        for (const a of attrs) {
          const [k, v = ''] = a.split('=')
          const key = k.trim().toLowerCase()
          if (key === 'max-age' && Number(v.trim()) <= 0) expired = true
          if (key === 'expires') {
            const t = Date.parse(v.trim())
            if (Number.isFinite(t) && t <= Date.now()) expired = true
          }
        }
        if (expired) cookies.delete(name)
        else cookies.set(name, value)
      }
    },
    header() {
      return [...cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    },
    clear() {
      cookies.clear()
    },
    get size() {
      return cookies.size
    },
  }
}

function queryString(params) {
  if (!params) return ''
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue
    if (v instanceof Date) q.set(k, v.toISOString())
    else if (Array.isArray(v)) {
      if (v.length) q.set(k, v.join(','))
    } else q.set(k, String(v))
  }
  const s = q.toString()
  return s ? `?${s}` : ''
}

// Agent expiries travel as milliseconds; Dates and ISO strings are converted here.
function millis(v) {
  if (v === undefined || v === null) return v
  if (v instanceof Date) return v.getTime()
  if (typeof v === 'string') {
    const t = Date.parse(v)
    return Number.isNaN(t) ? v : t
  }
  return v
}

function withMillis(body, key) {
  if (!body || typeof body !== 'object' || !(key in body)) return body
  return { ...body, [key]: millis(body[key]) }
}

const enc = encodeURIComponent

function auditQuery(f) {
  if (!f || typeof f !== 'object') return undefined
  return { agentId: f.agentId, since: f.since, until: f.until, actions: f.actions, result: f.result, limit: f.limit, offset: f.offset }
}

function idOf(v, field) {
  if (typeof v === 'string') return v
  if (v && typeof v === 'object' && typeof v[field] === 'string') return v[field]
  return undefined
}

// ---- passkeys: the WebAuthn JSON <-> ArrayBuffer conversion @simplewebauthn/browser does ----------
function b64uToBuf(s) {
  const b64 = String(s).replace(/-/g, '+').replace(/_/g, '/')
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4))
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out.buffer
}
function bufToB64u(buf) {
  const bytes = new Uint8Array(buf)
  let bin = ''
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i])
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}
const descriptors = (list) => (Array.isArray(list) ? list.map((c) => ({ ...c, id: b64uToBuf(c.id) })) : list)
function creationOptions(o) {
  return { ...o, challenge: b64uToBuf(o.challenge), user: { ...o.user, id: b64uToBuf(o.user.id) }, excludeCredentials: descriptors(o.excludeCredentials) }
}
function requestOptions(o) {
  const out = { ...o, challenge: b64uToBuf(o.challenge), allowCredentials: descriptors(o.allowCredentials) }
  if (Array.isArray(out.allowCredentials) && out.allowCredentials.length === 0) delete out.allowCredentials
  return out
}
function registrationJSON(cred) {
  const r = cred.response
  return {
    id: cred.id,
    rawId: bufToB64u(cred.rawId),
    type: cred.type,
    response: {
      clientDataJSON: bufToB64u(r.clientDataJSON),
      attestationObject: bufToB64u(r.attestationObject),
      transports: typeof r.getTransports === 'function' ? r.getTransports() : undefined,
    },
    authenticatorAttachment: cred.authenticatorAttachment ?? undefined,
  }
}
function authenticationJSON(cred) {
  const r = cred.response
  return {
    id: cred.id,
    rawId: bufToB64u(cred.rawId),
    type: cred.type,
    response: {
      clientDataJSON: bufToB64u(r.clientDataJSON),
      authenticatorData: bufToB64u(r.authenticatorData),
      signature: bufToB64u(r.signature),
      userHandle: r.userHandle ? bufToB64u(r.userHandle) : undefined,
    },
    authenticatorAttachment: cred.authenticatorAttachment ?? undefined,
  }
}
// The browser's refusal as a Result error (better-auth's codes: the user cancelled, already registered, ...).
function webauthnFailure(e, cancelled) {
  const name = e && e.name
  if (name === 'InvalidStateError') return fail('PREVIOUSLY_REGISTERED', 'this authenticator already holds a passkey for this account')
  if (name === 'NotAllowedError' || name === 'AbortError') return fail(cancelled, 'the passkey ceremony was cancelled or timed out')
  return fail('WEBAUTHN_ERROR', e && e.message ? e.message : String(e))
}
function credentialsApi() {
  const c = globalThis.navigator && globalThis.navigator.credentials
  return c && typeof c.create === 'function' && typeof c.get === 'function' ? c : null
}

/** Creates a client; see index.d.ts for the options and every call. */
function createKavachClient(options = {}) {
  if (options === null || typeof options !== 'object') options = {}
  const base = resolveBase(options.baseUrl, options.basePath)
  const jar = options.cookies === false ? null : createJar()
  const listeners = new Set()
  const credentials = options.credentials ?? 'include'

  const emit = (change) => {
    for (const l of [...listeners]) {
      try {
        l(change)
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  function absolute(path) {
    const url = base + path
    if (isAbsolute(url)) return url
    const loc = globalThis.location
    if (loc && typeof loc.href === 'string') return new URL(url, loc.href).toString()
    return null
  }

  async function resolveOption(v) {
    return typeof v === 'function' ? v() : v
  }

  async function request(method, path, opts = {}) {
    const url = absolute(path + queryString(opts.query))
    if (url === null) {
      return fail('CONFIG_INVALID', `a relative API path (${base}) needs a page location: pass baseUrl outside the browser`)
    }
    let headers
    try {
      headers = new Headers((await resolveOption(options.headers)) ?? undefined)
      const token = await resolveOption(options.token)
      if (token && !headers.has('authorization')) headers.set('authorization', `Bearer ${token}`)
    } catch (e) {
      return fail('CONFIG_INVALID', `the headers option failed: ${e && e.message ? e.message : String(e)}`)
    }
    headers.set('accept', opts.text ? 'text/csv, application/json' : 'application/json')
    if (opts.bearer) headers.set('authorization', `Bearer ${opts.bearer}`)
    let body
    if (opts.body !== undefined) {
      headers.set('content-type', 'application/json')
      body = JSON.stringify(opts.body)
    }
    if (method !== 'GET' && !headers.has('origin')) {
      // Browsers send their own Origin and ignore this; Node sends none, and the API refuses a
      // cookie-carrying state change without one.
      const loc = globalThis.location
      headers.set('origin', loc && typeof loc.origin === 'string' && loc.origin !== 'null' ? loc.origin : new URL(url).origin)
    }
    if (jar && jar.size) {
      const own = headers.get('cookie')
      headers.set('cookie', own ? `${jar.header()}; ${own}` : jar.header())
    }
    const fetchImpl = options.fetch ?? globalThis.fetch
    if (typeof fetchImpl !== 'function') return fail('NETWORK_ERROR', 'no fetch is available: pass the fetch option')
    let res
    try {
      res = await fetchImpl.call(globalThis, url, { method, headers, body, credentials, signal: opts.signal })
    } catch (e) {
      return fail('NETWORK_ERROR', `the kavachos API could not be reached${e && e.message ? ` (${e.message})` : ''}`)
    }
    if (jar) jar.store(res)
    let text
    try {
      text = await res.text()
    } catch (e) {
      return fail('NETWORK_ERROR', 'the response could not be read')
    }
    if (!res.ok) {
      let code = `HTTP_${res.status}`
      let message = `the API answered ${res.status}`
      try {
        const j = JSON.parse(text)
        const err = j && typeof j.error === 'object' && j.error !== null ? j.error : j
        if (err && typeof err.code === 'string') code = err.code
        if (err && typeof err.message === 'string') message = err.message
        else if (j && typeof j.error === 'string') message = j.error
        // RFC 6749 answers (the device routes): `{ error, error_description }` keeps both names.
        if (opts.oauth && j && typeof j.error === 'string') {
          const r = fail(j.error.toUpperCase(), typeof j.error_description === 'string' ? j.error_description : j.error)
          r.error.error = j.error
          if (typeof j.error_description === 'string') r.error.error_description = j.error_description
          return r
        }
      } catch {
        // Not JSON: keep the status.
      }
      if (opts.nullOn && opts.nullOn.includes(res.status)) return ok(null)
      return fail(code, message)
    }
    if (opts.text) return ok(text)
    if (text === '') return ok(undefined)
    let data
    try {
      data = JSON.parse(text)
    } catch {
      return fail('INVALID_RESPONSE', 'the API answered with something other than JSON')
    }
    data = reviveDates(data)
    return ok(opts.map ? opts.map(data) : data)
  }

  const get = (path, opts) => request('GET', path, opts)
  const post = (path, body, opts) => request('POST', path, { ...opts, body: body ?? {} })
  const patch = (path, body, opts) => request('PATCH', path, { ...opts, body: body ?? {} })
  const del = (path, opts) => request('DELETE', path, opts)

  // `{ success: true }` bodies become `data: undefined`.
  const done = () => undefined

  const signedIn = (r) => {
    if (r.success && r.data && r.data.session && r.data.user) emit({ user: r.data.user, session: r.data.session })
    return r
  }
  const stale = (r) => {
    if (r.success) emit(undefined)
    return r
  }

  function invalidId(field) {
    return Promise.resolve(fail('VALIDATION_FAILED', `${field} must be a string`))
  }

  // OAuth: the API answers `{ url, redirect }`; in a browser the page goes to the provider (unless the
  // caller says disableRedirect), as better-auth's client does. Node has no page to move.
  const toProvider = (disableRedirect) => (r) => {
    if (!r.success || disableRedirect === true || !r.data || typeof r.data.url !== 'string' || r.data.redirect === false) return r
    const w = globalThis.window
    if (w && w.location && typeof w.location === 'object') w.location.href = r.data.url
    return r
  }

  const social = {
    signIn(input) {
      if (!input || typeof input.provider !== 'string' || input.provider === '') return invalidId('provider')
      const { provider, callbackURL, errorCallbackURL, newUserCallbackURL, disableRedirect } = input
      return post('/auth/sign-in/social', { provider, callbackURL, errorCallbackURL, newUserCallbackURL, disableRedirect }).then(toProvider(disableRedirect))
    },
    link(input) {
      if (!input || typeof input.provider !== 'string' || input.provider === '') return invalidId('provider')
      const { provider, callbackURL, errorCallbackURL, disableRedirect } = input
      return post('/auth/link-social', { provider, callbackURL, errorCallbackURL }).then(toProvider(disableRedirect))
    },
    unlink(input) {
      if (!input || typeof input.providerId !== 'string' || input.providerId === '') return invalidId('providerId')
      if (input.accountId !== undefined && typeof input.accountId !== 'string') return invalidId('accountId')
      return post('/auth/unlink-account', { providerId: input.providerId, accountId: input.accountId }, { map: done })
    },
  }

  const members = {
    list(input) {
      const org = idOf(input, 'organizationId')
      if (org === undefined) return invalidId('organizationId')
      return get(`/organizations/${enc(org)}/members`)
    },
    add(input) {
      const org = idOf(input, 'organizationId')
      if (org === undefined) return invalidId('organizationId')
      return post(`/organizations/${enc(org)}/members`, { userId: input.userId, role: input.role })
    },
    updateRole(input) {
      const org = idOf(input, 'organizationId')
      if (org === undefined || typeof input.userId !== 'string') return invalidId('organizationId and userId')
      return patch(`/organizations/${enc(org)}/members/${enc(input.userId)}`, { role: input.role })
    },
    remove(input) {
      const org = idOf(input, 'organizationId')
      if (org === undefined || typeof input.userId !== 'string') return invalidId('organizationId and userId')
      return del(`/organizations/${enc(org)}/members/${enc(input.userId)}`)
    },
  }

  const invitations = {
    list(input) {
      const org = idOf(input, 'organizationId')
      if (org === undefined) return invalidId('organizationId')
      return get(`/organizations/${enc(org)}/invitations`)
    },
    create(input) {
      const org = idOf(input, 'organizationId')
      if (org === undefined) return invalidId('organizationId')
      return post(`/organizations/${enc(org)}/invitations`, { email: input.email, role: input.role })
    },
    cancel(input) {
      const org = idOf(input, 'organizationId')
      if (org === undefined || typeof input.invitationId !== 'string') return invalidId('organizationId and invitationId')
      return del(`/organizations/${enc(org)}/invitations/${enc(input.invitationId)}`, { map: done })
    },
    /** Pending invitations for the signed-in user's email. */
    listMine() {
      return get('/invitations')
    },
    accept(invitationId) {
      const id = idOf(invitationId, 'invitationId')
      if (id === undefined) return invalidId('invitationId')
      return post(`/invitations/${enc(id)}/accept`).then(stale)
    },
    decline(invitationId) {
      const id = idOf(invitationId, 'invitationId')
      if (id === undefined) return invalidId('invitationId')
      return post(`/invitations/${enc(id)}/decline`)
    },
    /** One invitation addressed to the signed-in user, with its organization; null when there is none. */
    get(invitationId) {
      const id = idOf(invitationId, 'invitationId')
      if (id === undefined) return invalidId('invitationId')
      return get(`/invitations/${enc(id)}`, { nullOn: [404] })
    },
  }

  // The sign-in methods of the server's plugins (magicLink, emailOTP, username, phoneNumber,
  // anonymous, apiKey), under better-auth's client names and bodies.
  const afterVerify = (r) => (r.success && r.data && r.data.session ? signedIn(r) : stale(r))
  const methods = {
    magicLink: (input) => post('/auth/sign-in/magic-link', input),
    emailOtp: (input) => post('/auth/sign-in/email-otp', input).then(signedIn),
    username: (input) => post('/auth/sign-in/username', input).then(signedIn),
    phoneNumber: (input) => post('/auth/sign-in/phone-number', input).then(signedIn),
    anonymous: () => post('/auth/sign-in/anonymous', {}).then(signedIn),
    oneTapCallback: (input) => post('/auth/one-tap/callback', input).then(signedIn),
  }

  // Google One Tap (the server's oneTap()): with an `idToken` in hand it is posted as it is; in a
  // browser without one, Google Identity Services is loaded and prompts, and the credential it
  // hands back is posted. The result is always a Result.
  const GSI_SRC = 'https://accounts.google.com/gsi/client'
  const loadGsi = () =>
    new Promise((resolve, reject) => {
      if (globalThis.google && globalThis.google.accounts && globalThis.google.accounts.id) return resolve(globalThis.google.accounts.id)
      const s = document.createElement('script')
      s.src = GSI_SRC
      s.async = true
      s.onload = () => (globalThis.google && globalThis.google.accounts ? resolve(globalThis.google.accounts.id) : reject(new Error('no gsi')))
      s.onerror = () => reject(new Error('gsi failed to load'))
      document.head.appendChild(s)
    })
  const oneTap = async (input) => {
    const o = input && typeof input === 'object' ? input : {}
    if (typeof o.idToken === 'string') return methods.oneTapCallback({ idToken: o.idToken, callbackURL: o.callbackURL })
    if (typeof document === 'undefined') return fail('VALIDATION_FAILED', 'oneTap() needs an idToken outside a browser')
    if (typeof o.clientId !== 'string' || o.clientId === '') return fail('VALIDATION_FAILED', 'oneTap() needs your Google clientId')
    let gsi
    try {
      gsi = await loadGsi()
    } catch {
      return fail('NETWORK_ERROR', 'Google Identity Services could not be loaded')
    }
    return new Promise((resolve) => {
      gsi.initialize({
        client_id: o.clientId,
        auto_select: o.autoSelect === true,
        cancel_on_tap_outside: o.cancelOnTapOutside !== false,
        context: o.context || 'signin',
        callback: (answer) => {
          methods.oneTapCallback({ idToken: answer.credential, callbackURL: o.callbackURL }).then((r) => {
            if (r.success && typeof o.callbackURL === 'string' && typeof window !== 'undefined') window.location.href = o.callbackURL
            resolve(r)
          })
        },
      })
      gsi.prompt((n) => {
        const skipped = n && ((n.isNotDisplayed && n.isNotDisplayed()) || (n.isSkippedMoment && n.isSkippedMoment()))
        if (typeof o.onPromptNotification === 'function') o.onPromptNotification(n)
        if (skipped) resolve(fail('ONE_TAP_DISMISSED', 'the One Tap prompt was not shown or was dismissed'))
      })
    })
  }
  const device = (input) => {
    const q = queryOf(input)
    const code = typeof q === 'string' ? q : q && (q.user_code ?? q.userCode)
    return typeof code === 'string' && code !== '' ? get('/auth/device', { query: { user_code: code } }) : invalidId('user_code')
  }
  device.code = (input) => post('/auth/device/code', input, { oauth: true })
  device.token = (input) =>
    post('/auth/device/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', ...input }, { oauth: true })
  device.approve = (input) => post('/auth/device/approve', input)
  device.deny = (input) => post('/auth/device/deny', input)
  // passkey(): better-auth's passkeyClient calls, through the browser's navigator.credentials.
  const passkeyCalls = {
    signIn: async (input = {}) => {
      const api = credentialsApi()
      if (!api) return fail('WEBAUTHN_UNSUPPORTED', 'this runtime has no WebAuthn (navigator.credentials)')
      const opts = await get('/auth/passkey/generate-authenticate-options', { query: { email: input && input.email } })
      if (!opts.success) return opts
      let cred
      try {
        cred = await api.get({ publicKey: requestOptions(opts.data), ...(input && input.autoFill ? { mediation: 'conditional' } : {}) })
      } catch (e) {
        return webauthnFailure(e, 'AUTH_CANCELLED')
      }
      if (!cred) return fail('AUTH_CANCELLED', 'no passkey was chosen')
      return post('/auth/passkey/verify-authentication', { response: authenticationJSON(cred) }).then(signedIn)
    },
    addPasskey: async (input = {}) => {
      const api = credentialsApi()
      if (!api) return fail('WEBAUTHN_UNSUPPORTED', 'this runtime has no WebAuthn (navigator.credentials)')
      const opts = await get('/auth/passkey/generate-register-options', { query: { name: input && input.name, authenticatorAttachment: input && input.authenticatorAttachment } })
      if (!opts.success) return opts
      let cred
      try {
        cred = await api.create({ publicKey: creationOptions(opts.data) })
      } catch (e) {
        return webauthnFailure(e, 'REGISTRATION_CANCELLED')
      }
      if (!cred) return fail('REGISTRATION_CANCELLED', 'no passkey was created')
      const body = { response: registrationJSON(cred), name: input && input.name }
      if (input && input.createSession) body.createSession = true
      return post('/auth/passkey/verify-registration', body).then(afterVerify)
    },
    listUserPasskeys: () => get('/auth/passkey/list-user-passkeys'),
    updatePasskey: (input) => (input && typeof input.id === 'string' ? post('/auth/passkey/update-passkey', { id: input.id, name: input.name }) : invalidId('id')),
    deletePasskey: (input) => {
      const id = idOf(input, 'id')
      return id === undefined ? invalidId('id') : post('/auth/passkey/delete-passkey', { id })
    },
  }
  const queryOf = (input) => (input && typeof input === 'object' && input.query && typeof input.query === 'object' ? input.query : input)

  const client = {
    /** The API's address, e.g. `http://localhost:3000/api/kavach` or `/api/kavach`. */
    baseUrl: base,

    auth: {
      signUp: (input) => post('/auth/sign-up', input).then(signedIn),
      signIn: (input) => post('/auth/sign-in', input).then(signedIn),
      signOut: async (input) => {
        const r = await post('/auth/sign-out', input && input.all ? { all: true } : {}, { map: done })
        // Whatever the server said, this client holds no session afterwards.
        if (jar) jar.clear()
        emit(r.success ? null : undefined)
        return r
      },
      /** `data` is null when nobody is signed in. */
      getSession: () => get('/auth/session', { nullOn: [401] }),
      forgotPassword: (input) => post('/auth/forgot-password', input, { map: done }),
      resetPassword: (input) => post('/auth/reset-password', input, { map: done }),
      changePassword: (input) => post('/auth/change-password', input, { map: done }),
      sendVerificationEmail: (input) => post('/auth/send-verification-email', input ?? {}, { map: done }),
      verifyEmail: (input) => {
        const token = typeof input === 'string' ? input : input && input.token
        return post('/auth/verify-email', { token }, { map: (d) => d.user }).then(stale)
      },
    },

    /** Sign-in methods under better-auth's client names. */
    signIn: {
      /** OAuth: `{ url, redirect }`; in a browser the page then goes to `url` unless `disableRedirect`. */
      social: social.signIn,
      /** `magicLink()`: sends the link (`{ email, name?, callbackURL?, newUserCallbackURL?, errorCallbackURL? }`). */
      magicLink: methods.magicLink,
      /** `emailOTP()`: signs in (or up) with the emailed code `{ email, otp }`. */
      emailOtp: methods.emailOtp,
      /** `username()`: `{ username, password }`; may answer `{ twoFactorRequired: true }`. */
      username: methods.username,
      /** `phoneNumber()`: `{ phoneNumber, password }`. */
      phoneNumber: methods.phoneNumber,
      /** `anonymous()`: a guest session. */
      anonymous: methods.anonymous,
      /** `passkey()`: signs in with a passkey (`{ email? }`; none: a discoverable one the browser offers). */
      passkey: passkeyCalls.signIn,
    },
    /** `passkey()`: the signed-in user's passkeys; `addPasskey` runs the browser's WebAuthn ceremony. */
    passkey: {
      addPasskey: passkeyCalls.addPasskey,
      listUserPasskeys: passkeyCalls.listUserPasskeys,
      updatePasskey: passkeyCalls.updatePasskey,
      deletePasskey: passkeyCalls.deletePasskey,
    },
    magicLink: {
      /** Opens the link's token (`{ query: { token, callbackURL? } }` or `{ token }`) and signs in. */
      verify: (input) => {
        const q = queryOf(input)
        if (!q || typeof q.token !== 'string' || q.token === '') return invalidId('token')
        return get('/auth/magic-link/verify', { query: { token: q.token, callbackURL: q.callbackURL } }).then(signedIn)
      },
    },
    emailOtp: {
      /** `{ email, type: 'sign-in' | 'email-verification' | 'forget-password' }`. */
      sendVerificationOtp: (input) => post('/auth/email-otp/send-verification-otp', input),
      checkVerificationOtp: (input) => post('/auth/email-otp/check-verification-otp', input),
      verifyEmail: (input) => post('/auth/email-otp/verify-email', input).then(afterVerify),
      resetPassword: (input) => post('/auth/email-otp/reset-password', input),
    },
    forgetPassword: {
      /** Sends a `forget-password` code for `emailOtp.resetPassword`. */
      emailOtp: (input) => post('/auth/forget-password/email-otp', input),
    },
    phoneNumber: {
      /** Texts a code through the server's `sendOTP`. */
      sendOtp: (input) => post('/auth/phone-number/send-otp', input),
      /** `{ phoneNumber, code, disableSession?, updatePhoneNumber? }`: verifies, and signs in unless told not to. */
      verify: (input) => post('/auth/phone-number/verify', input).then(afterVerify),
    },
    /** `username()`: `{ username }` → `{ available }`. */
    isUsernameAvailable: (input) => post('/auth/is-username-available', input),
    /** Changes the signed-in user's name, image and plugin fields (a username). */
    updateUser: (input) => post('/auth/update-user', input).then(stale),
    /** `apiKey()`: the signed-in user's API keys (the key itself only in `create`'s answer). */
    apiKey: {
      create: (input) => post('/auth/api-key/create', input ?? {}),
      get: (input) => {
        const q = queryOf(input)
        const id = typeof q === 'string' ? q : q && q.id
        return typeof id === 'string' ? get('/auth/api-key/get', { query: { id }, nullOn: [404] }) : invalidId('id')
      },
      list: () => get('/auth/api-key/list'),
      update: (input) => post('/auth/api-key/update', input),
      delete: (input) => post('/auth/api-key/delete', input),
    },
    /**
     * Google One Tap (`oneTap()` on the server): `{ idToken, callbackURL? }` posts a Google ID token;
     * in a browser, `{ clientId, callbackURL?, autoSelect?, onPromptNotification? }` shows Google's
     * prompt first. Signs in (or up).
     */
    oneTap,
    /**
     * Sign-In with Ethereum (`siwe()` on the server): `nonce({ walletAddress, chainId? })` → `{ nonce }`
     * to put in the EIP-4361 message; `verify({ message, signature, walletAddress?, chainId?, email? })`
     * signs the wallet in (or up) → `{ token, success, user: { id, walletAddress, chainId } }`.
     */
    siwe: {
      nonce: (input) => post('/auth/siwe/nonce', input),
      verify: (input) => post('/auth/siwe/verify', input).then(stale),
    },
    /**
     * `deviceAuthorization()` (RFC 8628): `device({ query: { user_code } })` is the user-code page's
     * lookup (it claims the code for the signed-in user); `device.approve|deny({ userCode })`;
     * `device.code({ client_id, scope? })` and `device.token({ grant_type, device_code, client_id })`
     * for a device, whose errors carry RFC 8628's name (`error.error`: 'authorization_pending', ...).
     */
    device: device,
    /** Links another provider account to the signed-in user (the page goes to the provider). */
    linkSocial: social.link,
    /** The signed-in user's linked accounts. */
    listAccounts: () => get('/auth/list-accounts'),
    /** FAILED_TO_UNLINK_LAST_ACCOUNT for the user's last account. */
    unlinkAccount: social.unlink,

    agents: {
      create: (input) => post('/agents', withMillis(input, 'expiresAt')),
      list: (filter) => get('/agents', { query: filter && { status: filter.status, type: filter.type, limit: filter.limit, offset: filter.offset } }),
      /** `data` is null for an unknown agent (or another owner's). */
      get: (id) => (typeof id === 'string' ? get(`/agents/${enc(id)}`, { nullOn: [404] }) : invalidId('id')),
      update: (id, input) => (typeof id === 'string' ? patch(`/agents/${enc(id)}`, withMillis(input, 'expiresAt')) : invalidId('id')),
      revoke: (id) => (typeof id === 'string' ? del(`/agents/${enc(id)}`, { map: done }) : invalidId('id')),
      rotate: (id) => (typeof id === 'string' ? post(`/agents/${enc(id)}/rotate`) : invalidId('id')),
    },

    authorize: (agentId, input) => post('/authorize', { ...input, agentId }),
    /** Sent as `Authorization: Bearer <token>`: the agent speaks for itself, no session needed. */
    authorizeByToken: (token, input) =>
      typeof token === 'string' && token !== '' ? post('/authorize/token', { ...input }, { bearer: token }) : Promise.resolve(fail('INVALID_TOKEN', 'the agent token must be a string')),

    audit: {
      query: (filter) => get('/audit', { query: auditQuery(filter) }),
      /** The export as text: a JSON array or CSV with a header row. */
      export: (input) => get('/audit/export', { query: { ...auditQuery(input), format: (input && input.format) || 'json' }, text: true }),
    },

    organizations: {
      create: (input) => post('/organizations', input),
      list: () => get('/organizations'),
      get: (id) => (typeof id === 'string' ? get(`/organizations/${enc(id)}`, { nullOn: [404] }) : invalidId('id')),
      update: (id, input) => (typeof id === 'string' ? patch(`/organizations/${enc(id)}`, input) : invalidId('id')),
      delete: (id) => (typeof id === 'string' ? del(`/organizations/${enc(id)}`, { map: done }) : invalidId('id')),
      members,
      invitations,
      // The server-side facade's names, for code that moves between the two.
      listMembers: members.list,
      addMember: members.add,
      updateMemberRole: members.updateRole,
      removeMember: members.remove,
      acceptInvitation: invitations.accept,
      declineInvitation: invitations.decline,
      /** Sets (or with null clears) the session's active organization. */
      setActive: (input) => {
        const organizationId = input && typeof input === 'object' ? input.organizationId : input
        return post('/organizations/active', { organizationId: organizationId ?? null }).then(stale)
      },
      hasPermission: (input) => {
        const org = idOf(input, 'organizationId')
        if (org === undefined) return invalidId('organizationId')
        return post(`/organizations/${enc(org)}/has-permission`, { permission: input.permission })
      },
    },

    admin: {
      listUsers: (input) => get('/admin/users', { query: input && { search: input.search, limit: input.limit, offset: input.offset } }),
      getUser: (id) => (typeof id === 'string' ? get(`/admin/users/${enc(id)}`, { nullOn: [404] }) : invalidId('id')),
      removeUser: (id) => (typeof id === 'string' ? del(`/admin/users/${enc(id)}`, { map: done }) : invalidId('id')),
      banUser: (id, input) => (typeof id === 'string' ? post(`/admin/users/${enc(id)}/ban`, withMillis(input ?? {}, 'expiresAt')) : invalidId('id')),
      unbanUser: (id) => (typeof id === 'string' ? post(`/admin/users/${enc(id)}/unban`) : invalidId('id')),
      setRole: (id, role) => (typeof id === 'string' ? post(`/admin/users/${enc(id)}/role`, { role: typeof role === 'object' && role !== null ? role.role : role }) : invalidId('id')),
      impersonateUser: (id) => (typeof id === 'string' ? post(`/admin/users/${enc(id)}/impersonate`).then(signedIn) : invalidId('id')),
      stopImpersonating: () => post('/admin/stop-impersonating').then(signedIn),
    },

    twoFactor: {
      status: () => get('/two-factor/status'),
      enable: (input) => post('/two-factor/enable', input),
      activate: (input) => post('/two-factor/activate', input),
      disable: (input) => post('/two-factor/disable', input),
      generateBackupCodes: (input) => post('/two-factor/backup-codes', input),
      /** Completes a sign-in that answered `{ twoFactorRequired: true }`. */
      verify: (input) => post('/two-factor/verify', input).then(signedIn),
    },

    jwt: {
      getToken: () => get('/jwt/token'),
      getJwks: () => get('/jwks'),
    },

    /**
     * Calls `listener` after every call that changes the session: `{ user, session }` after a sign-in,
     * `null` after a sign-out, `undefined` when the session should be read again. Returns an unsubscribe.
     */
    onSessionChange(listener) {
      if (typeof listener !== 'function') return () => {}
      listeners.add(listener)
      return () => listeners.delete(listener)
    },

    /** Any route of the API, as a Result (`path` relative to the mount). */
    request: (method, path, init = {}) =>
      request(String(method).toUpperCase(), path.startsWith('/') ? path : `/${path}`, { body: init.body, query: init.query, text: init.text }),
  }
  return client
}

module.exports = { createKavachClient, reviveDates, resolveBase }
