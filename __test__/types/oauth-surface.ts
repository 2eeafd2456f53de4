// kavachos/auth under --strict: oauth() with first-class and generic providers, the re-exported plugin
// factories, and every kavach.oauth call.
import { createKavach, type LinkedAccount, type OAuthAccessToken, type Result } from 'kavachos';
import {
  oauth,
  organization,
  twoFactor,
  admin,
  jwt,
  apiKeys,
  type KavachPlugin,
  type OAuthOptions,
  type OAuthProvider,
  type OAuthProviderId,
  type FirstClassOAuthProvider,
  type GenericOAuthProvider,
} from 'kavachos/auth';
import * as plugins from 'kavachos/plugins';

const ids: OAuthProviderId[] = [
  'apple', 'atlassian', 'discord', 'dropbox', 'figma', 'github', 'gitlab', 'google', 'linkedin',
  'microsoft', 'notion', 'reddit', 'slack', 'spotify', 'twitch', 'twitter', 'zoom',
];

export async function oauthSurface(): Promise<void> {
  const github: FirstClassOAuthProvider = { id: 'github', clientId: 'id', clientSecret: 'secret', scopes: ['read:user', 'user:email'], disableImplicitSignUp: true };
  const oidc: GenericOAuthProvider = { id: 'corp', clientId: 'id', clientSecret: 'secret', issuer: 'https://sso.example.com', scopes: ['openid', 'email', 'profile'] };
  const linear: OAuthProvider = {
    id: 'linear',
    clientId: 'id',
    clientSecret: 'secret',
    authorizationEndpoint: 'https://linear.app/oauth/authorize',
    tokenEndpoint: 'https://api.linear.app/oauth/token',
    userInfoEndpoint: 'https://api.linear.app/userinfo',
    pkce: false,
    authentication: 'post',
  };
  const google: FirstClassOAuthProvider = { id: 'google', clientId: 'id', clientSecret: 'secret', accessType: 'offline', prompt: 'select_account consent' };
  const options: OAuthOptions = { providers: [github, google, oidc, linear, ...ids.map((id) => ({ id, clientId: id, clientSecret: id }))] };
  const described: KavachPlugin<'oauth', OAuthOptions> = oauth(options);
  const id: 'oauth' = described.id;
  console.log(id, described.options.providers.length);

  // The plugin factories are the same as kavachos/plugins'.
  const same: [typeof plugins.organization, typeof plugins.twoFactor, typeof plugins.admin, typeof plugins.jwt, typeof plugins.apiKeys] = [organization, twoFactor, admin, jwt, apiKeys];
  console.log(same.length);

  const kavach = await createKavach({
    database: { provider: 'sqlite', url: ':memory:' },
    secret: 'x'.repeat(32),
    baseUrl: 'https://app.example.com',
    plugins: [organization(), oauth(options), oauth({ providers: [] })],
  });
  const token: Result<OAuthAccessToken> = await kavach.oauth.getAccessToken({ userId: 'u', providerId: 'github' });
  if (token.success) {
    const accessToken: string = token.data.accessToken;
    const expires: Date | null = token.data.accessTokenExpiresAt;
    const scopes: string[] = token.data.scopes;
    const idToken: string | undefined = token.data.idToken;
    console.log(accessToken, expires?.getTime(), scopes, idToken);
  } else {
    const code: string = token.error.code;
    console.log(code);
  }
  const another = await kavach.oauth.getAccessToken({ userId: 'u', providerId: 'corp', accountId: 'sub-1' });
  console.log(another.data?.accessToken);

  const accounts: Result<LinkedAccount[]> = await kavach.oauth.listAccounts({ userId: 'u' });
  for (const a of accounts.data ?? []) {
    const fields: [string, string, string, string, string[], Date, Date] = [a.id, a.providerId, a.accountId, a.userId, a.scopes, a.createdAt, a.updatedAt];
    console.log(fields);
  }
  const unlinked = await kavach.oauth.unlinkAccount({ userId: 'u', providerId: 'github' });
  if (unlinked.success) {
    const yes: true = unlinked.data.success;
    console.log(yes);
  } else if (unlinked.error.code === 'FAILED_TO_UNLINK_LAST_ACCOUNT') {
    console.log('keep one');
  }
  await kavach.oauth.unlinkAccount({ userId: 'u', providerId: 'corp', accountId: 'sub-1' });
  const buttons = await kavach.oauth.providers();
  if (buttons.success) for (const b of buttons.data) console.log(b.id satisfies string, b.name satisfies string);

  // @ts-expect-error providers is required
  oauth({});
  // @ts-expect-error a provider needs its client secret
  oauth({ providers: [{ id: 'github', clientId: 'id' }] });
  // @ts-expect-error the token endpoint authenticates with basic or post only
  oauth({ providers: [{ id: 'corp', clientId: 'id', clientSecret: 's', issuer: 'https://sso.example.com', authentication: 'jwt' }] });
  // @ts-expect-error scopes are a list
  oauth({ providers: [{ id: 'github', clientId: 'id', clientSecret: 's', scopes: 'read:user' }] });
  // @ts-expect-error listAccounts takes { userId }
  await kavach.oauth.listAccounts('u');
  // @ts-expect-error the provider is required
  await kavach.oauth.getAccessToken({ userId: 'u' });
  await kavach.close();
}
