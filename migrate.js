'use strict'
// kavachos/migrate: importers from the libraries people move from, and the migrations.
const { importBetterAuth, importClerk, migrate } = require('./index.js')

module.exports = { importBetterAuth, importClerk, migrate }
