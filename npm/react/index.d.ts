// @kavachos/react: a provider and hooks over @kavachos/client. Timestamps are Dates, as in the client.
import type { Context, ReactElement, ReactNode } from 'react'
import type {
  KavachClient,
  KavachClientError,
  KavachClientOptions,
  LinkSocialInput,
  MagicLinkInput,
  Organization,
  Result,
  Session,
  SessionData,
  SignInData,
  SignInSocialInput,
  SignUpData,
  SocialRedirect,
  User,
} from '@kavachos/client'

export type {
  KavachClient,
  KavachClientError,
  LinkedAccount,
  LinkSocialInput,
  MagicLinkInput,
  Organization,
  Result,
  Session,
  SessionData,
  SignInData,
  SignInSocialInput,
  SignUpData,
  SocialRedirect,
  User,
} from '@kavachos/client'

export interface KavachProviderProps {
  children?: ReactNode
  /** Where the API is mounted on the page's origin (default `/api/kavach`). */
  basePath?: string
  /** The API's URL, with or without the mount path (for an API on another origin). */
  baseUrl?: string
  /** A client to use instead of one made from `basePath`/`baseUrl`. Read on the first render only. */
  client?: KavachClient
  /** The session the server already knows (e.g. from `kavach.auth.getSession`): no first fetch, and `isLoading` is false from the first render, server included. `null` means signed out. */
  initialSession?: SessionData | { user: unknown; session: unknown } | null
  /** Read the session again when the window regains focus or becomes visible (default true). */
  refetchOnWindowFocus?: boolean
  /** At most one focus refetch per this many milliseconds (default 5000). */
  focusThrottleMs?: number
  fetch?: KavachClientOptions['fetch']
  headers?: KavachClientOptions['headers']
}

/** Holds one session store for everything below it. */
export declare function KavachProvider(props: KavachProviderProps): ReactElement

export interface SessionState {
  data: SessionData | null
  isLoading: boolean
  error: KavachClientError | null
}

export interface KavachContextValue {
  client: KavachClient
  session: {
    getSnapshot(): SessionState
    refresh(): Promise<Result<SessionData | null>>
  }
}

export declare const KavachContext: Context<KavachContextValue | null>
/** The provider's value; throws outside a `KavachProvider`. */
export declare function useKavachContext(): KavachContextValue
/** The provider's client, for every other call of the API. */
export declare function useKavachClient(): KavachClient

export interface UseSessionResult {
  /** `{ user, session }`, or null when signed out (and while loading). */
  data: SessionData | null
  session: Session | null
  user: User | null
  /** True until the first answer (always on the server, unless `initialSession` was given). */
  isLoading: boolean
  isAuthenticated: boolean
  /** The last failure to read the session (e.g. NETWORK_ERROR); the previous data stays. */
  error: KavachClientError | null
  /** Reads the session again (shared with any read already in flight). */
  refresh(): Promise<Result<SessionData | null>>
  refetch(): Promise<Result<SessionData | null>>
}

export declare function useSession(): UseSessionResult

export declare function useUser(): { user: User | null; isLoading: boolean; isAuthenticated: boolean }

/** An action: call it directly; it also carries its state (and itself under its name). */
export interface ActionState {
  /** True while a call is in flight. */
  isLoading: boolean
  /** The last call's error, or null. */
  error: KavachClientError | null
}

export interface SignInInput {
  email: string
  password: string
}

export interface SignInAction extends ActionState {
  (input: SignInInput): Promise<Result<SignInData>>
  (email: string, password: string): Promise<Result<SignInData>>
  signIn: SignInAction
}

export interface SignUpInput {
  email: string
  password: string
  name?: string
  image?: string
}

export interface SignUpAction extends ActionState {
  (input: SignUpInput): Promise<Result<SignUpData>>
  (email: string, password: string, name?: string): Promise<Result<SignUpData>>
  signUp: SignUpAction
}

export interface SignOutAction extends ActionState {
  /** `{ all: true }` ends every session of the user. */
  (options?: { all?: boolean }): Promise<Result<void>>
  signOut: SignOutAction
}

/**
 * OAuth sign-in (`useSignIn({ factor: 'social' })`): `await signIn({ provider: 'github', callbackURL:
 * '/dashboard' })` calls the client's `signIn.social`, and the page goes to the provider (unless
 * `disableRedirect`). `signIn('github')` is the same with no callbackURL.
 */
export interface SocialSignInAction extends ActionState {
  (input: SignInSocialInput): Promise<Result<SocialRedirect>>
  (provider: string): Promise<Result<SocialRedirect>>
  signIn: SocialSignInAction
}

export interface LinkSocialAction extends ActionState {
  (input: LinkSocialInput): Promise<Result<SocialRedirect>>
  (provider: string): Promise<Result<SocialRedirect>>
  linkSocial: LinkSocialAction
}

/** `useSignIn({ factor: 'magic-link' })`: `signIn(email)` or `signIn({ email, callbackURL, ... })` sends the link. */
export interface MagicLinkSignInAction extends ActionState {
  (input: MagicLinkInput): Promise<Result<{ status: boolean }>>
  (email: string, callbackURL?: string): Promise<Result<{ status: boolean }>>
  signIn: MagicLinkSignInAction
}

/** `useSignIn({ factor: 'email-otp' })`: `signIn(email, otp)` or `signIn({ email, otp })`. */
export interface EmailOtpSignInAction extends ActionState {
  (input: { email: string; otp: string }): Promise<Result<SessionData>>
  (email: string, otp: string): Promise<Result<SessionData>>
  signIn: EmailOtpSignInAction
}

/** `useSignIn({ factor: 'username' })`: `signIn(username, password)` or `signIn({ username, password })`. */
export interface UsernameSignInAction extends ActionState {
  (input: { username: string; password: string }): Promise<Result<SignInData>>
  (username: string, password: string): Promise<Result<SignInData>>
  signIn: UsernameSignInAction
}

/**
 * `useSignIn({ factor: 'phone' })`: `signIn({ phoneNumber, code })` verifies a texted code (signs in, or up
 * with `signUpOnVerification`); `signIn({ phoneNumber, password })` or `signIn(phoneNumber, password)` signs in by number.
 */
export interface PhoneSignInAction extends ActionState {
  (input: { phoneNumber: string; code: string } | { phoneNumber: string; password: string }): Promise<Result<SignInData>>
  (phoneNumber: string, password: string): Promise<Result<SignInData>>
  signIn: PhoneSignInAction
}

/** `useSignIn({ factor: 'anonymous' })`: `signIn()` opens a guest session. */
/** `useSignIn({ factor: 'passkey' })`: `signIn()` (a discoverable passkey), `signIn(email)` or `signIn({ email, autoFill })`. */
export interface PasskeySignInAction extends ActionState {
  (input?: { email?: string; autoFill?: boolean }): Promise<Result<SessionData>>
  (email: string): Promise<Result<SessionData>>
  signIn: PasskeySignInAction
}

export interface AnonymousSignInAction extends ActionState {
  (): Promise<Result<SessionData>>
  signIn: AnonymousSignInAction
}

export declare function useSignIn(options: { factor: 'magic-link' }): MagicLinkSignInAction
export declare function useSignIn(options: { factor: 'email-otp' }): EmailOtpSignInAction
export declare function useSignIn(options: { factor: 'username' }): UsernameSignInAction
export declare function useSignIn(options: { factor: 'phone' }): PhoneSignInAction
export declare function useSignIn(options: { factor: 'anonymous' }): AnonymousSignInAction
export declare function useSignIn(options: { factor: 'passkey' }): PasskeySignInAction
/** `const signIn = useSignIn({ factor: 'social' }); await signIn({ provider, callbackURL })` (the server's `oauth()` plugin). */
export declare function useSignIn(options: { factor: 'social' }): SocialSignInAction
/** `const signIn = useSignIn(); await signIn({ email, password })`. Factors this version does not have yet (passkey) answer VALIDATION_FAILED. */
export declare function useSignIn(options?: { factor?: 'password' }): SignInAction
/** Links another provider account to the signed-in user; the page goes to the provider. */
export declare function useLinkSocial(): LinkSocialAction
export declare function useSignUp(): SignUpAction
export declare function useSignOut(): SignOutAction

export interface UseOrganizationResult {
  /** The session's active organization (set with `setActive`), or null. */
  organization: Organization | null
  activeOrganizationId: string | null
  /** The signed-in user's organizations. */
  organizations: Organization[]
  isLoading: boolean
  /** E.g. NOT_FOUND when the organization plugin is off. */
  error: KavachClientError | null
  refresh(): Promise<Result<Organization[]>>
  /** Creates an organization owned by the signed-in user and reloads the list. */
  create(input: { name: string; slug?: string; metadata?: Record<string, unknown> }): Promise<Result<Organization>>
  /** Sets (or with null clears) the active organization; the session is read again. */
  setActive(organizationId: string | null): Promise<Result<{ session: Session }>>
}

/** The organization plugin's state (add `organization()` to the server's plugins). */
export declare function useOrganization(): UseOrganizationResult
