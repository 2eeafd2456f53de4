// kavachos/plugins as plain ESM (no Node built-ins), so it loads in the Edge runtime too. The same
// descriptions as plugins.js: the Rust core does the work.
const plugin = (id) => (options = {}) => ({ id, options })

export const organization = plugin('organization')
export const twoFactor = plugin('two-factor')
export const admin = plugin('admin')
export const jwt = plugin('jwt')
export const apiKeys = plugin('api-keys')
export const magicLink = plugin('magic-link')
export const emailOTP = plugin('email-otp')
export const username = plugin('username')
export const phoneNumber = plugin('phone-number')
export default { organization, twoFactor, admin, jwt, apiKeys, magicLink, emailOTP, username, phoneNumber }
