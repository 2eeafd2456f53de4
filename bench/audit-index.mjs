// What an audit index costs the insert path on SQLite (every allowed or denied authorize writes one
// audit row through the batcher): the same rows, inserted in batches of 64 in WAL mode, into a table
// with the shipped indexes (no time index, since 0022) plus nothing, (b) (created_at) as 0021 made,
// or (c) (created_at, id) as 0017 made. Uses better-sqlite3 so the figure is the database's cost
// alone; batching hides part of it: an inline authorize commits one row, so `bench/authorize.mjs
// --audit-index` shows the whole cost.
//
//   node bench/audit-index.mjs [--rows 200000] [--rounds 3]
import { mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import Database from 'better-sqlite3'

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []))
const ROWS = Number(args.rows ?? 200_000)
const ROUNDS = Number(args.rounds ?? 3)
const dir = join(tmpdir(), 'kavach-bench')
mkdirSync(dir, { recursive: true })

const TABLE = `CREATE TABLE kavach_audit_logs (id TEXT NOT NULL, agent_id TEXT NOT NULL, user_id TEXT NOT NULL, action TEXT NOT NULL,
  resource TEXT NOT NULL, parameters TEXT, result TEXT NOT NULL, code TEXT, reason TEXT, rate_key TEXT, ip TEXT,
  duration_us INTEGER NOT NULL, created_at INTEGER NOT NULL, delegation_chain TEXT);
CREATE INDEX kavach_audit_agent_time ON kavach_audit_logs (agent_id, created_at);
CREATE INDEX kavach_audit_rate ON kavach_audit_logs (agent_id, rate_key, created_at) WHERE rate_key IS NOT NULL;`
const VARIANTS = {
  'no time index': '',
  '(created_at)': 'CREATE INDEX t ON kavach_audit_logs (created_at);',
  '(created_at, id)': 'CREATE INDEX t ON kavach_audit_logs (created_at, id);',
}
const agents = Array.from({ length: 1000 }, () => randomUUID())
const rows = Array.from({ length: ROWS }, (_, i) => [randomUUID(), agents[i % 1000], 'owner', 'run', 'tool:calc', null, 'allowed', null, null, null, null, 12, 1_760_000_000_000 + i])

const results = Object.fromEntries(Object.keys(VARIANTS).map((k) => [k, []]))
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, index] of Object.entries(VARIANTS)) {
    const file = join(dir, `audit-index-${process.pid}.db`)
    for (const s of ['', '-wal', '-shm']) rmSync(file + s, { force: true })
    const db = new Database(file)
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.exec(TABLE + index)
    const values = Array.from({ length: 64 }, () => '(?,?,?,?,?,?,?,?,?,?,?,?,?)').join(',')
    const insert = db.prepare(`INSERT INTO kavach_audit_logs (id, agent_id, user_id, action, resource, parameters, result, code, reason, rate_key, ip, duration_us, created_at) VALUES ${values}`)
    const t0 = process.hrtime.bigint()
    for (let i = 0; i + 64 <= ROWS; i += 64) insert.run(rows.slice(i, i + 64).flat())
    const us = Number(process.hrtime.bigint() - t0) / 1000 / (ROWS - (ROWS % 64))
    results[name].push(us)
    db.close()
    for (const s of ['', '-wal', '-shm']) rmSync(file + s, { force: true })
  }
}
for (const [name, list] of Object.entries(results)) {
  const sorted = [...list].sort((a, b) => a - b)
  console.log(`${name.padEnd(18)} median ${sorted[Math.floor(sorted.length / 2)].toFixed(2)} µs per row (rounds: ${list.map((v) => v.toFixed(2)).join(', ')})`)
}
