// After `napi build`: puts each built `kavachos.<triple>.node` into its npm/<triple> package, so
// that `npm pack` of that package gives what a user installs, and checks that every package under
// npm/ carries the root version (they are plain JS otherwise: nothing else to build).
import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
let problems = 0
for (const dir of readdirSync(join(root, 'npm'), { withFileTypes: true })) {
  if (!dir.isDirectory() || dir.name === 'node_modules') continue
  const pkgPath = join(root, 'npm', dir.name, 'package.json')
  if (!existsSync(pkgPath)) continue
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'))
  if (pkg.version !== version) {
    console.error(`npm/${dir.name}: version ${pkg.version}, the root is ${version}`)
    problems++
  }
  const built = join(root, `kavachos.${dir.name}.node`)
  if (existsSync(built)) {
    copyFileSync(built, join(root, 'npm', dir.name, `kavachos.${dir.name}.node`))
    console.log(`npm/${dir.name}: kavachos.${dir.name}.node`)
  }
}
process.exit(problems ? 1 : 0)
