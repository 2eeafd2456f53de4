export { kavachNextjs } from 'kavachos/nextjs'
