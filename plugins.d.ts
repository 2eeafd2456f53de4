import type { Session, User } from './index'

/** A plugin description: what the plugin is and its options; the kavachos core does the work. */
export interface KavachPlugin<Id extends string = string, Options = unknown> {
  id: Id
  options: Options
}

export interface OrganizationOptions {
  /**
   * Roles beside owner, admin and member, with their permissions (`resource:action`, `resource:*`,
   * or `*`). Naming `admin` or `member` replaces that role's default permissions; the owner always
   * holds every permission.
   */
  roles?: Record<string, string[]>
  /** Seconds an invitation stays valid (default 48 hours). */
  invitationExpiresIn?: number
  /** Path of the app's page that accepts invitations (default `/accept-invitation`); the link gets `?invitationId=`. */
  invitationUrl?: string
  /** Delivers an invitation link. */
  sendInvitationEmail?: (message: {
    email: string
    role: string
    invitationId: string
    url: string
    organization: { id: string; name: string; slug: string } | null
    inviter: { id: string; email: string; name: string | null } | null
    expiresAt: Date
  }) => void | Promise<void>
}

export declare function organization(options?: OrganizationOptions): KavachPlugin<'organization', OrganizationOptions>
export interface TwoFactorOptions {
  /** Shown in authenticator apps (default 'kavachos'); no ':'. */
  issuer?: string
  /** Days a device trusted at verify skips the code (default 30; 0 disables). */
  trustDeviceDays?: number
  /** Backup codes per set (default 10). */
  backupCodeCount?: number
}

/** TOTP second factor (needs `secret`: TOTP secrets are stored encrypted with a key derived from it). */
export declare function twoFactor(options?: TwoFactorOptions): KavachPlugin<'two-factor', TwoFactorOptions>
export interface AdminOptions {
  /** Users who are admins whatever their role (besides those with role `admin`). */
  adminUserIds?: string[]
  /** Seconds an impersonation session lives (default 3600); it never slides. */
  impersonationTtl?: number
  /** The role new users get (default `user`). */
  defaultRole?: string
}

export declare function admin(options?: AdminOptions): KavachPlugin<'admin', AdminOptions>
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

/** What `anonymous({ onLinkAccount })` receives: the guest and the account they signed in or up to. */
export interface AnonymousLink {
  anonymousUser: { user: User; session: Session }
  newUser: { user: User; session: Session }
}

export interface AnonymousOptions {
  /**
   * Awaited when a guest (a request carrying an anonymous user's session) signs in or up by any
   * method, before the guest is deleted: move the guest's data to the new user here. A throw fails
   * that sign-in's answer with ANONYMOUS_LINK_FAILED (500) and keeps the guest.
   */
  onLinkAccount?: (link: AnonymousLink) => void | Promise<void>
  /** Guests' emails are `temp-<id>@<emailDomainName>` (default: `baseUrl`'s host, else `anon.kavachos`). */
  emailDomainName?: string
  /** Keep the guest's user (and rows) after they link an account; also refuses `POST /auth/delete-anonymous-user`. */
  disableDeleteAnonymousUser?: boolean
  /** A guest's name (default "Anonymous"). */
  generateName?: () => string | null | undefined | Promise<string | null | undefined>
}

/** Guests: `POST /auth/sign-in/anonymous` (`client.signIn.anonymous()`), linked when they sign in or up. */
export declare function anonymous(options?: AnonymousOptions): KavachPlugin<'anonymous', AnonymousOptions>

/** What `customSession(fn)` is handed: the signed-in session and its user (with `user.additionalFields`). */
export interface CustomSessionInput {
  session: Session
  user: User & Record<string, unknown>
}

/** `customSession(fn)`'s description; `createKavach` infers getSession's data from `fn`. */
export interface CustomSessionPlugin<R> extends KavachPlugin<'custom-session', { fn: (input: CustomSessionInput) => R | Promise<R> }> {}

/**
 * Reshapes what `auth.getSession` answers (its `data`) and the body of `GET /auth/session`: `fn` runs
 * on the looked-up `{ user, session }` (no second lookup). A throw is a `CUSTOM_SESSION_FAILED` error.
 */
export declare function customSession<R>(fn: (input: CustomSessionInput) => R | Promise<R>): CustomSessionPlugin<R>

/** `{ resource: [actions] }`: a key grants every listed action of every listed resource. */
export type ApiKeyPermissions = Record<string, string[]>

/**
 * `apiKey()` options, better-auth 1.7's names. Keys are always stored as their SHA-256
 * (`disableKeyHashing` is accepted and ignored); only the `'database'` storage and user-owned keys.
 */
export interface ApiKeyOptions {
  /** Header(s) a key may come in (default `'x-api-key'`). */
  apiKeyHeaders?: string | string[]
  /** Random letters after the prefix (default 64). */
  defaultKeyLength?: number
  defaultPrefix?: string
  maximumPrefixLength?: number
  minimumPrefixLength?: number
  maximumNameLength?: number
  minimumNameLength?: number
  requireName?: boolean
  /** Allows `metadata` on keys (default false). */
  enableMetadata?: boolean
  /** A request carrying a key (and no session cookie) acts as the key's user in getSession and the session route. */
  enableSessionForAPIKeys?: boolean
  /** Ignored: keys are stored hashed whatever it says. */
  disableKeyHashing?: boolean
  keyExpiration?: {
    /** Seconds, or a duration like `'30d'`; default none. */
    defaultExpiresIn?: number | string | null
    disableCustomExpiresTime?: boolean
    /** Days (default 1). */
    minExpiresIn?: number
    /** Days (default 365). */
    maxExpiresIn?: number
  }
  /** The per-key limit new keys get (default on, 10 requests per 24 h). */
  rateLimit?: { enabled?: boolean; timeWindow?: number; maxRequests?: number }
  permissions?: { defaultPermissions?: ApiKeyPermissions }
  /** `start`: the first characters of a key kept for display (default 6). */
  startingCharactersConfig?: { shouldStore?: boolean; charactersLength?: number }
  storage?: 'database'
  references?: 'user'
}

export declare function apiKey(options?: ApiKeyOptions): KavachPlugin<'api-key', ApiKeyOptions>
/** The name kavachos used first: the same plugin as `apiKey()`. */
export declare function apiKeys(options?: ApiKeyOptions): KavachPlugin<'api-key', ApiKeyOptions>
/** What `magicLink({ sendMagicLink })` is given for each link. */
export interface MagicLinkMessage {
  email: string
  /** `<origin><mount>/auth/magic-link/verify?token=...&callbackURL=...`: put it in the email. */
  url: string
  token: string
  /** The `metadata` of the sign-in request, as it was sent. */
  metadata?: Record<string, unknown>
}

export interface MagicLinkOptions {
  /** Delivers a link; awaited before the request answers (a throw fails it, and the link is dropped). */
  sendMagicLink: (data: MagicLinkMessage) => void | Promise<void>
  /** Lifetime of a link: seconds, or a duration like `'5m'` (default 5 minutes). */
  expiresIn?: number | `${number}${'s' | 'm' | 'h' | 'd'}`
  /** No new accounts from a link: an unknown email fails with NEW_USER_SIGNUP_DISABLED. */
  disableSignUp?: boolean
}

/**
 * Sign-in by a single-use link: `POST /auth/sign-in/magic-link { email, name?, callbackURL?,
 * newUserCallbackURL?, errorCallbackURL? }` then `GET /auth/magic-link/verify?token=`.
 */
export declare function magicLink(options: MagicLinkOptions): KavachPlugin<'magic-link', MagicLinkOptions>

export type EmailOTPType = 'sign-in' | 'email-verification' | 'forget-password'

export interface EmailOTPOptions {
  /** Delivers a code; awaited before the request answers. */
  sendVerificationOTP: (data: { email: string; otp: string; type: EmailOTPType }) => void | Promise<void>
  /** Digits of a code (default 6, 4 to 12). */
  otpLength?: number
  /** Lifetime of a code: seconds, or a duration like `'5m'` (default 5 minutes). */
  expiresIn?: number | `${number}${'s' | 'm' | 'h' | 'd'}`
  /** Wrong tries before a code is void (TOO_MANY_ATTEMPTS; default 3). */
  allowedAttempts?: number
  /** No new accounts from a sign-in code: codes are then sent to existing accounts only. */
  disableSignUp?: boolean
}

/** One-time codes by email: sign in (or up), verify an email, reset a password. */
export declare function emailOTP(options: EmailOTPOptions): KavachPlugin<'email-otp', EmailOTPOptions>
export interface UsernameOptions {
  /** Shortest username, as typed (default 3). */
  minUsernameLength?: number
  /** Longest username, as typed (default 30). */
  maxUsernameLength?: number
  /** Accepts a username (default: letters, digits, `_` and `.`); only `true` accepts. */
  usernameValidator?: (username: string) => boolean | Promise<boolean>
  /** Accepts a `displayUsername` (default: any without control characters). */
  displayUsernameValidator?: (displayUsername: string) => boolean | Promise<boolean>
}

/** Sign-up and sign-in by username (stored lowercased: uniqueness ignores case), as better-auth's. */
export declare function username(options?: UsernameOptions): KavachPlugin<'username', UsernameOptions>
export interface PhoneNumberOptions {
  /** Delivers a code (an SMS); awaited. */
  sendOTP: (data: { phoneNumber: string; code: string }) => void | Promise<void>
  /** Digits of a code (default 6). */
  otpLength?: number
  /** Seconds a code lives (default 300). */
  expiresIn?: number
  /** Wrong codes before a code is void (default 3). */
  allowedAttempts?: number
  /** Creates the user of an unknown number at verification, with these email and name. */
  signUpOnVerification?: {
    getTempEmail: (phoneNumber: string) => string | Promise<string>
    getTempName?: (phoneNumber: string) => string | Promise<string>
  }
  /** Password sign-in by number refuses a number not yet verified (and texts it a code). */
  requireVerification?: boolean
  /** Accepts a number as sent, before it is normalized to E.164; only `true` accepts. */
  phoneNumberValidator?: (phoneNumber: string) => boolean | Promise<boolean>
}

/** Phone numbers (stored in E.164): verification by texted code, sign-in by code or password. */
export declare function phoneNumber(options: PhoneNumberOptions): KavachPlugin<'phone-number', PhoneNumberOptions>

export interface OneTapOptions {
  /** Your Google client ID: the ID token's audience (`aud`) must be it. Required. */
  clientId: string
  /** Refuse to create a user for a Google account that has none here (default false). */
  disableSignup?: boolean
  /** The ID tokens' issuer (default `https://accounts.google.com`; Google's bare `accounts.google.com` is accepted too). */
  issuer?: string
  /** The issuer's key set (default `https://www.googleapis.com/oauth2/v3/certs`). Cached; fetched again for an unknown `kid`. */
  jwksUrl?: string
  /** The provider id the linked accounts are stored under (default `google`, the same as the OAuth redirect sign-in). */
  providerId?: string
}
/**
 * Google One Tap (better-auth's `oneTap`): `POST /auth/one-tap/callback { idToken, callbackURL? }`
 * verifies the ID token (signature against the JWKS, `iss`, `aud`, `exp`) and signs its holder in or
 * up, answering `{ token, user }` with the session cookie.
 */
export declare function oneTap(options: OneTapOptions): KavachPlugin<'one-tap', OneTapOptions>

/** `siwe({ verifyMessage })`'s argument (better-auth's `SIWEVerifyMessageArgs`). */
export interface SIWEVerifyMessageArgs {
  /** The EIP-4361 message as signed. */
  message: string
  /** The signature as sent (hex). */
  signature: string
  /** The message's address, EIP-55 checksummed. */
  address: string
  chainId: number
  cacao?: {
    h: { t: 'caip122' }
    p: { domain: string; aud: string; nonce: string; iss: string; version?: string }
    s: { t: 'eip191' | 'eip1271'; s: string }
  }
}
export interface SiweOptions {
  /** The RFC 3986 authority (`host[:port]`) that messages must name as their `domain`; their `URI` must be on it too. Required. */
  domain: string
  /** The domain of the email made up for a new wallet user (`<address>@<emailDomainName>`); default: `domain`'s host. */
  emailDomainName?: string
  /** Default true: users need no email. With false, `/auth/siwe/verify` requires `email` (used for a new user when no one has it). */
  anonymous?: boolean
  /** Chooses a nonce (8 to 128 letters and digits); default: 17 random ones. Nonces are stored hashed and work once. */
  getNonce?: (input: { walletAddress: string; chainId: number }) => string | Promise<string>
  /** Decides whether the signature is the address's (e.g. for smart-contract wallets, EIP-1271); default: native secp256k1 recovery (EIP-191). */
  verifyMessage?: (args: SIWEVerifyMessageArgs) => boolean | Promise<boolean>
  /** Names a new wallet user (`name`) and gives its image (`avatar`). */
  ensLookup?: (args: { walletAddress: string }) => { name?: string; avatar?: string } | Promise<{ name?: string; avatar?: string }>
}
/**
 * Sign-In with Ethereum (better-auth's `siwe`, EIP-4361): `POST /auth/siwe/nonce { walletAddress, chainId? }`
 * (or GET with the same query) answers `{ nonce }`; `POST /auth/siwe/verify { message, signature,
 * walletAddress?, chainId?, email? }` checks the signed message (domain, URI, chain, nonce, times,
 * signature) and signs the wallet's user in or up, answering `{ token, success, user: { id,
 * walletAddress, chainId } }` with the session cookie.
 */
export declare function siwe(options: SiweOptions): KavachPlugin<'siwe', SiweOptions>
export interface DeviceAuthorizationOptions {
  /** Lifetime of a device code: seconds, or a duration like `'30m'` (default 30 minutes). */
  expiresIn?: number | `${number}${'s' | 'm' | 'h' | 'd'}`
  /** Seconds a device waits between polls: a number or `'5s'` (default 5); `slow_down` adds 5. */
  interval?: number | `${number}${'s' | 'm' | 'h' | 'd'}`
  /** Letters of a user code (default 8, 6 to 32), from `BCDFGHJKLMNPQRSTVWXZ`, shown as `XXXX-XXXX`. */
  userCodeLength?: number
  /** Characters of a device code (default 40, 22 to 191). */
  deviceCodeLength?: number
  /** The user-code page: an absolute URL or a path on the app's origin (default `/device`). */
  verificationUri?: string
  /** Accepts a `client_id` at `/auth/device/code` and `/auth/device/token`; only `true` accepts. */
  validateClient?: (clientId: string) => boolean | Promise<boolean>
  /** Awaited for each accepted request before the codes are drawn; a throw refuses it (`invalid_request`). */
  onDeviceAuthRequest?: (clientId: string, scope: string | undefined) => void | Promise<void>
  /** better-auth's field renames: accepted, without effect (kavachos's table is fixed). */
  schema?: Record<string, unknown>
}

/**
 * RFC 8628 device authorization: `POST /auth/device/code` and `POST /auth/device/token` (form or
 * JSON bodies, RFC 6749 error answers), `GET /auth/device?user_code=` (the user-code page's
 * lookup; claims the code for the signed-in user), `POST /auth/device/approve|deny { userCode }`.
 * The token is a session token: send it as `Authorization: Bearer <token>`.
 */
export declare function deviceAuthorization(options?: DeviceAuthorizationOptions): KavachPlugin<'device-authorization', DeviceAuthorizationOptions>
export interface PasskeyOptions {
  /** The relying party id passkeys are bound to (default: the host of `origin`, else of `baseUrl`, else of the request). */
  rpID?: string
  /** Shown by the authenticator (default 'kavachos'). */
  rpName?: string
  /** The origin(s) the browser answers from (default: `baseUrl`'s, else the request's). */
  origin?: string | string[] | null
}

/**
 * WebAuthn passkeys (better-auth's `passkey`): `GET /auth/passkey/generate-register-options`,
 * `POST /auth/passkey/verify-registration`, `GET /auth/passkey/generate-authenticate-options`,
 * `POST /auth/passkey/verify-authentication`, `GET /auth/passkey/list-user-passkeys`,
 * `POST /auth/passkey/update-passkey`, `POST /auth/passkey/delete-passkey`.
 */
export declare function passkey(options?: PasskeyOptions): KavachPlugin<'passkey', PasskeyOptions>
