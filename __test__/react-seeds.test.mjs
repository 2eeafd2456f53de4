// The React and client snippets of seeds 000 and 004 (the files under __test__/types/client, which
// tsc also checks) run unchanged: TypeScript strips the types, the package names map to npm/ as a
// bundler alias would, and the pages render in jsdom against a real server on 127.0.0.1. The sign-in
// page's Next router is Next's own next/navigation, given a router through Next's own contexts.
import { it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL, fileURLToPath } from 'node:url'
import { dom } from './jsdom-env.mjs'
import ts from 'typescript'
import { startServer } from './client-server.mjs'
import { createKavachClient } from '../npm/client/index.mjs'


const require = createRequire(import.meta.url)
const React = (await import('react')).default
const { renderToString } = await import('react-dom/server')
const { render, screen, fireEvent, waitFor, cleanup } = await import('@testing-library/react')
const { AppRouterContext } = require('next/dist/shared/lib/app-router-context.shared-runtime')
const { SearchParamsContext } = require('next/dist/shared/lib/hooks-client-context.shared-runtime')
const { KavachProvider } = await import('../npm/react/index.mjs')

const here = fileURLToPath(new URL('.', import.meta.url))
const out = mkdtempSync(join(tmpdir(), 'kavach-seeds-'))
const alias = {
  '@kavachos/react': pathToFileURL(join(here, '../npm/react/index.mjs')).href,
  '@kavachos/client': pathToFileURL(join(here, '../npm/client/index.mjs')).href,
  react: pathToFileURL(require.resolve('react')).href,
  'react/jsx-runtime': pathToFileURL(require.resolve('react/jsx-runtime')).href,
  'next/navigation': pathToFileURL(require.resolve('next/navigation')).href,
}

/** Loads a seed file unchanged; `exports` names what the harness needs that the seed does not export. */
async function loadSeed(rel, exports = []) {
  const src = readFileSync(join(here, 'types/client', rel), 'utf8')
  let js = ts.transpileModule(src, { compilerOptions: { jsx: ts.JsxEmit.ReactJSX, module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
  js = js.replace(/from ['"]([^'"]+)['"]/g, (m, spec) => (alias[spec] ? `from '${alias[spec]}'` : m))
  if (exports.length) js += `\nexport { ${exports.join(', ')} };\n`
  const file = join(out, rel.replace(/[/[\]]/g, '_') + '.mjs')
  writeFileSync(file, js)
  return import(pathToFileURL(file).href)
}

let srv
before(async () => {
  srv = await startServer('sqlite', 'seeds')
  dom.reconfigure({ url: `${srv.origin}/sign-in?next=/settings` })
  const r = await createKavachClient({ baseUrl: srv.origin, cookies: false }).auth.signUp({ email: 'seed@example.com', password: 'correct horse battery' })
  assert.equal(r.success, true)
})
after(async () => {
  cleanup()
  await srv.close()
  rmSync(out, { recursive: true, force: true })
})

it('seed 004: the client snippet builds a client for the mount it names', async () => {
  const { client } = await loadSeed('seed004/lib/client.ts')
  assert.equal(client.baseUrl, 'http://localhost:3000/api/kavach')
  assert.equal(typeof client.auth.getSession, 'function')
})

it('seed 000: the layout renders on the server (React adds the head)', async () => {
  const { default: RootLayout } = await loadSeed('seed000/app/layout.tsx')
  const html = renderToString(React.createElement(RootLayout, null, React.createElement('main', null, 'page')))
  assert.equal(html, '<html lang="en"><head></head><body><main>page</main></body></html>')
})

it('seed 000: the sign-in page signs in through useSignIn, Profile shows the user, its button signs out', async () => {
  const { default: SignInPage } = await loadSeed('seed000/app/sign-in/page.tsx')
  const { Profile } = await loadSeed('seed000/profile.tsx', ['Profile'])
  const pushed = []
  const router = { push: (href) => pushed.push(href), replace() {}, back() {}, forward() {}, refresh() {}, prefetch() {} }
  const h = React.createElement
  const sessionsBefore = srv.count('GET /auth/session')
  render(
    h(
      AppRouterContext.Provider,
      { value: router },
      h(SearchParamsContext.Provider, { value: new URLSearchParams(dom.window.location.search) }, h(KavachProvider, { basePath: '/api/kavach' }, h(SignInPage), h('section', { 'data-testid': 'profile' }, h(Profile)))),
    ),
  )
  // Profile renders nothing while loading, then an empty email for nobody.
  await waitFor(() => assert.equal(screen.getByTestId('profile').querySelector('p')?.textContent, ''))
  const [email, password] = document.querySelectorAll('input')
  fireEvent.change(email, { target: { value: 'seed@example.com' } })
  fireEvent.change(password, { target: { value: 'not the password' } })
  fireEvent.click(screen.getByText('Sign in'))
  await waitFor(() => assert.equal(screen.getByRole('alert').textContent.length > 0, true))
  assert.deepEqual(pushed, [])

  fireEvent.change(password, { target: { value: 'correct horse battery' } })
  fireEvent.click(screen.getByText('Sign in'))
  await waitFor(() => assert.deepEqual(pushed, ['/settings']))
  assert.equal(screen.queryByRole('alert'), null)
  await waitFor(() => assert.equal(screen.getByTestId('profile').querySelector('p').textContent, 'seed@example.com'))

  const outs = srv.count('POST /auth/sign-out')
  fireEvent.click(screen.getByText('Sign out'))
  await waitFor(() => assert.equal(screen.getByTestId('profile').querySelector('p').textContent, ''))
  assert.equal(srv.count('POST /auth/sign-out') - outs, 1)
  assert.equal(srv.count('GET /auth/session') - sessionsBefore, 1, 'only the first read hit /auth/session')
})
