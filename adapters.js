'use strict'
// kavachos/adapters: externalAuth adapters, as plain descriptions the Rust core acts on.

/**
 * Accept the signed session cookie of better-auth for sessions imported into kavach_session, and
 * answer with a kavachos cookie on first use.
 * @param {{ secret: string, cookieName?: string }} options
 */
function cookieAuth(options) {
  if (!options || typeof options.secret !== 'string' || options.secret.length === 0) {
    const { KavachError } = require('./index.js')
    throw new KavachError('CONFIG_INVALID', 'cookieAuth needs the secret the old sessions were signed with')
  }
  const out = { secret: options.secret }
  if (options.cookieName !== undefined) out.cookieName = options.cookieName
  return { id: 'cookie-auth', options: out }
}

module.exports = { cookieAuth }
