// @kavachos/client and @kavachos/react against a real server with every sign-in method of issue 15 on
// (magicLink, emailOTP, username, phoneNumber, anonymous, apiKey): each client method is a Result that
// ends in the same session as email and password, and useSignIn's factors call them.
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { dom } from './jsdom-env.mjs'
import { backends } from './helpers.mjs'
import { startServer, MOUNT } from './client-server.mjs'
import { createKavachClient } from '../npm/client/index.mjs'
import { magicLink, emailOTP, username, phoneNumber, anonymous, apiKey } from '../plugins.mjs'

const React = (await import('react')).default
const { render, screen, waitFor, cleanup, fireEvent } = await import('@testing-library/react')
const { KavachProvider, useSignIn, useSession } = await import('../npm/react/index.mjs')
const h = React.createElement

const PASSWORD = 'correct horse battery'

for (const backend of backends()) {
  describe(`sign-in methods through @kavachos/client and @kavachos/react on ${backend}`, () => {
    let srv
    const sent = []
    const last = (kind, to) => sent.filter((s) => s.kind === kind && s.to === to).at(-1)
    before(async () => {
      srv = await startServer(backend, 'methods', {
        config: {
          plugins: [
            magicLink({ sendMagicLink: async ({ email, url, token }) => void sent.push({ kind: 'link', to: email, url, token }) }),
            emailOTP({ sendVerificationOTP: async ({ email, otp, type }) => void sent.push({ kind: `otp:${type}`, to: email, otp }) }),
            username(),
            phoneNumber({
              sendOTP: async ({ phoneNumber: to, code }) => void sent.push({ kind: 'sms', to, code }),
              signUpOnVerification: { getTempEmail: (n) => `${n.replace('+', '')}@phone.example.com` },
            }),
            anonymous(),
            apiKey(),
          ],
        },
      })
      dom.reconfigure({ url: `${srv.origin}/app` })
    })
    after(() => srv.close())
    afterEach(() => cleanup())

    const client = () => createKavachClient({ baseUrl: `${srv.origin}${MOUNT}` })
    const whoIs = async (c) => {
      const s = await c.auth.getSession()
      assert.equal(s.success, true, JSON.stringify(s))
      return s.data && s.data.user
    }

    it('signIn.anonymous, then a sign-up that links the guest', async () => {
      const c = client()
      const guest = await c.signIn.anonymous()
      assert.equal(guest.success, true, JSON.stringify(guest))
      assert.equal(guest.data.user.isAnonymous, true)
      assert.equal((await whoIs(c)).id, guest.data.user.id)
      const up = await c.auth.signUp({ email: 'linked@example.com', password: PASSWORD, name: 'Linked' })
      assert.equal(up.success, true, JSON.stringify(up))
      assert.notEqual(up.data.user.id, guest.data.user.id)
      assert.equal((await whoIs(c)).email, 'linked@example.com')
    })

    it('signIn.magicLink sends a link that magicLink.verify turns into a session', async () => {
      const c = client()
      const r = await c.signIn.magicLink({ email: 'link@example.com', callbackURL: '/dashboard' })
      assert.equal(r.success, true, JSON.stringify(r))
      const mail = last('link', 'link@example.com')
      assert.ok(mail && mail.token, 'the link was handed to sendMagicLink')
      assert.equal(await whoIs(c), null, 'asking for a link signs nobody in')
      const v = await c.magicLink.verify({ query: { token: mail.token } })
      assert.equal(v.success, true, JSON.stringify(v))
      assert.equal((await whoIs(c)).email, 'link@example.com')
      const again = await client().magicLink.verify({ query: { token: mail.token } })
      assert.equal(again.success, false, 'a link works once')
      assert.equal(typeof again.error.code, 'string')
      const foreign = await client().signIn.magicLink({ email: 'link@example.com', callbackURL: 'https://evil.example/steal' })
      assert.equal(foreign.success, false)
    })

    it('emailOtp.sendVerificationOtp and signIn.emailOtp', async () => {
      const c = client()
      const s = await c.emailOtp.sendVerificationOtp({ email: 'otp@example.com', type: 'sign-in' })
      assert.equal(s.success, true, JSON.stringify(s))
      const { otp } = last('otp:sign-in', 'otp@example.com')
      const wrong = await c.signIn.emailOtp({ email: 'otp@example.com', otp: otp === '000000' ? '111111' : '000000' })
      assert.equal(wrong.success, false)
      assert.equal(wrong.error.code, 'INVALID_OTP')
      const r = await c.signIn.emailOtp({ email: 'otp@example.com', otp })
      assert.equal(r.success, true, JSON.stringify(r))
      assert.equal(r.data.user.email, 'otp@example.com')
      assert.equal((await whoIs(c)).email, 'otp@example.com')
    })

    it('sign-up with a username, isUsernameAvailable, signIn.username and updateUser', async () => {
      const c = client()
      const up = await c.auth.signUp({ email: 'uname@example.com', password: PASSWORD, name: 'U', username: 'Grace_H' })
      assert.equal(up.success, true, JSON.stringify(up))
      const taken = await client().isUsernameAvailable({ username: 'grace_h' })
      assert.deepEqual(taken, { success: true, data: { available: false } })
      const d = client()
      const r = await d.signIn.username({ username: 'GRACE_H', password: PASSWORD })
      assert.equal(r.success, true, JSON.stringify(r))
      assert.equal((await whoIs(d)).email, 'uname@example.com')
      const bad = await client().signIn.username({ username: 'grace_h', password: 'wrong password!!' })
      assert.equal(bad.success, false)
      const changed = await d.updateUser({ username: 'grace_hopper' })
      assert.equal(changed.success, true, JSON.stringify(changed))
      assert.equal((await client().isUsernameAvailable({ username: 'grace_h' })).data.available, true)
    })

    it('phoneNumber.sendOtp and phoneNumber.verify sign up on verification', async () => {
      const c = client()
      const s = await c.phoneNumber.sendOtp({ phoneNumber: '+1 (415) 555-0142' })
      assert.equal(s.success, true, JSON.stringify(s))
      const sms = last('sms', '+14155550142')
      assert.ok(sms, 'the number reached sendOTP in E.164')
      const v = await c.phoneNumber.verify({ phoneNumber: '+14155550142', code: sms.code })
      assert.equal(v.success, true, JSON.stringify(v))
      const me = await whoIs(c)
      assert.equal(me.phoneNumber, '+14155550142')
      assert.equal(me.phoneNumberVerified, true)
    })

    it('apiKey.create/list/delete for the signed-in user; the key is shown once', async () => {
      const c = client()
      assert.equal((await c.auth.signUp({ email: 'keys@example.com', password: PASSWORD })).success, true)
      const k = await c.apiKey.create({ name: 'ci' })
      assert.equal(k.success, true, JSON.stringify(k))
      assert.equal(typeof k.data.key, 'string')
      const list = await c.apiKey.list()
      assert.equal(list.success, true, JSON.stringify(list))
      assert.equal(list.data.length, 1)
      assert.equal(list.data[0].name, 'ci')
      assert.equal(JSON.stringify(list.data).includes(k.data.key), false, 'the list never shows the key')
      const del = await c.apiKey.delete({ keyId: k.data.id })
      assert.equal(del.success, true, JSON.stringify(del))
      assert.equal((await c.apiKey.list()).data.length, 0)
    })

    it('useSignIn({ factor }) calls the matching method and the session follows', async () => {
      const out = {}
      function Probe() {
        const guest = useSignIn({ factor: 'anonymous' })
        const byName = useSignIn({ factor: 'username' })
        const otp = useSignIn({ factor: 'email-otp' })
        const link = useSignIn({ factor: 'magic-link' })
        const phone = useSignIn({ factor: 'phone' })
        const { user, isLoading } = useSession()
        return h(
          'div',
          null,
          h('button', { onClick: () => guest().then((r) => (out.guest = r)) }, 'guest'),
          h('button', { onClick: () => byName('grace_hopper', PASSWORD).then((r) => (out.byName = r)) }, 'username'),
          h('button', { onClick: () => otp({ email: 'otp@example.com', otp: out.otp }).then((r) => (out.emailOtp = r)) }, 'otp'),
          h('button', { onClick: () => link('hook@example.com', '/after').then((r) => (out.link = r)) }, 'link'),
          h('button', { onClick: () => phone({ phoneNumber: '+14155550142', code: out.sms }).then((r) => (out.phone = r)) }, 'phone'),
          h('p', { 'data-testid': 'who' }, isLoading ? 'loading' : user ? user.email : 'nobody'),
        )
      }
      render(h(KavachProvider, { basePath: MOUNT }, h(Probe)))
      await waitFor(() => assert.equal(screen.getByTestId('who').textContent, 'nobody'))

      fireEvent.click(screen.getByText('guest'))
      await waitFor(() => assert.ok(out.guest))
      assert.equal(out.guest.success, true, JSON.stringify(out.guest))
      await waitFor(() => assert.match(screen.getByTestId('who').textContent, /@/))

      fireEvent.click(screen.getByText('username'))
      await waitFor(() => assert.ok(out.byName))
      assert.equal(out.byName.success, true, JSON.stringify(out.byName))
      await waitFor(() => assert.equal(screen.getByTestId('who').textContent, 'uname@example.com'))

      assert.equal((await client().emailOtp.sendVerificationOtp({ email: 'otp@example.com', type: 'sign-in' })).success, true)
      out.otp = last('otp:sign-in', 'otp@example.com').otp
      fireEvent.click(screen.getByText('otp'))
      await waitFor(() => assert.ok(out.emailOtp))
      assert.equal(out.emailOtp.success, true, JSON.stringify(out.emailOtp))
      await waitFor(() => assert.equal(screen.getByTestId('who').textContent, 'otp@example.com'))

      fireEvent.click(screen.getByText('link'))
      await waitFor(() => assert.ok(out.link))
      assert.equal(out.link.success, true, JSON.stringify(out.link))
      assert.ok(last('link', 'hook@example.com'), 'the factor sent a link')

      assert.equal((await client().phoneNumber.sendOtp({ phoneNumber: '+14155550142' })).success, true)
      out.sms = last('sms', '+14155550142').code
      fireEvent.click(screen.getByText('phone'))
      await waitFor(() => assert.ok(out.phone))
      assert.equal(out.phone.success, true, JSON.stringify(out.phone))
      await waitFor(() => assert.equal(screen.getByTestId('who').textContent, '14155550142@phone.example.com'))
    })
  })
}
