// Scale-out benchmark: 1, 2 and 4 Node processes on one PostgreSQL database, each with its own
// kavachos instance (pool 8), for authorize (audit on) and getSession with 64 calls in flight per
// process. Prints each process count's total rate and the factor over one process. A benchmark, not
// a test. The processes start together on a signal after all have booted.
//
//   node bench/scale.mjs [--procs 1,2,4] [--calls 20000] [--pool 8] [--db postgres|mysql]
import { execFileSync, fork } from 'node:child_process'
import { writeFileSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createKavach } from '../index.mjs'

process.env.NODE_ENV ??= 'production'
process.env.PGOPTIONS ??= '--client-min-messages=warning'
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
)
const SECRET = 'bench-secret-bench-secret-bench-secret-00'
const INFLIGHT = 64

async function run(n, call) {
  let next = 0
  const t0 = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      for (let i = next++; i < n; i = next++) await call(i)
    }),
  )
  return Number(process.hrtime.bigint() - t0) / 1e9
}

if (args.worker) {
  // A worker: boot, say ready, wait for go, run the calls, report the seconds they took.
  const setup = JSON.parse(readFileSync(args.worker, 'utf8'))
  const kavach = await createKavach({ database: setup.database, secret: SECRET, agents: { maxPerOwner: 10_000 } })
  const calls = Number(args.calls)
  const allow = { action: 'run', resource: 'tool:search' }
  const ops = {
    authorize: async (i) => {
      const d = await kavach.authorize(setup.agents[(i * 7919) % setup.agents.length], allow)
      if (!d.allowed || !d.auditId) throw new Error('authorize: not allowed or not audited')
    },
    getSession: async (i) => {
      const s = await kavach.auth.getSession({ headers: new Headers({ cookie: `kavach_session=${setup.sessions[i % setup.sessions.length]}` }) })
      if (!s.success || !s.data) throw new Error('getSession: no session')
    },
  }
  await run(200, ops[args.op]) // warm-up: the pool opens its connections
  process.send({ ready: true })
  await new Promise((resolve) => process.once('message', resolve))
  const secs = await run(calls, ops[args.op])
  process.send({ secs })
  await kavach.close()
  process.exit(0)
}

const PROCS = (args.procs ?? '1,2,4').split(',').map(Number)
const CALLS = Number(args.calls ?? 20000)
const kind = args.db ?? 'postgres'
const name = `kb_scale_${process.pid}`
let database
if (kind === 'postgres') {
  execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-qc', `DROP DATABASE IF EXISTS ${name}`])
  execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-qc', `CREATE DATABASE ${name}`])
  database = { provider: 'postgres', url: `postgres://postgres@127.0.0.1:5432/${name}`, pool: { maxConnections: Number(args.pool ?? 8) } }
} else {
  execFileSync('mysql', ['-h', '127.0.0.1', '-uroot', '-e', `DROP DATABASE IF EXISTS ${name}; CREATE DATABASE ${name}`])
  database = { provider: 'mysql', url: `mysql://root@127.0.0.1:3306/${name}`, pool: { maxConnections: Number(args.pool ?? 8) } }
}

const kavach = await createKavach({ database, secret: SECRET, agents: { maxPerOwner: 10_000 }, emailAndPassword: { enabled: true, pbkdf2Iterations: 1000 } })
const perms = [
  { resource: 'tool:calc', actions: ['run'] },
  { resource: 'tool:files:*', actions: ['read'] },
  { resource: 'mcp:slack:*', actions: ['post'] },
  { resource: 'mcp:github:*', actions: ['read', 'list'] },
  { resource: 'tool:search', actions: ['run'] },
]
const agents = []
for (let i = 0; i < 200; i++) agents.push((await kavach.agent.create({ ownerId: 'bench', name: `a${i}`, type: 'autonomous', permissions: perms })).id)
const sessions = []
for (let i = 0; i < 20; i++) sessions.push((await kavach.auth.signUp({ email: `u${i}@example.com`, password: `password-${i}-long` })).data.token)
await kavach.close()
const setupFile = join(tmpdir(), `${name}.json`)
writeFileSync(setupFile, JSON.stringify({ database, agents, sessions }))

const self = fileURLToPath(import.meta.url)
const baseline = {}
for (const op of ['authorize', 'getSession']) {
  for (const procs of PROCS) {
    const children = Array.from({ length: procs }, () =>
      fork(self, ['--worker', setupFile, '--op', op, '--calls', String(CALLS)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    )
    const next = (child) => new Promise((resolve, reject) => {
      child.once('message', resolve)
      child.once('exit', (code) => code && reject(new Error(`worker exited ${code}`)))
    })
    await Promise.all(children.map(next))
    const done = children.map(next)
    for (const c of children) c.send('go')
    const secs = (await Promise.all(done)).map((m) => m.secs)
    const rate = Math.round((procs * CALLS) / Math.max(...secs))
    baseline[op] ??= rate
    console.log(`${kind} ${op.padEnd(10)} ${procs} process${procs > 1 ? 'es' : '  '}: ${String(rate).padStart(7)}/s  x${(rate / baseline[op]).toFixed(2)}`)
  }
}
rmSync(setupFile, { force: true })
if (kind === 'postgres') execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-qc', `DROP DATABASE IF EXISTS ${name}`])
else execFileSync('mysql', ['-h', '127.0.0.1', '-uroot', '-e', `DROP DATABASE IF EXISTS ${name}`])
