// `rateLimit: { storage: 'redis', url }` (issue 17, point 7): the limits of credential routes are
// counted in Redis (127.0.0.1:6379), so processes share them. Each process here has its OWN fresh
// database: the only thing they share is Redis, so a limit hit across them proves the sharing.
// A Redis that cannot be reached refuses the request with 503 RATE_LIMIT_UNAVAILABLE, in bounded
// time, and never lets it through unlimited. Only keys `kavach:rl:*` are touched (no FLUSHALL).
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createKavach } from '../index.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

const REDIS = 'redis://127.0.0.1:6379'
const CHILD = fileURLToPath(new URL('./fixtures/ratelimit-child.mjs', import.meta.url))
const PER_IP = 7
const PER_ACCOUNT = 4
// A day-long window (aligned on UTC midnight) so no test straddles a window's end.
const WINDOW = 86_400

function flushOurKeys() {
  const keys = execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', '6379', '--scan', '--pattern', 'kavach:rl:*'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
  for (let i = 0; i < keys.length; i += 200) execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'DEL', ...keys.slice(i, i + 200)])
}

function config(backend, url = REDIS) {
  return {
    database: freshDatabase(backend, 'rlredis'),
    secret: SECRET,
    baseUrl: 'http://app.test',
    emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
    rateLimit: {
      storage: 'redis',
      url,
      maxCredentialRequestsPerIp: PER_IP,
      credentialWindow: WINDOW,
      maxFailedSignIns: PER_ACCOUNT,
      failedSignInWindow: WINDOW,
    },
  }
}

/** A child process running its own instance; `send({ email, ip })` resolves to `"<status> <code>"`. */
async function child(cfg) {
  const proc = spawn(process.execPath, [CHILD, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: proc.stdout })
  const waiting = []
  lines.on('line', (l) => waiting.shift()?.(l))
  const next = () => new Promise((resolve) => waiting.push(resolve))
  const ready = await next()
  assert.equal(ready, 'READY')
  return {
    send: (req) => {
      const p = next()
      proc.stdin.write(`${JSON.stringify(req)}\n`)
      return p
    },
    close: () => new Promise((resolve) => {
      proc.on('exit', resolve)
      proc.stdin.end()
    }),
  }
}

describe('rateLimit.storage redis: configuration', () => {
  it('needs a redis:// or rediss:// url, and a url only goes with storage redis', async () => {
    const base = { database: { provider: 'sqlite', url: ':memory:' }, secret: SECRET }
    for (const rateLimit of [
      { storage: 'redis' },
      { storage: 'redis', url: 'http://127.0.0.1:6379' },
      { storage: 'memcached', url: REDIS },
      { url: REDIS },
    ]) {
      await assert.rejects(createKavach({ ...base, rateLimit }), (e) => e.code === 'CONFIG_INVALID', JSON.stringify(rateLimit))
    }
  })
})

for (const backend of backends()) {
  describe(`rateLimit.storage redis on ${backend}`, () => {
    const run = randomBytes(4).toString('hex')
    before(flushOurKeys)

    it('two processes (each on its own database) share the per-IP and the per-account limits', async () => {
      const a = await child(config(backend))
      const b = await child(config(backend))
      try {
        // Per IP: fresh emails, one address, alternating processes: 429 exactly after PER_IP.
        const ip = `198.51.100.${1 + (parseInt(run, 16) % 250)}`
        const got = []
        for (let i = 0; i < PER_IP + 3; i++) {
          got.push(await (i % 2 ? b : a).send({ email: `ip-${run}-${i}@example.com`, ip }))
        }
        assert.deepEqual(got, [...Array(PER_IP).fill('401 INVALID_CREDENTIALS'), ...Array(3).fill('429 RATE_LIMITED')])

        // Per account: one email, a new address per request: PER_ACCOUNT failures, then 429.
        const email = `acct-${run}@example.com`
        const acct = []
        for (let i = 0; i < PER_ACCOUNT + 2; i++) {
          acct.push(await (i % 2 ? a : b).send({ email, ip: `203.0.113.${i + 1}` }))
        }
        assert.deepEqual(acct, [...Array(PER_ACCOUNT).fill('401 INVALID_CREDENTIALS'), '429 RATE_LIMITED', '429 RATE_LIMITED'])
      } finally {
        await Promise.all([a.close(), b.close()])
      }
      const ip = `198.51.100.${1 + (parseInt(run, 16) % 250)}`
      const keys = execFileSync('redis-cli', ['-h', '127.0.0.1', '--scan', '--pattern', `kavach:rl:ip:${ip}:*`], { encoding: 'utf8' }).split('\n').filter(Boolean)
      assert.ok(keys.length >= 1, 'the counters live in Redis')
      const ttl = Number(execFileSync('redis-cli', ['-h', '127.0.0.1', 'PTTL', keys[0]], { encoding: 'utf8' }).trim())
      assert.ok(ttl > 0 && ttl <= (WINDOW + 1) * 1000, `each counter expires with its window (pttl ${ttl})`)
    })

    it('a Redis that cannot be reached: boot works, credential requests get 503 RATE_LIMIT_UNAVAILABLE fast', async () => {
      const started = Date.now()
      const kavach = await createKavach({ ...config(backend, 'redis://127.0.0.1:6390'), shareInstance: false })
      try {
        assert.ok(Date.now() - started < 15_000)
        for (let i = 0; i < 3; i++) {
          const t0 = Date.now()
          const res = await kavach.handler(
            new Request('http://app.test/api/kavach/auth/sign-in', {
              method: 'POST',
              headers: { 'content-type': 'application/json', origin: 'http://app.test' },
              body: JSON.stringify({ email: `down-${run}@example.com`, password: 'wrong horse battery' }),
            }),
            { clientIp: '192.0.2.9' },
          )
          const body = await res.json()
          assert.equal(res.status, 503)
          assert.equal(body.error.code, 'RATE_LIMIT_UNAVAILABLE')
          assert.ok(Date.now() - t0 < 3_000, `answered in ${Date.now() - t0} ms`)
        }
        // What is not rate limited keeps working (the JS API has no per-IP limit).
        const r = await kavach.auth.signUp({ email: `up-${run}@example.com`, password: 'a long enough password' })
        assert.equal(r.success, true)
      } finally {
        await kavach.close()
      }
    })
  })
}
