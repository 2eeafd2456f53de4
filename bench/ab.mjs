// Paired A/B of the inline hot path between two (or more) checkouts, in one process: each checkout's
// index.mjs is loaded (each with its own built addon), each gets its own SQLite file and 200 agents,
// and blocks of 4,000 sequential calls alternate between them, so that both see the same machine at
// the same moments. Prints, per checkout, the median over the rounds of each block's p50. A
// benchmark, not a test.
//
//   node bench/ab.mjs <checkout> <checkout> [...]   (ROUNDS=20 to change the 12 rounds)
//   e.g. git worktree add /tmp/base <commit> && (cd /tmp/base && npm run build) && node bench/ab.mjs /tmp/base .
import { mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const repos = process.argv.slice(2).map((r) => resolve(r))
if (repos.length < 2) throw new Error('usage: node bench/ab.mjs <checkout> <checkout> [...]')
const SECRET = 'bench-secret-bench-secret-bench-secret-00'
const perms = [
  { resource: 'tool:calc', actions: ['run'] },
  { resource: 'tool:files:*', actions: ['read'] },
  { resource: 'mcp:slack:*', actions: ['post'] },
  { resource: 'mcp:github:*', actions: ['read', 'list'] },
  { resource: 'tool:search', actions: ['run'] },
]
const dir = join(tmpdir(), 'kavach-bench')
mkdirSync(dir, { recursive: true })
const subjects = []
for (const [i, repo] of repos.entries()) {
  const { createKavach } = await import(pathToFileURL(join(repo, 'index.mjs')).href)
  const url = join(dir, `ab_${process.pid}_${i}.db`)
  for (const s of ['', '-wal', '-shm']) rmSync(url + s, { force: true })
  const k = await createKavach({ database: { provider: 'sqlite', url }, secret: SECRET, shareInstance: false, agents: { maxPerOwner: 1000 } })
  const agents = []
  for (let j = 0; j < 200; j++) agents.push(await k.agent.create({ ownerId: 'bench', name: `a${j}`, type: 'autonomous', permissions: perms }))
  subjects.push({ repo, url, k, agents, p50: { id: [], token: [] } })
}
const allow = { action: 'run', resource: 'tool:search' }
async function block(s, kind, n) {
  const lat = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const a = s.agents[(i * 7919) % s.agents.length]
    const t = process.hrtime.bigint()
    const d = kind === 'id' ? await s.k.authorize(a.id, allow) : await s.k.authorizeByToken(a.token, allow)
    lat[i] = Number(process.hrtime.bigint() - t) / 1000
    if (!d.allowed || !d.auditId) throw new Error(`${s.repo}: unexpected ${JSON.stringify(d)}`)
  }
  lat.sort()
  return lat[n >> 1]
}
for (const s of subjects) {
  await block(s, 'id', 3000)
  await block(s, 'token', 3000)
}
const ROUNDS = Number(process.env.ROUNDS ?? 12)
for (let r = 0; r < ROUNDS; r++) {
  for (const s of r % 2 ? [...subjects].reverse() : subjects) {
    s.p50.id.push(await block(s, 'id', 4000))
    s.p50.token.push(await block(s, 'token', 4000))
  }
}
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1]
for (const s of subjects) {
  console.log(`${s.repo}: authorize allowed p50 ${median(s.p50.id).toFixed(2)} µs, authorizeByToken allowed p50 ${median(s.p50.token).toFixed(2)} µs (median of ${ROUNDS} blocks)`)
  await s.k.close()
  for (const x of ['', '-wal', '-shm']) rmSync(s.url + x, { force: true })
}
