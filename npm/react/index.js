'use client'
'use strict'
// @kavachos/react: a provider and hooks over @kavachos/client. One session store per provider (a
// small external store read with useSyncExternalStore): one in-flight session request however many
// components ask, updated by sign-in/up/out and refreshed when the window regains focus. Nothing here
// touches `window` before an effect runs, so it renders on a server (isLoading is true there unless
// `initialSession` is given).

const React = require('react')
const { createKavachClient, reviveDates } = require('@kavachos/client')

const { createContext, createElement, useCallback, useContext, useEffect, useMemo, useRef, useState, useSyncExternalStore } = React

const DEFAULT_FOCUS_THROTTLE_MS = 5000

function createStore(initial) {
  let state = initial
  const listeners = new Set()
  return {
    get: () => state,
    set(next) {
      state = next
      for (const l of [...listeners]) l()
    },
    subscribe(l) {
      listeners.add(l)
      return () => listeners.delete(l)
    },
    get size() {
      return listeners.size
    },
  }
}

/** The session store of one provider. */
function createSessionStore(client, options = {}) {
  const hasInitial = options.initialSession !== undefined
  const initial = hasInitial
    ? { data: options.initialSession === null ? null : reviveDates({ ...options.initialSession }), isLoading: false, error: null }
    : { data: null, isLoading: true, error: null }
  const store = createStore(initial)
  const serverSnapshot = initial
  let generation = 0
  let inflight = null
  let lastFetch = hasInitial ? Date.now() : 0
  let loaded = hasInitial

  function refresh() {
    if (inflight && inflight.generation === generation) return inflight.promise
    const mine = generation
    lastFetch = Date.now()
    const promise = client.auth.getSession().then((r) => {
      if (inflight && inflight.promise === promise) inflight = null
      // A sign-in or sign-out that happened meanwhile wins over this older answer.
      if (mine !== generation) return r
      loaded = true
      const prev = store.get()
      if (r.success) store.set({ data: r.data, isLoading: false, error: null })
      else store.set({ data: prev.data, isLoading: false, error: r.error })
      return r
    })
    inflight = { generation: mine, promise }
    return promise
  }

  function apply(change) {
    generation++
    if (change === undefined) {
      refresh()
      return
    }
    loaded = true
    lastFetch = Date.now()
    store.set({ data: change, isLoading: false, error: null })
  }


  return {
    getSnapshot: store.get,
    getServerSnapshot: () => serverSnapshot,
    subscribe(l) {
      const off = store.subscribe(l)
      // The first reader starts the first fetch; every other reader shares it.
      if (!loaded) refresh()
      return off
    },
    refresh,
    /** Refetches unless one was started within `throttleMs`. */
    revalidate(throttleMs) {
      if (Date.now() - lastFetch < throttleMs) return null
      return refresh()
    },
    set: apply,
    /** Follows the client's session changes (sign-in/up/out, two-factor, impersonation); returns the stop. */
    connect: () => client.onSessionChange(apply),
  }
}

/** The organizations of the signed-in user, read once per user and shared by every reader. */
function createOrganizationStore(client, sessionStore) {
  const store = createStore({ organizations: [], isLoading: true, error: null, userId: undefined })
  let inflight = null
  let generation = 0

  function currentUser() {
    const s = sessionStore.getSnapshot()
    return s.data ? s.data.user.id : null
  }

  function refresh() {
    const userId = currentUser()
    if (inflight && inflight.userId === userId && inflight.generation === generation) return inflight.promise
    if (userId === null) {
      store.set({ organizations: [], isLoading: sessionStore.getSnapshot().isLoading, error: null, userId })
      return Promise.resolve({ success: true, data: [] })
    }
    const mine = generation
    const prev = store.get()
    // Another user's list is never shown while this one's loads.
    if (prev.userId !== userId && !prev.isLoading) store.set({ organizations: [], isLoading: true, error: null, userId: prev.userId })
    const promise = client.organizations.list().then((r) => {
      if (inflight && inflight.promise === promise) inflight = null
      if (mine !== generation || currentUser() !== userId) return r
      if (r.success) store.set({ organizations: r.data, isLoading: false, error: null, userId })
      else store.set({ organizations: [], isLoading: false, error: r.error, userId })
      return r
    })
    inflight = { userId, generation: mine, promise }
    return promise
  }

  // A different user (or none) means a different list.
  let unsubscribeSession = null
  function watchSession() {
    if (unsubscribeSession) return
    unsubscribeSession = sessionStore.subscribe(() => {
      const userId = currentUser()
      const s = store.get()
      if (s.userId !== userId && !sessionStore.getSnapshot().isLoading) {
        generation++
        refresh()
      }
    })
  }

  return {
    getSnapshot: store.get,
    subscribe(l) {
      const off = store.subscribe(l)
      watchSession()
      const s = store.get()
      if (!sessionStore.getSnapshot().isLoading && s.userId !== currentUser()) refresh()
      return () => {
        off()
        if (store.size === 0 && unsubscribeSession) {
          unsubscribeSession()
          unsubscribeSession = null
        }
      }
    },
    refresh() {
      generation++
      return refresh()
    },
  }
}

const KavachContext = createContext(null)

function KavachProvider(props) {
  const { children, basePath, baseUrl, client: given, initialSession, refetchOnWindowFocus = true, focusThrottleMs = DEFAULT_FOCUS_THROTTLE_MS } = props
  const fetchImpl = props.fetch
  const headers = props.headers
  const [value] = useState(() => {
    const client = given ?? createKavachClient({ baseUrl, basePath, fetch: fetchImpl, headers })
    const session = createSessionStore(client, { initialSession })
    return { client, session, organizations: createOrganizationStore(client, session) }
  })
  useEffect(() => value.session.connect(), [value])

  const throttle = useRef(focusThrottleMs)
  throttle.current = focusThrottleMs
  useEffect(() => {
    if (!refetchOnWindowFocus || typeof window === 'undefined' || typeof document === 'undefined') return undefined
    const onFocus = () => value.session.revalidate(throttle.current)
    const onVisible = () => {
      if (document.visibilityState === 'visible') onFocus()
    }
    window.addEventListener('focus', onFocus)
    document.addEventListener('visibilitychange', onVisible)
    return () => {
      window.removeEventListener('focus', onFocus)
      document.removeEventListener('visibilitychange', onVisible)
    }
  }, [value, refetchOnWindowFocus])

  return createElement(KavachContext.Provider, { value }, children)
}

function useKavachContext() {
  const ctx = useContext(KavachContext)
  if (!ctx) throw new Error('@kavachos/react: wrap your app in <KavachProvider>')
  return ctx
}

/** The provider's @kavachos/client instance. */
function useKavachClient() {
  return useKavachContext().client
}

function useSessionState() {
  const { session } = useKavachContext()
  return useSyncExternalStore(session.subscribe, session.getSnapshot, session.getServerSnapshot)
}

function useSession() {
  const { session: store } = useKavachContext()
  const state = useSessionState()
  const refresh = useCallback(() => store.refresh(), [store])
  return useMemo(
    () => ({
      data: state.data,
      session: state.data ? state.data.session : null,
      user: state.data ? state.data.user : null,
      isLoading: state.isLoading,
      isAuthenticated: !!state.data,
      error: state.error,
      refresh,
      refetch: refresh,
    }),
    [state, refresh],
  )
}

function useUser() {
  const state = useSessionState()
  const user = state.data ? state.data.user : null
  return useMemo(() => ({ user, isLoading: state.isLoading, isAuthenticated: !!user }), [user, state.isLoading])
}

// An action hook returns the function itself, carrying `isLoading` and `error` (and its own name),
// so both `const signIn = useSignIn(); signIn({...})` and `const { signIn } = useSignIn()` work.
function useAction(name, run) {
  const [state, setState] = useState({ isLoading: false, error: null })
  const mounted = useRef(true)
  useEffect(() => {
    mounted.current = true
    return () => {
      mounted.current = false
    }
  }, [])
  const runRef = useRef(run)
  runRef.current = run
  const call = useCallback(async (...args) => {
    if (mounted.current) setState({ isLoading: true, error: null })
    const r = await runRef.current(...args)
    if (mounted.current) setState({ isLoading: false, error: r.success ? null : r.error })
    return r
  }, [])
  return useMemo(() => {
    const fn = (...args) => call(...args)
    fn[name] = fn
    fn.isLoading = state.isLoading
    fn.error = state.error
    return fn
  }, [call, name, state])
}

const bad = (message) => Promise.resolve({ success: false, error: { code: 'VALIDATION_FAILED', message } })

function useSignIn(options) {
  const client = useKavachClient()
  const factor = options && options.factor
  return useAction('signIn', (input, password) => {
    // OAuth: `signIn({ provider, callbackURL })` moves the page to the provider (client.signIn.social).
    if (factor === 'social') {
      const body = typeof input === 'string' ? { provider: input } : input
      if (!body || typeof body.provider !== 'string' || body.provider === '') return bad('provider is required')
      return client.signIn.social(body)
    }
    // The sign-in methods of the server's plugins: (value, secret) or better-auth's body.
    const pair = (a, b) => (typeof input === 'string' ? { [a]: input, ...(password !== undefined ? { [b]: password } : {}) } : input)
    if (factor === 'magic-link') {
      const body = pair('email', 'callbackURL')
      if (!body || typeof body.email !== 'string') return bad('email is required')
      return client.signIn.magicLink(body)
    }
    if (factor === 'email-otp') {
      const body = pair('email', 'otp')
      if (!body || typeof body.email !== 'string' || typeof body.otp !== 'string') return bad('email and otp are required')
      return client.signIn.emailOtp({ email: body.email, otp: body.otp })
    }
    if (factor === 'username') {
      const body = pair('username', 'password')
      if (!body || typeof body.username !== 'string' || typeof body.password !== 'string') return bad('username and password are required')
      return client.signIn.username({ username: body.username, password: body.password })
    }
    if (factor === 'phone') {
      // With a password: sign-in by number; with a texted code: verify (signs in or up).
      const body = pair('phoneNumber', 'password')
      if (!body || typeof body.phoneNumber !== 'string') return bad('phoneNumber is required')
      if (typeof body.code === 'string') return client.phoneNumber.verify({ phoneNumber: body.phoneNumber, code: body.code })
      if (typeof body.password !== 'string') return bad('a password or a code is required')
      return client.signIn.phoneNumber({ phoneNumber: body.phoneNumber, password: body.password })
    }
    if (factor === 'anonymous') return client.signIn.anonymous()
    // Passkeys: `signIn()` (a discoverable passkey), `signIn(email)` or `signIn({ email, autoFill })`.
    if (factor === 'passkey') return client.signIn.passkey(typeof input === 'string' ? { email: input } : input ?? {})
    if (factor !== undefined && factor !== 'password') return bad(`the sign-in factor "${factor}" is not available`)
    const body = typeof input === 'string' ? { email: input, password } : input
    if (!body || typeof body.email !== 'string' || typeof body.password !== 'string') return bad('email and password are required')
    return client.auth.signIn({ email: body.email, password: body.password })
  })
}

/** Links another provider account to the signed-in user (client.linkSocial). */
function useLinkSocial() {
  const client = useKavachClient()
  return useAction('linkSocial', (input) => {
    const body = typeof input === 'string' ? { provider: input } : input
    if (!body || typeof body.provider !== 'string' || body.provider === '') return bad('provider is required')
    return client.linkSocial(body)
  })
}

function useSignUp() {
  const client = useKavachClient()
  return useAction('signUp', (input, password, name) => {
    const body = typeof input === 'string' ? { email: input, password, name } : input
    if (!body || typeof body.email !== 'string' || typeof body.password !== 'string') return bad('email and password are required')
    const clean = { email: body.email, password: body.password }
    if (body.name !== undefined) clean.name = body.name
    if (body.image !== undefined) clean.image = body.image
    return client.auth.signUp(clean)
  })
}

function useSignOut() {
  const client = useKavachClient()
  return useAction('signOut', (input) => client.auth.signOut(input && typeof input === 'object' && 'all' in input ? { all: !!input.all } : undefined))
}

/** The signed-in user's organizations and the session's active one (organization plugin). */
function useOrganization() {
  const { client, organizations: store } = useKavachContext()
  const orgs = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot)
  const sessionState = useSessionState()
  const activeId = sessionState.data ? sessionState.data.session.activeOrganizationId ?? null : null
  const refresh = useCallback(() => store.refresh(), [store])
  const create = useCallback(
    async (input) => {
      const r = await client.organizations.create(input)
      if (r.success) store.refresh()
      return r
    },
    [client, store],
  )
  const setActive = useCallback(
    async (organizationId) => {
      // The client marks the session stale; the store reads it again.
      return client.organizations.setActive(organizationId)
    },
    [client],
  )
  return useMemo(() => {
    const organization = activeId ? orgs.organizations.find((o) => o.id === activeId) ?? null : null
    return {
      organization,
      activeOrganizationId: activeId,
      organizations: orgs.organizations,
      isLoading: sessionState.isLoading || orgs.isLoading,
      error: orgs.error,
      refresh,
      create,
      setActive,
    }
  }, [orgs, activeId, sessionState.isLoading, refresh, create, setActive])
}

module.exports = {
  KavachProvider,
  KavachContext,
  useKavachContext,
  useKavachClient,
  useSession,
  useUser,
  useSignIn,
  useSignUp,
  useSignOut,
  useLinkSocial,
  useOrganization,
}
