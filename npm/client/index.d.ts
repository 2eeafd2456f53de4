// @kavachos/client: typed calls to the kavachos HTTP API. Every call resolves to a `Result`, network
// failures included (`NETWORK_ERROR`); none throws. Timestamps (`createdAt`, `updatedAt`,
// `expiresAt`, `timestamp`, `banExpires`) arrive as ISO strings and are converted to `Date`s.

/** A stable error code: the API's own (`UNAUTHORIZED`, `INVALID_CREDENTIALS`, `NOT_FOUND`, ...), or `NETWORK_ERROR`, `INVALID_RESPONSE`, `CONFIG_INVALID`, `HTTP_<status>` from the client. */
export type KavachClientErrorCode =
  | 'NETWORK_ERROR'
  | 'INVALID_RESPONSE'
  | 'CONFIG_INVALID'
  | 'VALIDATION_FAILED'
  | 'INVALID_JSON'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'INVALID_CREDENTIALS'
  | 'EMAIL_NOT_VERIFIED'
  | 'INVALID_ORIGIN'
  | 'INVALID_TOKEN'
  | 'RATE_LIMITED'
  | 'CONFLICT'
  | 'LAST_OWNER'
  | 'FAILED_TO_UNLINK_LAST_ACCOUNT'
  | (string & {})

export interface KavachClientError {
  code: KavachClientErrorCode
  message: string
}

/** `{ success: true, data }` or `{ success: false, error: { code, message } }`: the server-side facade's shape. */
export type Result<T> =
  | { success: true; data: T; error?: undefined }
  | { success: false; data?: undefined; error: KavachClientError }

export interface User {
  id: string
  email: string
  name: string | null
  emailVerified: boolean
  image: string | null
  /** With the admin plugin. */
  role?: string | null
  banned?: boolean | null
  banReason?: string | null
  banExpires?: Date | null
  /** With `username()`: lowercased, and as typed. */
  username?: string
  displayUsername?: string
  /** With `phoneNumber()`, in E.164. */
  phoneNumber?: string
  phoneNumberVerified?: boolean
  /** A guest of `anonymous()`. */
  isAnonymous?: boolean
  createdAt: Date
  updatedAt: Date
  /** The server's `user.additionalFields`. */
  [field: string]: unknown
}

export interface Session {
  id: string
  userId: string
  expiresAt: Date
  ipAddress: string | null
  userAgent: string | null
  /** With the organization plugin, after `organizations.setActive`. */
  activeOrganizationId?: string | null
  /** With the admin plugin: the admin who is impersonating. */
  impersonatedBy?: string | null
  createdAt: Date
  updatedAt: Date
}

/** The signed-in user and their session. */
export type OneTapInput =
  | { idToken: string; callbackURL?: string }
  | {
      clientId: string
      callbackURL?: string
      autoSelect?: boolean
      cancelOnTapOutside?: boolean
      context?: 'signin' | 'signup' | 'use'
      onPromptNotification?: (notification: unknown) => void
    }
/** A passkey as `passkey.listUserPasskeys` answers it (better-auth's shape; the public key stays on the server). */
export interface Passkey {
  id: string
  name: string | null
  userId: string
  credentialID: string
  counter: number
  deviceType: 'singleDevice' | 'multiDevice'
  backedUp: boolean
  transports: string | null
  aaguid: string | null
  createdAt: Date
}

export interface SessionData {
  user: User
  session: Session
}

/** Sign-in either signs in or, for a user with two-factor on, asks for `twoFactor.verify`. */
export type SignInData =
  | (SessionData & { twoFactorRequired?: undefined })
  | { twoFactorRequired: true; user?: undefined; session?: undefined }

/** `session` is null when email verification is required before the first sign-in. */
export interface SignUpData {
  user: User
  session: Session | null
}

export type AgentType = 'autonomous' | 'delegated' | 'service'
export type AgentStatus = 'active' | 'revoked' | 'expired'

export interface PermissionConstraints {
  maxCallsPerHour?: number
  requireApproval?: boolean
  /** `HH:MM` in UTC. */
  timeWindow?: { start: string; end: string }
  ipAllowlist?: string[]
  allowedArgPatterns?: string[]
}

export interface Permission {
  resource: string
  actions: string[]
  constraints?: PermissionConstraints
}

export interface Agent {
  id: string
  ownerId: string
  name: string
  type: AgentType
  status: AgentStatus
  permissions: Permission[]
  metadata: Record<string, unknown> | null
  tokenPrefix: string
  expiresAt: Date | null
  createdAt: Date
  updatedAt: Date
}

/** From `create` and `rotate` only: the token is shown once. */
export interface AgentWithToken extends Agent {
  token: string
}

export interface CreateAgentInput {
  name: string
  type: AgentType
  permissions: Permission[]
  /** Sent as milliseconds. */
  expiresAt?: Date | string | number | null
  metadata?: Record<string, unknown>
  /** Always the signed-in user: naming anyone else is refused with FORBIDDEN. */
  ownerId?: string
}

export interface UpdateAgentInput {
  name?: string
  permissions?: Permission[]
  /** `null` removes the expiry. */
  expiresAt?: Date | string | number | null
  metadata?: Record<string, unknown> | null
}

export interface AgentFilter {
  status?: AgentStatus
  type?: AgentType
  limit?: number
  offset?: number
}

export interface AuthorizeRequest {
  action: string
  resource: string
  arguments?: Record<string, unknown>
  ip?: string
}

export type DenialCode =
  | 'NO_PERMISSION'
  | 'AGENT_NOT_FOUND'
  | 'AGENT_REVOKED'
  | 'AGENT_EXPIRED'
  | 'INVALID_TOKEN'
  | 'RATE_LIMITED'
  | 'APPROVAL_REQUIRED'
  | 'OUTSIDE_TIME_WINDOW'
  | 'IP_NOT_ALLOWED'
  | 'ARGUMENT_REJECTED'

/** A denial is an answer (`success: true`, `allowed: false`), not an error. */
export interface AuthorizeResult {
  allowed: boolean
  reason?: string
  code?: DenialCode
  auditId: string | null
}

/** Entries of the signed-in user's agents only. */
export interface AuditFilter {
  agentId?: string
  since?: Date | string | number
  until?: Date | string | number
  actions?: string[]
  result?: 'allowed' | 'denied'
  limit?: number
  offset?: number
}

export interface AuditEntry {
  id: string
  agentId: string
  userId: string
  action: string
  resource: string
  parameters: Record<string, unknown> | null
  result: 'allowed' | 'denied'
  code: DenialCode | null
  reason: string | null
  ip: string | null
  durationMs: number
  timestamp: Date
}

export interface Organization {
  id: string
  name: string
  slug: string
  ownerId: string
  metadata: Record<string, unknown> | null
  createdAt: Date
  updatedAt: Date
}

export type OrganizationRole = 'owner' | 'admin' | 'member' | (string & {})

export interface Member {
  id: string
  organizationId: string
  userId: string
  role: OrganizationRole
  createdAt: Date
}

export type InvitationStatus = 'pending' | 'accepted' | 'declined' | 'canceled' | 'expired'

export interface Invitation {
  id: string
  organizationId: string
  email: string
  role: OrganizationRole
  status: InvitationStatus
  inviterId: string | null
  expiresAt: Date
  createdAt: Date
}

export interface Jwk {
  kty: string
  kid?: string
  alg?: string
  use?: string
  [key: string]: unknown
}

/** What the OAuth routes answer: the provider's authorization URL (`redirect` true: the page goes there). */
export interface SocialRedirect {
  url: string
  redirect: boolean
}

export interface SignInSocialInput {
  /** A provider id of the server's `oauth({ providers })`: `github`, `google`, ... or a generic provider's id. */
  provider: string
  /** Where the browser lands signed in (a path or a URL on the app's origin; default `/`). */
  callbackURL?: string
  /** Where the browser lands when the sign-in fails, with `?error=<CODE>`. */
  errorCallbackURL?: string
  /** Where a user signed up by this sign-in lands (default `callbackURL`). */
  newUserCallbackURL?: string
  /** Answer the URL without leaving the page. */
  disableRedirect?: boolean
}

export interface LinkSocialInput {
  provider: string
  /** Where the browser lands once the account is linked. */
  callbackURL?: string
  errorCallbackURL?: string
  /** Answer the URL without leaving the page (client side). */
  disableRedirect?: boolean
}

/** A provider account linked to the signed-in user. */
export interface LinkedAccount {
  id: string
  /** `github`, `google`, ... or a generic provider's id; `credential` for the email-and-password account. */
  providerId: string
  /** The user's id at the provider. */
  accountId: string
  userId: string
  scopes: string[]
  createdAt: Date
  updatedAt: Date
}

type HeadersOption = HeadersInit | (() => HeadersInit | undefined | Promise<HeadersInit | undefined>)
type TokenOption = string | (() => string | null | undefined | Promise<string | null | undefined>)

export interface MagicLinkInput {
  email: string
  name?: string
  /** A path (or a URL on the app's own origin) to land on, signed in. */
  callbackURL?: string
  newUserCallbackURL?: string
  /** Where a used or expired link lands, with `?error=<CODE>`. */
  errorCallbackURL?: string
}

export type EmailOtpType = 'sign-in' | 'email-verification' | 'forget-password'

/** An API key as listed (never the key itself). */
export interface ApiKey {
  id: string
  name: string | null
  /** The key's first characters, to tell keys apart. */
  start: string | null
  prefix: string | null
  userId: string
  enabled: boolean
  remaining: number | null
  expiresAt: Date | null
  createdAt: Date
  updatedAt: Date
  metadata?: Record<string, unknown> | null
  permissions?: Record<string, string[]> | null
  [field: string]: unknown
}

export interface KavachClientOptions {
  /**
   * The API's URL. It may include the mount path (`http://localhost:3000/api/kavach`); a bare origin
   * gets `basePath`. Omit it in the browser to call `basePath` on the page's own origin.
   */
  baseUrl?: string
  /** Where the API is mounted (default `/api/kavach`); not added again when `baseUrl` already ends with it. */
  basePath?: string
  /** A fetch to use instead of the global one. */
  fetch?: typeof globalThis.fetch
  /** Headers sent with every call, or a function returning them (e.g. to forward a request's cookie). */
  headers?: HeadersOption
  /** A session token sent as `Authorization: Bearer ...`. */
  token?: TokenOption
  /**
   * Outside a browser, cookies the API sets (the session) are kept in memory and sent back, so a Node
   * script can sign in and then call agents. `false` turns that off (do so for a client shared by a
   * server between users). Browsers keep cookies themselves.
   */
  cookies?: boolean
  /** Default `include`. */
  credentials?: RequestCredentials
}

/** `{ user, session }` after a sign-in, `null` after a sign-out, `undefined` when the session should be read again. */
export type SessionChange = SessionData | null | undefined

export interface KavachClient {
  /** The API's address, e.g. `http://localhost:3000/api/kavach` or `/api/kavach`. */
  readonly baseUrl: string
  auth: {
    signUp(input: { email: string; password: string; name?: string; image?: string }): Promise<Result<SignUpData>>
    signIn(input: { email: string; password: string }): Promise<Result<SignInData>>
    /** `{ all: true }` ends every session of the user. */
    signOut(input?: { all?: boolean }): Promise<Result<void>>
    /** `data` is null when nobody is signed in. */
    getSession(): Promise<Result<SessionData | null>>
    /** Answers the same whether or not the email has an account. */
    forgotPassword(input: { email: string; redirectTo?: string }): Promise<Result<void>>
    resetPassword(input: { token: string; newPassword: string }): Promise<Result<void>>
    /** Ends the user's other sessions unless `revokeOtherSessions: false`. */
    changePassword(input: { currentPassword: string; newPassword: string; revokeOtherSessions?: boolean }): Promise<Result<void>>
    sendVerificationEmail(input?: { callbackURL?: string }): Promise<Result<void>>
    verifyEmail(input: { token: string } | string): Promise<Result<User>>
  }
  /** Sign-in methods under better-auth's client names (email and password: `auth.signIn`). */
  signIn: {
    /**
     * OAuth sign-in (`POST /auth/sign-in/social`, the server's `oauth()` plugin). In a browser the page
     * then goes to the provider (`window.location.href = data.url`) unless `disableRedirect`; the
     * provider sends the user back to the API's callback, which lands on `callbackURL` signed in.
     */
    social(input: SignInSocialInput): Promise<Result<SocialRedirect>>
    /** `magicLink()`: emails a link that signs in (or up); the link lands on `callbackURL` signed in. */
    magicLink(input: MagicLinkInput): Promise<Result<{ status: boolean }>>
    /** `emailOTP()`: signs in (or up) with the emailed code. */
    emailOtp(input: { email: string; otp: string }): Promise<Result<SessionData>>
    /** `username()`: may answer `{ twoFactorRequired: true }` as `auth.signIn` does. */
    username(input: { username: string; password: string; rememberMe?: boolean }): Promise<Result<SignInData>>
    /** `phoneNumber()`: the number and its account's password. */
    phoneNumber(input: { phoneNumber: string; password: string; rememberMe?: boolean }): Promise<Result<SignInData>>
    /** `anonymous()`: a guest session; signing in or up later links and removes the guest. */
    anonymous(): Promise<Result<SessionData>>
    /**
     * `passkey()`: the browser's WebAuthn ceremony (`navigator.credentials.get`), then the session.
     * Without `email` the browser offers a discoverable passkey; `autoFill` uses conditional mediation.
     * Errors: AUTH_CANCELLED, PASSKEY_NOT_FOUND, AUTHENTICATION_FAILED, USER_BANNED, WEBAUTHN_UNSUPPORTED.
     */
    passkey(input?: { email?: string; autoFill?: boolean }): Promise<Result<SessionData>>
  }
  /** `passkey()`: the signed-in user's passkeys. */
  passkey: {
    /** Runs `navigator.credentials.create` with the server's options and stores the passkey (PREVIOUSLY_REGISTERED, REGISTRATION_CANCELLED). */
    addPasskey(input?: { name?: string; authenticatorAttachment?: 'platform' | 'cross-platform'; createSession?: boolean }): Promise<Result<Passkey & Partial<SessionData>>>
    listUserPasskeys(): Promise<Result<Passkey[]>>
    updatePasskey(input: { id: string; name: string }): Promise<Result<{ passkey: Passkey }>>
    deletePasskey(input: { id: string } | string): Promise<Result<{ status: boolean }>>
  }
  /** `magicLink()`: opens a link's token in this client (a page usually just follows the link). */
  magicLink: {
    verify(input: { query: { token: string; callbackURL?: string } } | { token: string; callbackURL?: string }): Promise<Result<SessionData>>
  }
  /** `emailOTP()`'s routes. */
  emailOtp: {
    sendVerificationOtp(input: { email: string; type: EmailOtpType }): Promise<Result<{ success: boolean }>>
    /** Checks a code without using it up (a wrong one counts as a try). */
    checkVerificationOtp(input: { email: string; type: EmailOtpType; otp: string }): Promise<Result<{ success: boolean }>>
    verifyEmail(input: { email: string; otp: string }): Promise<Result<{ status: boolean; user: User } & Partial<SessionData>>>
    resetPassword(input: { email: string; otp: string; password: string }): Promise<Result<{ success: boolean }>>
  }
  forgetPassword: {
    /** Sends a `forget-password` code for `emailOtp.resetPassword`. */
    emailOtp(input: { email: string }): Promise<Result<{ success: boolean }>>
  }
  /** `phoneNumber()`'s routes. */
  phoneNumber: {
    sendOtp(input: { phoneNumber: string }): Promise<Result<{ message: string }>>
    /** Verifies the texted code: signs in (or up, with `signUpOnVerification`) unless `disableSession`; `updatePhoneNumber` sets it on the signed-in user. */
    verify(input: { phoneNumber: string; code: string; disableSession?: boolean; updatePhoneNumber?: boolean }): Promise<Result<{ status: boolean; user: User } & Partial<SessionData>>>
  }
  /**
   * Google One Tap (the server's `oneTap()`, `POST /auth/one-tap/callback`): posts `idToken` when
   * given; in a browser without one, loads Google Identity Services and shows its prompt for
   * `clientId`, then posts the credential. `ONE_TAP_DISMISSED` when the prompt is not shown.
   */
  oneTap(input: OneTapInput): Promise<Result<SessionData & { token: string }>>
  /** Sign-In with Ethereum (the server's `siwe()`, EIP-4361). */
  siwe: {
    /** A single-use nonce for this wallet and chain (default chain 1), to put in the message. */
    nonce(input: { walletAddress: string; chainId?: number }): Promise<Result<{ nonce: string }>>
    /** Checks the signed message and signs the wallet's user in (or up); the session cookie is set. */
    verify(input: { message: string; signature: string; walletAddress?: string; chainId?: number; email?: string }): Promise<Result<{ token: string; success: boolean; user: { id: string; walletAddress: string; chainId: number } }>>
  }
  /** `username()`: whether a username is free. */
  isUsernameAvailable(input: { username: string }): Promise<Result<{ available: boolean }>>
  /** Changes the signed-in user's name, image and plugin fields (`username`, additional fields). */
  updateUser(input: { name?: string; image?: string; username?: string; displayUsername?: string; [field: string]: unknown }): Promise<Result<{ status: boolean; user: User }>>
  /** `apiKey()`: the signed-in user's API keys; the key itself is only in `create`'s answer. */
  apiKey: {
    create(input?: { name?: string; expiresIn?: number | null; prefix?: string; metadata?: Record<string, unknown> }): Promise<Result<ApiKey & { key: string }>>
    /** `data` is null for an unknown key (or another user's). */
    get(input: { query: { id: string } } | { id: string } | string): Promise<Result<ApiKey | null>>
    list(): Promise<Result<ApiKey[]>>
    update(input: { keyId: string; name?: string; enabled?: boolean; metadata?: Record<string, unknown> }): Promise<Result<ApiKey>>
    delete(input: { keyId: string }): Promise<Result<{ success: boolean }>>
  }
  /**
   * `deviceAuthorization()` (RFC 8628). Called as a function it is the user-code page's lookup
   * (`GET /auth/device?user_code=`), which claims the code for the signed-in user.
   */
  device: DeviceClient
  /** Links another provider account to the signed-in user (the page goes to the provider, as `signIn.social`). */
  linkSocial(input: LinkSocialInput): Promise<Result<SocialRedirect>>
  /** The signed-in user's linked accounts. */
  listAccounts(): Promise<Result<LinkedAccount[]>>
  /** Refused with FAILED_TO_UNLINK_LAST_ACCOUNT for the user's last account. `accountId` picks one of several at that provider. */
  unlinkAccount(input: { providerId: string; accountId?: string }): Promise<Result<void>>
  agents: {
    /** The owner is the signed-in user. */
    create(input: CreateAgentInput): Promise<Result<AgentWithToken>>
    list(filter?: AgentFilter): Promise<Result<Agent[]>>
    /** `data` is null for an unknown agent or another owner's. */
    get(id: string): Promise<Result<Agent | null>>
    update(id: string, patch: UpdateAgentInput): Promise<Result<Agent>>
    revoke(id: string): Promise<Result<void>>
    rotate(id: string): Promise<Result<AgentWithToken>>
  }
  /** For one of the signed-in user's agents. */
  authorize(agentId: string, request: AuthorizeRequest): Promise<Result<AuthorizeResult>>
  /** As the agent holding `token` (sent as a Bearer token; no session needed). */
  authorizeByToken(token: string, request: AuthorizeRequest): Promise<Result<AuthorizeResult>>
  audit: {
    query(filter?: AuditFilter): Promise<Result<AuditEntry[]>>
    /** JSON (an array) or CSV with a header row, as text. */
    export(options: AuditFilter & { format: 'json' | 'csv' }): Promise<Result<string>>
  }
  /** The organization plugin's routes (404 NOT_FOUND when the plugin is off). */
  organizations: {
    /** The signed-in user becomes the owner. */
    create(input: { name: string; slug?: string; metadata?: Record<string, unknown> }): Promise<Result<Organization>>
    /** The signed-in user's organizations. */
    list(): Promise<Result<Organization[]>>
    get(id: string): Promise<Result<Organization | null>>
    update(id: string, patch: { name?: string; slug?: string; metadata?: Record<string, unknown> | null }): Promise<Result<Organization>>
    delete(id: string): Promise<Result<void>>
    members: {
      list(input: { organizationId: string }): Promise<Result<Member[]>>
      add(input: { organizationId: string; userId: string; role: OrganizationRole }): Promise<Result<Member>>
      updateRole(input: { organizationId: string; userId: string; role: OrganizationRole }): Promise<Result<Member>>
      /** Anyone may leave; refused with LAST_OWNER for the last owner. */
      remove(input: { organizationId: string; userId: string }): Promise<Result<Member>>
    }
    invitations: {
      list(input: { organizationId: string }): Promise<Result<Invitation[]>>
      create(input: { organizationId: string; email: string; role: OrganizationRole }): Promise<Result<Invitation>>
      cancel(input: { organizationId: string; invitationId: string }): Promise<Result<void>>
      /** Pending invitations for the signed-in user's email (EMAIL_NOT_VERIFIED until it is verified). */
      listMine(): Promise<Result<Invitation[]>>
      /** One invitation addressed to the signed-in user, with its organization; null when there is none. */
      get(invitationId: string): Promise<Result<{ invitation: Invitation; organization: { id: string; name: string; slug: string } | null } | null>>
      accept(invitationId: string): Promise<Result<Member>>
      decline(invitationId: string): Promise<Result<Invitation>>
    }
    listMembers(input: { organizationId: string }): Promise<Result<Member[]>>
    addMember(input: { organizationId: string; userId: string; role: OrganizationRole }): Promise<Result<Member>>
    updateMemberRole(input: { organizationId: string; userId: string; role: OrganizationRole }): Promise<Result<Member>>
    removeMember(input: { organizationId: string; userId: string }): Promise<Result<Member>>
    acceptInvitation(invitationId: string): Promise<Result<Member>>
    declineInvitation(invitationId: string): Promise<Result<Invitation>>
    /** Sets (or with null clears) the session's active organization. */
    setActive(organizationId: string | null | { organizationId: string | null }): Promise<Result<{ session: Session }>>
    /** Whether the signed-in user's role grants the permission(s) (`resource:action`; all of them when a list). */
    hasPermission(input: { organizationId: string; permission: string | string[] }): Promise<Result<{ allowed: boolean }>>
  }
  /** The admin plugin's routes: users with role `admin` only (others FORBIDDEN). */
  admin: {
    listUsers(input?: { search?: string; limit?: number; offset?: number }): Promise<Result<{ users: User[]; total: number }>>
    getUser(id: string): Promise<Result<User | null>>
    /** Removes the user, their sessions and accounts, and revokes their agents. */
    removeUser(id: string): Promise<Result<void>>
    /** Ends the user's sessions and revokes their agents at once. `expiresAt` is sent as milliseconds. */
    banUser(id: string, input?: { reason?: string; expiresAt?: Date | string | number }): Promise<Result<User>>
    unbanUser(id: string): Promise<Result<User>>
    setRole(id: string, role: string | { role: string }): Promise<Result<User>>
    /** This client then holds the impersonation session. */
    impersonateUser(id: string): Promise<Result<SessionData>>
    /** The admin's own session back. */
    stopImpersonating(): Promise<Result<SessionData>>
  }
  /** The two-factor plugin's routes. */
  twoFactor: {
    status(): Promise<Result<{ enabled: boolean }>>
    /** Pending until `activate` with a code from the authenticator. */
    enable(input: { password: string }): Promise<Result<{ totpURI: string; secret: string; backupCodes: string[] }>>
    activate(input: { code: string }): Promise<Result<{ enabled: true }>>
    disable(input: { password: string }): Promise<Result<{ enabled: false }>>
    /** A new set; the old codes stop working. */
    generateBackupCodes(input: { password: string }): Promise<Result<{ backupCodes: string[] }>>
    /** Completes a sign-in that answered `{ twoFactorRequired: true }`. */
    verify(input: { code: string; trustDevice?: boolean } | { backupCode: string; trustDevice?: boolean }): Promise<Result<SessionData>>
  }
  /** The jwt plugin's routes. */
  jwt: {
    /** A JWT for the signed-in user. */
    getToken(): Promise<Result<{ token: string }>>
    getJwks(): Promise<Result<{ keys: Jwk[] }>>
  }
  /** Calls `listener` after calls that change the session. Returns an unsubscribe function. */
  onSessionChange(listener: (change: SessionChange) => void): () => void
  /** Any route of the API (path relative to the mount), as a Result; JSON bodies get Dates too. */
  request<T = unknown>(
    method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
    path: string,
    init?: { body?: unknown; query?: Record<string, string | number | boolean | Date | string[] | undefined | null>; text?: boolean },
  ): Promise<Result<T>>
}

/** Creates a client for the kavachos HTTP API (`credentials: 'include'`, JSON in and out). */
export declare function createKavachClient(options?: KavachClientOptions): KavachClient

/** Turns the ISO timestamps of an API body into Dates, in place (metadata and permissions are left alone). */
export declare function reviveDates<T>(value: T): T

/** The API address a `baseUrl` and `basePath` give. */
export declare function resolveBase(baseUrl?: string, basePath?: string): string

/** What a device receives from `device.code()`. */
export interface DeviceCodeResponse {
  device_code: string
  /** Shown to the user as `XXXX-XXXX`. */
  user_code: string
  verification_uri: string
  /** `verification_uri` with `?user_code=`. */
  verification_uri_complete: string
  /** Seconds the codes live. */
  expires_in: number
  /** Seconds to wait between polls. */
  interval: number
}

/** The device's token: a session token, sent as `Authorization: Bearer <access_token>`. */
export interface DeviceTokenResponse {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  scope: string
}

/**
 * An RFC 8628 failure of `device.code()` / `device.token()`: `code` is the RFC name upper-cased
 * (`AUTHORIZATION_PENDING`, `SLOW_DOWN`, `EXPIRED_TOKEN`, `ACCESS_DENIED`, `INVALID_GRANT`, ...),
 * `error` and `error_description` as the server sent them.
 */
export type DeviceResult<T> =
  | { success: true; data: T; error?: undefined }
  | {
      success: false
      data?: undefined
      error: KavachClientError & {
        error?: 'authorization_pending' | 'slow_down' | 'expired_token' | 'access_denied' | 'invalid_grant' | 'invalid_request' | 'invalid_client' | 'unsupported_grant_type' | (string & {})
        error_description?: string
      }
    }

export interface DeviceClient {
  /** The user-code page's lookup; `client_id` and `scope` only for the user who claimed the code. */
  (input: { query: { user_code: string } } | { user_code: string } | string): Promise<
    Result<{ user_code: string; status: 'pending' | 'approved' | 'denied'; client_id?: string; scope?: string | null }>
  >
  /** `POST /auth/device/code`. */
  code(input: { client_id: string; scope?: string; user_id?: string }): Promise<DeviceResult<DeviceCodeResponse>>
  /** `POST /auth/device/token`; `grant_type` defaults to RFC 8628's. */
  token(input: { device_code: string; client_id: string; grant_type?: 'urn:ietf:params:oauth:grant-type:device_code' }): Promise<DeviceResult<DeviceTokenResponse>>
  /** The signed-in user who looked the code up approves it. */
  approve(input: { userCode: string }): Promise<Result<{ success: boolean }>>
  /** The signed-in user who looked the code up denies it. */
  deny(input: { userCode: string }): Promise<Result<{ success: boolean }>>
}
