// kavachos/auth as plain ESM (no Node built-ins), so it loads in the Edge runtime too. The same
// descriptions as auth.js: `oauth({ providers })` plus the factories of kavachos/plugins.
import plugins from './plugins.mjs'

export * from './plugins.mjs'
export const oauth = (options = {}) => ({ id: 'oauth', options })
export default { ...plugins, oauth }
