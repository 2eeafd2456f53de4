'use strict'
// The implementation ships in kavachos itself (kavachos/express); this package names it as the docs do.
module.exports = require('kavachos/express')
