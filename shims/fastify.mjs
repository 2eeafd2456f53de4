import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const m = require('./fastify.js')

export const { kavachFastify } = m
export default m
