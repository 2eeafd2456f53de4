import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const m = require('./hono.js')

export const { kavachHono, createHonoAdapter } = m
export default m
