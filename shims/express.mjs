import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const m = require('./express.js')

export const { kavachExpress } = m
export default m
