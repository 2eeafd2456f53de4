// Benchmark of apiKey({ enableSessionForAPIKeys }): a request authenticated by `x-api-key` against
// one carrying a session cookie, through kavach.auth.getSession({ headers }) and (with --handler)
// GET /auth/session through kavach.handler; one at a time and with 64 in flight; on a SQLite file
// and PostgreSQL (MariaDB when asked). The keys have no use count and no rate limit (nothing to
// write per request); `--spend` adds keys with a use count, whose every request is one guarded
// UPDATE. A benchmark, not a test: it prints figures and checks that every call found its user.
//
//   node bench/api-key.mjs [--db sqlite,postgres,mysql] [--seq 5000] [--x64 20000] [--users 20] [--handler] [--spend]
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createKavach } from '../index.mjs'
import { apiKey } from '../plugins.mjs'

process.env.NODE_ENV ??= 'production'
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1] && !all[i + 1].startsWith('--') ? all[i + 1] : 'true']] : acc), []),
)
const DBS = (args.db ?? 'sqlite,postgres').split(',')
const SEQ = Number(args.seq ?? 5000)
const X64 = Number(args.x64 ?? 20000)
const USERS = Number(args.users ?? 20)
const SECRET = 'bench-secret-bench-secret-bench-secret-00'

function database(kind) {
  const name = `kb_${process.pid}_apikey_${kind}`
  if (kind === 'sqlite') {
    const dir = join(tmpdir(), 'kavach-bench')
    mkdirSync(dir, { recursive: true })
    const url = join(dir, `${name}.db`)
    for (const s of ['', '-wal', '-shm']) rmSync(url + s, { force: true })
    return { provider: 'sqlite', url }
  }
  if (kind === 'postgres') {
    execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-qc', `DROP DATABASE IF EXISTS ${name}`], { stdio: 'pipe' })
    execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-qc', `CREATE DATABASE ${name}`])
    return { provider: 'postgres', url: `postgres://postgres@127.0.0.1:5432/${name}`, pool: { maxConnections: Number(args.pool ?? 8) } }
  }
  if (kind === 'mysql') {
    execFileSync('mysql', ['-h', '127.0.0.1', '-uroot', '-e', `DROP DATABASE IF EXISTS ${name}; CREATE DATABASE ${name}`])
    return { provider: 'mysql', url: `mysql://root@127.0.0.1:3306/${name}`, pool: { maxConnections: Number(args.pool ?? 8) } }
  }
  throw new Error(`unknown --db ${kind}`)
}

// Best effort: a pooled connection may still be closing.
function dropDatabase(kind, db) {
  const name = db.url.split('/').pop()
  try {
    if (kind === 'postgres') execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-qc', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], { stdio: 'pipe' })
    if (kind === 'mysql') execFileSync('mysql', ['-h', '127.0.0.1', '-uroot', '-e', `DROP DATABASE IF EXISTS ${name}`], { stdio: 'pipe' })
    if (kind === 'sqlite') for (const s of ['', '-wal', '-shm']) rmSync(db.url + s, { force: true })
  } catch (e) {
    console.log(`could not drop ${name}: ${String(e.stderr || e.message).trim()}`)
  }
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
async function measure(n, concurrency, call) {
  const lat = new Float64Array(n)
  let next = 0
  const t0 = process.hrtime.bigint()
  async function worker() {
    while (true) {
      const i = next++
      if (i >= n) return
      const s = process.hrtime.bigint()
      await call(i)
      lat[i] = Number(process.hrtime.bigint() - s) / 1000
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const secs = Number(process.hrtime.bigint() - t0) / 1e9
  const sorted = Array.from(lat).sort((a, b) => a - b)
  return { ops: Math.round(n / secs), p50: pct(sorted, 50), p99: pct(sorted, 99) }
}
const fmt = (r) => `${String(r.ops).padStart(7)}/s p50 ${r.p50.toFixed(1).padStart(7)} µs p99 ${r.p99.toFixed(1).padStart(8)} µs`

async function run(label, n, conc, call) {
  await measure(Math.min(500, n), conc, call)
  return measure(n, conc, call)
}

const rows = []
for (const kind of DBS) {
  const db = database(kind)
  const kavach = await createKavach({
    database: db,
    secret: SECRET,
    emailAndPassword: { enabled: true, pbkdf2Iterations: 1000 },
    rateLimit: { enabled: false },
    plugins: [apiKey({ enableSessionForAPIKeys: true })],
  })
  const users = []
  for (let i = 0; i < USERS; i++) {
    const r = await kavach.auth.signUp({ email: `user${i}@example.com`, password: `password-${i}-long` })
    if (!r.success) throw new Error(r.error.message)
    const key = await kavach.apiKeys.create({ userId: r.data.user.id, name: `k${i}`, rateLimitEnabled: false })
    if (!key.success) throw new Error(key.error.message)
    const spend = await kavach.apiKeys.create({ userId: r.data.user.id, name: `s${i}`, rateLimitEnabled: false, remaining: 1e12 })
    users.push({
      id: r.data.user.id,
      cookie: new Headers({ cookie: `kavach_session=${r.data.token}` }),
      key: new Headers({ 'x-api-key': key.data.key }),
      spend: new Headers({ 'x-api-key': spend.data.key }),
    })
  }
  const viaGetSession = (h) => async (i) => {
    const u = users[i % users.length]
    const s = await kavach.auth.getSession({ headers: u[h] })
    if (!s.success || !s.data || s.data.user.id !== u.id) throw new Error(`${kind} ${h}: no session (${JSON.stringify(s.error)})`)
  }
  const viaHandler = (h) => async (i) => {
    const u = users[i % users.length]
    const res = await kavach.handler(new Request('http://localhost/api/kavach/auth/session', { headers: u[h] }))
    const body = await res.json()
    if (res.status !== 200 || body.user.id !== u.id) throw new Error(`${kind} ${h} handler: ${res.status}`)
  }
  const cases = [['getSession', viaGetSession]]
  if (args.handler) cases.push(['handler', viaHandler])
  const kinds = args.spend ? ['cookie', 'key', 'spend'] : ['cookie', 'key']
  for (const [path, make] of cases) {
    for (const h of kinds) {
      const seq = await run(`${h} seq`, SEQ, 1, make(h))
      const x64 = await run(`${h} x64`, X64, 64, make(h))
      rows.push({ kind, path, h, seq, x64 })
      console.log(`${kind.padEnd(8)} ${path.padEnd(10)} ${h.padEnd(6)} seq ${fmt(seq)} | x64 ${fmt(x64)}`)
    }
    const c = rows.find((r) => r.kind === kind && r.path === path && r.h === 'cookie')
    const k = rows.find((r) => r.kind === kind && r.path === path && r.h === 'key')
    console.log(`${kind.padEnd(8)} ${path.padEnd(10)} cookie/key: seq ${(c.seq.ops / k.seq.ops).toFixed(2)}x, x64 ${(c.x64.ops / k.x64.ops).toFixed(2)}x (target: within 1.5x)`)
  }
  await kavach.close()
  dropDatabase(kind, db)
}
