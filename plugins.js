'use strict'
// kavachos/plugins: plugin factories return plain descriptions ({ id, options }); the Rust core does
// the work. A plugin this version does not implement yet makes createKavach fail with CONFIG_INVALID
// naming it, never a silent no-op.

const plugin = (id) => (options = {}) => ({ id, options })

module.exports = {
  organization: plugin('organization'),
  twoFactor: plugin('two-factor'),
  admin: plugin('admin'),
  jwt: plugin('jwt'),
  anonymous: plugin('anonymous'),
  // Runs in JS over getSession's answer (createKavach takes it out of the plugins it hands the core).
  customSession: (fn) => ({ id: 'custom-session', options: { fn } }),
  apiKey: plugin('api-key'),
  // The name kavachos used first; the same plugin.
  apiKeys: plugin('api-key'),
  magicLink: plugin('magic-link'),
  emailOTP: plugin('email-otp'),
  username: plugin('username'),
  phoneNumber: plugin('phone-number'),
  oneTap: plugin('one-tap'),
  siwe: plugin('siwe'),
  deviceAuthorization: plugin('device-authorization'),
  passkey: plugin('passkey'),
}
