// kavachos/plugins as plain ESM (no Node built-ins), so it loads in the Edge runtime too. The same
// descriptions as plugins.js: the Rust core does the work.
const plugin = (id) => (options = {}) => ({ id, options })

export const organization = plugin('organization')
export const twoFactor = plugin('two-factor')
export const admin = plugin('admin')
export const jwt = plugin('jwt')
export const apiKey = plugin('api-key')
// The name kavachos used first; the same plugin.
export const apiKeys = apiKey
export const anonymous = plugin('anonymous')
// Runs in JS over getSession's answer (createKavach takes it out of the plugins it hands the core).
export const customSession = (fn) => ({ id: 'custom-session', options: { fn } })
export const magicLink = plugin('magic-link')
export const emailOTP = plugin('email-otp')
export const username = plugin('username')
export const phoneNumber = plugin('phone-number')
export const oneTap = plugin('one-tap')
export const siwe = plugin('siwe')
export const deviceAuthorization = plugin('device-authorization')
export const passkey = plugin('passkey')
export default { organization, twoFactor, admin, jwt, apiKey, apiKeys, anonymous, customSession, magicLink, emailOTP, username, phoneNumber, oneTap, siwe, deviceAuthorization, passkey }
