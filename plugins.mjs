import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const m = require('./plugins.js')

export const { organization, twoFactor, admin, jwt, apiKeys } = m
export default m
