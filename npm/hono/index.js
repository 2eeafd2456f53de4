'use strict'
// The implementation ships in kavachos itself (kavachos/hono); this package names it as the docs do.
module.exports = require('kavachos/hono')
