// Test databases for the JS suite: a fresh SQLite file, PostgreSQL database or MariaDB database per
// call, created through the servers' own command-line clients.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'

process.env.NODE_ENV ??= 'test'

export const SECRET = 'test-secret-test-secret-test-secret-0123'

/**
 * The `kavach-cli` binary that README's test command has just built from this checkout, passed in
 * `KAVACH_CLI` (scripts/test-all.sh sets it). Never searched for: a binary found in another folder, or
 * picked by its file time, may have been built from other source.
 */
export function builtCli() {
  const path = process.env.KAVACH_CLI
  if (!path) throw new Error('KAVACH_CLI is not set: run bash scripts/test-all.sh, or build the CLI (cargo build -p kavach-cli --release) and set KAVACH_CLI=target/release/kavach-cli')
  if (!existsSync(path)) throw new Error(`KAVACH_CLI=${path}: no such file`)
  return path
}

/** Backends to run: KAVACH_TEST_DBS=sqlite,postgres,mysql (default: all three). */
export function backends() {
  const wanted = (process.env.KAVACH_TEST_DBS || 'sqlite,postgres,mysql').split(',').map((s) => s.trim())
  return ['sqlite', 'postgres', 'mysql'].filter((b) => wanted.includes(b))
}

const PG_HOST = ['-h', '127.0.0.1', '-p', '5432', '-U', 'postgres']
const MY_HOST = ['-h', '127.0.0.1', '-P', '3306', '-u', 'root']

/** Creates an empty database and returns `{ provider, url }`. */
export function freshDatabase(backend, tag = 'js') {
  const name = `kj_${tag}_${randomBytes(5).toString('hex')}`
  if (backend === 'sqlite') {
    const dir = join(tmpdir(), 'kavach-js-tests')
    mkdirSync(dir, { recursive: true })
    return { provider: 'sqlite', url: join(dir, `${name}.db`) }
  }
  if (backend === 'postgres') {
    execFileSync('psql', [...PG_HOST, '-d', 'test', '-qc', `CREATE DATABASE ${name}`], { stdio: 'pipe' })
    return { provider: 'postgres', url: `postgres://postgres@127.0.0.1:5432/${name}` }
  }
  if (backend === 'mysql') {
    execFileSync('mysql', [...MY_HOST, '-e', `CREATE DATABASE ${name}`], { stdio: 'pipe' })
    return { provider: 'mysql', url: `mysql://root@127.0.0.1:3306/${name}` }
  }
  throw new Error(`unknown backend ${backend}`)
}

/** Runs SQL against a test database with the server's client; returns stdout rows (tab-separated). */
export function sql(database, statement) {
  if (database.provider === 'postgres') {
    const db = new URL(database.url).pathname.slice(1)
    return execFileSync('psql', [...PG_HOST, '-d', db, '-qAtc', statement], { encoding: 'utf8' }).trim()
  }
  if (database.provider === 'mysql') {
    const db = new URL(database.url).pathname.slice(1)
    return execFileSync('mysql', [...MY_HOST, '-N', '-B', db, '-e', statement], { encoding: 'utf8' }).trim()
  }
  // SQLite: Python's sqlite3 module (Node 20 has none built in).
  const script = 'import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nrows=c.execute(sys.argv[2]).fetchall()\nc.commit()\nprint("\\n".join("\\t".join(str(v) for v in r) for r in rows))'
  return execFileSync('python3', ['-c', script, database.url, statement], { encoding: 'utf8' }).trim()
}

/** A port on 127.0.0.1 where nothing listens (yet). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}
