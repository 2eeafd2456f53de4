#!/usr/bin/env node
'use strict'
// kavach-cli migrate --url <database url>: the migrations createKavach runs on boot, on their own.

const { migrate } = require('./index.js')

function usage(code) {
  const out = code === 0 ? console.log : console.error
  out('usage: kavach-cli migrate [--url <database url>]   (default: $DATABASE_URL)')
  process.exit(code)
}

async function main(argv) {
  const [command, ...rest] = argv
  if (command === '--help' || command === '-h' || command === 'help') usage(0)
  if (command !== 'migrate') usage(2)
  let url = process.env.DATABASE_URL
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--url') url = rest[++i]
    else if (rest[i].startsWith('--url=')) url = rest[i].slice(6)
    else usage(2)
  }
  if (!url) usage(2)
  try {
    const applied = await migrate(url)
    console.log(applied.length ? `applied migrations: ${applied.join(', ')}` : 'the database is up to date')
  } catch (e) {
    console.error(`kavach-cli: ${e.code || 'ERROR'}: ${e.message}`)
    process.exit(1)
  }
}

main(process.argv.slice(2))
