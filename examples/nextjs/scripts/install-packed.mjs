// Installs kavachos into this example the way a user gets it: `npm pack` of the repository's
// packages (kavachos, its linux-x64-gnu binary package, @kavachos/nextjs, @kavachos/react,
// @kavachos/client) into .packs/, then `npm install`, which reads them from package.json's
// `file:.packs/*.tgz` entries. No path alias, no workspace link: what ends up in node_modules is what
// the registry would serve. Also writes .env.local the first time: a random KAVACHOS_SECRET and
// AUTH_BASE_URL=http://localhost:3000.
//
//   node scripts/install-packed.mjs            (the repository is ../.. from this folder)
//   KAVACH_REPO=/path/to/kavachos node scripts/install-packed.mjs   (a copy of the example elsewhere)
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const app = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const repo = resolve(process.env.KAVACH_REPO || join(app, '..', '..'))
const packs = join(app, '.packs')
const triple = 'linux-x64-gnu'
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })

if (`${process.platform}-${process.arch}` !== 'linux-x64') {
  console.error(`package.json names the ${triple} binary package; on ${process.platform}-${process.arch} put yours (npm/<triple>) in its place`)
  process.exit(1)
}
if (!existsSync(join(repo, 'package.json')) || !existsSync(join(repo, 'npm', triple))) {
  console.error(`${repo} is not the kavachos repository: set KAVACH_REPO`)
  process.exit(1)
}
// The addon that `npm run build` made in the repository goes into its npm/<triple> package (what the
// build does at its end): never a copy left there by an older build.
if (!existsSync(join(repo, `kavachos.${triple}.node`))) {
  console.error(`no kavachos.${triple}.node in ${repo}: run \`npm run build\` there first`)
  process.exit(1)
}
run('node', [join(repo, 'scripts', 'build-packages.mjs')], repo)

rmSync(packs, { recursive: true, force: true })
mkdirSync(packs)
const packages = [
  ['kavachos', repo],
  [`kavachos-${triple}`, join(repo, 'npm', triple)],
  ['kavachos-nextjs', join(repo, 'npm', 'nextjs')],
  ['kavachos-react', join(repo, 'npm', 'react')],
  ['kavachos-client', join(repo, 'npm', 'client')],
]
for (const [name, dir] of packages) {
  const [{ filename }] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', packs], dir))
  // Version-free names, so that package.json needs no edit when the version moves.
  renameSync(join(packs, filename.replace(/^@kavachos\//, 'kavachos-')), join(packs, `${name}.tgz`))
  console.log(`packed ${name}.tgz`)
}

// npm trusts node_modules/.package-lock.json for file: tarballs it has seen: drop the old copies so
// that a repacked tarball is really installed again.
const nm = join(app, 'node_modules')
rmSync(join(nm, '.package-lock.json'), { force: true })
rmSync(join(nm, '@kavachos'), { recursive: true, force: true })
if (existsSync(nm)) for (const d of readdirSync(nm)) if (d.startsWith('kavachos')) rmSync(join(nm, d), { recursive: true, force: true })
execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, stdio: 'inherit' })

const env = join(app, '.env.local')
if (!existsSync(env)) {
  writeFileSync(env, `# Written by scripts/install-packed.mjs. Keep it secret; set your own in production.\nKAVACHOS_SECRET=${randomBytes(32).toString('hex')}\n# Where the app is served: the Origin that may call the API, and the origin of links in emails.\nAUTH_BASE_URL=http://localhost:3000\n`, { mode: 0o600 })
  console.log('wrote .env.local (KAVACHOS_SECRET, AUTH_BASE_URL)')
}
