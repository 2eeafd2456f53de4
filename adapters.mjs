import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const m = require('./adapters.js')

export const { cookieAuth } = m
export default m
