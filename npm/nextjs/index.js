'use strict'
// The implementation ships in kavachos itself (kavachos/nextjs); this package names it as the docs do.
module.exports = require('kavachos/nextjs')
