// Several processes deciding on one SQLite file at once. On SQLite a decision is read and committed on
// the caller's thread in one deferred transaction when nothing else is being written; when another
// process commits between that read and the write, SQLite refuses the write (SQLITE_BUSY_SNAPSHOT)
// and the call takes the queued path instead. So an hourly limit counted across processes is exact,
// and every auditId a caller received is in the log.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createKavach } from '../index.mjs'
import { freshDatabase, sql, SECRET } from './helpers.mjs'

const PROCESSES = 4
const AGENTS = 40
const ROUNDS = 6
const LIMIT = 5
const index = fileURLToPath(new URL('../index.mjs', import.meta.url))

const child = `
const { createKavach } = await import(${JSON.stringify(index)})
const [url, agentsJson, free, startAt] = process.argv.slice(1)
const agents = JSON.parse(agentsJson)
const kavach = await createKavach({ database: { provider: 'sqlite', url }, secret: ${JSON.stringify(SECRET)}, shareInstance: false })
while (Date.now() < Number(startAt)) await new Promise((r) => setTimeout(r, 1))
const out = { allowed: {}, limited: 0, ids: [] }
// Every process walks the agents in the same order, so that they reach each limit together.
for (let r = 0; r < ${ROUNDS}; r++) {
  for (const id of agents) {
    const a = await kavach.authorize(id, { action: 'call', resource: 'search' })
    if (a.allowed) out.allowed[id] = (out.allowed[id] ?? 0) + 1
    else if (a.code === 'RATE_LIMITED') out.limited++
    else throw new Error('unexpected ' + JSON.stringify(a))
    out.ids.push(a.auditId)
    const b = await kavach.authorize(free, { action: 'read', resource: 'docs:' + r })
    if (!b.allowed) throw new Error('unexpected ' + JSON.stringify(b))
    out.ids.push(b.auditId)
  }
}
await kavach.close()
process.stdout.write(JSON.stringify(out))
`

function run(args) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', child, ...args], { env: { ...process.env, NODE_ENV: 'test' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    p.stdout.on('data', (d) => (out += d))
    p.stderr.on('data', (d) => (err += d))
    p.on('close', (code) => resolve({ code, out, err }))
  })
}

describe('several processes deciding on one SQLite file', () => {
  it(`${PROCESSES} processes reach ${AGENTS} hourly limits of ${LIMIT} together: each limit is exact and every auditId is logged`, { timeout: 120_000 }, async () => {
    const database = freshDatabase('sqlite', 'procs_rate')
    const kavach = await createKavach({ database, secret: SECRET, shareInstance: false, agents: { maxPerOwner: 100 } })
    const agents = []
    for (let i = 0; i < AGENTS; i++) {
      agents.push((await kavach.agent.create({ ownerId: 'owner-procs', name: `limited-${i}`, type: 'autonomous', permissions: [{ resource: 'search', actions: ['call'], constraints: { maxCallsPerHour: LIMIT } }] })).id)
    }
    const free = await kavach.agent.create({ ownerId: 'owner-procs', name: 'free', type: 'autonomous', permissions: [{ resource: 'docs:*', actions: ['read'] }] })
    await kavach.close()

    const startAt = Date.now() + 1500
    const results = await Promise.all(Array.from({ length: PROCESSES }, () => run([database.url, JSON.stringify(agents), free.id, String(startAt)])))
    for (const r of results) assert.equal(r.code, 0, r.err.slice(0, 500))
    const outs = results.map((r) => JSON.parse(r.out))
    for (const id of agents) {
      const per = outs.map((o) => o.allowed[id] ?? 0)
      assert.equal(per.reduce((a, b) => a + b, 0), LIMIT, `agent ${id} allowed ${per.join(' + ')} times across the processes`)
    }
    const calls = PROCESSES * ROUNDS * AGENTS
    assert.equal(outs.reduce((n, o) => n + o.limited, 0), calls - AGENTS * LIMIT)
    const ids = outs.flatMap((o) => o.ids)
    assert.equal(new Set(ids).size, 2 * calls)
    assert.equal(Number(sql(database, "SELECT COUNT(*) FROM kavach_audit_logs WHERE action = 'call' AND result = 'allowed'")), AGENTS * LIMIT)
    assert.equal(Number(sql(database, 'SELECT COUNT(*) FROM kavach_audit_logs')), 2 * calls)
    const logged = new Set(sql(database, 'SELECT id FROM kavach_audit_logs').split('\n'))
    assert.ok(ids.every((id) => logged.has(id)), 'an auditId a caller received is missing from the log')
  })
})
