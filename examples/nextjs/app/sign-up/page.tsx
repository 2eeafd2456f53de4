'use client';
import { Suspense, useState } from 'react';
import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { useSignUp } from '@kavachos/react';
import { nextPath } from '@/lib/next-path';

export default function Page() {
  return <Suspense><SignUpPage /></Suspense>;
}

function SignUpPage() {
  const router = useRouter();
  const params = useSearchParams();
  const signUp = useSignUp();
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);

  async function onSubmit(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    // Sign-up also signs the user in (unless the server requires email verification).
    const result = await signUp({ email, password, name: name || undefined });
    if (!result.success) {
      setError(result.error.message);
      return;
    }
    router.push(nextPath(params.get('next')));
  }

  return (
    <main>
      <h1>Sign up</h1>
      <form onSubmit={onSubmit}>
        <input name="name" aria-label="Name" value={name} onChange={(e) => setName(e.target.value)} />
        <input type="email" name="email" aria-label="Email" value={email} onChange={(e) => setEmail(e.target.value)} />
        <input type="password" name="password" aria-label="Password" minLength={8} value={password} onChange={(e) => setPassword(e.target.value)} />
        <button type="submit" disabled={signUp.isLoading}>Sign up</button>
        {error ? <p role="alert">{error}</p> : null}
      </form>
      <p>Have an account? <Link href="/sign-in">Sign in</Link></p>
    </main>
  );
}
