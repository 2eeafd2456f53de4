import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const m = require('./migrate.js')

export const { importBetterAuth, importClerk, migrate } = m
export default m
