// Which address a per-IP limit counts (issue 17, point 2): the socket address the shims (or a bare
// `kavach.handler(request, { clientIp })`) pass, and `trustedProxyHeaders` for an app behind a proxy.
// A header the app did not name never picks the key, and with `x-forwarded-for` trusted only the
// last entry (the proxy's) counts: rotating the entries before it does not escape the limit.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach } from '../index.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

const LIMIT = 5
const ORIGIN = 'http://app.test'

let n = 0
/** A wrong sign-in of a fresh email (so only the per-IP limit can refuse it) through the handler. */
function signIn(kavach, headers = {}, options = {}) {
  const request = new Request(`${ORIGIN}/api/kavach/auth/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: ORIGIN, ...headers },
    body: JSON.stringify({ email: `nobody${n++}@example.com`, password: 'wrong horse battery' }),
  })
  return kavach.handler(request, options).then((r) => r.status)
}

async function statuses(count, send) {
  const out = []
  for (let i = 0; i < count; i++) out.push(await send(i))
  return out
}

for (const backend of backends()) {
  describe(`the client address of per-IP limits on ${backend}`, () => {
    const open = []
    const boot = async (extra = {}) => {
      const kavach = await createKavach({
        database: freshDatabase(backend, 'clientip'),
        secret: SECRET,
        baseUrl: ORIGIN,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        rateLimit: { maxCredentialRequestsPerIp: LIMIT, maxFailedSignIns: 1000 },
        ...extra,
      })
      open.push(kavach)
      return kavach
    }
    after(async () => {
      for (const k of open) await k.close()
    })

    it('counts the socket address passed as clientIp, whatever X-Forwarded-For says', async () => {
      const kavach = await boot()
      const got = await statuses(LIMIT + 2, (i) => signIn(kavach, { 'x-forwarded-for': `198.51.100.${i}` }, { clientIp: '192.0.2.1' }))
      assert.deepEqual(got, [...Array(LIMIT).fill(401), 429, 429])
      // Another socket address has its own budget; IPv4-mapped IPv6 is the same address as IPv4.
      assert.equal(await signIn(kavach, {}, { clientIp: '192.0.2.2' }), 401)
      assert.equal(await signIn(kavach, {}, { clientIp: '::ffff:192.0.2.1' }), 429)
    })

    it('with trustedProxyHeaders, counts the last X-Forwarded-For entry; the ones before it cannot dodge the limit', async () => {
      const kavach = await boot({ trustedProxyHeaders: ['x-forwarded-for'] })
      const got = await statuses(LIMIT + 2, (i) => signIn(kavach, { 'x-forwarded-for': `10.9.9.${i}, 203.0.113.7` }, { clientIp: '127.0.0.1' }))
      assert.deepEqual(got, [...Array(LIMIT).fill(401), 429, 429])
      // Another client behind the same proxy (same socket address) is not limited.
      assert.equal(await signIn(kavach, { 'x-forwarded-for': '203.0.113.8' }, { clientIp: '127.0.0.1' }), 401)
      // A value that is no address is skipped: the socket address counts.
      assert.equal(await signIn(kavach, { 'x-forwarded-for': 'bogus' }, { clientIp: '127.0.0.1' }), 401)
    })

    it('takes the trusted headers in order, and Forwarded: for=', async () => {
      const kavach = await boot({ trustedProxyHeaders: ['x-real-ip', 'forwarded'] })
      const got = await statuses(LIMIT + 1, (i) =>
        signIn(kavach, i % 2 ? { 'x-real-ip': '203.0.113.20' } : { forwarded: `for=10.0.0.${i};proto=https, for="[2001:db8::20]:4711"`, 'x-forwarded-for': `10.1.1.${i}` }),
      )
      // x-real-ip and forwarded name two different addresses: 3 and 3 calls, under the limit each.
      assert.deepEqual(got, Array(LIMIT + 1).fill(401))
      const more = await statuses(LIMIT, () => signIn(kavach, { forwarded: 'for="[2001:db8::20]"' }))
      assert.deepEqual(more, [401, 401, 429, 429, 429])
    })

    it('a bare handler with no address known applies no per-IP limit (the per-account limit still does)', async () => {
      const kavach = await boot()
      const got = await statuses(LIMIT + 3, () => signIn(kavach, { 'x-forwarded-for': '203.0.113.9' }))
      assert.deepEqual(got, Array(LIMIT + 3).fill(401))
      // ... and with the address passed as the docs say, the limit holds.
      const passed = await statuses(LIMIT + 1, () => signIn(kavach, {}, { clientIp: '203.0.113.9' }))
      assert.deepEqual(passed, [...Array(LIMIT).fill(401), 429])
    })

    it('refuses a trustedProxyHeaders entry that is not a header name', async () => {
      await assert.rejects(boot({ trustedProxyHeaders: ['x-forwarded-for\r\nx: y'] }), (e) => e.code === 'CONFIG_INVALID')
    })
  })
}
