// @kavachos/react's OAuth hooks: useSignIn({ factor: 'social' }) and useLinkSocial (tsc --strict).
'use client';
import { useSignIn, useLinkSocial, type Result, type SocialRedirect, type SignInData } from '@kavachos/react';

declare function expectType<T>(value: T): void;

export function SocialButtons({ providers }: { providers: { id: string; name: string }[] }) {
  const signIn = useSignIn({ factor: 'social' });
  const password = useSignIn({ factor: 'password' });
  const link = useLinkSocial();
  expectType<boolean>(signIn.isLoading);
  expectType<string | undefined>(signIn.error?.code);

  async function go(provider: string) {
    const r = await signIn({ provider, callbackURL: '/dashboard' });
    expectType<Result<SocialRedirect>>(r);
    if (r.success) expectType<string>(r.data.url);
    expectType<Result<SocialRedirect>>(await signIn(provider));
    expectType<Result<SocialRedirect>>(await signIn.signIn({ provider, disableRedirect: true, errorCallbackURL: '/sign-in' }));
    expectType<Result<SocialRedirect>>(await link({ provider, callbackURL: '/settings' }));
    expectType<Result<SocialRedirect>>(await link.linkSocial(provider));
    expectType<Result<SignInData>>(await password({ email: 'a@b.c', password: 'p' }));
    // @ts-expect-error a social sign-in takes a provider, not a password
    void signIn({ email: 'a@b.c', password: 'p' });
  }

  return (
    <>
      {providers.map((p) => (
        <button key={p.id} type="button" data-provider={p.id} disabled={signIn.isLoading} onClick={() => void go(p.id)}>
          Sign in with {p.name}
        </button>
      ))}
    </>
  );
}
