export { kavachHono, createHonoAdapter } from 'kavachos/hono'
