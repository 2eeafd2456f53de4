export { kavachFastify } from 'kavachos/fastify'
