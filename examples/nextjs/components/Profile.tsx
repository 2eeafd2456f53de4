'use client';
import { useState } from 'react';
import { useRouter } from 'next/navigation';
import { useKavachClient, useUser, useSignOut } from '@kavachos/react';

// Seed 000's Profile; after signing out it leaves the protected page. Where passkeys are on, "Add a
// passkey" runs the browser's WebAuthn prompt and stores the passkey for this user; the sign-in
// page's "Sign in with a passkey" then uses it.
export function Profile({ passkeys = false }: { passkeys?: boolean }) {
  const router = useRouter();
  const client = useKavachClient();
  const { user, isLoading } = useUser();
  const signOut = useSignOut();
  const [passkeyStatus, setPasskeyStatus] = useState<string | null>(null);
  if (isLoading) return null;

  async function addPasskey() {
    setPasskeyStatus(null);
    const result = await client.passkey.addPasskey({ name: 'This device' });
    setPasskeyStatus(result.success ? 'Passkey added.' : `Could not add a passkey: ${result.error.message}`);
  }

  return (
    <div>
      <p id="profile-email">{user?.email}</p>
      {passkeys ? (
        <p>
          <button type="button" onClick={() => void addPasskey()}>
            Add a passkey
          </button>{' '}
          {passkeyStatus ? <span id="passkey-status">{passkeyStatus}</span> : null}
        </p>
      ) : null}
      <button
        type="button"
        onClick={async () => {
          await signOut();
          router.push('/sign-in');
        }}
      >
        Sign out
      </button>
    </div>
  );
}
