// Benchmark of human sessions: kavach.auth.getSession one at a time and with 64 in flight, and
// sign-in latency against the cost of PBKDF2 alone; beside better-auth (with better-sqlite3) on a
// SQLite file in the same run, when it is installed. A benchmark, not a test.
//
//   node bench/session.mjs [--seq 5000] [--x64 20000] [--users 20] [--handler]
// --handler: the session read through each library's Web handler (`GET .../session` as a
// `Request`, the body parsed), the way a client's `useSession` reaches it, instead of the call.
// better-auth is optional: `npm install --no-save better-auth better-sqlite3` to include it.
import { mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pbkdf2Sync, randomBytes } from 'node:crypto'
import { createKavach } from '../index.mjs'

process.env.NODE_ENV ??= 'production'
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
)
const SEQ = Number(args.seq ?? 5000)
const X64 = Number(args.x64 ?? 20000)
const USERS = Number(args.users ?? 20)
const HANDLER = process.argv.includes('--handler')
const SECRET = 'bench-secret-bench-secret-bench-secret-00'
const dir = join(tmpdir(), 'kavach-bench')
mkdirSync(dir, { recursive: true })
const fresh = (name) => {
  const f = join(dir, `${name}-${process.pid}.db`)
  for (const s of ['', '-wal', '-shm']) rmSync(f + s, { force: true })
  return f
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
async function measure(n, concurrency, call) {
  const lat = new Float64Array(n)
  let next = 0
  const t0 = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        const s = process.hrtime.bigint()
        await call(i)
        lat[i] = Number(process.hrtime.bigint() - s) / 1000
      }
    }),
  )
  const secs = Number(process.hrtime.bigint() - t0) / 1e9
  const sorted = Array.from(lat).sort((a, b) => a - b)
  return { ops: Math.round(n / secs), p50: pct(sorted, 50), p99: pct(sorted, 99) }
}
const fmt = (r) => `${String(r.ops).padStart(7)}/s p50 ${r.p50.toFixed(1).padStart(8)} µs p99 ${r.p99.toFixed(1).padStart(8)} µs`

async function suite(name, { signUp, signIn, getSession }) {
  const cookies = []
  for (let i = 0; i < USERS; i++) cookies.push(await signUp(`user${i}@example.com`, `password-${i}-long`))
  const check = async (i) => {
    const s = await getSession(cookies[i % cookies.length])
    if (!s) throw new Error(`${name}: no session`)
  }
  await measure(500, 1, check)
  const seq = await measure(SEQ, 1, check)
  await measure(500, 64, check)
  const x64 = await measure(X64, 64, check)
  const signIns = await measure(Math.min(USERS, 10), 1, (i) => signIn(`user${i}@example.com`, `password-${i}-long`))
  // An unknown email costs one PBKDF2 run (spent on purpose, for equal timing) and one read: the
  // hashing cost of this implementation, measured the same way.
  const unknown = await measure(Math.min(USERS, 10), 1, (i) => signIn(`nobody${i}@example.com`, 'x-password-long').catch(() => {}))
  console.log(`${name.padEnd(12)} ${HANDLER ? 'handler GET session' : 'getSession'} seq ${fmt(seq)} | x64 ${fmt(x64)}`)
  console.log(`${name.padEnd(12)} sign-in    p50 ${(signIns.p50 / 1000).toFixed(1)} ms (unknown email, the hashing alone: ${(unknown.p50 / 1000).toFixed(1)} ms)`)
  return { seq, x64, signIn: signIns, hashOnly: unknown }
}

const pbkdf2 = await measure(10, 1, async () => pbkdf2Sync('password-0-long', randomBytes(16), 600_000, 32, 'sha256'))
console.log(`PBKDF2-SHA256 600k alone (node:crypto): p50 ${(pbkdf2.p50 / 1000).toFixed(1)} ms`)

const kavach = await createKavach({
  database: { provider: 'sqlite', url: fresh('session-kavach') },
  secret: SECRET,
  emailAndPassword: { enabled: true },
  rateLimit: { enabled: false },
})
const k = await suite('kavachos', {
  signUp: async (email, password) => {
    const r = await kavach.auth.signUp({ email, password })
    if (!r.success) throw new Error(r.error.message)
    return new Headers({ cookie: `kavach_session=${r.data.token}` })
  },
  signIn: async (email, password) => {
    const r = await kavach.auth.signIn({ email, password })
    if (!r.success) throw new Error(r.error.message)
  },
  getSession: HANDLER
    ? async (headers) => {
        const res = await kavach.handler(new Request('http://localhost:3000/api/kavach/auth/session', { headers }))
        return res.status === 200 ? res.json() : null
      }
    : async (headers) => (await kavach.auth.getSession({ headers })).data,
})
await kavach.close()

let better
try {
  better = { betterAuth: (await import('better-auth')).betterAuth, getMigrations: (await import('better-auth/db/migration')).getMigrations, Database: (await import('better-sqlite3')).default }
} catch {
  console.log('better-auth / better-sqlite3 not installed: kavachos figures only')
}
if (better) {
  const auth = better.betterAuth({
    database: new better.Database(fresh('session-better-auth')),
    secret: SECRET,
    baseURL: 'http://localhost:3000',
    emailAndPassword: { enabled: true },
    rateLimit: { enabled: false },
  })
  const { runMigrations } = await better.getMigrations(auth.options)
  await runMigrations()
  const b = await suite('better-auth', {
    signUp: async (email, password) => {
      const { headers } = await auth.api.signUpEmail({ body: { email, password, name: email }, returnHeaders: true })
      const cookie = headers.get('set-cookie').split(';')[0]
      return new Headers({ cookie })
    },
    signIn: async (email, password) => {
      await auth.api.signInEmail({ body: { email, password } })
    },
    getSession: HANDLER
      ? async (headers) => {
          const res = await auth.handler(new Request('http://localhost:3000/api/auth/get-session', { headers }))
          return res.status === 200 ? res.json() : null
        }
      : (headers) => auth.api.getSession({ headers }),
  })
  console.log(
    `kavachos / better-auth: getSession seq ${(k.seq.ops / b.seq.ops).toFixed(1)}x, x64 ${(k.x64.ops / b.x64.ops).toFixed(1)}x; sign-in p50 ${(k.signIn.p50 / 1000).toFixed(0)} vs ${(b.signIn.p50 / 1000).toFixed(0)} ms`,
  )
}
console.log(`kavachos sign-in / its own PBKDF2 alone: ${(k.signIn.p50 / k.hashOnly.p50).toFixed(2)}x; / node:crypto PBKDF2: ${(k.signIn.p50 / pbkdf2.p50).toFixed(2)}x`)
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`)
