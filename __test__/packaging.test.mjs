// What users install: `npm pack` of kavachos, its linux-x64-gnu binary package and every scoped
// package, installed with npm into an empty directory, then the seed snippets run with plain node
// (ESM and CommonJS). Also: the tarballs ship only what they should, and a missing binary gives one
// clear error naming the package to add.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const triple = 'linux-x64-gnu'
const scoped = ['nextjs', 'hono', 'express', 'fastify', 'client', 'react']
const run = (cmd, args, cwd, env = {}) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 })

function pack(dir, dest) {
  const out = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dest], dir))
  return { file: join(dest, out[0].filename), files: out[0].files.map((f) => f.path) }
}

describe('packed tarballs, installed as a user would', { skip: process.platform !== 'linux' || process.arch !== 'x64' }, () => {
  let work
  const tarballs = {}
  before(() => {
    // The binary package carries the addon this checkout built (the root one), never an older copy.
    assert.ok(existsSync(join(root, `kavachos.${triple}.node`)), 'the addon is not built: npm run build')
    run('node', [join(root, 'scripts', 'build-packages.mjs')], root)
    work = mkdtempSync(join(tmpdir(), 'kavach-pack-'))
    tarballs.kavachos = pack(root, work)
    tarballs.binary = pack(join(root, 'npm', triple), work)
    for (const name of scoped) tarballs[name] = pack(join(root, 'npm', name), work)
  })
  after(() => rmSync(work, { recursive: true, force: true }))

  it('ship only what a user needs', () => {
    const k = tarballs.kavachos.files
    for (const f of ['index.js', 'index.mjs', 'index.d.ts', 'edge.mjs', 'binding.js', 'binding.d.ts', 'plugins.mjs', 'adapters.mjs', 'migrate.js', 'migrate.mjs', 'migrate.d.ts', 'cli.js', 'shims/nextjs.js', 'package.json']) {
      assert.ok(k.includes(f), `kavachos ships ${f}`)
    }
    assert.ok(!k.some((f) => f.endsWith('.node')), 'the binary is in its own package')
    assert.ok(!k.some((f) => /^(crates|__test__|target|npm|bench|examples|migrations|scripts)\//.test(f)), k.join(', '))
    assert.deepEqual(tarballs.binary.files.filter((f) => f !== 'README.md').sort(), [`kavachos.${triple}.node`, 'package.json'])
    // The platform packages are optional dependencies of the packed manifest (the repository's own
    // package.json has none, so its npm ci never asks the registry for them), and packing leaves the
    // repository's package.json as it was.
    const pkg = JSON.parse(run('tar', ['xzf', tarballs.kavachos.file, '-O', 'package/package.json'], work))
    assert.equal(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).optionalDependencies, undefined)
    assert.ok(!existsSync(join(root, '.package.json.prepack')))
    assert.ok(Object.values(pkg.optionalDependencies).every((v) => v === pkg.version))
    assert.deepEqual(Object.keys(pkg.optionalDependencies).sort(), [
      'kavachos-darwin-arm64', 'kavachos-darwin-x64', 'kavachos-linux-arm64-gnu', 'kavachos-linux-arm64-musl',
      'kavachos-linux-x64-gnu', 'kavachos-linux-x64-musl', 'kavachos-win32-x64-msvc',
    ])
    for (const name of scoped) {
      const files = tarballs[name].files
      for (const f of ['index.js', 'index.mjs', 'index.d.ts', 'package.json']) assert.ok(files.includes(f), `@kavachos/${name} ships ${f}`)
    }
  })

  it('install into an empty app and run the seed snippets (ESM and CJS)', () => {
    const app = join(work, 'app')
    run('mkdir', ['-p', app], work)
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }))
    run('npm', ['install', '--no-audit', '--no-fund', tarballs.kavachos.file, tarballs.binary.file, ...scoped.map((n) => tarballs[n].file)], app)
    const snippet = (importLine) => `${importLine}
let instance = null
async function getKavach() {
  if (!instance) {
    instance = await createKavach({
      database: { provider: 'sqlite', url: process.env.DATABASE_URL },
      secret: process.env.KAVACHOS_SECRET,
    })
  }
  return instance
}
async function main() {
  const kavach = await getKavach()
  const agent = await kavach.agent.create({ ownerId: 'user_1', name: 'default', type: 'autonomous', permissions: [{ resource: 'mcp:github:*', actions: ['read'] }] })
  const { allowed, reason, auditId } = await kavach.authorizeByToken(agent.token, { action: 'read', resource: 'mcp:github:repos' })
  const denied = await kavach.authorizeByToken(agent.token, { action: 'write', resource: 'mcp:github:repos' })
  console.log(JSON.stringify({ allowed, reason, auditId: typeof auditId, denied: denied.allowed, code: denied.code }))
  await kavach.close()
}
main()
`
    writeFileSync(join(app, 'esm.mjs'), snippet("import { createKavach } from 'kavachos'"))
    writeFileSync(join(app, 'cjs.cjs'), snippet("const { createKavach } = require('kavachos')"))
    for (const file of ['esm.mjs', 'cjs.cjs']) {
      const out = run('node', [file], app, { DATABASE_URL: join(app, `${file}.db`), KAVACHOS_SECRET: 's'.repeat(40), NODE_ENV: 'production' })
      assert.deepEqual(JSON.parse(out.trim()), { allowed: true, auditId: 'string', denied: false, code: 'NO_PERMISSION' }, file)
    }
    // Every subpath and scoped package loads in both module systems.
    const probe = `
const names = ['kavachos', 'kavachos/plugins', 'kavachos/auth', 'kavachos/adapters', 'kavachos/migrate', 'kavachos/nextjs', 'kavachos/hono', '@kavachos/nextjs', '@kavachos/hono', '@kavachos/express', '@kavachos/fastify', '@kavachos/client']
`
    writeFileSync(join(app, 'probe.cjs'), probe + 'for (const n of names) require(n); console.log("cjs", names.length)')
    writeFileSync(join(app, 'probe.mjs'), probe + 'for (const n of names) await import(n); console.log("esm", names.length)')
    assert.match(run("node", ["probe.cjs"], app), /cjs 12/)
    assert.match(run("node", ["probe.mjs"], app), /esm 12/)
    assert.ok(existsSync(join(app, 'node_modules', 'kavachos', 'edge.mjs')))
    // npx kavach-cli is a bin of the package.
    const migrated = run('npx', ['--no-install', 'kavach-cli', 'migrate', '--url', join(app, 'cli.db')], app)
    assert.match(migrated, /appl|up to date/i)
  })

  it('a missing binary names the package to add', () => {
    const app = join(work, 'nobinary')
    run('mkdir', ['-p', app], work)
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'nobinary', version: '1.0.0', private: true }))
    run('npm', ['install', '--no-audit', '--no-fund', '--omit=optional', tarballs.kavachos.file], app)
    let err
    try {
      run('node', ['-e', "try { require('kavachos') } catch (e) { console.error(e.code + ': ' + e.message); process.exit(3) }"], app)
    } catch (e) {
      err = e
    }
    assert.ok(err, 'loading kavachos without its binary fails')
    assert.equal(err.status, 3)
    assert.match(err.stderr, /^NATIVE_BINDING_MISSING: /)
    assert.match(err.stderr, new RegExp(`npm install kavachos-${triple}`))
  })
})
