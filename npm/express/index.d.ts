export * from 'kavachos/express'
