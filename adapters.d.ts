/** An `externalAuth` entry: a plain description the kavachos core acts on. */
export interface ExternalAuthAdapter {
  id: 'cookie-auth'
  options: { secret: string; cookieName?: string }
}

/**
 * Accepts better-auth's signed session cookie (`better-auth.session_token` by default) for sessions
 * imported into `kavach_session`, and answers with a kavachos cookie on first use.
 */
export declare function cookieAuth(options: { secret: string; cookieName?: string }): ExternalAuthAdapter
