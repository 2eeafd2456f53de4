// Benchmark of the hot path: authorizeByToken and authorize (allowed and denied), one at a time and
// with 64 in flight, audit on, on a SQLite file (durability normal and full) and PostgreSQL (and
// MariaDB when asked). A benchmark, not a test: it prints figures and checks only that every call
// was audited.
//
//   node bench/authorize.mjs [--db sqlite,sqlite-full,postgres,mysql] [--seq 5000] [--x64 20000]
//     [--audit-index "<CREATE INDEX ...>"]  (SQLite: adds an audit index, to compare its cost)
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createKavach } from '../index.mjs'

process.env.NODE_ENV ??= 'production'
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
)
const DBS = (args.db ?? 'sqlite,sqlite-full,postgres').split(',')
const SEQ = Number(args.seq ?? 5000)
const X64 = Number(args.x64 ?? 20000)
const AGENTS = Number(args.agents ?? 1000)
const SECRET = 'bench-secret-bench-secret-bench-secret-00'

function database(kind) {
  const name = `kb_${process.pid}_${kind.replace('-', '_')}`
  if (kind.startsWith('sqlite')) {
    const dir = join(tmpdir(), 'kavach-bench')
    mkdirSync(dir, { recursive: true })
    const url = join(dir, `${name}.db`)
    for (const s of ['', '-wal', '-shm']) rmSync(url + s, { force: true })
    return { provider: 'sqlite', url, durability: kind === 'sqlite-full' ? 'full' : 'normal' }
  }
  if (kind === 'postgres') {
    execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-qc', `DROP DATABASE IF EXISTS ${name}`])
    execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-qc', `CREATE DATABASE ${name}`])
    return { provider: 'postgres', url: `postgres://postgres@127.0.0.1:5432/${name}`, pool: { maxConnections: Number(args.pool ?? 8) } }
  }
  if (kind === 'mysql') {
    execFileSync('mysql', ['-h', '127.0.0.1', '-uroot', '-e', `DROP DATABASE IF EXISTS ${name}; CREATE DATABASE ${name}`])
    return { provider: 'mysql', url: `mysql://root@127.0.0.1:3306/${name}`, pool: { maxConnections: Number(args.pool ?? 8) } }
  }
  throw new Error(`unknown --db ${kind}`)
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

const results = []
for (const kind of DBS) {
  const db = database(kind)
  if (args['audit-index'] && db.provider === 'sqlite') {
    // Compare audit indexes on one build: `--audit-index "CREATE INDEX x ON kavach_audit_logs (created_at, id)"`
    // (what 0017 made) against the shipped indexes. The file is migrated, closed, changed, then opened.
    await (await createKavach({ database: db, secret: SECRET, shareInstance: false })).close()
    const { default: Database } = await import('better-sqlite3')
    const f = new Database(db.url)
    f.exec('DROP INDEX IF EXISTS kavach_audit_created; ' + args['audit-index'])
    f.close()
  }
  const kavach = await createKavach({ database: db, secret: SECRET, agents: { maxPerOwner: AGENTS } })
  const perms = [
    { resource: 'tool:calc', actions: ['run'] },
    { resource: 'tool:files:*', actions: ['read'] },
    { resource: 'mcp:slack:*', actions: ['post'] },
    { resource: 'mcp:github:*', actions: ['read', 'list'] },
    { resource: 'tool:search', actions: ['run'] },
  ]
  const agents = []
  for (let i = 0; i < AGENTS; i++) agents.push(await kavach.agent.create({ ownerId: 'bench', name: `a${i}`, type: 'autonomous', permissions: perms }))
  const allow = { action: 'run', resource: 'tool:search' } // matches the 5th permission: the whole list is scanned
  const deny = { action: 'delete', resource: 'tool:search' }
  const pick = (i) => agents[(i * 7919) % AGENTS]
  const cases = [
    ['authorizeByToken allowed', (i) => kavach.authorizeByToken(pick(i).token, allow), true],
    ['authorizeByToken denied', (i) => kavach.authorizeByToken(pick(i).token, deny), false],
    ['authorize allowed', (i) => kavach.authorize(pick(i).id, allow), true],
    ['authorize denied', (i) => kavach.authorize(pick(i).id, deny), false],
  ]
  let audited = 0
  for (const [name, fn, expect] of cases) {
    const check = async (i) => {
      const d = await fn(i)
      if (d.allowed !== expect || !d.auditId) throw new Error(`${name}: unexpected ${JSON.stringify(d)}`)
    }
    const seqN = kind === 'sqlite-full' ? Math.min(SEQ, 1000) : SEQ
    await measure(500, 1, check)
    const seq = await measure(seqN, 1, check)
    await measure(500, 64, check)
    const x64 = await measure(X64, 64, check)
    audited += 1000 + seqN + X64
    const row = { db: kind, case: name, seqOps: seq.ops, seqP50: seq.p50, seqP99: seq.p99, x64Ops: x64.ops, x64P50: x64.p50, x64P99: x64.p99 }
    results.push(row)
    console.log(
      `${kind.padEnd(11)} ${name.padEnd(26)} seq ${String(seq.ops).padStart(6)}/s p50 ${seq.p50.toFixed(1).padStart(7)} µs p99 ${seq.p99.toFixed(1).padStart(7)} µs | x64 ${String(x64.ops).padStart(6)}/s p50 ${x64.p50.toFixed(0).padStart(6)} µs p99 ${x64.p99.toFixed(0).padStart(6)} µs`,
    )
  }
  const rows = await kavach.audit.query({ userId: 'bench', limit: 1 })
  // Every decision has its audit row: counted through the streamed export (past 100,000 rows the
  // string form is EXPORT_TOO_LARGE).
  let total = 0
  for await (const chunk of await kavach.audit.export({ format: 'csv', userId: 'bench', stream: true })) {
    for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) total++
  }
  total -= 1
  if (total !== audited || rows.length !== 1) throw new Error(`${kind}: expected ${audited} audit rows, found ${total}`)
  await kavach.close()
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`)
if (args.json) console.log(JSON.stringify(results))
