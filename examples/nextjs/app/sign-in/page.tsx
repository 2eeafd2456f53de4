import { Suspense } from 'react';
import { connection } from 'next/server';
import { SignInForm } from '@/components/SignInForm';
import { socialButtons } from '@/lib/oauth-providers';
import { passkeysOn } from '@/lib/passkeys';

// A server component: it reads which OAuth providers are configured (lib/oauth-providers.ts) when the
// page is requested, not when `next build` prerenders it, and hands the form their ids and names
// only (the secrets stay on the server), and whether passkeys are on. `next build` needs a Suspense boundary around a client
// component that calls useSearchParams(): the form renders inside one (the one-line fix).
export default async function Page() {
  await connection();
  return <Suspense><SignInForm providers={socialButtons()} passkeys={passkeysOn()} /></Suspense>;
}
