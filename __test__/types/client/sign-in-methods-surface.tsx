// The sign-in methods of issue 15 as a client and React user writes them (tsc --strict).
import { createKavachClient } from '@kavachos/client'
import { useSignIn } from '@kavachos/react'

const client = createKavachClient({ baseUrl: 'http://localhost:3000' })

export async function clientCalls(): Promise<void> {
  const link = await client.signIn.magicLink({ email: 'a@example.com', callbackURL: '/dashboard', errorCallbackURL: '/error' })
  if (link.success) {
    const sent: boolean = link.data.status
    void sent
  }
  await client.emailOtp.sendVerificationOtp({ email: 'a@example.com', type: 'sign-in' })
  const otp = await client.signIn.emailOtp({ email: 'a@example.com', otp: '123456' })
  if (otp.success) {
    const id: string = otp.data.user.id
    void id
  } else {
    const code: string = otp.error.code
    void code
  }
  await client.emailOtp.verifyEmail({ email: 'a@example.com', otp: '123456' })
  await client.forgetPassword.emailOtp({ email: 'a@example.com' })
  await client.emailOtp.resetPassword({ email: 'a@example.com', otp: '123456', password: 'a new password' })
  const byName = await client.signIn.username({ username: 'alice', password: 'correct horse' })
  if (byName.success && byName.data.twoFactorRequired !== true) {
    const name: string | undefined = byName.data.user.username
    void name
  }
  const free = await client.isUsernameAvailable({ username: 'alice' })
  if (free.success) {
    const available: boolean = free.data.available
    void available
  }
  await client.updateUser({ username: 'alice2' })
  await client.phoneNumber.sendOtp({ phoneNumber: '+14155552671' })
  const verified = await client.phoneNumber.verify({ phoneNumber: '+14155552671', code: '123456' })
  if (verified.success) {
    const phone: string | undefined = verified.data.user.phoneNumber
    void phone
  }
  await client.signIn.phoneNumber({ phoneNumber: '+14155552671', password: 'correct horse' })
  const guest = await client.signIn.anonymous()
  if (guest.success) {
    const isGuest: boolean | undefined = guest.data.user.isAnonymous
    void isGuest
  }
  const key = await client.apiKey.create({ name: 'ci' })
  if (key.success) {
    const secret: string = key.data.key
    void secret
  }
  await client.apiKey.list()
  await client.magicLink.verify({ query: { token: 'abc' } })
}

export function Forms(): null {
  const magic = useSignIn({ factor: 'magic-link' })
  const otp = useSignIn({ factor: 'email-otp' })
  const byName = useSignIn({ factor: 'username' })
  const phone = useSignIn({ factor: 'phone' })
  const guest = useSignIn({ factor: 'anonymous' })
  void magic('a@example.com', '/dashboard')
  void otp('a@example.com', '123456')
  void byName({ username: 'alice', password: 'correct horse' })
  void phone({ phoneNumber: '+14155552671', code: '123456' })
  void phone('+14155552671', 'correct horse')
  void guest()
  const loading: boolean = magic.isLoading || otp.isLoading || byName.isLoading || phone.isLoading || guest.isLoading
  void loading
  return null
}
