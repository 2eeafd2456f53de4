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
export interface AdminOptions {
  /** Users who are admins whatever their role (besides those with role `admin`). */
  adminUserIds?: string[]
  /** Seconds an impersonation session lives (default 3600); it never slides. */
  impersonationTtl?: number
  /** The role new users get (default `user`). */
  defaultRole?: string
}

export declare function admin(options?: AdminOptions): KavachPlugin<'admin', AdminOptions>
export declare function jwt(options?: {
  algorithm?: 'EdDSA' | 'RS256'
  expiresIn?: number
  customClaims?: (input: { session: unknown; user: unknown }) => Record<string, unknown> | Promise<Record<string, unknown>>
}): KavachPlugin<'jwt'>
export declare function apiKeys(options?: Record<string, unknown>): KavachPlugin<'api-keys'>
