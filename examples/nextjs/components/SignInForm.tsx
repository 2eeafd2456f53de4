'use client';
import { useState } from 'react';
import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { useSignIn } from '@kavachos/react';
import { nextPath } from '@/lib/next-path';
import type { SocialButton } from '@/lib/oauth-providers';

// Seed 000's sign-in page, plus a "Sign in with <Name>" button per OAuth provider the server has
// configured. A provider button goes to the provider through `/api/auth/oauth/<id>`; its callback
// comes back to `next` (default /dashboard) signed in, or to this page with `?error=<CODE>`. Where
// passkeys are on, "Sign in with a passkey" runs the browser's WebAuthn prompt (a discoverable
// passkey, added on the dashboard) and goes on to `next`.
export function SignInForm({ providers, passkeys }: { providers: SocialButton[]; passkeys: boolean }) {
  const router = useRouter();
  const params = useSearchParams();
  const signIn = useSignIn();
  const social = useSignIn({ factor: 'social' });
  const withPasskey = useSignIn({ factor: 'passkey' });
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const next = nextPath(params.get('next'));

  async function onSubmit(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    const result = await signIn({ email, password });
    if (!result.success) {
      setError(result.error.message);
      return;
    }
    router.push(next);
  }

  async function withProvider(provider: string) {
    setError(null);
    const errorCallbackURL = params.get('next') ? `/sign-in?next=${encodeURIComponent(next)}` : '/sign-in';
    // On success the page is already on its way to the provider.
    const result = await social({ provider, callbackURL: next, errorCallbackURL });
    if (!result.success) setError(result.error.message);
  }

  async function onPasskey() {
    setError(null);
    const result = await withPasskey();
    if (!result.success) {
      setError(result.error.message);
      return;
    }
    router.push(next);
  }

  // A failed OAuth sign-in comes back here with ?error=<CODE>.
  const oauthError = params.get('error');
  const shown = error ?? (oauthError ? `Sign-in with the provider failed (${oauthError}).` : null);
  const signUpHref = params.get('next') ? `/sign-up?next=${encodeURIComponent(next)}` : '/sign-up';
  return (
    <main>
      <h1>Sign in</h1>
      <form onSubmit={onSubmit}>
        <input type="email" name="email" aria-label="Email" value={email} onChange={(e) => setEmail(e.target.value)} />
        <input type="password" name="password" aria-label="Password" value={password} onChange={(e) => setPassword(e.target.value)} />
        <button type="submit" disabled={signIn.isLoading}>Sign in</button>
        {shown ? <p role="alert">{shown}</p> : null}
      </form>
      {passkeys ? (
        <p>
          <button type="button" id="passkey-sign-in" disabled={withPasskey.isLoading} onClick={() => void onPasskey()}>
            Sign in with a passkey
          </button>
        </p>
      ) : null}
      {providers.length ? (
        <ul id="social-sign-in">
          {providers.map((p) => (
            <li key={p.id}>
              <button type="button" data-provider={p.id} disabled={social.isLoading} onClick={() => void withProvider(p.id)}>
                Sign in with {p.name}
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      <p>No account? <Link href={signUpHref}>Sign up</Link></p>
    </main>
  );
}
