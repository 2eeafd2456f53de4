// Issue 17, point 7: audit retention (`audit: { retentionDays }`) prunes old rows in the
// background, and `audit.export` caps its string form at 100,000 rows (EXPORT_TOO_LARGE) while
// `stream: true` (and GET /audit/export) stream every row with flat memory; on every database.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach } from '../index.mjs'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'

const DAY = 86_400_000
const PASSWORD = 'a long enough password'

/** `YYYY-MM-DD HH:MM:SS` in UTC, whole seconds. */
const utc = (ms) => new Date(ms - (ms % 1000)).toISOString().slice(0, 19).replace('T', ' ')

/**
 * Inserts `count` audit rows for `agentId`/`userId` in one statement, ids `${prefix}` + number; row n
 * is `(n div 3)` seconds before `baseMs` (three rows share each second, so paging must break ties
 * by id). Every third row is denied with a reason that needs CSV quoting.
 */
function bulkInsert(database, { count, agentId, userId, baseMs, prefix }) {
  const cols = 'id, agent_id, user_id, action, resource, parameters, result, code, reason, rate_key, ip, duration_us, created_at'
  const base = utc(baseMs)
  if (database.provider === 'postgres') {
    return sql(database, `INSERT INTO kavach_audit_logs (${cols}) SELECT '${prefix}' || lpad(n::text, 8, '0'), '${agentId}', '${userId}', 'read', 'docs:' || n, NULL,
      CASE WHEN n % 3 = 0 THEN 'denied' ELSE 'allowed' END, CASE WHEN n % 3 = 0 THEN 'NO_PERMISSION' END, CASE WHEN n % 3 = 0 THEN 'say "no", then stop' END, NULL, '10.0.0.1', 12,
      (TIMESTAMP '${base}' AT TIME ZONE 'UTC') - make_interval(secs => n / 3) FROM generate_series(1, ${count}) AS n`)
  }
  if (database.provider === 'mysql') {
    return sql(database, `INSERT INTO kavach_audit_logs (${cols}) SELECT CONCAT('${prefix}', LPAD(seq, 8, '0')), '${agentId}', '${userId}', 'read', CONCAT('docs:', seq), NULL,
      IF(seq % 3 = 0, 'denied', 'allowed'), IF(seq % 3 = 0, 'NO_PERMISSION', NULL), IF(seq % 3 = 0, 'say "no", then stop', NULL), NULL, '10.0.0.1', 12,
      TIMESTAMPADD(SECOND, -(seq DIV 3), '${base}') FROM seq_1_to_${count}`)
  }
  return sql(database, `INSERT INTO kavach_audit_logs (${cols}) WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ${count})
    SELECT '${prefix}' || printf('%08d', n), '${agentId}', '${userId}', 'read', 'docs:' || n, NULL,
      CASE WHEN n % 3 = 0 THEN 'denied' ELSE 'allowed' END, CASE WHEN n % 3 = 0 THEN 'NO_PERMISSION' END, CASE WHEN n % 3 = 0 THEN 'say "no", then stop' END, NULL, '10.0.0.1', 12,
      ${baseMs - (baseMs % 1000)} - (n / 3) * 1000 FROM s`)
}

const countRows = (database, where = '1 = 1') => Number(sql(database, `SELECT COUNT(*) FROM kavach_audit_logs WHERE ${where}`))

/** Reads a stream to its end, counting newline bytes and sampling memory after every chunk. */
async function drain(stream, { keep = false } = {}) {
  const start = process.memoryUsage()
  let peakHeap = start.heapUsed
  let peakRss = start.rss
  let newlines = 0
  let bytes = 0
  const parts = []
  const decoder = new TextDecoder()
  for await (const chunk of stream) {
    assert.ok(chunk instanceof Uint8Array)
    bytes += chunk.byteLength
    for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) newlines++
    if (keep) parts.push(decoder.decode(chunk, { stream: true }))
    const m = process.memoryUsage()
    if (m.heapUsed > peakHeap) peakHeap = m.heapUsed
    if (m.rss > peakRss) peakRss = m.rss
  }
  return { newlines, bytes, text: keep ? parts.join('') + decoder.decode() : undefined, heapGrowth: peakHeap - start.heapUsed, rssGrowth: peakRss - start.rss }
}

for (const backend of backends()) {
  describe(`audit retention and export on ${backend}`, () => {
    it('rejects a retentionDays that is not a whole positive number of days', async () => {
      const database = freshDatabase(backend, 'ret_cfg')
      for (const retentionDays of [0, -1, 1.5, '30', true, 36_501]) {
        await assert.rejects(createKavach({ database, secret: SECRET, audit: { retentionDays } }), { code: 'CONFIG_INVALID' }, String(retentionDays))
      }
      await assert.rejects(createKavach({ database, secret: SECRET, audit: { retention: 3 } }), { code: 'CONFIG_INVALID' })
    })

    it('retentionDays prunes older rows in the background soon after boot and keeps the rest', { timeout: 90_000 }, async () => {
      const database = freshDatabase(backend, 'ret')
      const plain = await createKavach({ database, secret: SECRET, shareInstance: false })
      const agent = await plain.agent.create({ ownerId: 'owner-r', name: 'r', type: 'service', permissions: [{ resource: 'docs:*', actions: ['read'] }] })
      for (let i = 0; i < 5; i++) await plain.authorize(agent.id, { action: 'read', resource: `docs:${i}` })
      const now = Date.now()
      // 2,500 rows 40 to 41 days old (several batches), 300 rows 29 days old (inside the retention).
      bulkInsert(database, { count: 2500, agentId: agent.id, userId: 'owner-r', baseMs: now - 40 * DAY, prefix: 'old_' })
      bulkInsert(database, { count: 300, agentId: agent.id, userId: 'owner-r', baseMs: now - 29 * DAY, prefix: 'mid_' })
      assert.equal(countRows(database), 2805)
      if (backend === 'sqlite') {
        // No index on created_at alone: it would cost every audited call a page in its commit.
        // The old rows sit after newer ones in rowid order, and retention still finds them all.
        const indexes = sql(database, "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'kavach_audit_logs' ORDER BY name)")
        assert.equal(indexes, 'kavach_audit_agent_time kavach_audit_rate')
      }
      await plain.close()

      const t0 = Date.now()
      const kept = await createKavach({ database, secret: SECRET, shareInstance: false, audit: { retentionDays: 30 } })
      const booted = Date.now() - t0
      try {
        // The pass runs after boot, never in it: right after boot the old rows are still there.
        assert.equal(countRows(database, "id LIKE 'old_%'"), 2500)
        const deadline = Date.now() + 30_000
        while (countRows(database, "id LIKE 'old_%'") > 0) {
          assert.ok(Date.now() < deadline, 'old rows still present 30 s after boot')
          await new Promise((r) => setTimeout(r, 250))
        }
        assert.equal(countRows(database, "id LIKE 'mid_%'"), 300)
        assert.equal(countRows(database), 305)
        // Recent decisions keep being written and read while retention runs.
        const d = await kept.authorize(agent.id, { action: 'read', resource: 'docs:after' })
        assert.equal(d.allowed, true)
        assert.equal((await kept.audit.query({ agentId: agent.id, limit: 10_000 })).length, 306)
        console.log(`# ${backend}: boot with retention ${booted} ms, 2,500 old rows pruned within ${Date.now() - t0} ms of boot start`)
      } finally {
        await kept.close()
      }
    })

    describe('export', () => {
      const database = freshDatabase(backend, 'exp')
      let kavach
      let cookie
      let agent
      let userId
      before(async () => {
        kavach = await createKavach({ database, secret: SECRET, shareInstance: false, emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 } })
        const r = await kavach.auth.signUp({ email: 'exporter@example.com', password: PASSWORD })
        assert.ok(r.data, JSON.stringify(r.error))
        userId = r.data.user.id
        cookie = `kavach_session=${r.data.token}`
        agent = await kavach.agent.create({ ownerId: userId, name: 'e', type: 'service', permissions: [{ resource: 'docs:*', actions: ['read'] }] })
      })
      after(() => kavach.close())

      it('string and stream forms give the same text, newest first; limit and offset apply', async () => {
        for (let i = 0; i < 4; i++) await kavach.authorize(agent.id, { action: i % 2 ? 'read' : 'write', resource: `docs:${i}`, arguments: { q: 'a,b "c"' } })
        const filter = { agentId: agent.id }
        for (const format of ['json', 'csv']) {
          const text = await kavach.audit.export({ ...filter, format })
          const streamed = (await drain(await kavach.audit.export({ ...filter, format, stream: true }), { keep: true })).text
          assert.equal(streamed, text, format)
        }
        const json = JSON.parse(await kavach.audit.export({ ...filter, format: 'json' }))
        assert.equal(json.length, 4)
        assert.deepEqual(json.map((e) => e.resource), ['docs:3', 'docs:2', 'docs:1', 'docs:0'])
        const page = JSON.parse((await drain(await kavach.audit.export({ ...filter, format: 'json', stream: true, limit: 2, offset: 1 }), { keep: true })).text)
        assert.deepEqual(page.map((e) => e.resource), ['docs:2', 'docs:1'])
        const none = (await drain(await kavach.audit.export({ agentId: 'no-such-agent', format: 'json', stream: true }), { keep: true })).text
        assert.deepEqual(JSON.parse(none), [])
        assert.equal(await kavach.audit.export({ agentId: 'no-such-agent', format: 'csv' }), 'id,agentId,userId,action,resource,result,code,reason,ip,durationMs,timestamp\n')
        await assert.rejects(kavach.audit.export({ format: 'xml', stream: true }), { code: 'VALIDATION_FAILED' })
        await assert.rejects(kavach.audit.export({ format: 'json', stream: true, result: 'maybe' }), { code: 'VALIDATION_FAILED' })
      })

      it('past 100,000 rows the string form is EXPORT_TOO_LARGE; the stream and GET /audit/export give every row in order', { timeout: 90_000 }, async () => {
        const n = 100_001
        bulkInsert(database, { count: n, agentId: agent.id, userId, baseMs: Date.now() - 1000, prefix: 'big_' })
        const filter = { agentId: agent.id, actions: ['read'], since: new Date(Date.now() - 365 * DAY) }
        await assert.rejects(kavach.audit.export({ ...filter, format: 'csv' }), { code: 'EXPORT_TOO_LARGE' })
        await assert.rejects(kavach.audit.export({ ...filter, format: 'json' }), { code: 'EXPORT_TOO_LARGE' })
        // Within the cap it is still a string.
        assert.equal((await kavach.audit.export({ ...filter, format: 'csv', limit: 100_000 })).split('\n').length, 100_002)

        const json = JSON.parse((await drain(await kavach.audit.export({ ...filter, format: 'json', stream: true }), { keep: true })).text)
        // The bulk rows plus the `read` decisions of the first test (if it ran).
        const reads = countRows(database, `agent_id = '${agent.id}' AND action = 'read'`)
        assert.ok(reads >= n)
        assert.equal(json.length, reads)
        const bulk = json.filter((e) => e.id.startsWith('big_'))
        assert.equal(bulk.length, n)
        assert.equal(new Set(bulk.map((e) => e.id)).size, n)
        // Newest first, ties on the timestamp broken by id descending.
        for (let i = 1; i < bulk.length; i++) {
          const [a, b] = [bulk[i - 1], bulk[i]]
          assert.ok(a.timestamp > b.timestamp || (a.timestamp === b.timestamp && a.id > b.id), `${a.id} before ${b.id}`)
        }
        // Rows 1 and 2 share the newest second: the larger id comes first.
        assert.equal(bulk[0].id, 'big_00000002')
        assert.equal(bulk.find((e) => e.result === 'denied').reason, 'say "no", then stop')

        const res = await kavach.handler(new Request(`http://localhost:3000/api/kavach/audit/export?format=csv&agentId=${agent.id}&actions=read`, { headers: { cookie } }))
        assert.equal(res.status, 200)
        assert.match(res.headers.get('content-type'), /text\/csv/)
        assert.match(res.headers.get('content-disposition'), /kavach-audit\.csv/)
        const csv = (await drain(res.body, { keep: true })).text
        const lines = csv.trimEnd().split('\n')
        assert.equal(lines.length, 1 + reads)
        assert.equal(lines[0], 'id,agentId,userId,action,resource,result,code,reason,ip,durationMs,timestamp')
        assert.ok(lines.some((l) => l.includes(',"say ""no"", then stop",')))
        // The owner's export without an agentId pages on another walk (on SQLite, the table by
        // rowid, newest written first): still every row exactly once across its 100-odd pages.
        const mine = await kavach.handler(new Request('http://localhost:3000/api/kavach/audit/export?format=csv&actions=read', { headers: { cookie } }))
        assert.equal(mine.status, 200)
        const mineLines = (await drain(mine.body, { keep: true })).text.trimEnd().split('\n')
        const ids = mineLines.slice(1).map((l) => l.slice(0, l.indexOf(',')))
        assert.equal(ids.length, reads)
        assert.deepEqual(new Set(ids), new Set(lines.slice(1).map((l) => l.slice(0, l.indexOf(',')))))
        // Another user's export has none of these rows; no session is 401.
        const other = await kavach.auth.signUp({ email: 'other@example.com', password: PASSWORD })
        const theirs = await kavach.handler(new Request('http://localhost:3000/api/kavach/audit/export?format=json', { headers: { cookie: `kavach_session=${other.data.token}` } }))
        assert.deepEqual(await theirs.json(), [])
        const anon = await kavach.handler(new Request('http://localhost:3000/api/kavach/audit/export'))
        assert.equal(anon.status, 401)
        const bad = await kavach.handler(new Request('http://localhost:3000/api/kavach/audit/export?format=xml', { headers: { cookie } }))
        assert.equal(bad.status, 400)
        sql(database, "DELETE FROM kavach_audit_logs WHERE id LIKE 'big_%'")
      })

      it('streams 1,000,000 rows with flat memory (fewer on MariaDB)', { timeout: 90_000 }, async () => {
        const n = backend === 'mysql' ? 250_000 : 1_000_000
        let t = Date.now()
        bulkInsert(database, { count: n, agentId: 'agent-million', userId: 'user-million', baseMs: Date.now() - 1000, prefix: 'm_' })
        const inserted = Date.now() - t
        global.gc?.()
        t = Date.now()
        const out = await drain(await kavach.audit.export({ agentId: 'agent-million', format: 'csv', stream: true }))
        const took = Date.now() - t
        assert.equal(out.newlines, n + 1)
        console.log(
          `# ${backend}: ${n} rows inserted in ${inserted} ms, streamed as CSV in ${took} ms (${(out.bytes / 1e6).toFixed(0)} MB); ` +
            `heap growth ${(out.heapGrowth / 1e6).toFixed(1)} MB, RSS growth ${(out.rssGrowth / 1e6).toFixed(1)} MB`,
        )
        assert.ok(out.heapGrowth < 50e6, `heapUsed grew by ${out.heapGrowth} bytes`)
        assert.ok(out.rssGrowth < 100e6, `RSS grew by ${out.rssGrowth} bytes`)
        sql(database, "DELETE FROM kavach_audit_logs WHERE id LIKE 'm_%'")
      })
    })
  })
}
