// siwe() (Sign-In with Ethereum, EIP-4361) over real HTTP on SQLite, PostgreSQL and MariaDB: messages
// are built by npm `siwe` (SiweMessage.prepareMessage) and signed by npm `viem` accounts
// (EIP-191 personal_sign), as a browser wallet would. A good message signs the wallet in (or up) and
// a second sign-in reuses the user; a wrong signer, a reused nonce, a wrong domain, an expired
// message and a wrong chain are refused; nonces are stored hashed.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { SiweMessage } from 'siwe'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { backends, freshDatabase, sql, SECRET } from './helpers.mjs'
import { serve } from './http-server.mjs'
import { createKavachClient } from '../npm/client/index.mjs'
import { createKavach } from '../index.mjs'
import { admin, siwe } from '../plugins.mjs'

const DOMAIN = 'app.example.com'

const wallet = () => privateKeyToAccount(generatePrivateKey())

/** An EIP-4361 message text for `account` (over: SiweMessage fields to replace). */
function message(account, nonce, over = {}) {
  return new SiweMessage({
    domain: DOMAIN,
    address: account.address,
    statement: 'Sign in to the example app.',
    uri: `https://${DOMAIN}/login`,
    version: '1',
    chainId: 1,
    nonce,
    issuedAt: new Date().toISOString(),
    ...over,
  }).prepareMessage()
}

for (const backend of backends()) {
  describe(`siwe() on ${backend}`, () => {
    let t
    before(async () => {
      const database = freshDatabase(backend, 'siwe')
      const kavach = await createKavach({
        database,
        secret: SECRET,
        emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 },
        rateLimit: { enabled: false },
        plugins: [siwe({ domain: DOMAIN }), admin()],
      })
      const server = await serve(kavach)
      t = { database, kavach, server }
    })
    after(async () => {
      await t.server.close()
      await t.kavach.close()
    })

    const nonceFor = async (browser, account, chainId) => {
      const r = await browser.post('/auth/siwe/nonce', chainId === undefined ? { walletAddress: account.address } : { walletAddress: account.address, chainId })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.match(r.body.nonce, /^[A-Za-z0-9]{8,}$/)
      return r.body.nonce
    }

    it('signs a new wallet up with a session, and the same wallet in again as the same user', async () => {
      const account = wallet()
      const browser = t.server.client()
      const nonce = await nonceFor(browser, account)
      const text = message(account, nonce)
      const signature = await account.signMessage({ message: text })
      const r = await browser.post('/auth/siwe/verify', { message: text, signature, walletAddress: account.address, chainId: 1 })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.equal(r.body.success, true)
      assert.equal(r.body.user.walletAddress, account.address)
      assert.equal(r.body.user.chainId, 1)
      assert.equal(typeof r.body.token, 'string')
      assert.equal(browser.sessionToken(), r.body.token)
      const me = await browser.get('/auth/session')
      assert.equal(me.status, 200)
      assert.equal(me.body.user.id, r.body.user.id)
      assert.equal(me.body.user.email, `${account.address.toLowerCase()}@${DOMAIN}`)
      assert.equal(me.body.user.name, account.address)

      // A second sign-in (another browser, a fresh nonce): the same user, no second wallet row.
      const other = t.server.client()
      const nonce2 = await nonceFor(other, account)
      assert.notEqual(nonce2, nonce)
      const text2 = message(account, nonce2)
      const again = await other.post('/auth/siwe/verify', { message: text2, signature: await account.signMessage({ message: text2 }) })
      assert.equal(again.status, 200, JSON.stringify(again.body))
      assert.equal(again.body.user.id, r.body.user.id)
      const rows = sql(t.database, `SELECT address, chain_id FROM kavach_wallet_address WHERE user_id = '${r.body.user.id}'`)
      assert.equal(rows.replace(/[\s|]+/g, ' '), `${account.address} 1`)
      const acct = sql(t.database, `SELECT provider_account_id FROM kavach_account WHERE user_id = '${r.body.user.id}' AND provider_id = 'siwe'`)
      assert.equal(acct, `${account.address}:1`)
    })

    it('the nonce is stored only as a hash, and GET /auth/siwe/nonce works too', async () => {
      const account = wallet()
      const browser = t.server.client()
      const r = await browser.get(`/auth/siwe/nonce?walletAddress=${account.address}&chainId=5`)
      assert.equal(r.status, 200, JSON.stringify(r.body))
      const nonce = r.body.nonce
      const clear = sql(t.database, `SELECT COUNT(*) FROM kavach_one_time WHERE secret_hash LIKE '%${nonce}%' OR identifier LIKE '%${nonce}%' OR data LIKE '%${nonce}%'`)
      assert.equal(Number(clear), 0)
      const stored = sql(t.database, `SELECT COUNT(*) FROM kavach_one_time WHERE purpose = 'siwe' AND identifier LIKE '${account.address.toLowerCase()}:5:%'`)
      assert.equal(Number(stored), 1)
      // Another nonce for the same wallet (anyone may ask) does not void the first.
      const other = await t.server.client().post('/auth/siwe/nonce', { walletAddress: account.address, chainId: 5 })
      assert.equal(other.status, 200)
      assert.notEqual(other.body.nonce, nonce)
      // And the first signs in on chain 5.
      const text = message(account, nonce, { chainId: 5 })
      const ok = await browser.post('/auth/siwe/verify', { message: text, signature: await account.signMessage({ message: text }) })
      assert.equal(ok.status, 200, JSON.stringify(ok.body))
      assert.equal(ok.body.user.chainId, 5)
    })

    it('refuses a wrong signer, with no session, and the nonce still works for its wallet', async () => {
      const account = wallet()
      const browser = t.server.client()
      const nonce = await nonceFor(browser, account)
      const text = message(account, nonce)
      const r = await browser.post('/auth/siwe/verify', { message: text, signature: await wallet().signMessage({ message: text }) })
      assert.equal(r.status, 401, JSON.stringify(r.body))
      assert.equal(r.body.error.code, 'UNAUTHORIZED_INVALID_SIWE_SIGNATURE')
      assert.equal(browser.sessionToken(), undefined)
      const garbage = await browser.post('/auth/siwe/verify', { message: text, signature: '0x1234' })
      assert.equal(garbage.status, 401)
      const good = await browser.post('/auth/siwe/verify', { message: text, signature: await account.signMessage({ message: text }) })
      assert.equal(good.status, 200, JSON.stringify(good.body))
    })

    it('accepts EIP-4361\'s optional https:// scheme before the domain; refuses another scheme', async () => {
      const account = wallet()
      const browser = t.server.client()
      const text = message(account, await nonceFor(browser, account), { scheme: 'https' })
      assert.ok(text.startsWith(`https://${DOMAIN} wants you`))
      const r = await browser.post('/auth/siwe/verify', { message: text, signature: await account.signMessage({ message: text }) })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      const ftp = message(account, await nonceFor(browser, account), { scheme: 'ftp' })
      const f = await t.server.client().post('/auth/siwe/verify', { message: ftp, signature: await account.signMessage({ message: ftp }) })
      assert.equal(f.status, 401)
      assert.equal(f.body.error.code, 'UNAUTHORIZED_SIWE_MESSAGE_MISMATCH')
    })

    it('refuses a reused nonce', async () => {
      const account = wallet()
      const browser = t.server.client()
      const nonce = await nonceFor(browser, account)
      const text = message(account, nonce)
      const signature = await account.signMessage({ message: text })
      const first = await browser.post('/auth/siwe/verify', { message: text, signature })
      assert.equal(first.status, 200, JSON.stringify(first.body))
      const replay = t.server.client()
      const second = await replay.post('/auth/siwe/verify', { message: text, signature })
      assert.equal(second.status, 401, JSON.stringify(second.body))
      assert.equal(second.body.error.code, 'UNAUTHORIZED_INVALID_OR_EXPIRED_NONCE')
      assert.equal(replay.sessionToken(), undefined)
      // A nonce never issued is refused the same way.
      const made = message(account, 'madeUpNonce12345')
      const third = await replay.post('/auth/siwe/verify', { message: made, signature: await account.signMessage({ message: made }) })
      assert.equal(third.status, 401)
      assert.equal(third.body.error.code, 'UNAUTHORIZED_INVALID_OR_EXPIRED_NONCE')
    })

    it('concurrent verifies of one signed message make exactly one session', async () => {
      const account = wallet()
      const nonce = await nonceFor(t.server.client(), account)
      const text = message(account, nonce)
      const signature = await account.signMessage({ message: text })
      const answers = await Promise.all(Array.from({ length: 6 }, () => t.server.client().post('/auth/siwe/verify', { message: text, signature })))
      assert.equal(answers.filter((a) => a.status === 200).length, 1, JSON.stringify(answers.map((a) => a.status)))
      assert.ok(answers.every((a) => a.status === 200 || a.status === 401))
    })

    for (const [what, over, code] of [
      ['a wrong domain', { domain: 'evil.example.com' }, 'UNAUTHORIZED_SIWE_MESSAGE_MISMATCH'],
      ['a URI on another site', { uri: 'https://evil.example.com/login' }, 'UNAUTHORIZED_SIWE_MESSAGE_MISMATCH'],
      ['an expired message', { issuedAt: new Date(Date.now() - 120_000).toISOString(), expirationTime: new Date(Date.now() - 60_000).toISOString() }, 'UNAUTHORIZED_SIWE_MESSAGE_EXPIRED'],
      ['a message not valid yet', { notBefore: new Date(Date.now() + 600_000).toISOString() }, 'UNAUTHORIZED_SIWE_MESSAGE_NOT_YET_VALID'],
      ['a message issued in the future', { issuedAt: new Date(Date.now() + 600_000).toISOString() }, 'UNAUTHORIZED_SIWE_MESSAGE_MISMATCH'],
      ['a chain the nonce was not issued for', { chainId: 137 }, 'UNAUTHORIZED_INVALID_OR_EXPIRED_NONCE'],
    ]) {
      it(`refuses ${what}, with no session`, async () => {
        const account = wallet()
        const browser = t.server.client()
        const nonce = await nonceFor(browser, account, 1)
        const text = message(account, nonce, over)
        const r = await browser.post('/auth/siwe/verify', { message: text, signature: await account.signMessage({ message: text }) })
        assert.equal(r.status, 401, JSON.stringify(r.body))
        assert.equal(r.body.error.code, code)
        assert.equal(browser.sessionToken(), undefined)
      })
    }

    it('refuses a body chainId or walletAddress other than the message\'s, and a malformed message', async () => {
      const account = wallet()
      const browser = t.server.client()
      const nonce = await nonceFor(browser, account)
      const text = message(account, nonce)
      const signature = await account.signMessage({ message: text })
      const chain = await browser.post('/auth/siwe/verify', { message: text, signature, chainId: 10 })
      assert.equal(chain.status, 401)
      assert.equal(chain.body.error.code, 'UNAUTHORIZED_SIWE_MESSAGE_MISMATCH')
      const addr = await browser.post('/auth/siwe/verify', { message: text, signature, walletAddress: wallet().address })
      assert.equal(addr.status, 401)
      assert.equal(addr.body.error.code, 'UNAUTHORIZED_SIWE_MESSAGE_MISMATCH')
      const junk = await browser.post('/auth/siwe/verify', { message: 'hello', signature })
      assert.equal(junk.status, 401)
      const nonceBad = await browser.post('/auth/siwe/nonce', { walletAddress: '0x1234' })
      assert.equal(nonceBad.status, 400)
      assert.equal(nonceBad.body.error.code, 'VALIDATION_FAILED')
      const noSig = await browser.post('/auth/siwe/verify', { message: text })
      assert.equal(noSig.status, 400)
      assert.equal(noSig.body.error.code, 'VALIDATION_FAILED')
    })

    const signIn = async (account, chainId = 1) => {
      const browser = t.server.client()
      const text = message(account, await nonceFor(browser, account, chainId), { chainId })
      const r = await browser.post('/auth/siwe/verify', { message: text, signature: await account.signMessage({ message: text }) })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      return r.body.user
    }

    it('the same address on another chain is the same user, with a second (not primary) wallet row', async () => {
      const account = wallet()
      const first = await signIn(account, 1)
      const second = await signIn(account, 10)
      assert.equal(second.id, first.id)
      assert.equal(second.chainId, 10)
      const t1 = backend === 'postgres' ? 'TRUE' : '1'
      const rows = sql(t.database, `SELECT chain_id FROM kavach_wallet_address WHERE user_id = '${first.id}' AND is_primary = ${t1}`)
      assert.equal(rows, '1')
      const count = sql(t.database, `SELECT COUNT(*) FROM kavach_wallet_address WHERE user_id = '${first.id}'`)
      assert.equal(Number(count), 2)
    })

    it('removing the user removes its wallets; the wallet then signs up as a new user', async () => {
      const account = wallet()
      const first = await signIn(account)
      assert.deepEqual(await t.kavach.admin.removeUser(first.id), { success: true, data: undefined })
      const left = sql(t.database, `SELECT COUNT(*) FROM kavach_wallet_address WHERE address = '${account.address}'`)
      assert.equal(Number(left), 0)
      const again = await signIn(account)
      assert.notEqual(again.id, first.id)
    })

    it('a banned wallet user is refused', async () => {
      const account = wallet()
      const browser = t.server.client()
      let text = message(account, await nonceFor(browser, account))
      const r = await browser.post('/auth/siwe/verify', { message: text, signature: await account.signMessage({ message: text }) })
      assert.equal(r.status, 200)
      sql(t.database, `UPDATE kavach_user SET banned = ${backend === 'postgres' ? 'TRUE' : '1'} WHERE id = '${r.body.user.id}'`)
      const other = t.server.client()
      text = message(account, await nonceFor(other, account))
      const again = await other.post('/auth/siwe/verify', { message: text, signature: await account.signMessage({ message: text }) })
      assert.equal(again.status, 403, JSON.stringify(again.body))
      assert.equal(again.body.error.code, 'USER_BANNED')
      assert.equal(other.sessionToken(), undefined)
    })

    it('the client: siwe.nonce() and siwe.verify() as Results, then getSession', async () => {
      const account = wallet()
      const c = createKavachClient({ baseUrl: t.server.url })
      const n = await c.siwe.nonce({ walletAddress: account.address, chainId: 1 })
      assert.equal(n.success, true, JSON.stringify(n.error))
      const text = message(account, n.data.nonce)
      const v = await c.siwe.verify({ message: text, signature: await account.signMessage({ message: text }), walletAddress: account.address, chainId: 1 })
      assert.equal(v.success, true, JSON.stringify(v.error))
      assert.equal(v.data.user.walletAddress, account.address)
      const s = await c.auth.getSession()
      assert.equal(s.success, true)
      assert.equal(s.data.user.id, v.data.user.id)
      const bad = await c.siwe.verify({ message: text, signature: await account.signMessage({ message: text }) })
      assert.equal(bad.success, false)
      assert.equal(bad.error.code, 'UNAUTHORIZED_INVALID_OR_EXPIRED_NONCE')
    })
  })
}

describe('siwe() callbacks that throw', () => {
  it('a verifyMessage that throws refuses (401); an ensLookup that throws leaves the address as the name', async () => {
    const kavach = await createKavach({
      database: freshDatabase('sqlite', 'siwe-throw'),
      secret: SECRET,
      rateLimit: { enabled: false },
      plugins: [siwe({
        domain: DOMAIN,
        verifyMessage: async ({ signature }) => {
          if (signature !== '0xgood') throw new Error('malformed signature')
          return true
        },
        ensLookup: async () => { throw new Error('no ENS today') },
      })],
    })
    const server = await serve(kavach)
    try {
      const account = wallet()
      const b = server.client()
      const n = await b.post('/auth/siwe/nonce', { walletAddress: account.address })
      const text = message(account, n.body.nonce)
      const bad = await b.post('/auth/siwe/verify', { message: text, signature: '0xbad' })
      assert.equal(bad.status, 401, JSON.stringify(bad.body))
      assert.equal(bad.body.error.code, 'UNAUTHORIZED_INVALID_SIWE_SIGNATURE')
      const good = await b.post('/auth/siwe/verify', { message: text, signature: '0xgood' })
      assert.equal(good.status, 200, JSON.stringify(good.body))
      const me = await b.get('/auth/session')
      assert.equal(me.body.user.name, account.address)
    } finally {
      await server.close()
      await kavach.close()
    }
  })
})

describe('siwe() rate limit', () => {
  it('nonce and verify share the per-IP credential limit: 429 with Retry-After', async () => {
    const kavach = await createKavach({
      database: freshDatabase('sqlite', 'siwe-rl'),
      secret: SECRET,
      rateLimit: { maxCredentialRequestsPerIp: 3 },
      plugins: [siwe({ domain: DOMAIN })],
    })
    const server = await serve(kavach)
    try {
      const account = wallet()
      const b = server.client()
      const statuses = []
      for (let i = 0; i < 3; i++) statuses.push((await b.post('/auth/siwe/nonce', { walletAddress: account.address })).status)
      const nonce = await b.get(`/auth/siwe/nonce?walletAddress=${account.address}`)
      statuses.push(nonce.status)
      const text = message(account, 'abcdefgh12345678')
      const v = await b.post('/auth/siwe/verify', { message: text, signature: await account.signMessage({ message: text }) })
      statuses.push(v.status)
      assert.deepEqual(statuses, [200, 200, 200, 429, 429])
      assert.equal(v.body.error.code, 'RATE_LIMITED')
      assert.match(v.headers.get('retry-after'), /^\d+$/)
    } finally {
      await server.close()
      await kavach.close()
    }
  })
})

describe('siwe() options', () => {
  it('needs domain (CONFIG_INVALID at boot)', async () => {
    await assert.rejects(
      createKavach({ database: freshDatabase('sqlite', 'siwe-opt'), secret: SECRET, plugins: [siwe({})] }),
      (e) => e.code === 'CONFIG_INVALID' && /domain/.test(e.message),
    )
  })

  it('getNonce, verifyMessage and ensLookup overrides are awaited; emailDomainName and anonymous: false', async () => {
    const seen = { nonce: 0, verify: [] }
    const kavach = await createKavach({
      database: freshDatabase('sqlite', 'siwe-fns'),
      secret: SECRET,
      rateLimit: { enabled: false },
      plugins: [siwe({
        domain: DOMAIN,
        emailDomainName: 'wallets.example.org',
        anonymous: false,
        getNonce: async () => `customNonce${++seen.nonce}abc`,
        // Accepts only the signer it knows (as a smart-contract wallet's check would).
        verifyMessage: async (args) => {
          seen.verify.push(args)
          return args.signature === '0xcontract-ok'
        },
        ensLookup: async ({ walletAddress }) => ({ name: `ens-${walletAddress.slice(2, 6)}`, avatar: 'https://example.com/a.png' }),
      })],
    })
    const server = await serve(kavach)
    try {
      const account = wallet()
      const browser = server.client()
      const n = await browser.post('/auth/siwe/nonce', { walletAddress: account.address })
      assert.equal(n.body.nonce, 'customNonce1abc')
      const text = message(account, n.body.nonce)
      const noEmail = await browser.post('/auth/siwe/verify', { message: text, signature: '0xcontract-ok' })
      assert.equal(noEmail.status, 400)
      assert.equal(noEmail.body.error.code, 'VALIDATION_FAILED')
      const refused = await browser.post('/auth/siwe/verify', { message: text, signature: await account.signMessage({ message: text }), email: 'w@example.com' })
      assert.equal(refused.status, 401, 'verifyMessage decides, even over a good EOA signature')
      const r = await browser.post('/auth/siwe/verify', { message: text, signature: '0xcontract-ok', email: 'w@example.com' })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      const last = seen.verify.at(-1)
      assert.equal(last.address, account.address)
      assert.equal(last.chainId, 1)
      assert.equal(last.message, text)
      assert.equal(last.cacao.p.nonce, 'customNonce1abc')
      const me = await browser.get('/auth/session')
      assert.equal(me.body.user.email, 'w@example.com')
      assert.equal(me.body.user.name, `ens-${account.address.slice(2, 6)}`)
      assert.equal(me.body.user.image, 'https://example.com/a.png')

      // A second wallet naming a taken email gets the made-up one.
      const second = wallet()
      const n2 = await browser.post('/auth/siwe/nonce', { walletAddress: second.address })
      const text2 = message(second, n2.body.nonce)
      const b2 = server.client()
      const r2 = await b2.post('/auth/siwe/verify', { message: text2, signature: '0xcontract-ok', email: 'w@example.com' })
      assert.equal(r2.status, 200, JSON.stringify(r2.body))
      const me2 = await b2.get('/auth/session')
      assert.equal(me2.body.user.email, `${second.address.toLowerCase()}@wallets.example.org`)
    } finally {
      await server.close()
      await kavach.close()
    }
  })
})
