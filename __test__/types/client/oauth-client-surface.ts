// @kavachos/client's OAuth calls (better-auth's names), with the types they resolve to (tsc --strict).
import { createKavachClient, type LinkedAccount, type Result, type SignInSocialInput, type SocialRedirect } from '@kavachos/client';

declare function expectType<T>(value: T): void;

const client = createKavachClient({ baseUrl: 'http://localhost:3000' });

const started = await client.signIn.social({ provider: 'github', callbackURL: '/dashboard' });
expectType<Result<SocialRedirect>>(started);
if (started.success) {
  expectType<string>(started.data.url);
  expectType<boolean>(started.data.redirect);
} else {
  expectType<string>(started.error.code);
}
const input: SignInSocialInput = { provider: 'corp', callbackURL: '/dashboard', errorCallbackURL: '/sign-in', newUserCallbackURL: '/welcome', disableRedirect: true };
expectType<Result<SocialRedirect>>(await client.signIn.social(input));
expectType<Result<SocialRedirect>>(await client.linkSocial({ provider: 'google', callbackURL: '/settings' }));
const accounts = await client.listAccounts();
expectType<Result<LinkedAccount[]>>(accounts);
if (accounts.success) {
  for (const a of accounts.data) {
    expectType<string>(a.providerId);
    expectType<string>(a.accountId);
    expectType<string[]>(a.scopes);
    expectType<Date>(a.createdAt);
  }
}
const unlinked = await client.unlinkAccount({ providerId: 'google', accountId: '1234' });
expectType<Result<void>>(unlinked);
if (!unlinked.success && unlinked.error.code === 'FAILED_TO_UNLINK_LAST_ACCOUNT') console.log('keep one');
expectType<Result<void>>(await client.unlinkAccount({ providerId: 'github' }));

// @ts-expect-error the provider is required
void client.signIn.social({ callbackURL: '/dashboard' });
// @ts-expect-error unlinking names the provider as providerId
void client.unlinkAccount({ provider: 'github' });
