'use strict'
// kavachos/auth: sign-in methods. `oauth({ providers })` returns a plain description ({ id, options })
// like the factories of kavachos/plugins, which are re-exported here (as the original has); the Rust
// core does the work.

const plugins = require('./plugins.js')

const oauth = (options = {}) => ({ id: 'oauth', options })

module.exports = { ...plugins, oauth }
