export * from 'kavachos/nextjs'
