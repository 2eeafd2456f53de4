// Concurrent boots on one new SQLite file (issue 17, point 4): four Node processes call createKavach
// at the same moment on a fresh, empty file. Each must wait out the others' locks (creating the file,
// switching it to WAL, migrating) and boot, then sign up and authorize. 50 rounds, zero failures.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { freshDatabase, SECRET } from './helpers.mjs'

const ROUNDS = Number(process.env.KAVACH_BOOT_ROUNDS ?? 50)
const PROCESSES = 4
const index = fileURLToPath(new URL('../index.mjs', import.meta.url))

// Each child waits for a start time shared by all four, so that they open the file together.
const child = `
const { createKavach } = await import(${JSON.stringify(index)})
const [url, tag, startAt] = process.argv.slice(1)
while (Date.now() < Number(startAt)) await new Promise((r) => setTimeout(r, 1))
try {
  const kavach = await createKavach({ database: { provider: 'sqlite', url }, secret: ${JSON.stringify(SECRET)}, shareInstance: false, emailAndPassword: { enabled: true, pbkdf2Iterations: 1000 } })
  const up = await kavach.auth.signUp({ email: 'boot-' + tag + '@example.com', password: 'boot pw long enough' })
  if (!up.success) throw new Error('sign-up: ' + JSON.stringify(up.error))
  const agent = await kavach.agent.create({ ownerId: up.data.user.id, name: 'boot', type: 'autonomous', permissions: [{ resource: 'r:*', actions: ['read'] }] })
  const d = await kavach.authorize(agent.id, { action: 'read', resource: 'r:1' })
  if (!d.allowed) throw new Error('authorize: ' + d.code)
  await kavach.close()
  process.stdout.write('ok')
} catch (e) {
  process.stdout.write('FAIL ' + (e && e.code) + ': ' + (e && e.message))
  process.exitCode = 1
}
`

function run(url, tag, startAt) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', child, url, tag, String(startAt)], {
      env: { ...process.env, NODE_ENV: 'test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    p.stdout.on('data', (d) => (out += d))
    p.stderr.on('data', (d) => (out += d))
    p.on('close', (code) => resolve({ code, out }))
  })
}

describe('concurrent boots on one new SQLite file', () => {
  it(`${PROCESSES} processes boot at once on a fresh file, ${ROUNDS} rounds in a row, without a failure`, { timeout: 600_000 }, async () => {
    const failures = []
    const t0 = Date.now()
    let rounds = 0
    for (let round = 0; round < ROUNDS; round++, rounds++) {
      const { url } = freshDatabase('sqlite', 'boots')
      const startAt = Date.now() + 400
      const results = await Promise.all(Array.from({ length: PROCESSES }, (_, i) => run(url, `${round}-${i}`, startAt)))
      for (const [i, r] of results.entries()) if (r.code !== 0 || r.out !== 'ok') failures.push(`round ${round} process ${i}: exit ${r.code} ${r.out.trim().slice(0, 300)}`)
      for (const s of ['', '-wal', '-shm']) rmSync(url + s, { force: true })
      if (failures.length) break
    }
    const secs = (Date.now() - t0) / 1000
    console.log(`${rounds} rounds of ${PROCESSES} boots in ${secs.toFixed(1)} s`)
    assert.deepEqual(failures, [])
  })
})
