'use client';
import { Suspense, useState } from 'react';
import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { useSignIn } from '@kavachos/react';
import { nextPath } from '@/lib/next-path';

// Seed 000's sign-in page. `next build` needs a Suspense boundary around a client component that
// calls useSearchParams(): the page renders the form inside one (the one-line fix).
export default function Page() {
  return <Suspense><SignInPage /></Suspense>;
}

function SignInPage() {
  const router = useRouter();
  const params = useSearchParams();
  const signIn = useSignIn();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);

  async function onSubmit(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    const result = await signIn({ email, password });
    if (!result.success) {
      setError(result.error.message);
      return;
    }
    router.push(nextPath(params.get('next')));
  }

  const signUpHref = params.get('next') ? `/sign-up?next=${encodeURIComponent(nextPath(params.get('next')))}` : '/sign-up';
  return (
    <main>
      <h1>Sign in</h1>
      <form onSubmit={onSubmit}>
        <input type="email" name="email" aria-label="Email" value={email} onChange={(e) => setEmail(e.target.value)} />
        <input type="password" name="password" aria-label="Password" value={password} onChange={(e) => setPassword(e.target.value)} />
        <button type="submit" disabled={signIn.isLoading}>Sign in</button>
        {error ? <p role="alert">{error}</p> : null}
      </form>
      <p>No account? <Link href={signUpHref}>Sign up</Link></p>
    </main>
  );
}
