import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const m = require('./nextjs.js')

export const { kavachNextjs } = m
export default m
