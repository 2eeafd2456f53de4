export * from 'kavachos/hono'
