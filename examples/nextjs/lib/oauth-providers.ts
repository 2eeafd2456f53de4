// lib/oauth-providers.ts: the OAuth providers this deployment has credentials for, read from the
// environment on the server. `providers` (with the secrets) go to kavachos's oauth() plugin;
// `socialButtons()` is all the sign-in page gets: ids and names, never a secret.
import type { OAuthProvider, OAuthProviderId } from 'kavachos/auth';

// kavachos's first-class providers and the names their buttons show. Each one is on when both
// <ID>_CLIENT_ID and <ID>_CLIENT_SECRET are set (GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, ...).
const FIRST_CLASS: Record<OAuthProviderId, string> = {
  apple: 'Apple',
  atlassian: 'Atlassian',
  discord: 'Discord',
  dropbox: 'Dropbox',
  figma: 'Figma',
  github: 'GitHub',
  gitlab: 'GitLab',
  google: 'Google',
  linkedin: 'LinkedIn',
  microsoft: 'Microsoft',
  notion: 'Notion',
  reddit: 'Reddit',
  slack: 'Slack',
  spotify: 'Spotify',
  twitch: 'Twitch',
  twitter: 'X (Twitter)',
  zoom: 'Zoom',
};

export interface SocialButton {
  /** The provider id: `/api/auth/oauth/<id>`, and the button's `data-provider`. */
  id: string;
  name: string;
}

type Env = Record<string, string | undefined>;

function configured(env: Env): Array<{ provider: OAuthProvider; button: SocialButton }> {
  const list: Array<{ provider: OAuthProvider; button: SocialButton }> = [];
  for (const [id, name] of Object.entries(FIRST_CLASS) as Array<[OAuthProviderId, string]>) {
    const clientId = env[`${id.toUpperCase()}_CLIENT_ID`];
    const clientSecret = env[`${id.toUpperCase()}_CLIENT_SECRET`];
    if (clientId && clientSecret) list.push({ provider: { id, clientId, clientSecret }, button: { id, name } });
  }
  // Any OpenID Connect provider (Keycloak, Auth0, Okta, Entra ID, ...): endpoints from its discovery
  // document. OIDC_PROVIDER_ID must not be one of the first-class ids above.
  const { OIDC_ISSUER: issuer, OIDC_CLIENT_ID: clientId, OIDC_CLIENT_SECRET: clientSecret } = env;
  if (issuer && clientId && clientSecret) {
    const id = env.OIDC_PROVIDER_ID || 'oidc';
    list.push({
      provider: { id, clientId, clientSecret, issuer, scopes: ['openid', 'email', 'profile'] },
      button: { id, name: env.OIDC_PROVIDER_NAME || 'OpenID Connect' },
    });
  }
  return list;
}

/** For `oauth({ providers })`: empty when nothing is configured (the plugin is then left out). */
export function oauthProviders(env: Env = process.env): OAuthProvider[] {
  return configured(env).map((c) => c.provider);
}

/** For the sign-in page: one button per configured provider. */
export function socialButtons(env: Env = process.env): SocialButton[] {
  return configured(env).map((c) => c.button);
}
