import type { Session, User } from './index'

/** A plugin description: what the plugin is and its options; the kavachos core does the work. */
export interface KavachPlugin<Id extends string = string, Options = unknown> {
  id: Id
  options: Options
}

export interface OrganizationOptions {
  /** Custom roles beside owner, admin and member, with their permissions. */
  roles?: Record<string, string[]>
  /** Delivers an invitation link. */
  sendInvitationEmail?: (message: { email: string; organization: { id: string; name: string }; url: string }) => void | Promise<void>
}

export declare function organization(options?: OrganizationOptions): KavachPlugin<'organization', OrganizationOptions>
export declare function twoFactor(options?: { issuer?: string; trustDeviceDays?: number }): KavachPlugin<'two-factor'>
export declare function admin(options?: { impersonationTtl?: number }): KavachPlugin<'admin'>
export interface JwtOptions {
  /** Default 'EdDSA' (Ed25519). Nothing else is accepted: no `none`, no HS*. */
  algorithm?: 'EdDSA' | 'RS256'
  /** Token lifetime in seconds (default 900). */
  expiresIn?: number
  /** `iss` (default `baseUrl`, else 'kavachos'). */
  issuer?: string
  /** `aud`; verification then requires one of these. */
  audience?: string | string[]
  /**
   * Runs at every issue with the session and its user; answers extra claims. It may not set
   * iss, sub, aud, exp, iat, nbf, jti or sid (the issue fails with JWT_CLAIMS_INVALID, as for a
   * non-object answer); a throw fails it with JWT_CLAIMS_FAILED. No token is issued either way.
   */
  customClaims?: (input: { session: Session; user: User }) => Record<string, unknown> | Promise<Record<string, unknown>>
}

export declare function jwt(options?: JwtOptions): KavachPlugin<'jwt', JwtOptions>
export declare function apiKeys(options?: Record<string, unknown>): KavachPlugin<'api-keys'>
