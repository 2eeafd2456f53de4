#!/usr/bin/env node
'use strict'
// kavach-cli migrate --url <database url>: the migrations createKavach runs on boot, on their own.
// kavach-cli import better-auth|clerk ...: a better-auth database or a Clerk export copied into
// kavachos's tables (the same importers, and the same arguments, as the Rust binary).

const { migrate, importBetterAuth, importClerk } = require('./index.js')

const USAGE = `usage: kavach-cli migrate [--url <database url>]   (default: $DATABASE_URL)
       kavach-cli import better-auth --from <database url> [--to <database url>] [--dry-run] [--batch-size <n>]
                 [--secret <kavachos secret>] [--source-secret <better-auth secret>]
         (--to defaults to --from: kavachos's tables beside better-auth's; the secrets default to
          $KAVACHOS_SECRET (or $KAVACH_SECRET) and $BETTER_AUTH_SECRET, which keep them out of the
          process list: with both, two-factor enrollments and OAuth tokens come across encrypted)
       kavach-cli import clerk --file <export.csv|export.json> --to <database url> [--dry-run] [--batch-size <n>]`

function usage(code) {
  const out = code === 0 ? console.log : console.error
  out(USAGE)
  process.exit(code)
}

function fail(e) {
  console.error(`kavach-cli: ${e.code || 'ERROR'}: ${e.message}`)
  process.exit(1)
}

async function runMigrate(rest) {
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
    fail(e)
  }
}

function printReport(r) {
  const mode = r.dryRun ? ' (dry run: nothing was written)' : ''
  if (r.source === 'clerk') console.log(`source: Clerk export file, into ${r.dialect}${mode}`)
  else console.log(`source: ${r.source} database on ${r.dialect} (${r.naming} columns; tables ${r.sourceTables.join(', ')})${mode}`)
  if (!r.dryRun) console.log(r.migrationsApplied.length ? `kavachos migrations applied: ${r.migrationsApplied.join(', ')}` : 'kavachos migrations: up to date')
  const verb = r.dryRun ? 'would import' : 'imported'
  const pad = (n) => String(n).padStart(8)
  for (const t of r.tables) console.log(`${(t.table + ':').padEnd(14)} ${pad(t.read)} read  ${pad(t.imported)} ${verb}  ${pad(t.unchanged)} unchanged  ${pad(t.skipped)} skipped`)
  if (r.skippedTotal > 0) {
    console.log(`skipped rows: ${r.skippedTotal}`)
    for (const s of r.skipped) console.log(`  ${s.table} ${s.id}: ${s.reason}`)
    if (r.skippedTotal > r.skipped.length) console.log(`  ... and ${r.skippedTotal - r.skipped.length} more`)
  }
  for (const n of r.notes) console.log(`note: ${n}`)
}

/** Secrets not given as flags come from the app's own environment; says which (names only). */
function secretsFromEnv(options) {
  const said = []
  if (options.secret === undefined) {
    const name = ['KAVACHOS_SECRET', 'KAVACH_SECRET'].find((n) => process.env[n])
    if (name) {
      options.secret = process.env[name]
      said.push(`the kavachos secret from ${name}`)
    }
  }
  if (options.sourceSecret === undefined && process.env.BETTER_AUTH_SECRET) {
    options.sourceSecret = process.env.BETTER_AUTH_SECRET
    said.push("better-auth's secret from BETTER_AUTH_SECRET")
  }
  if (said.length) console.error(`using ${said.join(' and ')}`)
}

async function runImport(rest) {
  const [kind, ...args] = rest
  if (kind !== 'better-auth' && kind !== 'clerk') usage(2)
  const ba = kind === 'better-auth'
  const options = { dryRun: false }
  for (let i = 0; i < args.length; i++) {
    const eq = args[i].indexOf('=')
    const name = eq > 0 && args[i].startsWith('--') ? args[i].slice(0, eq) : args[i]
    const inline = eq > 0 && args[i].startsWith('--') ? args[i].slice(eq + 1) : undefined
    const value = () => (inline !== undefined ? inline : args[++i])
    if (name === '--from' && ba) options.from = value()
    else if (name === '--file' && !ba) options.file = value()
    else if (name === '--secret' && ba) options.secret = value()
    else if (name === '--source-secret' && ba) options.sourceSecret = value()
    else if (name === '--to') options.to = value()
    else if (name === '--dry-run' && inline === undefined) options.dryRun = true
    else if (name === '--batch-size') {
      options.batchSize = Number(value())
      if (!Number.isInteger(options.batchSize) || options.batchSize < 1) usage(2)
    } else usage(2)
  }
  if ((ba ? !options.from : !options.file || !options.to) || options.to === '') usage(2)
  if (ba) secretsFromEnv(options)
  try {
    const report = await (ba ? importBetterAuth : importClerk)({
      ...options,
      onProgress: (c) => console.error(`... ${c.table}: ${c.read} read, ${c.imported} written, ${c.unchanged} unchanged, ${c.skipped} skipped`),
    })
    printReport(report)
  } catch (e) {
    console.error(`kavach-cli: ${e.code || 'ERROR'}: ${e.message}`)
    console.error('(re-running the import is safe: rows already copied are left as they are)')
    process.exit(1)
  }
}

async function main(argv) {
  const [command, ...rest] = argv
  if (command === '--help' || command === '-h' || command === 'help') usage(0)
  if (command === 'migrate') return runMigrate(rest)
  if (command === 'import') return runImport(rest)
  usage(2)
}

main(process.argv.slice(2))
