export * from 'kavachos/fastify'
