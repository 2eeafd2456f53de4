// kavachos: typings of the documented API. The native binding's own generated types are in
// binding.d.ts; this file is the facade users import.

/** A stable error code. Switch on it; never parse `message`. */
export type KavachErrorCode =
  | 'CONFIG_INVALID'
  | 'DB_UNREACHABLE'
  | 'DB_UNAVAILABLE'
  | 'MIGRATION_FAILED'
  | 'VALIDATION_FAILED'
  | 'NOT_FOUND'
  | 'AGENT_LIMIT_REACHED'
  | 'CONFLICT'
  | 'CLOSED'
  | 'RATE_LIMIT_UNAVAILABLE'
  | 'EXPORT_TOO_LARGE'
  | 'DATABASE_ERROR'
  | 'INTERNAL_ERROR'

/** Thrown by every kavachos call that does not return a `Result`. */
export declare class KavachError extends Error {
  constructor(code: KavachErrorCode | (string & {}), message: string, options?: { cause?: unknown })
  readonly name: 'KavachError'
  readonly code: KavachErrorCode | (string & {})
}

/** `{ success: true, data }` or `{ success: false, error: { code, message } }`. */
export type Result<T> =
  | { success: true; data: T; error?: undefined }
  | { success: false; data?: undefined; error: { code: string; message: string } }

export type DatabaseProvider = 'sqlite' | 'postgres' | 'postgresql' | 'mysql'

export interface DatabaseConfig {
  /** `sqlite` (embedded, the default), `postgres` or `mysql` (MariaDB too). */
  provider: DatabaseProvider
  /** A connection URL; for SQLite a file path, `file:...`, `sqlite:...` or `:memory:`. */
  url: string
  /** Do not run migrations on boot (same as the top-level `skipMigrations`). */
  skipMigrations?: boolean
  pool?: {
    maxConnections?: number
    minConnections?: number
    /** Seconds to wait for a connection. */
    acquireTimeout?: number
  }
  /** SQLite: `normal` (default; survives a process crash) or `full` (fsync per commit; survives power loss). */
  durability?: 'normal' | 'full'
}

export interface KavachConfig {
  database: DatabaseConfig
  /** At least 32 characters. Required unless NODE_ENV is development or test. */
  secret?: string
  /** The app's public URL. */
  baseUrl?: string
  /** Where the HTTP API is mounted (default `/api/kavach`). */
  basePath?: string
  /** Do not run migrations on boot; run `kavach-cli migrate` instead. */
  skipMigrations?: boolean
  /**
   * `createKavach` answers the instance already open in this process for the same configuration
   * (Next.js evaluates route modules more than once, dev hot reload again on every edit); the newest
   * callbacks are the ones called, and the pools close when every holder has called `close()`.
   * `false` opens a separate instance. A `:memory:` database is never shared.
   */
  shareInstance?: boolean
  agents?: {
    /** Active agents one owner may hold (default 10). */
    maxPerOwner?: number
    /** Default lifetime of new agents: seconds, or `'30d'`, `'12h'`, `'15m'`, `'90s'`. Default: none. */
    tokenExpiry?: number | string
    /** `requireApproval`: how long an approval waits, and stays usable once approved (seconds, default 3600); used `'once'` (default) or until it expires (`'ttl'`). */
    approvals?: { expiresIn?: number; reuse?: 'once' | 'ttl' }
  }
  trustedOrigins?: string[]
  /**
   * Headers a proxy in front of the app sets to the client's address (`['x-forwarded-for']`,
   * `['x-real-ip']`, `['forwarded']`): per-IP rate limits then count the address in the first of them
   * the request carries (for `x-forwarded-for` and `forwarded`, the last entry, the one the proxy
   * appended). Default: none, only the socket address the shim or `handler(request, { clientIp })`
   * passes. Set it only behind a proxy that overwrites or appends these headers.
   */
  trustedProxyHeaders?: string[]
  /** Email and password sign-in (the HTTP routes `/auth/sign-up`, `/auth/sign-in`, ...). */
  emailAndPassword?: {
    enabled: boolean
    /** 8 to 128 (default 8; 12 meets ASVS level 2). */
    minPasswordLength?: number
    /** PBKDF2-HMAC-SHA256 iterations for new hashes (default 600,000). */
    pbkdf2Iterations?: number
    /**
     * Verifies a stored hash kavachos does not know (bcrypt and PBKDF2 are verified natively). On a
     * match the password is rehashed with PBKDF2 in the same sign-in.
     */
    verifyLegacyHash?: (input: { storedHash: string; password: string }) => boolean | Promise<boolean>
    /** Delivers a password-reset link (`url` carries the single-use `token`; valid for 1 hour by default). Awaited. */
    sendResetPassword?: (message: { user: User; url: string; token: string }) => void | Promise<void>
    /** Delivers an email-verification link (valid 24 hours). Awaited. */
    sendVerificationEmail?: (message: { user: User; url: string; token: string }) => void | Promise<void>
    /** Sign-up creates no session and sign-in is refused (EMAIL_NOT_VERIFIED) until the email is verified. */
    requireEmailVerification?: boolean
    /** Seconds a reset link stays valid (default 3,600). */
    resetPasswordTokenExpiresIn?: number
  }
  session?: {
    /** Seconds a session lives after its last refresh (default 7 days). */
    expiresIn?: number
    /** Seconds between refreshes of the expiry (default 1 day). */
    updateAge?: number
    /** Default `kavach_session`. */
    cookieName?: string
  }
  /** Largest request body the HTTP API reads, in bytes (default 1 MiB). */
  maxBodySize?: number
  /** Plugins from `kavachos/plugins` (this version refuses them with CONFIG_INVALID until they ship). */
  plugins?: import('./plugins').KavachPlugin[]
  /** Sessions of the library you migrate from, e.g. `[cookieAuth({ secret, cookieName })]` from `kavachos/adapters`. */
  externalAuth?: import('./adapters').ExternalAuthAdapter[]
  /** Limits on the credential routes, kept in the database (windows in seconds). */
  rateLimit?: {
    enabled?: boolean
    /** Default 10 failed sign-ins per account per 900 s. */
    maxFailedSignIns?: number
    failedSignInWindow?: number
    /** Default 30 credential requests per client IP per 60 s. */
    maxCredentialRequestsPerIp?: number
    credentialWindow?: number
    /**
     * Where the counters live: `database` (default) or `redis`, which shares the limits across
     * processes on `url`. A Redis that cannot be reached fails credential routes with
     * `RATE_LIMIT_UNAVAILABLE` (HTTP 503); it never drops the limit.
     */
    storage?: 'database' | 'redis'
    /** `redis://` or `rediss://` URL; required with `storage: 'redis'`. */
    url?: string
  }
  /**
   * The audit log. `retentionDays`: rows older than this many days (a whole number, 1 to 36,500)
   * are deleted in small batches by a background task (a first pass within 30 s of boot, then
   * hourly), never on the hot path. Without it every row is kept.
   */
  audit?: { retentionDays?: number }
  /**
   * Functions kavachos calls in your process. The `before*` hooks are awaited and may refuse with
   * `{ allow: false, reason }` (authorize then denies with code `HOOK_BLOCKED`, audited; agent
   * creation throws `HOOK_BLOCKED`); a `before*` hook that throws refuses too. The others run after
   * the change is committed and never delay or fail the caller (a throw is logged).
   */
  hooks?: KavachHooks
  /** Each event POSTed, signed, to these URLs; written to an outbox in the change's transaction. */
  webhooks?: WebhookConfig[]
  /** The built-in MCP OAuth 2.1 server (issuer `{baseUrl}{basePath}`; needs `baseUrl` and `secret`). */
  mcp?: McpConfig
}

/** A registered MCP client, as `autoApprove` sees it. */
export interface McpClientInfo {
  clientId: string
  clientName: string | null
  redirectUris: string[]
}

export interface McpConfig {
  enabled?: boolean
  /** Each scope a client may ask for, and the permissions the agent acting for it then holds. */
  scopes?: Record<string, Permission[]>
  /** Where authorize sends a visitor without a session, with `?next=<the authorize URL>` (default `/sign-in`). */
  loginPage?: string
  /** The app's consent page (it gets the authorize parameters and POSTs `{ ...them, accept }` back to `/mcp/authorize`); a built-in page otherwise. */
  consentPage?: string
  /** `true` skips consent for this client (first-party clients). */
  autoApprove?: (client: McpClientInfo) => boolean | Promise<boolean>
  /** Seconds (default 3600). */
  accessTokenTtl?: number
  /** Seconds (default 2592000, 30 days). */
  refreshTokenTtl?: number
  /** RFC 7591 registration at `/mcp/register` (default true). */
  allowDynamicRegistration?: boolean
  /** The resource servers' URLs (RFC 8707 `resource`, RFC 9728 metadata). */
  resources?: string[]
}

/** What `kavach.mcp.authenticate` found in a valid access token. */
export interface McpAuth {
  /** The agent acting for the user (the token's `sub`): pass it to `authorize`. */
  agentId: string
  userId: string
  clientId: string
  scopes: string[]
  expiresAt: Date
  token: string
}

export interface McpClientRegistration {
  client_id: string
  client_secret?: string
  client_id_issued_at: number
  client_secret_expires_at?: number
  redirect_uris: string[]
  token_endpoint_auth_method: 'client_secret_basic' | 'client_secret_post' | 'none'
  grant_types: string[]
  response_types: string[]
  client_name?: string
  scope?: string
}

export type KavachEventName =
  | 'user.created'
  | 'user.updated'
  | 'user.deleted'
  | 'session.created'
  | 'session.revoked'
  | 'agent.created'
  | 'agent.revoked'
  | 'agent.rotated'
  | 'approval.requested'
  | 'approval.approved'
  | 'approval.denied'
  | 'organization.created'
  | 'organization.updated'
  | 'organization.deleted'
  | 'member.added'
  | 'member.removed'
  | 'member.updated'
  | 'auth.sign-in'
  | 'auth.sign-up'
  | 'auth.password-reset'
  | 'auth.email-verified'

/** What a listener of `hooks.events` and a webhook receive: `id` is the same on every retry. */
export interface KavachEvent {
  id: string
  event: KavachEventName
  /** ISO 8601 time of the change. */
  timestamp: string
  /** The user, session, agent, organization or member (times as ISO strings); never a hash, token or secret. */
  data: Record<string, unknown>
}

export type HookVerdict = { allow: boolean; reason?: string } | void | undefined | null

export interface KavachHooks {
  beforeAuthorize?: (input: { agentId: string; ownerId: string; action: string; resource: string; arguments: unknown; ip: string | null }) => HookVerdict | Promise<HookVerdict>
  afterAuthorize?: (input: { agentId: string; ownerId: string; action: string; resource: string; allowed: boolean; code: string | null; reason: string | null; auditId: string | null }) => void | Promise<void>
  beforeAgentCreate?: (input: Omit<CreateAgentInput, 'expiresAt'> & { expiresAt?: Date | null }) => HookVerdict | Promise<HookVerdict>
  /** The agent created (never its token). */
  afterAgentCreate?: (agent: Agent) => void | Promise<void>
  onAgentRevoke?: (input: { agentId: string; ownerId: string }) => void | Promise<void>
  /** Every denial of a known agent. */
  onViolation?: (input: { agentId: string; ownerId: string; action: string; resource: string; code: string | null; reason: string | null; auditId: string | null }) => void | Promise<void>
  events?: { [E in KavachEventName]?: (event: KavachEvent) => void | Promise<void> }
}

export interface WebhookConfig {
  url: string
  /** Signs each delivery: `X-Kavach-Signature: sha256=<hex HMAC-SHA256(secret, "<X-Kavach-Timestamp>.<body>")>`. At least 16 characters. */
  secret: string
  /** Event names, or `'*'` for all. */
  events: Array<KavachEventName | '*'>
  /** Retries after the first attempt (default 5). */
  retries?: number
  /** Exponential backoff between attempts (defaults 1,000 ms doubling up to 300,000 ms). */
  backoff?: { initialMs?: number; maxMs?: number }
}

export interface WebhookDelivery {
  id: string
  eventId: string
  event: KavachEventName
  url: string
  status: 'pending' | 'delivered' | 'failed'
  attempts: number
  /** The receiver's last HTTP status. */
  lastStatus: number | null
  lastError: string | null
  nextAttemptAt: Date
  createdAt: Date
  deliveredAt: Date | null
}

export interface User {
  id: string
  email: string
  name: string | null
  emailVerified: boolean
  image: string | null
  createdAt: Date
  updatedAt: Date
  /** `user` by default; `admin` makes an admin under the admin plugin (a comma list may hold several roles). */
  role: string
  banned: boolean
  banReason: string | null
  /** When the ban ends by itself; `null`: never (or not banned). */
  banExpires: Date | null
  /** With `username()`: lowercased (unique ignoring case). */
  username?: string
  /** With `username()`: as the user typed it. */
  displayUsername?: string
  /** With `phoneNumber()`: in E.164. */
  phoneNumber?: string
  phoneNumberVerified?: boolean
}

export interface Session {
  id: string
  userId: string
  expiresAt: Date
  ipAddress: string | null
  userAgent: string | null
  createdAt: Date
  updatedAt: Date
  /** The organization this session acts in (the organization plugin), or null. */
  activeOrganizationId: string | null
  /** The admin's user id when this session is an impersonation (it ends at its TTL, never slides); else `null`. */
  impersonatedBy: string | null
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

/** `owner`, `admin`, `member`, or a role configured with `organization({ roles })`. */
export type OrganizationRole = 'owner' | 'admin' | 'member' | (string & {})

export interface Member {
  id: string
  organizationId: string
  userId: string
  role: OrganizationRole
  createdAt: Date
}

/** An invitation to join an organization, sent by email. */
export interface Invitation {
  id: string
  organizationId: string
  email: string
  role: OrganizationRole
  /** `expired` is a pending invitation past its expiry. */
  status: 'pending' | 'accepted' | 'declined' | 'canceled' | 'expired'
  inviterId: string | null
  expiresAt: Date
  createdAt: Date
}

/** What carries a session: `{ request }`, `{ headers }` (a Headers object, Next's `headers()`, or a record), or a Request. */
export type SessionSource =
  | { request: { headers: Headers } }
  | { headers: Headers | Record<string, string | string[] | undefined> }
  | Request
  | Headers

export type AgentType = 'autonomous' | 'delegated' | 'service'
export type AgentStatus = 'active' | 'revoked' | 'expired'

export interface PermissionConstraints {
  /** At most this many allowed calls through this permission in any sliding hour. */
  maxCallsPerHour?: number
  /** Every call is denied with `APPROVAL_REQUIRED`. */
  requireApproval?: boolean
  /** `HH:MM` in UTC, inclusive; `start` after `end` wraps midnight. */
  timeWindow?: { start: string; end: string }
  /** IPv4/IPv6 addresses or CIDR ranges. */
  ipAllowlist?: string[]
  /** Regular expressions every string in `arguments` must match. */
  allowedArgPatterns?: string[]
  /** The agent's trust score (`trust.score`, 0-100) must be at least this; else TRUST_TOO_LOW. */
  minTrust?: number
}

export interface Permission {
  /** A pattern split on `:`; `*` alone matches everything, a middle `*` one segment, a trailing `*` one or more. */
  resource: string
  /** Actions granted; `*` grants all. */
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
  /** `kv_` and the next 8 characters of the token, to tell tokens apart. */
  tokenPrefix: string
  expiresAt: Date | null
  createdAt: Date
  updatedAt: Date
}

/** Returned by `create` and `rotate` only: the token is shown once. */
export interface AgentWithToken extends Agent {
  token: string
}

export interface CreateAgentInput {
  /** Any stable user id from your auth: kavachos never interprets it. */
  ownerId: string
  name: string
  type: AgentType
  permissions: Permission[]
  expiresAt?: Date | string | number | null
  metadata?: Record<string, unknown>
}

export interface UpdateAgentInput {
  name?: string
  permissions?: Permission[]
  /** `null` removes the expiry. */
  expiresAt?: Date | string | number | null
  metadata?: Record<string, unknown> | null
}

export interface AgentFilter {
  ownerId?: string
  /** Alias of `ownerId`. */
  userId?: string
  status?: AgentStatus
  type?: AgentType
  limit?: number
  offset?: number
}

export interface AuthorizeRequest {
  action: string
  resource: string
  /** The call's arguments: checked against `allowedArgPatterns` and kept in the audit log. */
  arguments?: Record<string, unknown>
  /** The caller's IP, checked against `ipAllowlist`. */
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
  | 'TRUST_TOO_LOW'

export interface AuthorizeResult {
  allowed: boolean
  /** A sentence explaining a denial. */
  reason?: string
  /** A stable code on denials. */
  code?: DenialCode
  /** The committed audit row; `null` only when no known agent was reached (unknown token or id). */
  auditId: string | null
  /** With APPROVAL_REQUIRED: the pending approval its owner can approve (`approvals.approve`). */
  approvalId?: string
}

export interface Approval {
  id: string
  agentId: string
  ownerId: string
  action: string
  resource: string
  arguments: unknown
  status: 'pending' | 'approved' | 'denied' | 'used' | 'expired'
  createdAt: Date
  expiresAt: Date
  decidedAt: Date | null
  decidedBy: string | null
  usedAt: Date | null
}

export interface Delegation {
  id: string
  fromAgentId: string
  toAgentId: string
  permissions: Permission[]
  depth: number
  maxDepth: number
  parentId: string | null
  expiresAt: Date | null
  status: 'active' | 'revoked' | 'expired'
  createdAt: Date
}

export interface TrustScore {
  agentId: string
  /** 0-100: 50 + min(20, age in days) + min(20, allowed / 10) - 30 x denied share - min(40, 5 x violations) - min(20, 2 x rate-limit hits), over 30 days; 0 when revoked or expired. */
  score: number
  level: 'high' | 'medium' | 'low' | 'untrusted'
  factors: { ageDays: number; decisions: number; allowed: number; denied: number; violations: number; rateLimited: number }
  computedAt: Date
}

export interface AuditFilter {
  agentId?: string
  userId?: string
  since?: Date | string | number
  until?: Date | string | number
  actions?: string[]
  result?: 'allowed' | 'denied'
  limit?: number
  offset?: number
}

export interface AuditExportOptions extends AuditFilter {
  format: 'json' | 'csv'
  /** `true`: a stream of every matching row instead of a string (capped at 100,000 rows). */
  stream?: boolean
}

/** A Web `ReadableStream` of an export's bytes, async-iterable as Node's streams are. */
export type AuditExportStream = ReadableStream<Uint8Array> & AsyncIterable<Uint8Array>

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
  /** When a delegation allowed the call: its chain of delegation ids, root first. */
  delegationChain?: string[]
}

/** The claims of a kavachos JWT: the registered ones, `sid`, `email`, and what `customClaims` added. */
export interface JwtPayload {
  iss: string
  /** The user id. */
  sub: string
  aud?: string | string[]
  iat: number
  exp: number
  jti: string
  /** The session id. */
  sid: string
  email: string
  [claim: string]: unknown
}

/** A public signing key as the JWKS publishes it (Ed25519 `OKP` or `RSA`). */
export interface Jwk {
  kid: string
  kty: 'OKP' | 'RSA'
  alg: 'EdDSA' | 'RS256'
  use: 'sig'
  crv?: 'Ed25519'
  x?: string
  n?: string
  e?: string
}

/**
 * An instance. `createKavach` fills the parameters from its configuration: `U` is the user with
 * `user.additionalFields`, `S` what `auth.getSession` answers (`customSession(fn)`'s return type),
 * `I` the additional fields a sign-up may send.
 */
export interface Kavach<U extends User = User, S = { session: Session; user: U }, I = {}> {
  agent: {
    /** Creates an agent; the returned `token` is shown once and stored only as a hash. */
    create(input: CreateAgentInput): Promise<AgentWithToken>
    get(id: string): Promise<Agent | null>
    list(filter?: AgentFilter): Promise<Agent[]>
    update(id: string, patch: UpdateAgentInput): Promise<Agent>
    /** Revokes the agent at once; its row stays for the audit trail. */
    revoke(id: string): Promise<void>
    /** Issues a new token; the old one fails from this moment. */
    rotate(id: string): Promise<AgentWithToken>
  }
  /** Decides `action` on `resource` for an agent; audited before it resolves. Never rejects on a denial. */
  authorize(agentId: string, request: AuthorizeRequest): Promise<AuthorizeResult>
  /** The same, for the agent holding `token`. */
  authorizeByToken(token: string, request: AuthorizeRequest): Promise<AuthorizeResult>
  /** What `requireApproval` waits for; the agent's owner decides (also over HTTP: `GET /approvals`, `POST /approvals/:id/approve|deny`). */
  approvals: {
    list(filter?: { ownerId?: string; agentId?: string; status?: Approval['status']; limit?: number }): Promise<Approval[]>
    get(id: string): Promise<Approval | null>
    /** The agent's retry of the same request then passes (once, or until `expiresIn`). CONFLICT unless pending. */
    approve(id: string, options?: { decidedBy?: string }): Promise<Approval>
    deny(id: string, options?: { decidedBy?: string }): Promise<Approval>
  }
  /** Delegation chains: an agent hands a subset of its permissions to another agent. */
  delegation: {
    /** DELEGATION_NOT_SUBSET when wider than what `fromAgentId` holds (its own permissions or one live link it received), DELEGATION_DEPTH_EXCEEDED past the chain's `maxDepth` (default 3, at most 10). */
    create(input: { fromAgentId: string; toAgentId: string; permissions: Permission[]; expiresAt?: Date | number | null; maxDepth?: number }): Promise<Delegation>
    /** Revokes the link and everything below it, at once. */
    revoke(id: string): Promise<void>
    /** The links an agent gave and received. */
    list(filter: { agentId: string }): Promise<Delegation[]>
  }
  trust: {
    /** From the agent's age and its audit trail of the last 30 days (`GET /agents/:id/trust` too). */
    score(agentId: string): Promise<TrustScore>
  }
  audit: {
    /** Entries newest first; filters run in SQL, then `limit` (default 100) and `offset`. */
    query(filter?: AuditFilter): Promise<AuditEntry[]>
    /**
     * Every matching row, newest first, as a Web stream read from the database a page (1,000 rows)
     * at a time, so memory stays flat whatever the count; also async-iterable
     * (`for await (const chunk of stream)`). JSON (an array, one row a line) or CSV with a header row.
     * On SQLite an export without `agentId` is newest *written* first (the table's own order, which
     * keeps an index on the time off every audited call); that is time order unless the clock
     * stepped back.
     */
    export(options: AuditExportOptions & { stream: true }): Promise<AuditExportStream>
    /**
     * JSON (an array, one row a line) or CSV with a header row, as one string: up to 100,000 rows,
     * more rejects with `EXPORT_TOO_LARGE` (use `stream: true`).
     */
    export(options: AuditExportOptions & { stream?: false }): Promise<string>
  }
  auth: {
    /** `session` and `token` are null when `requireEmailVerification` is on. */
    signUp(
      input: { email: string; password: string; name?: string; image?: string } & I,
      client?: { ip?: string; userAgent?: string },
    ): Promise<Result<{ user: U; session: Session | null; token: string | null }>>
    /**
     * With `twoFactor()` on and the account's second factor enabled, no session is created: `data` is
     * `{ twoFactorRequired: true, twoFactorToken }` for `twoFactor.verify` (unless
     * `client.trustedDeviceToken` is a trusted device of the account).
     */
    signIn(
      input: { email: string; password: string },
      client?: { ip?: string; userAgent?: string; trustedDeviceToken?: string },
    ): Promise<Result<SignInData<U>>>
    /** Ends the session the source carries; `data` says whether there was one. */
    signOut(source: SessionSource): Promise<Result<boolean>>
    /** With `customSession(fn)`: what `fn` answered (a throw is `CUSTOM_SESSION_FAILED`). */
    getSession(source: SessionSource): Promise<Result<S | null>>
    getUser(source: SessionSource): Promise<Result<U | null>>
    /**
     * After an import: sends every user without a password a reset link through
     * `emailAndPassword.sendResetPassword` (links on `baseUrl`); `sent` counts them.
     */
    sendPasswordResets(options?: { redirectTo?: string }): Promise<Result<{ sent: number }>>
  }
  /** The organization plugin's calls (add `organization()` to `plugins`). */
  organizations: {
    create(input: { name: string; ownerId: string; slug?: string; metadata?: Record<string, unknown> }): Promise<Result<Organization>>
    get(id: string): Promise<Result<Organization | null>>
    update(id: string, patch: { name?: string; slug?: string; metadata?: Record<string, unknown> | null }): Promise<Result<Organization>>
    delete(id: string): Promise<Result<void>>
    addMember(input: { organizationId: string; userId: string; role: OrganizationRole }): Promise<Result<Member>>
    /** Refused with LAST_OWNER for the last owner. */
    removeMember(input: { organizationId: string; userId: string }): Promise<Result<Member>>
    /** Refused with LAST_OWNER when it would leave no owner. */
    updateMemberRole(input: { organizationId: string; userId: string; role: OrganizationRole }): Promise<Result<Member>>
    listMembers(input: { organizationId: string }): Promise<Result<Member[]>>
    /** The organizations a user is a member of. */
    list(input: { userId: string }): Promise<Result<Organization[]>>
    /** Whether the member's role grants the permission (or every one of a list); non-members hold none. */
    hasPermission(input: { organizationId: string; userId: string; permission: string | string[] }): Promise<Result<boolean>>
    /** Invites an email; `organization({ sendInvitationEmail })` receives the link. */
    invite(input: { organizationId: string; email: string; role: OrganizationRole; inviterId?: string }): Promise<Result<Invitation>>
    getInvitation(id: string): Promise<Result<Invitation | null>>
    listInvitations(input: { organizationId: string }): Promise<Result<Invitation[]>>
    /** Pending invitations addressed to an email. */
    listUserInvitations(input: { email: string }): Promise<Result<Invitation[]>>
    /** The user's email must be the invited one; refused with INVITATION_EXPIRED after expiry. */
    acceptInvitation(input: { invitationId: string; userId: string }): Promise<Result<Member>>
    declineInvitation(input: { invitationId: string; userId: string }): Promise<Result<Invitation>>
    cancelInvitation(input: { organizationId: string; invitationId: string }): Promise<Result<Invitation>>
    /** Sets (or clears, with null) the organization a session acts in; the user must be a member. */
    setActive(
      input: ({ sessionId: string; userId: string } | { request: { headers: Headers } } | { headers: Headers | Record<string, string | string[] | undefined> }) & {
        organizationId: string | null
      },
    ): Promise<Result<void>>
  }
  /**
   * The apiKey() plugin's calls (add `apiKey()` to `plugins`). Server-side: every field may be set
   * and any user's keys read or changed. The key itself is in `create`'s answer only.
   */
  apiKeys: {
    create(input: ApiKeyCreateInput): Promise<Result<ApiKey & { key: string }>>
    /** `{ valid, error, key }`; a valid use is spent (remaining uses, rate limit). */
    verify(input: { key: string; permissions?: Record<string, string[]> }): Promise<Result<ApiKeyVerifyResult>>
    get(input: { keyId: string; userId?: string }): Promise<Result<ApiKey>>
    list(input: { userId: string }): Promise<Result<ApiKey[]>>
    update(input: ApiKeyUpdateInput): Promise<Result<ApiKey>>
    delete(input: { keyId: string; userId?: string }): Promise<Result<{ success: true }>>
  }
  /** The twoFactor() plugin's calls (add `twoFactor()` to `plugins`). */
  twoFactor: {
    /** Re-checks the password; 2FA stays off until `activate` receives a code from the app. */
    enable(input: { userId: string; password: string }): Promise<Result<TwoFactorEnrollment>>
    /** Turns 2FA on with a current code (INVALID_CODE otherwise). */
    activate(input: { userId: string; code: string }): Promise<Result<{ enabled: true }>>
    /** Re-checks the password; removes the secret, backup codes and trusted devices. */
    disable(input: { userId: string; password: string }): Promise<Result<{ enabled: false }>>
    status(userId: string): Promise<Result<{ enabled: boolean }>>
    /** A new set of backup codes; the old ones stop working. */
    generateBackupCodes(input: { userId: string; password: string }): Promise<Result<{ backupCodes: string[] }>>
    /** Completes a sign-in that answered `twoFactorRequired` (INVALID_CODE, INVALID_TWO_FACTOR_TOKEN). */
    verify(input: TwoFactorVerifyInput): Promise<Result<TwoFactorSignedIn>>
  }
  /** The admin plugin's calls (add `admin()` to `plugins`). Server-side: they do not check who calls them, except `impersonate`. */
  admin: {
    /** Oldest first; `search` matches email or name (case-insensitive); `limit` default 100, at most 1,000. */
    listUsers(query?: { search?: string; limit?: number; offset?: number }): Promise<Result<{ users: User[]; total: number }>>
    getUser(id: string): Promise<Result<User | null>>
    /** Ends every session of the user and revokes every agent they own, at once; sign-in then fails with USER_BANNED until `expiresAt` (if given) or an unban. */
    banUser(input: { userId: string; reason?: string; expiresAt?: Date | string | number | null }): Promise<Result<void>>
    unbanUser(userId: string): Promise<Result<void>>
    setRole(input: { userId: string; role: string }): Promise<Result<void>>
    /** Deletes the user, their accounts, sessions, organization memberships and pending links; revokes their agents. */
    removeUser(userId: string): Promise<Result<void>>
    /** A session for `userId` marked `impersonatedBy: adminId`, ending after `impersonationTtl`. FORBIDDEN unless `adminId` is an admin, and for admins or oneself as target. */
    impersonate(input: { adminId: string; userId: string }): Promise<Result<{ session: Session; user: User; token: string }>>
    /** Ends the impersonation session holding `token` (FORBIDDEN for an ordinary session). */
    stopImpersonating(token: string): Promise<Result<void>>
  }
  /** The jwt plugin's calls (add `jwt()` to `plugins`). */
  jwt: {
    /** A JWT for the session the source carries; error UNAUTHORIZED without one. */
    issue(source: SessionSource): Promise<Result<{ token: string }>>
    /** Checks signature (our keys only, by `kid`), `exp`, `iss` and `aud`; answers the claims. Errors: INVALID_TOKEN, TOKEN_EXPIRED. */
    verify(token: string): Promise<Result<JwtPayload>>
    /** The public keys (active, and retired ones for `expiresIn` + 60 s); what `GET /jwks` serves. */
    getJwks(): Promise<{ keys: Jwk[] }>
    /** Makes a new signing key; the old one keeps verifying its tokens until they expire. */
    rotateKeys(): Promise<Result<{ kid: string }>>
  }
  /** The MCP OAuth 2.1 server (`createKavach({ mcp })`), for resource servers. */
  mcp: {
    /** Checks the request's Bearer access token: signature, issuer, `aud` = `resource`, expiry, revocation, `scopes`. Codes: INVALID_TOKEN, INSUFFICIENT_SCOPE. */
    authenticate(request: Request, options: { resource: string; scopes?: string[] }): Promise<Result<McpAuth>>
    /** 401 (403 for INSUFFICIENT_SCOPE) with `WWW-Authenticate: Bearer ..., resource_metadata="..."`. */
    challenge(request: Request, error?: { code: string; message?: string } | 'invalid_token' | 'insufficient_scope', options?: { resource?: string; scopes?: string[] }): Response
    /** Protects a Web handler (an MCP server's route): it runs only for a valid token, with what the token says. */
    withMcpAuth(
      handler: (request: Request, auth: McpAuth) => Response | Promise<Response>,
      options: { resource: string; scopes?: string[] },
    ): (request: Request) => Promise<Response>
    /** Registers a client without `/mcp/register` (first-party clients); the secret is shown once. */
    registerClient(metadata: {
      redirect_uris: string[]
      client_name?: string
      token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post' | 'none'
      grant_types?: string[]
      scope?: string
    }): Promise<Result<McpClientRegistration>>
    /** A new signing key; the old one keeps verifying for `accessTokenTtl` + 60 s. */
    rotateKeys(): Promise<Result<{ kid: string }>>
    jwks(): Promise<Result<{ keys: Jwk[] }>>
    /** The RFC 8414 document. */
    metadata(): Promise<Result<Record<string, unknown>>>
    /** Ends a grant: its refresh and access tokens stop working at once. */
    revokeGrant(grantId: string): Promise<Result<{ revoked: boolean }>>
  }
  /** The oauth() plugin's calls (add `oauth({ providers })` from `kavachos/auth` to `plugins`). */
  oauth: {
    /** The provider's access token stored for the user's account there (`accountId` picks one of several). */
    getAccessToken(input: { userId: string; providerId: string; accountId?: string }): Promise<Result<OAuthAccessToken>>
    /** The user's linked provider accounts. */
    listAccounts(input: { userId: string }): Promise<Result<LinkedAccount[]>>
    /** Unlinks an account; refused with FAILED_TO_UNLINK_LAST_ACCOUNT for the user's last account. */
    unlinkAccount(input: { userId: string; providerId: string; accountId?: string }): Promise<Result<{ success: true }>>
    /** The configured providers, `{ id, name }` (for sign-in buttons; never a secret). */
    providers(): Promise<Result<Array<{ id: string; name: string }>>>
  }
  /** The outbox of `webhooks`. */
  webhooks: {
    /** Newest first (100 unless `limit`, at most 1,000). */
    deliveries(filter?: { status?: 'pending' | 'delivered' | 'failed'; limit?: number }): Promise<WebhookDelivery[]>
    /** Sends one delivery again (NOT_FOUND for an unknown id). */
    redeliver(id: string): Promise<void>
  }
  /** The whole HTTP API (the shims call it). */
  /**
   * The whole HTTP API for a Web `Request`. `clientIp`: the socket address of the client, which the
   * shims pass; an app that calls `handler` itself (Bun, Deno, a custom server) passes it too, else
   * per-IP rate limits have no address to count and only the per-account limits apply (unless
   * `trustedProxyHeaders` names a header the request carries).
   */
  handler(request: Request, options?: { path?: string; mount?: string; clientIp?: string }): Promise<Response>
  /** Where the HTTP API is mounted (default `/api/kavach`). */
  readonly basePath: string
  /** Drains pending audit writes and closes the database pools. Idempotent. */
  close(): Promise<void>
}

/** What `auth.signIn` answers: a session, or (twoFactor() on) the token of a sign-in waiting for its code. */
export type SignInData<U extends User = User> =
  | { user: U; session: Session; token: string; twoFactorRequired?: undefined; twoFactorToken?: undefined }
  | { twoFactorRequired: true; twoFactorToken: string; user?: undefined; session?: undefined; token?: undefined }

/** `twoFactor.enable`: the URI for the authenticator app (or the base32 secret typed by hand) and backup codes shown once. */
export interface TwoFactorEnrollment {
  /** `otpauth://totp/<issuer>:<email>?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30` */
  totpURI: string
  secret: string
  backupCodes: string[]
}

export type TwoFactorVerifyInput =
  | { twoFactorToken: string; code: string; backupCode?: undefined; trustDevice?: boolean }
  | { twoFactorToken: string; backupCode: string; code?: undefined; trustDevice?: boolean }

export interface TwoFactorSignedIn {
  user: User
  session: Session
  token: string
  /** With `trustDevice: true` (and trustDeviceDays > 0): pass it to `auth.signIn` to skip the code. */
  trustedDeviceToken?: string
}

/** A provider account linked to a user (one `kavach_account` row); tokens are never part of it. */
export interface LinkedAccount {
  id: string
  /** The provider's id in `oauth({ providers })` (`github`, or a generic provider's own id); `credential` for the email-and-password account. */
  providerId: string
  /** The user's id at the provider (its subject). */
  accountId: string
  userId: string
  /** The scopes the provider granted. */
  scopes: string[]
  createdAt: Date
  updatedAt: Date
}

/** `oauth.getAccessToken`: a usable provider access token. */
export interface OAuthAccessToken {
  accessToken: string
  /** `null` when the provider gave no expiry. */
  accessTokenExpiresAt: Date | null
  scopes: string[]
  /** The OpenID Connect ID token, when the provider sent one. */
  idToken?: string
}

/** Boots kavachos: checks the configuration, connects, and runs migrations unless skipped. */
export declare function createKavach<C extends KavachConfig>(
  config: C,
): Promise<Kavach<User & InferAdditionalFields<C>, InferSessionData<C, User & InferAdditionalFields<C>>, InferSignUpFields<C>>>

/** Runs the embedded migrations against a database URL; resolves to the versions applied. */
export declare function migrate(url: string): Promise<number[]>

/** Counts for one kind of row of an import (`users`, `accounts`, `sessions`, `organizations`, `members`, `invitations`, `two-factor`). */
export interface ImportCounts {
  table: string
  /** Rows read from the source. */
  read: number
  /** Rows written (in a dry run: that would be written). */
  imported: number
  /** Rows already in kavachos with the same id (an earlier run), left as they are. */
  unchanged: number
  /** Rows not imported; each is listed in `skipped` with its reason. */
  skipped: number
}

/** What `importBetterAuth` did. */
export interface ImportReport {
  source: 'better-auth' | 'clerk'
  dialect: 'sqlite' | 'postgres' | 'mysql'
  /** How the source names its columns: `camelCase` (better-auth's own migrations), `snake_case`, ... */
  naming: string
  sourceTables: string[]
  dryRun: boolean
  migrationsApplied: number[]
  tables: ImportCounts[]
  /** Every skipped row (the first 10,000; `skippedTotal` counts them all). */
  skipped: Array<{ table: string; id: string; reason: string }>
  skippedTotal: number
  /** What was left out on purpose (provider tokens, two-factor secrets, ...) or needs attention. */
  notes: string[]
}

export interface ImportBetterAuthOptions {
  /** The better-auth database URL (SQLite: a path, `file:` or `sqlite:`). */
  from: string
  /** The kavachos database (default: `from`, our tables beside theirs). Our migrations run there first. */
  to?: string
  /** Read and report; write nothing at all, migrations included. */
  dryRun?: boolean
  /** Rows per page and per transaction (default 1000). */
  batchSize?: number
  /**
   * The kavachos `secret` that createKavach runs with (32+ characters): provider tokens and TOTP
   * secrets are stored encrypted under it. Without it they are left out (see `notes`).
   */
  secret?: string
  /** better-auth's `BETTER_AUTH_SECRET`, to open its encrypted two-factor secrets and backup codes (and OAuth tokens under `encryptOAuthTokens`). */
  sourceSecret?: string
  /** Called after each batch with the running totals of the table being copied. */
  onProgress?: (counts: ImportCounts) => void | Promise<void>
}

/** Copies a better-auth database into kavachos's tables; idempotent. Throws a `KavachError`. */
export declare function importBetterAuth(options: ImportBetterAuthOptions): Promise<ImportReport>

export interface ImportClerkOptions {
  /** Clerk's Dashboard CSV export, or the JSON array of `@clerk/backend` User objects. */
  file: string
  /** The kavachos database; our migrations run there first. */
  to: string
  dryRun?: boolean
  batchSize?: number
  onProgress?: (counts: ImportCounts) => void | Promise<void>
}

/**
 * Imports a Clerk export; the whole file is checked before anything is written. Users without a
 * digest get no password: send them a reset with `kavach.auth.sendPasswordResets()`.
 */
export declare function importClerk(options: ImportClerkOptions): Promise<ImportReport>

// ---- user.additionalFields and customSession ---------------------------------------------------

/** The value of an additional field of each type (a `date` is a `Date`; over HTTP, an ISO string). */
export interface AdditionalFieldTypes {
  string: string
  number: number
  boolean: boolean
  date: Date
  'string[]': string[]
  'number[]': number[]
}

/** One entry of `user.additionalFields` (better-auth's shape). */
export interface AdditionalField<T extends keyof AdditionalFieldTypes = keyof AdditionalFieldTypes> {
  type: T
  /** Sign-up refuses a body without it (VALIDATION_FAILED) unless `defaultValue` fills it. */
  required?: boolean
  /** Set on every new user that did not send it (a sign-up, a guest, any sign-in method). */
  defaultValue?: AdditionalFieldTypes[T] | (T extends 'date' ? string | number : never)
  /** The client may send it on sign-up and update-user (default true); `false`: refused, only `defaultValue` sets it. */
  input?: boolean
  /** Returned on the user (default true). */
  returned?: boolean
}

export interface UserConfig {
  /** The app's own fields on the user, stored with it and returned beside its fields. */
  additionalFields?: Record<string, AdditionalField>
}

export interface KavachConfig {
  /** `user: { additionalFields }`: a bad definition fails createKavach with CONFIG_INVALID. */
  user?: UserConfig
}

export interface User {
  /** A guest of the anonymous() plugin. */
  isAnonymous?: boolean
}

type FieldsOf<C> = C extends { user?: { additionalFields?: infer A } } ? (A extends Record<string, AdditionalField> ? A : {}) : {}
type ValueOf<F> = F extends { type: infer T extends keyof AdditionalFieldTypes } ? AdditionalFieldTypes[T] : never
type Always<F> = F extends { required: true } ? true : F extends { defaultValue: {} } ? true : false
type Flat<T> = { [K in keyof T]: T[K] }

/** The user's additional fields as `createKavach(config)` declares them (not those with `returned: false`). */
export type InferAdditionalFields<C> = Flat<
  {
    [K in keyof FieldsOf<C> as FieldsOf<C>[K] extends { returned: false } ? never : Always<FieldsOf<C>[K]> extends true ? K : never]: ValueOf<FieldsOf<C>[K]>
  } & {
    [K in keyof FieldsOf<C> as FieldsOf<C>[K] extends { returned: false } ? never : Always<FieldsOf<C>[K]> extends true ? never : K]?: ValueOf<FieldsOf<C>[K]> | null
  }
>

/** The additional fields a sign-up may send (required ones without a default must be sent). */
export type InferSignUpFields<C> = Flat<
  {
    [K in keyof FieldsOf<C> as FieldsOf<C>[K] extends { input: false } ? never : FieldsOf<C>[K] extends { required: true } ? (FieldsOf<C>[K] extends { defaultValue: {} } ? never : K) : never]: ValueOf<FieldsOf<C>[K]> | (FieldsOf<C>[K] extends { type: 'date' } ? string | number : never)
  } & {
    [K in keyof FieldsOf<C> as FieldsOf<C>[K] extends { input: false } ? never : FieldsOf<C>[K] extends { required: true } ? (FieldsOf<C>[K] extends { defaultValue: {} } ? K : never) : K]?: ValueOf<FieldsOf<C>[K]> | (FieldsOf<C>[K] extends { type: 'date' } ? string | number : never) | null
  }
>

type CustomReturn<P> = P extends { id: 'custom-session'; options: { fn: (input: any) => infer R } } ? Awaited<R> : never
type PluginsOf<C> = C extends { plugins?: readonly (infer P)[] } ? P : never

/** What `auth.getSession` answers: `customSession(fn)`'s return type, else `{ session, user }`. */
export type InferSessionData<C, U = User> = [CustomReturn<PluginsOf<C>>] extends [never] ? { session: Session; user: U } : CustomReturn<PluginsOf<C>>

/** An API key as stored (never the key itself, only its first characters in `start`). */
export interface ApiKey {
  id: string
  name: string | null
  start: string | null
  prefix: string | null
  userId: string
  /** better-auth's name for the owner (the user). */
  referenceId: string
  enabled: boolean
  expiresAt: Date | null
  remaining: number | null
  refillAmount: number | null
  /** Milliseconds. */
  refillInterval: number | null
  lastRefillAt: Date | null
  rateLimitEnabled: boolean
  /** Milliseconds. */
  rateLimitTimeWindow: number | null
  rateLimitMax: number | null
  requestCount: number
  lastRequest: Date | null
  permissions: Record<string, string[]> | null
  metadata: Record<string, unknown> | null
  createdAt: Date
  updatedAt: Date
}

export interface ApiKeyCreateInput {
  userId: string
  name?: string
  /** Seconds. */
  expiresIn?: number
  prefix?: string
  metadata?: Record<string, unknown>
  permissions?: Record<string, string[]>
  remaining?: number
  refillAmount?: number
  /** Milliseconds. */
  refillInterval?: number
  rateLimitEnabled?: boolean
  /** Milliseconds. */
  rateLimitTimeWindow?: number
  rateLimitMax?: number
}

export interface ApiKeyUpdateInput {
  keyId: string
  userId?: string
  name?: string
  enabled?: boolean
  /** Seconds from now; null: never expires. */
  expiresIn?: number | null
  metadata?: Record<string, unknown> | null
  permissions?: Record<string, string[]> | null
  remaining?: number | null
  refillAmount?: number | null
  refillInterval?: number | null
  rateLimitEnabled?: boolean
  rateLimitTimeWindow?: number | null
  rateLimitMax?: number | null
}

export type ApiKeyVerifyResult =
  | { valid: true; error: null; key: ApiKey }
  | {
      valid: false
      /** KEY_DISABLED, KEY_EXPIRED, KEY_NOT_FOUND (permissions), USAGE_EXCEEDED, RATE_LIMITED (`details.tryAgainIn`, ms), INVALID_API_KEY, USER_BANNED. */
      error: { code: string; message: string; details?: { tryAgainIn: number } }
      key: null
    }
