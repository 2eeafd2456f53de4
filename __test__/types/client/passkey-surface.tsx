// passkey(): the client and React calls as an app writes them (tsc --strict).
import { createKavachClient, type Passkey, type Result, type SessionData } from '@kavachos/client'
import { useSignIn } from '@kavachos/react'
import type { ReactElement } from 'react'

declare function expectType<T>(value: T): void

const client = createKavachClient({ baseUrl: 'http://localhost:3000' })

export async function passkeyCalls(): Promise<void> {
  expectType<Result<SessionData>>(await client.signIn.passkey())
  expectType<Result<SessionData>>(await client.signIn.passkey({ email: 'a@example.com', autoFill: false }))
  const added = await client.passkey.addPasskey({ name: 'laptop', authenticatorAttachment: 'platform' })
  if (added.success) expectType<string>(added.data.credentialID)
  const list = await client.passkey.listUserPasskeys()
  if (list.success) {
    const p: Passkey | undefined = list.data[0]
    if (p) {
      expectType<Date>(p.createdAt)
      expectType<'singleDevice' | 'multiDevice'>(p.deviceType)
      expectType<Result<{ passkey: Passkey }>>(await client.passkey.updatePasskey({ id: p.id, name: 'work' }))
      expectType<Result<{ status: boolean }>>(await client.passkey.deletePasskey({ id: p.id }))
    }
  }
}

export function PasskeyButton(): ReactElement {
  const signIn = useSignIn({ factor: 'passkey' })
  return (
    <button disabled={signIn.isLoading} onClick={() => void signIn().then((r) => r.success && r.data.user.email)}>
      Sign in with a passkey {signIn.error?.code}
    </button>
  )
}
