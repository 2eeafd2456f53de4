// `rateLimit: { storage: 'redis', url: 'rediss://...' }` against a real Redis speaking TLS: this
// file starts its own redis-server with a TLS port only, its certificate signed by a throwaway CA
// made here with the openssl CLI (SAN IP:127.0.0.1). The core verifies the server through the
// platform's trust store (rustls-native-certs, which honours SSL_CERT_FILE):
// - with SSL_CERT_FILE naming the CA, limits are counted in that Redis and shared by two processes;
// - with a trust store that does not hold the CA, the certificate is refused: 503
//   RATE_LIMIT_UNAVAILABLE, never a request let through unlimited, never a crash of the process;
// - a plain redis:// URL to the TLS port is refused the same way, in bounded time.
// Only the Redis connection differs between databases, so this runs on SQLite (the database is
// not what is tested; ratelimit-redis.test.mjs runs the limits on all three).
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { freePort, freshDatabase, SECRET } from './helpers.mjs'

const CHILD = fileURLToPath(new URL('./fixtures/ratelimit-child.mjs', import.meta.url))
const PER_IP = 5
const WINDOW = 86_400

function config(url) {
  return {
    database: freshDatabase('sqlite', 'rltls'),
    secret: SECRET,
    baseUrl: 'http://app.test',
    emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
    rateLimit: { storage: 'redis', url, maxCredentialRequestsPerIp: PER_IP, credentialWindow: WINDOW },
  }
}

/** A child process with its own instance and environment; `send({ email, ip })` resolves to `"<status> <code>"`. */
async function child(cfg, env) {
  const proc = spawn(process.execPath, [CHILD, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let stderr = ''
  proc.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })))
  const lines = createInterface({ input: proc.stdout })
  const waiting = []
  lines.on('line', (l) => waiting.shift()?.(l))
  // A process that dies answers every pending request with how it died (a Rust panic aborts it).
  exited.then(({ code, signal }) => {
    for (const w of waiting.splice(0)) w(`EXIT ${code ?? signal}: ${stderr.slice(-2000)}`)
  })
  const next = () => new Promise((resolve) => waiting.push(resolve))
  assert.equal(await next(), 'READY')
  return {
    send: (req) => {
      const p = next()
      proc.stdin.write(`${JSON.stringify(req)}\n`)
      return p
    },
    close: async () => {
      proc.stdin.end()
      return exited
    },
  }
}

describe('rateLimit.storage redis over TLS (rediss://) against a real redis-server', () => {
  let dir
  let port
  let redis
  const cli = (...args) =>
    execFileSync('redis-cli', ['--tls', '--cacert', join(dir, 'ca.crt'), '-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kavach-rediss-'))
    const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=kavach test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1')
    writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n')
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf')
    // A trust store with nothing in it but an unrelated CA: the server's chain is not in it.
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.crt', '-days', '2', '-subj', '/CN=some other CA')
    port = await freePort()
    redis = spawn('redis-server', [
      '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1',
      '--tls-cert-file', join(dir, 'server.crt'), '--tls-key-file', join(dir, 'server.key'),
      '--tls-ca-cert-file', join(dir, 'ca.crt'), '--tls-auth-clients', 'no',
      '--save', '', '--appendonly', 'no', '--dir', dir,
    ], { stdio: 'ignore' })
    const deadline = Date.now() + 10_000
    for (;;) {
      try {
        if (cli('PING').trim() === 'PONG') break
      } catch {}
      if (redis.exitCode !== null) throw new Error(`redis-server exited (${redis.exitCode}): is it built with TLS?`)
      if (Date.now() > deadline) throw new Error('redis-server with TLS did not answer within 10 s')
      await new Promise((r) => setTimeout(r, 100))
    }
  })

  after(async () => {
    if (redis && redis.exitCode === null) {
      const gone = new Promise((r) => redis.once('exit', r))
      redis.kill('SIGTERM')
      await gone
    }
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('with the CA trusted (SSL_CERT_FILE), two processes share the per-IP limit in the TLS Redis', async () => {
    const trusted = { SSL_CERT_FILE: join(dir, 'ca.crt') }
    const url = `rediss://127.0.0.1:${port}`
    const a = await child(config(url), trusted)
    const b = await child(config(url), trusted)
    const ip = '198.51.100.77'
    const got = []
    try {
      for (let i = 0; i < PER_IP + 2; i++) got.push(await (i % 2 ? b : a).send({ email: `tls-${i}@example.com`, ip }))
    } finally {
      assert.deepEqual(await a.close(), { code: 0, signal: null })
      assert.deepEqual(await b.close(), { code: 0, signal: null })
    }
    assert.deepEqual(got, [...Array(PER_IP).fill('401 INVALID_CREDENTIALS'), '429 RATE_LIMITED', '429 RATE_LIMITED'])
    const keys = cli('--scan', '--pattern', `kavach:rl:ip:${ip}:*`).split('\n').filter(Boolean)
    assert.equal(keys.length, 1, 'the counter lives in the TLS Redis')
    assert.equal(cli('GET', keys[0]).trim(), String(PER_IP + 2))
  })

  it('a server certificate the trust store does not hold is refused: 503 RATE_LIMIT_UNAVAILABLE, the process lives on', async () => {
    const p = await child(config(`rediss://127.0.0.1:${port}`), { SSL_CERT_FILE: join(dir, 'other.crt') })
    const got = []
    try {
      for (let i = 0; i < 3; i++) {
        const t0 = Date.now()
        got.push(await p.send({ email: `untrusted-${i}@example.com`, ip: '198.51.100.78' }))
        assert.ok(Date.now() - t0 < 5_000, `answered in ${Date.now() - t0} ms`)
      }
    } finally {
      assert.deepEqual(await p.close(), { code: 0, signal: null })
    }
    assert.deepEqual(got, Array(3).fill('503 RATE_LIMIT_UNAVAILABLE'))
    assert.equal(cli('--scan', '--pattern', 'kavach:rl:ip:198.51.100.78:*').trim(), '', 'nothing was counted')
  })

  it('a plain redis:// URL to the TLS port is refused in bounded time, never let through', async () => {
    const p = await child(config(`redis://127.0.0.1:${port}`), {})
    const got = []
    try {
      for (let i = 0; i < 2; i++) {
        const t0 = Date.now()
        got.push(await p.send({ email: `plain-${i}@example.com`, ip: '198.51.100.79' }))
        assert.ok(Date.now() - t0 < 5_000, `answered in ${Date.now() - t0} ms`)
      }
    } finally {
      assert.deepEqual(await p.close(), { code: 0, signal: null })
    }
    assert.deepEqual(got, Array(2).fill('503 RATE_LIMIT_UNAVAILABLE'))
  })
})
