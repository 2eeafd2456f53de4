'use strict'
// The implementation ships in kavachos itself (kavachos/fastify); this package names it as the docs do.
module.exports = require('kavachos/fastify')
