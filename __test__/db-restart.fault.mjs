// Database faults: PostgreSQL stopped and started (a fast shutdown terminates every connection with
// 57P01) and MariaDB killed (SIGKILL: its sockets just break) and started, through
// scripts/services.sh, under 64 calls in flight from one instance. Every failure while the server is
// down is DB_UNAVAILABLE (HTTP 503 through kavach.handler), no call hangs, the same instance serves
// again afterwards, and every auditId a caller received is in the audit table.
//
// It stops shared servers, so it is not a *.test.mjs file: `npm test` leaves it out and
// scripts/test-all.sh runs it on its own after `npm test` (`npm run test:faults`).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { createKavach } from '../index.mjs'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'

const run = promisify(execFile)
const SERVICES = fileURLToPath(new URL('../scripts/services.sh', import.meta.url))
const services = (...args) => run('bash', [SERVICES, ...args], { timeout: 120_000 })

const IN_FLIGHT = 64
const ACQUIRE_TIMEOUT_S = 3
// No call may take longer than this, outage or not: each of its (at most three) waits for a
// connection gives up after ACQUIRE_TIMEOUT_S.
const CALL_BOUND_MS = 3 * ACQUIRE_TIMEOUT_S * 1000 + 3000
const DOWN_MS = 2500
const ORIGIN = 'http://127.0.0.1:4321'

const servers = { postgres: { down: ['stop', 'postgres'], up: ['start', 'postgres'] }, mysql: { down: ['kill', 'mariadb'], up: ['start', 'mariadb'] } }

for (const backend of backends().filter((b) => b in servers)) {
  describe(`database restart under load on ${backend}`, () => {
    it(`${IN_FLIGHT} calls in flight across the outage: DB_UNAVAILABLE only, bounded, recovered, no audit row lost`, { timeout: 110_000 }, async () => {
      const database = freshDatabase(backend, 'fault')
      const kavach = await createKavach({
        database: { ...database, pool: { acquireTimeout: ACQUIRE_TIMEOUT_S } },
        secret: SECRET,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
      })
      try {
        const agent = await kavach.agent.create({ ownerId: 'owner-fault', name: 'bot', type: 'autonomous', permissions: [{ resource: 'docs:*', actions: ['read'] }] })
        const up = await kavach.auth.signUp({ email: 'fault@example.com', password: 'fault pw long enough' })
        const cookie = `kavach_session=${up.data.token}`
        const headers = new Headers({ cookie })

        const auditIds = []
        const failures = [] // { code, status?, via }
        const wrongAnswers = [] // a call that answered, but not what it should
        let slowest = 0
        let calls = 0
        // One call of kind i % 5: authorize by id, by token, getSession, and the same over HTTP.
        const call = async (i) => {
          switch (i % 5) {
            case 0: {
              const d = await kavach.authorize(agent.id, { action: 'read', resource: `docs:${i}` })
              assert.equal(d.allowed, true)
              auditIds.push(d.auditId)
              return
            }
            case 1: {
              const d = await kavach.authorizeByToken(agent.token, { action: 'read', resource: `docs:${i}` })
              assert.equal(d.allowed, true)
              auditIds.push(d.auditId)
              return
            }
            case 2: {
              // auth.* answers a Result rather than throwing.
              const s = await kavach.auth.getSession({ headers })
              if (!s.success) throw Object.assign(new Error(s.error.message), { code: s.error.code, via: 'result' })
              assert.equal(s.data?.user.email, 'fault@example.com')
              return
            }
            case 3: {
              const res = await kavach.handler(new Request(`${ORIGIN}/api/kavach/authorize/token`, {
                method: 'POST',
                headers: { authorization: `Bearer ${agent.token}`, 'content-type': 'application/json' },
                body: JSON.stringify({ action: 'read', resource: `docs:${i}` }),
              }))
              const body = await res.json()
              if (res.status !== 200) throw Object.assign(new Error(body.error?.message), { code: body.error?.code, status: res.status, via: 'http' })
              assert.equal(body.allowed, true)
              auditIds.push(body.auditId)
              return
            }
            default: {
              const res = await kavach.handler(new Request(`${ORIGIN}/api/kavach/auth/session`, { headers: { cookie } }))
              const body = await res.json()
              if (res.status !== 200) throw Object.assign(new Error(body.error?.message), { code: body.error?.code, status: res.status, via: 'http' })
              assert.equal(body.user.email, 'fault@example.com')
            }
          }
        }
        let stop = false
        const worker = async (w) => {
          for (let n = 0; !stop; n++) {
            const i = w + n * IN_FLIGHT
            const t0 = performance.now()
            try {
              await call(i)
            } catch (e) {
              if (e instanceof assert.AssertionError) {
                wrongAnswers.push(e.message)
                continue
              }
              failures.push({ code: e.code, status: e.status, via: e.via ?? 'throw', message: e.message })
              // Failing fast while the server is down: do not spin the CPU the restart needs.
              await new Promise((r) => setTimeout(r, 20))
            } finally {
              slowest = Math.max(slowest, performance.now() - t0)
              calls++
            }
          }
        }

        const load = Array.from({ length: IN_FLIGHT }, (_, w) => worker(w))
        let downAt, upAt, stoppedMs, startedMs
        try {
          await new Promise((r) => setTimeout(r, 500))
          const before = { calls, ids: auditIds.length }
          assert.ok(before.ids > 0, 'calls succeed before the outage')
          downAt = performance.now()
          await services(...servers[backend].down)
          stoppedMs = performance.now() - downAt
          await new Promise((r) => setTimeout(r, DOWN_MS))
        } finally {
          const t = performance.now()
          await services(...servers[backend].up)
          upAt = performance.now()
          startedMs = upAt - t
        }
        // Recovery: the same instance serves again, without a restart, within a bounded time.
        const failedBefore = failures.length
        const idsAtUp = auditIds.length
        const deadline = performance.now() + 20_000
        while (auditIds.length < idsAtUp + 4 * IN_FLIGHT && performance.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50))
        }
        const recoveredMs = performance.now() - upAt
        stop = true
        await Promise.all(load)

        assert.deepEqual(wrongAnswers.slice(0, 5), [])
        assert.ok(failedBefore > 0, 'the outage was observed by calls in flight')
        const wrong = failures.filter((f) => f.code !== 'DB_UNAVAILABLE' || (f.via === 'http' && f.status !== 503))
        assert.deepEqual(wrong.slice(0, 5), [], `every failure is DB_UNAVAILABLE (HTTP 503); ${wrong.length} of ${failures.length} are not`)
        assert.ok(slowest < CALL_BOUND_MS, `the slowest call took ${Math.round(slowest)} ms`)
        assert.ok(auditIds.length >= idsAtUp + 4 * IN_FLIGHT, `calls succeed again after the restart (${auditIds.length - idsAtUp} since)`)

        // A last burst of 64 in parallel all succeeds.
        await Promise.all(Array.from({ length: IN_FLIGHT }, (_, i) => call(i)))

        // Not one auditId a caller received is missing.
        const stored = new Set(sql(database, 'SELECT id FROM kavach_audit_logs').split('\n'))
        const missing = auditIds.filter((id) => !stored.has(id))
        assert.deepEqual(missing, [], `${missing.length} of ${auditIds.length} audit ids are missing`)

        const byVia = failures.reduce((m, f) => ({ ...m, [f.via]: (m[f.via] ?? 0) + 1 }), {})
        const causes = failures.reduce((m, f) => ({ ...m, [f.message]: (m[f.message] ?? 0) + 1 }), {})
        console.log(`# ${backend}: ${calls} calls, ${auditIds.length} audited, ${failures.length} failed ${JSON.stringify(byVia)} while down ` +
          `${Math.round(upAt - downAt)} ms (stopping took ${Math.round(stoppedMs)} ms, starting ${Math.round(startedMs)} ms); slowest call ${Math.round(slowest)} ms; ${IN_FLIGHT * 4} calls served ${Math.round(recoveredMs)} ms after the server was up; causes ${JSON.stringify(causes)}`)
      } finally {
        await kavach.close()
      }
    })
  })
}
