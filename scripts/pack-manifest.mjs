// `npm pack` / `npm publish` of kavachos: the platform packages go into optionalDependencies only in
// the packed manifest (the napi-rs way, as `napi pre-publish` does), so that the repository's own
// `npm ci` never asks the registry for binaries that are built here. `prepack` writes them (keeping
// the original beside it), `postpack` puts the original back.
import { copyFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const manifest = join(root, 'package.json')
const saved = join(root, '.package.json.prepack')
const TRIPLES = {
  'x86_64-unknown-linux-gnu': 'linux-x64-gnu',
  'aarch64-unknown-linux-gnu': 'linux-arm64-gnu',
  'x86_64-unknown-linux-musl': 'linux-x64-musl',
  'aarch64-unknown-linux-musl': 'linux-arm64-musl',
  'x86_64-apple-darwin': 'darwin-x64',
  'aarch64-apple-darwin': 'darwin-arm64',
  'x86_64-pc-windows-msvc': 'win32-x64-msvc',
}

if (process.argv[2] === 'restore') {
  if (existsSync(saved)) renameSync(saved, manifest)
} else {
  if (!existsSync(saved)) copyFileSync(manifest, saved)
  const pkg = JSON.parse(readFileSync(saved, 'utf8'))
  pkg.optionalDependencies = {}
  for (const target of pkg.napi.targets) {
    const name = TRIPLES[target]
    if (!name) throw new Error(`no npm package name for the target ${target}`)
    pkg.optionalDependencies[`kavachos-${name}`] = pkg.version
  }
  writeFileSync(manifest, JSON.stringify(pkg, null, 2) + '\n')
}
