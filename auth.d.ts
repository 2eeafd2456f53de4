// kavachos/auth: sign-in methods (`oauth({ providers })`) and, as the original has, the plugin
// factories of kavachos/plugins.
import type { KavachPlugin } from './plugins'

export * from './plugins'
export type { LinkedAccount, OAuthAccessToken } from './index'

/** The first-class providers: endpoints, scopes and profile mapping are built in. */
export type OAuthProviderId =
  | 'apple'
  | 'atlassian'
  | 'discord'
  | 'dropbox'
  | 'figma'
  | 'github'
  | 'gitlab'
  | 'google'
  | 'linkedin'
  | 'microsoft'
  | 'notion'
  | 'reddit'
  | 'slack'
  | 'spotify'
  | 'twitch'
  | 'twitter'
  | 'zoom'

/**
 * A first-class provider. Register `{baseUrl}{basePath}/oauth/<id>/callback` as the redirect URI in
 * the provider's console.
 */
export interface FirstClassOAuthProvider {
  id: OAuthProviderId
  clientId: string
  clientSecret: string
  /** Replaces the provider's default scopes (enough to read the user's id and email). */
  scopes?: string[]
  /** Only people who already have a user may sign in with this provider; nobody is signed up. */
  disableImplicitSignUp?: boolean
  /** OpenID Connect `prompt`, e.g. `'select_account consent'` (Google sends a refresh token again only on consent). */
  prompt?: OAuthPrompt
  /** Google's `access_type`: `'offline'` asks for a refresh token. */
  accessType?: 'offline' | 'online'
}

/**
 * Any other OAuth 2.0 / OpenID Connect provider: `authorizationEndpoint` and `tokenEndpoint`, or an
 * OpenID Connect `issuer` whose discovery document gives them. The user's email comes from
 * `userInfoEndpoint` (or the issuer's). An unknown id without them fails boot with CONFIG_INVALID.
 */
export interface GenericOAuthProvider {
  /** Any id but the first-class ones; it is the path segment (`/oauth/<id>`) and the account's `providerId`. */
  id: string
  clientId: string
  clientSecret: string
  authorizationEndpoint?: string
  tokenEndpoint?: string
  userInfoEndpoint?: string
  /** An OpenID Connect issuer: endpoints from `{issuer}/.well-known/openid-configuration`. */
  issuer?: string
  scopes?: string[]
  /** PKCE S256 (default true). */
  pkce?: boolean
  /** How the token endpoint authenticates the client: HTTP Basic or `client_id`/`client_secret` in the form. */
  authentication?: 'basic' | 'post'
  /** The button's name (`providers()` answers it); the id when absent. */
  name?: string
  /** Only people who already have a user may sign in with this provider; nobody is signed up. */
  disableImplicitSignUp?: boolean
  /** OpenID Connect `prompt`. */
  prompt?: OAuthPrompt
  /** `access_type`, for providers that take it as Google does. */
  accessType?: 'offline' | 'online'
}

/** OpenID Connect `prompt` values, one or several separated by spaces. */
export type OAuthPrompt = 'none' | 'login' | 'consent' | 'select_account' | 'select_account consent' | 'login consent' | (string & {})

export type OAuthProvider = FirstClassOAuthProvider | GenericOAuthProvider

export interface OAuthOptions {
  providers: OAuthProvider[]
}

/**
 * OAuth sign-in: `GET {basePath}/oauth/<id>` starts it, `{basePath}/oauth/<id>/callback` ends it
 * signed in; `POST /auth/sign-in/social`, `/auth/link-social`, `GET /auth/list-accounts` and
 * `POST /auth/unlink-account` as better-auth names them; `kavach.oauth.*` on the server.
 */
export declare function oauth(options: OAuthOptions): KavachPlugin<'oauth', OAuthOptions>
