// The jwt plugin over a real HTTP server (Hono + @hono/node-server on 127.0.0.1) on every database:
// tokens verify with an independent library (jose) against our JWKS, customClaims is awaited, a
// rotated-out key keeps verifying its tokens, and tampering fails in jose and in kavach.jwt.verify.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Hono } from 'hono'
import { serve } from '@hono/node-server'
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader, decodeJwt } from 'jose'
import { createKavach } from '../index.mjs'
import { jwt } from '../plugins.mjs'
import { kavachHono } from '../shims/hono.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

const MOUNT = '/api/kavach'

async function listen(kavach) {
  const app = new Hono()
  app.route(MOUNT, kavachHono(kavach))
  const server = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s))
  })
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) }
}

function tamper(token, change) {
  const [h, p, s] = token.split('.')
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString())
  change(payload)
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`
}

for (const backend of backends()) {
  for (const algorithm of ['EdDSA', 'RS256']) {
    describe(`jwt() ${algorithm} over HTTP on ${backend}`, () => {
      let kavach
      let server
      let base
      let cookie
      let userId
      const seen = []
      before(async () => {
        kavach = await createKavach({
          database: freshDatabase(backend, 'jwt'),
          secret: SECRET,
          baseUrl: 'https://app.example.com',
          emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
          plugins: [
            jwt({
              algorithm: algorithm === 'EdDSA' ? undefined : algorithm,
              audience: 'https://api.example.com',
              customClaims: async ({ session, user }) => {
                seen.push({ session, user })
                await new Promise((r) => setTimeout(r, 5))
                return { role: 'editor', plan: { tier: 'pro' }, sessionCreated: session.createdAt }
              },
            }),
          ],
        })
        server = await listen(kavach)
        base = `${server.origin}${MOUNT}`
        const res = await fetch(`${base}/auth/sign-up`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', origin: 'https://app.example.com' },
          body: JSON.stringify({ email: 'jwt@example.com', password: 'correct horse battery' }),
        })
        assert.equal(res.status, 200, await res.clone().text())
        userId = (await res.json()).user.id
        cookie = res.headers.getSetCookie()[0].split(';')[0]
      })
      after(async () => {
        if (server) await server.close()
        if (kavach) await kavach.close()
      })

      const getToken = async () => {
        const res = await fetch(`${base}/jwt/token`, { headers: { cookie } })
        assert.equal(res.status, 200, await res.clone().text())
        return (await res.json()).token
      }
      const joseVerify = (token, jwks) =>
        jwtVerify(token, jwks ?? createRemoteJWKSet(new URL(`${base}/jwks`)), {
          issuer: 'https://app.example.com',
          audience: 'https://api.example.com',
          algorithms: [algorithm],
        })

      let first
      it('GET /jwt/token issues a token jose verifies against GET /jwks', async () => {
        first = await getToken()
        const { payload, protectedHeader } = await joseVerify(first)
        assert.equal(protectedHeader.alg, algorithm)
        assert.equal(protectedHeader.typ, 'JWT')
        assert.equal(typeof protectedHeader.kid, 'string')
        assert.equal(payload.sub, userId)
        assert.equal(payload.email, 'jwt@example.com')
        assert.equal(payload.iss, 'https://app.example.com')
        assert.equal(payload.aud, 'https://api.example.com')
        assert.equal(payload.exp - payload.iat, 900)
        assert.equal(typeof payload.jti, 'string')
        assert.equal(typeof payload.sid, 'string')
        // customClaims was awaited, with the session and its user (Dates, as getSession gives them).
        assert.equal(payload.role, 'editor')
        assert.deepEqual(payload.plan, { tier: 'pro' })
        const call = seen.at(-1)
        assert.equal(call.user.id, userId)
        assert.equal(call.user.email, 'jwt@example.com')
        assert.equal(call.session.id, payload.sid)
        assert.ok(call.session.createdAt instanceof Date)
        assert.equal(payload.sessionCreated, call.session.createdAt.toISOString())
        assert.equal(call.session.token, undefined)
      })

      it('GET /jwks is public, cacheable and holds no private key', async () => {
        const res = await fetch(`${base}/jwks`)
        assert.equal(res.status, 200)
        assert.equal(res.headers.get('cache-control'), 'public, max-age=300')
        const { keys } = await res.json()
        assert.equal(keys.length, 1)
        assert.equal(keys[0].alg, algorithm)
        assert.equal(keys[0].kty, algorithm === 'EdDSA' ? 'OKP' : 'RSA')
        for (const k of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(keys[0][k], undefined)
        assert.deepEqual(await kavach.jwt.getJwks(), { keys })
      })

      it('GET /jwt/token without a session is 401', async () => {
        const res = await fetch(`${base}/jwt/token`)
        assert.equal(res.status, 401)
        assert.equal((await res.json()).error.code, 'UNAUTHORIZED')
        const none = await kavach.jwt.issue({ headers: new Headers() })
        assert.equal(none.success, false)
        assert.equal(none.error.code, 'UNAUTHORIZED')
      })

      it('kavach.jwt.issue and verify in-process, from { headers }, { request } or a Request', async () => {
        const a = await kavach.jwt.issue({ headers: new Headers({ cookie }) })
        const b = await kavach.jwt.issue({ request: new Request('http://x/', { headers: { cookie } }) })
        const c = await kavach.jwt.issue(new Request('http://x/', { headers: { cookie } }))
        for (const r of [a, b, c]) {
          assert.equal(r.success, true, JSON.stringify(r))
          const v = await kavach.jwt.verify(r.data.token)
          assert.equal(v.success, true, JSON.stringify(v))
          assert.equal(v.data.sub, userId)
          assert.equal(v.data.role, 'editor')
        }
        const bad = await kavach.jwt.verify(42)
        assert.equal(bad.error.code, 'VALIDATION_FAILED')
      })

      it('a tampered payload or signature fails in jose and in kavach.jwt.verify', async () => {
        const forged = tamper(first, (p) => {
          p.role = 'admin'
        })
        await assert.rejects(joseVerify(forged), (e) => e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED')
        const v = await kavach.jwt.verify(forged)
        assert.equal(v.success, false)
        assert.equal(v.error.code, 'INVALID_TOKEN')
        const sig = first.slice(0, -2) + (first.endsWith('AA') ? 'BB' : 'AA')
        assert.equal((await kavach.jwt.verify(sig)).error.code, 'INVALID_TOKEN')
        // alg: none with the same claims.
        const [, p] = first.split('.')
        const h = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid: decodeProtectedHeader(first).kid })).toString('base64url')
        assert.equal((await kavach.jwt.verify(`${h}.${p}.`)).error.code, 'INVALID_TOKEN')
      })

      it('rotateKeys: the old token still verifies with jose; new tokens carry the new kid', async () => {
        const oldKid = decodeProtectedHeader(first).kid
        const jwks = createRemoteJWKSet(new URL(`${base}/jwks`), { cooldownDuration: 0, cacheMaxAge: 0 })
        await joseVerify(first, jwks)
        const rotated = await kavach.jwt.rotateKeys()
        assert.equal(rotated.success, true, JSON.stringify(rotated))
        assert.notEqual(rotated.data.kid, oldKid)
        const { keys } = await (await fetch(`${base}/jwks`)).json()
        assert.deepEqual(keys.map((k) => k.kid), [rotated.data.kid, oldKid])
        await joseVerify(first) // a fresh JWKS fetch
        await joseVerify(first, jwks)
        assert.equal((await kavach.jwt.verify(first)).success, true)
        const next = await getToken()
        assert.equal(decodeProtectedHeader(next).kid, rotated.data.kid)
        assert.notEqual(decodeJwt(next).jti, decodeJwt(first).jti)
        await joseVerify(next, jwks)
        await joseVerify(next)
      })

      it('a token for another audience fails in jose', async () => {
        await assert.rejects(
          jwtVerify(first, createRemoteJWKSet(new URL(`${base}/jwks`)), { audience: 'https://other.example.com' }),
          (e) => e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED',
        )
      })
    })
  }

  describe(`jwt() customClaims failures and plugin off on ${backend}`, () => {
    it('a throwing or non-object customClaims issues no token; reserved claims are refused', async () => {
      const cases = [
        [async () => { throw new Error('boom') }, 'JWT_CLAIMS_FAILED'],
        [() => 'admin', 'JWT_CLAIMS_INVALID'],
        [async () => undefined, 'JWT_CLAIMS_INVALID'],
        [() => [1, 2], 'JWT_CLAIMS_INVALID'],
        [async () => ({ sub: 'someone-else' }), 'JWT_CLAIMS_INVALID'],
      ]
      const database = freshDatabase(backend, 'jwtcb')
      for (const [customClaims, code] of cases) {
        const k = await createKavach({ database, secret: SECRET, emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 }, plugins: [jwt({ customClaims })] })
        const email = `cb${Math.random().toString(36).slice(2)}@example.com`
        const up = await k.auth.signUp({ email, password: 'correct horse battery' })
        assert.equal(up.success, true)
        const r = await k.jwt.issue({ headers: { authorization: `Bearer ${up.data.token}` } })
        assert.equal(r.success, false)
        assert.equal(r.error.code, code, `${customClaims}`)
        assert.ok(!('data' in r))
        await k.close()
      }
    })

    it('routes are 404 and calls fail with CONFIG_INVALID without the plugin; bad options fail at boot', async () => {
      const database = freshDatabase(backend, 'jwtoff')
      const k = await createKavach({ database, secret: SECRET })
      const res = await k.handler(new Request('http://localhost/api/kavach/jwks'))
      assert.equal(res.status, 404)
      assert.equal((await k.handler(new Request('http://localhost/api/kavach/jwt/token'))).status, 404)
      assert.equal((await k.jwt.rotateKeys()).error.code, 'CONFIG_INVALID')
      await assert.rejects(k.jwt.getJwks(), (e) => e.code === 'CONFIG_INVALID')
      await k.close()
      for (const options of [{ algorithm: 'none' }, { algorithm: 'HS256' }, { expiresIn: 0 }, { customClaims: 'x' }]) {
        await assert.rejects(createKavach({ database, secret: SECRET, plugins: [jwt(options)] }), (e) => e.code === 'CONFIG_INVALID', JSON.stringify(options))
      }
    })
  })
}
