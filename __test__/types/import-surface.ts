// The importers' public calls, checked under --strict.
import { createKavach, importBetterAuth, importClerk, type ImportReport, type ImportCounts, type ImportBetterAuthOptions } from 'kavachos'

export async function importSurface(): Promise<number> {
  const options: ImportBetterAuthOptions = {
    from: 'postgres://localhost/app',
    to: 'sqlite:./kavach.db',
    dryRun: true,
    batchSize: 500,
    secret: process.env.KAVACHOS_SECRET,
    sourceSecret: process.env.BETTER_AUTH_SECRET,
    onProgress: (c: ImportCounts) => {
      const n: number = c.read + c.imported + c.unchanged + c.skipped
      void n
    },
  }
  const report: ImportReport = await importBetterAuth(options)
  const dialect: 'sqlite' | 'postgres' | 'mysql' = report.dialect
  void dialect
  for (const s of report.skipped) {
    const line: string = `${s.table} ${s.id}: ${s.reason}`
    void line
  }
  const notes: string[] = report.notes
  // @ts-expect-error from is required
  await importBetterAuth({ dryRun: true })
  // @ts-expect-error secrets are strings
  await importBetterAuth({ from: 'x.db', secret: 42 })
  const clerk: ImportReport = await importClerk({ file: './clerk-users.json', to: 'postgres://localhost/app', batchSize: 100 })
  // @ts-expect-error to is required for Clerk imports
  await importClerk({ file: './users.csv' })
  const k = await createKavach({ database: { provider: 'sqlite', url: ':memory:' }, emailAndPassword: { enabled: true } })
  const sent = await k.auth.sendPasswordResets({ redirectTo: '/reset' })
  const n: number = sent.success ? sent.data.sent : 0
  return n + clerk.tables.length + report.tables.length + report.skippedTotal + notes.length + report.migrationsApplied.length
}
