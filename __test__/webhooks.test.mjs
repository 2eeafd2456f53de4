// Webhooks, on every database, against a real node:http receiver on 127.0.0.1 that checks every
// signature (HMAC-SHA256 of "<X-Kavach-Timestamp>.<raw body>", compared with timingSafeEqual) and
// records the event ids it accepted: signed deliveries with the documented headers and body,
// retries after 500s, failed after the last retry and redeliver, delivery by the next process after
// a SIGKILL right after the change committed, two processes sharing one database delivering each
// event once, and a receiver down for 20 changes getting all 20 once it is back.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { createKavach, KavachError } from '../index.mjs'
import { backends, freePort, freshDatabase, sql, SECRET } from './helpers.mjs'

const CHILD = fileURLToPath(new URL('./fixtures/webhook-child.mjs', import.meta.url))
const WH_SECRET = 'whsec-test-0123456789-abcdef'
const WH_SECRET_2 = 'whsec-other-9876543210-zyxwvu'
const PASSWORD = 'Webhook test password'
const FAST = { initialMs: 50, maxMs: 200 }
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/

/** Polls `fn` until it returns something truthy; fails after `ms`. */
async function waitFor(what, fn, ms = 10_000, step = 25) {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(step)
  }
}

/** `sha256=<hex>` check of a delivery, as a receiver must do it. */
function signatureValid(secret, timestamp, rawBody, header) {
  if (typeof timestamp !== 'string' || !/^\d+$/.test(timestamp)) return false
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false
  const expected = Buffer.from(createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex'), 'utf8')
  const got = Buffer.from(header.slice('sha256='.length), 'utf8')
  return got.length === expected.length && timingSafeEqual(got, expected)
}

/**
 * A webhook receiver on 127.0.0.1 (`port` 0: any free one). `secrets` maps a path to its secret.
 * A request with a bad signature gets 401 and lands in `rejected`; the first `failFirst` good ones
 * get 500; the others 200 and land in `received`. `requests` holds every request.
 */
async function startReceiver({ port = 0, secrets, failFirst = 0, delayMs = 0 }) {
  const requests = []
  const received = []
  const rejected = []
  let failuresLeft = failFirst
  const server = createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', async () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      const path = new URL(req.url, 'http://receiver').pathname
      const timestamp = req.headers['x-kavach-timestamp']
      const valid = Boolean(secrets[path]) && signatureValid(secrets[path], timestamp, raw, req.headers['x-kavach-signature'])
      const entry = { path, id: req.headers['x-kavach-id'], event: req.headers['x-kavach-event'], timestamp, raw, headers: req.headers, valid, at: Date.now() }
      requests.push(entry)
      if (!valid) {
        rejected.push(entry)
        res.writeHead(401, { 'content-type': 'text/plain' }).end('bad signature')
        return
      }
      if (failuresLeft > 0) {
        failuresLeft--
        res.writeHead(500, { 'content-type': 'text/plain' }).end('try again later')
        return
      }
      if (delayMs) await sleep(delayMs)
      entry.body = JSON.parse(raw)
      received.push(entry)
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}')
    })
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  const actual = server.address().port
  return {
    port: actual,
    url: (path) => `http://127.0.0.1:${actual}${path}`,
    requests,
    received,
    rejected,
    /** How many accepted deliveries carried event `id`. */
    count: (id, path) => received.filter((r) => r.id === id && (path === undefined || r.path === path)).length,
    close: () =>
      new Promise((resolve) => {
        server.close(resolve)
        server.closeAllConnections()
      }),
  }
}

/** Starts the child fixture; `onLine(line, child)` runs synchronously on each stdout line. */
function startChild(cfg, onLine = () => {}) {
  const child = spawn(process.execPath, [CHILD, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'test' } })
  const lines = []
  let stderr = ''
  let buf = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk) => {
    buf += chunk
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      lines.push(line)
      onLine(line, child)
    }
  })
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  return {
    child,
    lines,
    exited,
    stderr: () => stderr,
    /** Waits for a line starting with `prefix`; fails on an ERROR line or after `ms`. */
    async line(prefix, ms = 30_000) {
      return waitFor(`the child to print ${prefix}`, () => {
        const err = lines.find((l) => l.startsWith('ERROR'))
        if (err) assert.fail(`child: ${err}\n${stderr}`)
        return lines.find((l) => l.startsWith(prefix))
      }, ms)
    },
  }
}

const open = (database, webhooks, extra = {}) =>
  createKavach({ database, secret: SECRET, emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 }, rateLimit: { enabled: false }, webhooks, ...extra })

/** The ids of `kavach_events`, read with the server's own client. */
const eventIds = (database) => sql(database, 'SELECT id FROM kavach_events').split('\n').map((s) => s.trim()).filter(Boolean)

for (const backend of backends()) {
  describe(`webhooks on ${backend}`, () => {
    it('delivers each subscribed event signed, with the documented headers and body; a bad signature is refused by the receiver', async () => {
      const rx = await startReceiver({ secrets: { '/all': WH_SECRET, '/agents': WH_SECRET_2 } })
      const database = freshDatabase(backend, 'whsign')
      const kavach = await open(database, [
        { url: rx.url('/all'), secret: WH_SECRET, events: ['*'], backoff: FAST },
        { url: rx.url('/agents'), secret: WH_SECRET_2, events: ['agent.created'], backoff: FAST },
      ])
      try {
        const up = await kavach.auth.signUp({ email: 'signed@example.com', password: PASSWORD })
        assert.equal(up.success, true)
        const agent = await kavach.agent.create({ ownerId: up.data.user.id, name: 'signed', type: 'autonomous', permissions: [{ resource: 'a:*', actions: ['read'] }] })
        const all = () => rx.received.filter((r) => r.path === '/all')
        await waitFor('user.created, auth.sign-up, session.created and agent.created on /all, agent.created on /agents', () =>
          ['user.created', 'auth.sign-up', 'session.created', 'agent.created'].every((e) => all().some((r) => r.event === e)) && rx.received.some((r) => r.path === '/agents'),
        )
        await sleep(1500) // anything sent twice would be here by now
        assert.deepEqual(rx.rejected, [], 'every delivery is signed with its webhook’s secret')
        const nowS = Date.now() / 1000
        for (const r of rx.received) {
          assert.match(r.id, /^evt_/)
          assert.deepEqual(Object.keys(r.body).sort(), ['data', 'event', 'id', 'timestamp'])
          assert.equal(r.body.id, r.id, 'X-Kavach-Id is the event id')
          assert.equal(r.body.event, r.event, 'X-Kavach-Event is the event name')
          assert.match(r.body.timestamp, ISO)
          assert.ok(Math.abs(Number(r.timestamp) - nowS) < 120, `X-Kavach-Timestamp ${r.timestamp} is Unix seconds of the attempt`)
          assert.match(r.headers['content-type'], /^application\/json/)
          for (const s of [up.data.token, agent.token, SECRET, WH_SECRET, WH_SECRET_2, PASSWORD, 'pbkdf2:']) {
            assert.ok(!r.raw.includes(s), `${r.event} carries no hash, token or secret`)
          }
          assert.doesNotMatch(r.raw, /kv_[A-Za-z0-9_-]{20,}/)
        }
        const ids = all().map((r) => r.id)
        assert.equal(new Set(ids).size, ids.length, 'each event once on /all')
        const userCreated = all().find((r) => r.event === 'user.created')
        assert.equal(userCreated.body.data.id, up.data.user.id)
        assert.equal(userCreated.body.data.email, 'signed@example.com')
        assert.match(userCreated.body.data.createdAt, ISO, 'times in data are ISO strings')
        assert.deepEqual(all().find((r) => r.event === 'auth.sign-up').body.data, { userId: up.data.user.id, email: 'signed@example.com' })
        assert.equal(all().find((r) => r.event === 'session.created').body.data.id, up.data.session.id)
        const agentEvent = all().find((r) => r.event === 'agent.created')
        assert.equal(agentEvent.body.data.id, agent.id)
        assert.equal('token' in agentEvent.body.data, false)
        const onAgents = rx.received.filter((r) => r.path === '/agents')
        assert.deepEqual(onAgents.map((r) => r.event), ['agent.created'], 'a webhook gets only the events it subscribed to')
        assert.equal(onAgents[0].id, agentEvent.id, 'one event, one id, whichever webhook it goes to')
        assert.equal(onAgents[0].raw, agentEvent.raw)

        // The receiver's own check refuses a tampered body and a wrong key.
        const sample = userCreated
        const forged = await fetch(rx.url('/all'), {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-kavach-id': sample.id, 'x-kavach-event': sample.event, 'x-kavach-timestamp': sample.timestamp, 'x-kavach-signature': sample.headers['x-kavach-signature'] },
          body: sample.raw.replace('signed@example.com', 'forged@example.com'),
        })
        assert.equal(forged.status, 401)
        const ts = String(Math.floor(Date.now() / 1000))
        const wrongKey = await fetch(rx.url('/all'), {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-kavach-timestamp': ts, 'x-kavach-signature': `sha256=${createHmac('sha256', 'not-the-webhook-secret').update(`${ts}.${sample.raw}`).digest('hex')}` },
          body: sample.raw,
        })
        assert.equal(wrongKey.status, 401)
        assert.equal(rx.rejected.length, 2)

        // The outbox as kavach.webhooks.deliveries() shows it.
        const list = await waitFor('every delivery recorded as delivered', async () => {
          const l = await kavach.webhooks.deliveries()
          return l.length === rx.received.length && l.every((d) => d.status === 'delivered') && l
        })
        for (const d of list) {
          assert.equal(typeof d.id, 'string')
          assert.ok([rx.url('/all'), rx.url('/agents')].includes(d.url))
          assert.equal(d.attempts, 1)
          assert.equal(d.lastStatus, 200)
          assert.equal(d.lastError, null)
          for (const k of ['createdAt', 'nextAttemptAt', 'deliveredAt']) assert.ok(d[k] instanceof Date, k)
          assert.equal(rx.count(d.eventId, new URL(d.url).pathname), 1)
          assert.equal(rx.received.find((r) => r.id === d.eventId).event, d.event)
        }
        for (let i = 1; i < list.length; i++) assert.ok(list[i - 1].createdAt >= list[i].createdAt, 'newest first')
        assert.deepEqual(await kavach.webhooks.deliveries({ status: 'failed' }), [])
        assert.deepEqual(await kavach.webhooks.deliveries({ status: 'pending' }), [])
        assert.equal((await kavach.webhooks.deliveries({ status: 'delivered' })).length, list.length)

        // redeliver sends one again, with the same event id.
        const d = list.find((x) => x.url === rx.url('/agents'))
        await kavach.webhooks.redeliver(d.id)
        await waitFor('the redelivery', () => rx.count(d.eventId, '/agents') === 2)
        const again = rx.received.filter((r) => r.path === '/agents')
        assert.equal(again[1].body.id, again[0].body.id)
        await waitFor('the redelivery recorded', async () => {
          const x = (await kavach.webhooks.deliveries()).find((y) => y.id === d.id)
          return x.status === 'delivered' && x.attempts === 1
        })
        await assert.rejects(kavach.webhooks.redeliver('whd_no_such_delivery_here'), (e) => e instanceof KavachError && e.code === 'NOT_FOUND')
      } finally {
        await kavach.close()
        await rx.close()
      }
    })

    it('retries after the receiver answers 500 twice: delivered on the third attempt', async () => {
      const rx = await startReceiver({ secrets: { '/h': WH_SECRET }, failFirst: 2 })
      const kavach = await open(freshDatabase(backend, 'whretry'), [{ url: rx.url('/h'), secret: WH_SECRET, events: ['user.created'], backoff: FAST }])
      try {
        const up = await kavach.auth.signUp({ email: 'retry@example.com', password: PASSWORD })
        assert.equal(up.success, true)
        const d = await waitFor('the delivery to succeed', async () => (await kavach.webhooks.deliveries()).find((x) => x.status === 'delivered'), 15_000)
        assert.equal(d.attempts, 3)
        assert.equal(d.lastStatus, 200)
        assert.equal(d.event, 'user.created')
        assert.ok(d.deliveredAt instanceof Date)
        assert.equal(rx.requests.length, 3, 'two 500s, then the 200')
        assert.ok(rx.requests.every((r) => r.valid), 'every attempt is signed')
        assert.ok(rx.requests.every((r) => r.id === d.eventId), 'the same event id on every retry')
        assert.ok(rx.requests.every((r) => JSON.parse(r.raw).id === d.eventId))
        assert.equal(rx.received.length, 1)
        assert.equal(rx.received[0].body.data.id, up.data.user.id)
        await sleep(1000)
        assert.equal(rx.requests.length, 3, 'nothing more once delivered')
      } finally {
        await kavach.close()
        await rx.close()
      }
    })

    it('a delivery is failed after its last retry, and redeliver sends it again', async () => {
      const port = await freePort()
      const url = `http://127.0.0.1:${port}/h`
      const kavach = await open(freshDatabase(backend, 'whfail'), [{ url, secret: WH_SECRET, events: ['user.created'], retries: 2, backoff: { initialMs: 50, maxMs: 100 } }])
      let rx
      try {
        const up = await kavach.auth.signUp({ email: 'failed@example.com', password: PASSWORD })
        const failed = await waitFor('the delivery to fail', async () => (await kavach.webhooks.deliveries({ status: 'failed' }))[0], 15_000)
        assert.equal(failed.attempts, 3, 'the first attempt and 2 retries')
        assert.equal(failed.lastStatus, null)
        assert.equal(typeof failed.lastError, 'string')
        assert.ok(!failed.lastError.includes(WH_SECRET))
        assert.equal(failed.deliveredAt, null)
        assert.equal(failed.url, url)
        rx = await startReceiver({ port, secrets: { '/h': WH_SECRET } })
        await sleep(300)
        assert.equal(rx.requests.length, 0, 'a failed delivery stays failed')
        await kavach.webhooks.redeliver(failed.id)
        await waitFor('the redelivery', () => rx.received.length === 1)
        assert.equal(rx.received[0].id, failed.eventId)
        assert.equal(rx.received[0].body.data.id, up.data.user.id)
        await waitFor('the delivery recorded', async () => (await kavach.webhooks.deliveries()).find((x) => x.id === failed.id && x.status === 'delivered'))
      } finally {
        await kavach.close()
        if (rx) await rx.close()
      }
    })

    it('a process SIGKILLed right after a change commits: the next process delivers that event exactly once', { timeout: 110_000 }, async (t) => {
      const database = freshDatabase(backend, 'whkill')
      const port = await freePort()
      const webhooks = [{ url: `http://127.0.0.1:${port}/h`, secret: WH_SECRET, events: ['user.created'], retries: 10, backoff: FAST }]
      let killedAt = 0
      const child = startChild({ mode: 'one', database, secret: SECRET, webhooks, email: 'crash@example.com' }, (line, proc) => {
        if (line.startsWith('DONE ') && !killedAt) {
          proc.kill('SIGKILL')
          killedAt = Date.now()
        }
      })
      let kavach
      let rx
      try {
        const done = await child.line('DONE ')
        const userId = done.slice('DONE '.length)
        const exit = await Promise.race([child.exited, sleep(10_000).then(() => null)])
        assert.ok(exit, 'the child died')
        assert.equal(exit.signal, 'SIGKILL', `child stderr: ${child.stderr()}`)
        assert.equal(sql(database, 'SELECT COUNT(*) FROM kavach_events'), '1', 'the change and its event committed')
        assert.equal(sql(database, "SELECT COUNT(*) FROM kavach_webhook_deliveries WHERE status = 'pending'"), '1')
        // If the kill landed mid-attempt, the dead process's lease (60 s by design) must expire first.
        const leased = sql(database, 'SELECT COUNT(*) FROM kavach_webhook_deliveries WHERE locked_by IS NOT NULL') === '1'
        const attemptsBefore = sql(database, 'SELECT attempts FROM kavach_webhook_deliveries')
        t.diagnostic(`killed ${Date.now() - killedAt} ms ago; attempts by the killed process: ${attemptsBefore}; lease left behind: ${leased}`)

        rx = await startReceiver({ port, secrets: { '/h': WH_SECRET } })
        kavach = await open(database, webhooks)
        const reopened = Date.now()
        await waitFor('the event from the killed process', () => rx.received.some((r) => r.body.data.id === userId), leased ? 80_000 : 20_000)
        t.diagnostic(`delivered ${Date.now() - reopened} ms after the next process opened`)
        const event = rx.received.find((r) => r.body.data.id === userId)
        assert.equal(event.event, 'user.created')
        assert.equal(event.body.data.email, 'crash@example.com')
        await sleep(2000)
        assert.equal(rx.count(event.id), 1, 'exactly once')
        assert.equal(rx.received.length, 1)
        assert.deepEqual(rx.rejected, [])
        await waitFor('the delivery recorded', async () => (await kavach.webhooks.deliveries()).some((d) => d.eventId === event.id && d.status === 'delivered'))
      } finally {
        if (child.child.exitCode === null && child.child.signalCode === null) child.child.kill('SIGKILL')
        if (kavach) await kavach.close()
        if (rx) await rx.close()
      }
    })

    if (backend !== 'sqlite') {
      it('two processes sharing the database, both with the webhook: each event arrives exactly once', { timeout: 90_000 }, async () => {
        const database = freshDatabase(backend, 'whtwo')
        // Migrate once before the two processes start.
        await (await createKavach({ database, secret: SECRET, shareInstance: false })).close()
        const rx = await startReceiver({ secrets: { '/h': WH_SECRET }, delayMs: 20 })
        const webhooks = [{ url: rx.url('/h'), secret: WH_SECRET, events: ['user.created', 'session.created'], backoff: FAST }]
        const PER_CHILD = 12
        const children = ['left', 'right'].map((tag) => startChild({ mode: 'many', database, secret: SECRET, webhooks, tag, count: PER_CHILD, parallel: 3 }))
        try {
          await Promise.all(children.map((c) => c.line('DONE ', 45_000)))
          const expected = eventIds(database)
          assert.equal(expected.length, 2 * 2 * PER_CHILD, 'user.created and session.created for each sign-up of both processes')
          await waitFor('every event at the receiver', () => expected.every((id) => rx.count(id) >= 1), 20_000)
          await sleep(2500) // more than two polls of each worker: a second send would be here
          const twice = expected.filter((id) => rx.count(id) !== 1)
          assert.deepEqual(twice.map((id) => [id, rx.count(id)]), [], 'each event id arrives exactly once')
          assert.equal(rx.received.length, expected.length, 'nothing else arrived')
          assert.deepEqual(rx.rejected, [])
          assert.equal(sql(database, "SELECT COUNT(*) FROM kavach_webhook_deliveries WHERE status = 'delivered'"), String(expected.length))
        } finally {
          for (const c of children) c.child.stdin.end()
          const exits = await Promise.race([Promise.all(children.map((c) => c.exited)), sleep(15_000).then(() => null)])
          if (!exits) for (const c of children) c.child.kill('SIGKILL')
          await rx.close()
        }
      })
    }

    it('with the receiver down for 20 changes, all 20 arrive once it is back, each exactly once', { timeout: 60_000 }, async () => {
      const port = await freePort()
      const webhooks = [{ url: `http://127.0.0.1:${port}/h`, secret: WH_SECRET, events: ['user.created'], retries: 10, backoff: { initialMs: 100, maxMs: 1000 } }]
      const database = freshDatabase(backend, 'whdown')
      const kavach = await open(database, webhooks)
      let rx
      try {
        const users = []
        for (let i = 0; i < 20; i++) {
          const up = await kavach.auth.signUp({ email: `down${i}@example.com`, password: PASSWORD })
          assert.equal(up.success, true)
          users.push(up.data.user.id)
        }
        // Every delivery was tried while the receiver was down, and is waiting for a retry.
        await waitFor('20 deliveries tried and pending', async () => {
          const pending = await kavach.webhooks.deliveries({ status: 'pending' })
          return pending.length === 20 && pending.every((d) => d.attempts >= 1 && typeof d.lastError === 'string' && d.lastStatus === null)
        }, 10_000)
        assert.deepEqual(await kavach.webhooks.deliveries({ status: 'delivered' }), [])

        rx = await startReceiver({ port, secrets: { '/h': WH_SECRET } })
        await waitFor('all 20 users at the receiver', () => users.every((id) => rx.received.some((r) => r.body.data.id === id)), 20_000)
        await sleep(2000)
        const ids = eventIds(database)
        assert.equal(ids.length, 20)
        assert.deepEqual(ids.filter((id) => rx.count(id) !== 1).map((id) => [id, rx.count(id)]), [], 'each exactly once')
        assert.equal(rx.received.length, 20)
        assert.deepEqual(rx.rejected, [])
        await waitFor('all 20 recorded as delivered', async () => (await kavach.webhooks.deliveries({ status: 'delivered' })).length === 20)
      } finally {
        await kavach.close()
        if (rx) await rx.close()
      }
    })
  })
}

describe('webhooks configuration', () => {
  const mem = { provider: 'sqlite', url: ':memory:' }
  it('refuses a short secret, an unknown event name and a non-http URL with CONFIG_INVALID', async () => {
    for (const hook of [
      { url: 'http://127.0.0.1:9/h', secret: 'short', events: ['*'] },
      { url: 'http://127.0.0.1:9/h', secret: WH_SECRET, events: ['user.exploded'] },
      { url: 'ftp://127.0.0.1/h', secret: WH_SECRET, events: ['*'] },
    ]) {
      await assert.rejects(createKavach({ database: mem, secret: SECRET, webhooks: [hook] }), (e) => e instanceof KavachError && e.code === 'CONFIG_INVALID', JSON.stringify(hook))
    }
  })
})
