// @kavachos/react renders on a server: no window or document at import or render time, isLoading is
// true there (or the given initialSession is shown), and nothing is fetched while rendering.
import { it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import React from 'react'
import { renderToString } from 'react-dom/server'
import { KavachProvider, useSession, useUser, useSignIn, useOrganization } from '../npm/react/index.mjs'

const h = React.createElement

it('has no window here, and the hook modules start with "use client"', () => {
  assert.equal(typeof globalThis.window, 'undefined')
  assert.equal(typeof globalThis.document, 'undefined')
  for (const f of ['index.js', 'index.mjs']) {
    const first = readFileSync(new URL(`../npm/react/${f}`, import.meta.url), 'utf8').split('\n')[0]
    assert.equal(first, "'use client'", f)
  }
})

it('renders loading on the server without fetching', () => {
  const calls = []
  const fetch = (...a) => {
    calls.push(a)
    return Promise.reject(new Error('no fetch during server rendering'))
  }
  function Page() {
    const { user, isLoading } = useUser()
    const s = useSession()
    const signIn = useSignIn()
    const o = useOrganization()
    return h('p', null, `${isLoading}:${s.isLoading}:${user === null}:${typeof signIn}:${o.isLoading}`)
  }
  const html = renderToString(h(KavachProvider, { basePath: '/api/auth', fetch }, h(Page)))
  assert.equal(html, '<p>true:true:true:function:true</p>')
  assert.equal(calls.length, 0)
})

it('renders the initialSession on the server', () => {
  const at = '2026-01-01T00:00:00.000Z'
  const initialSession = {
    user: { id: 'u1', email: 'ada@example.com', name: 'Ada', emailVerified: true, image: null, createdAt: at, updatedAt: at },
    session: { id: 's1', userId: 'u1', expiresAt: at, ipAddress: null, userAgent: null, createdAt: at, updatedAt: at },
  }
  function Page() {
    const { user, isLoading } = useUser()
    return h('p', null, `${isLoading}:${user && user.email}:${user && user.createdAt instanceof Date}`)
  }
  assert.equal(renderToString(h(KavachProvider, { initialSession }, h(Page))), '<p>false:ada@example.com:true</p>')
})
