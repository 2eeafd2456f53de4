import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const kavachos = require('./index.js')

export const { createKavach, KavachError, migrate, importBetterAuth, importClerk } = kavachos
export default kavachos
