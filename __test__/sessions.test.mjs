// Sessions across instances on one database (a Next.js app runs several workers): a sign-out or
// revoke through one holds for the very next lookup through another; and the in-process lookup
// slides the expiry like the HTTP one.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createKavach } from '../index.mjs'
import { backends, freshDatabase, SECRET } from './helpers.mjs'

for (const backend of backends()) {
  describe(`sessions across instances on ${backend}`, () => {
    const database = freshDatabase(backend, 'sessions')
    let a
    let b
    before(async () => {
      const config = { database, secret: SECRET, emailAndPassword: { enabled: true, pbkdf2Iterations: 2000 }, session: { expiresIn: 3600, updateAge: 1 } }
      a = await createKavach(config)
      b = await createKavach({ ...config, shareInstance: false }) // a second process, in effect
    })
    after(async () => {
      await a.close()
      await b.close()
    })

    it('a sign-out through one instance holds at once through the other', async () => {
      const up = await a.auth.signUp({ email: 'w@example.com', password: 'worker pw long' })
      const headers = new Headers({ cookie: `kavach_session=${up.data.token}` })
      assert.equal((await b.auth.getSession({ headers })).data.user.email, 'w@example.com')
      const signedOut = await a.auth.signOut({ headers })
      assert.deepEqual(signedOut, { success: true, data: true })
      assert.deepEqual(await b.auth.getSession({ headers }), { success: true, data: null })
      assert.deepEqual(await b.auth.getUser(new Request('http://x/', { headers })), { success: true, data: null })
    })

    it('the expiry slides in the database once updateAge has passed, even without a response', async () => {
      const r = await a.auth.signIn({ email: 'w@example.com', password: 'worker pw long' })
      const headers = new Headers({ authorization: `Bearer ${r.data.token}` })
      const first = (await b.auth.getSession({ headers })).data.session.expiresAt.getTime()
      await new Promise((res) => setTimeout(res, 1100))
      const second = (await b.auth.getSession({ headers })).data.session.expiresAt.getTime()
      assert.ok(second > first, `${second} > ${first}`)
      const third = (await a.auth.getSession({ headers })).data.session.expiresAt.getTime()
      assert.equal(third, second, 'the slid expiry is in the database, seen by every instance')
    })
  })
}
