// Benchmark of `kavach-cli import better-auth`: N better-auth users (each with a credential account
// and a live session) generated into a source made by better-auth's own migrations, imported by the
// built CLI into the same database; rows/s and the CLI's peak memory (/usr/bin/time's max RSS), for
// two source sizes so that a flat memory line shows the import streams. A benchmark, not a test.
//
//   node bench/import.mjs [--db sqlite,postgres] [--users 100000] [--small 10000] [--cli path]
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { betterAuth } from 'better-auth'
import { organization } from 'better-auth/plugins'
import { getMigrations } from 'better-auth/db/migration'
import { hashPassword } from 'better-auth/crypto'
import Database from 'better-sqlite3'
import pg from 'pg'

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
)
const DBS = (args.db ?? 'sqlite,postgres').split(',')
const USERS = Number(args.users ?? 100000)
const SMALL = Number(args.small ?? 10000)
const root = fileURLToPath(new URL('..', import.meta.url))
// This checkout's release build (CARGO_TARGET_DIR when set, else ./target), or --cli: never a binary
// found elsewhere.
const cli = args.cli ?? join(process.env.CARGO_TARGET_DIR || join(root, 'target'), 'release', 'kavach-cli')
if (!existsSync(cli)) throw new Error(`no ${cli}: build it first (cargo build -p kavach-cli --release)`)
const dir = join(tmpdir(), 'kavach-bench')
mkdirSync(dir, { recursive: true })

async function source(kind, n) {
  const name = `kb_import_${n}_${randomBytes(3).toString('hex')}`
  let db, url
  if (kind === 'sqlite') {
    url = join(dir, `${name}.db`)
    for (const s of ['', '-wal', '-shm']) rmSync(url + s, { force: true })
    db = new Database(url)
  } else {
    execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-qc', `CREATE DATABASE ${name}`])
    url = `postgres://postgres@127.0.0.1:5432/${name}`
    db = new pg.Pool({ connectionString: url })
  }
  const options = { database: db, baseURL: 'http://localhost:3000', secret: 'bench-better-auth-secret-0123456789abc', emailAndPassword: { enabled: true }, plugins: [organization()] }
  await (await getMigrations(options)).runMigrations()
  betterAuth(options)
  const hash = await hashPassword('bench-password-1')
  const now = Date.now()
  const iso = new Date(now).toISOString()
  const later = new Date(now + 7 * 86400000).toISOString()
  if (kind === 'sqlite') {
    const u = db.prepare('INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt") VALUES (?, ?, ?, 1, NULL, ?, ?)')
    const a = db.prepare('INSERT INTO account (id, "accountId", "providerId", "userId", password, "createdAt", "updatedAt") VALUES (?, ?, \'credential\', ?, ?, ?, ?)')
    const s = db.prepare('INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") VALUES (?, ?, ?, ?, ?, \'\', \'\', ?)')
    db.transaction(() => {
      for (let i = 0; i < n; i++) {
        const id = `u${String(i).padStart(8, '0')}`
        u.run(id, `User ${i}`, `user${i}@example.com`, iso, iso)
        a.run(`a${id}`, id, id, hash, iso, iso)
        s.run(`s${id}`, later, `tok${id}${'x'.repeat(20)}`, iso, iso, id)
      }
    })()
    db.close()
  } else {
    await db.query(`INSERT INTO "user" (id, name, email, "emailVerified", "createdAt", "updatedAt")
      SELECT 'u' || lpad(i::text, 8, '0'), 'User ' || i, 'user' || i || '@example.com', true, now(), now() FROM generate_series(0, $1 - 1) i`, [n])
    await db.query(`INSERT INTO account (id, "accountId", "providerId", "userId", password, "createdAt", "updatedAt")
      SELECT 'au' || lpad(i::text, 8, '0'), 'u' || lpad(i::text, 8, '0'), 'credential', 'u' || lpad(i::text, 8, '0'), $2, now(), now() FROM generate_series(0, $1 - 1) i`, [n, hash])
    await db.query(`INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId")
      SELECT 'su' || lpad(i::text, 8, '0'), now() + interval '7 days', 'toku' || lpad(i::text, 8, '0') || repeat('x', 20), now(), now(), '', '', 'u' || lpad(i::text, 8, '0') FROM generate_series(0, $1 - 1) i`, [n])
    await db.end()
  }
  return url
}

/** One run of the CLI under /usr/bin/time: seconds, peak RSS in KiB, and the report. */
function runCli(url) {
  const started = process.hrtime.bigint()
  const out = execFileSync('sh', ['-c', `/usr/bin/time -v "$0" import better-auth --from "$1" 2>"$2.time" >"$2.out"; grep 'Maximum resident' "$2.time"; cat "$2.out"`, cli, url, join(dir, 'run')], { encoding: 'utf8', maxBuffer: 1 << 26 })
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const kb = Number(out.split('\n')[0].split(':').pop())
  const rows = [...out.matchAll(/^\w+:\s+\d+ read\s+(\d+) imported/gm)].reduce((sum, m) => sum + Number(m[1]), 0)
  return { seconds, kb, rows }
}

console.log(`| database | users | rows copied | seconds | rows/s | CLI peak RSS (MiB) | second run (s) |`)
console.log(`| --- | ---: | ---: | ---: | ---: | ---: | ---: |`)
for (const kind of DBS) {
  for (const n of [SMALL, USERS]) {
    const url = await source(kind, n)
    const first = runCli(url)
    const second = runCli(url)
    console.log(`| ${kind} | ${n.toLocaleString('en')} | ${first.rows.toLocaleString('en')} | ${first.seconds.toFixed(1)} | ${Math.round(first.rows / first.seconds).toLocaleString('en')} | ${(first.kb / 1024).toFixed(1)} | ${second.seconds.toFixed(1)} (${second.rows} written) |`)
    if (kind === 'sqlite') for (const s of ['', '-wal', '-shm']) rmSync(url + s, { force: true })
  }
}
