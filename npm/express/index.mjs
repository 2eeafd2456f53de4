export { kavachExpress } from 'kavachos/express'
