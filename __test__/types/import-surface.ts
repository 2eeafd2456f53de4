// The importers' public calls, checked under --strict.
import { importBetterAuth, type ImportReport, type ImportCounts, type ImportBetterAuthOptions } from 'kavachos'

export async function importSurface(): Promise<number> {
  const options: ImportBetterAuthOptions = {
    from: 'postgres://localhost/app',
    to: 'sqlite:./kavach.db',
    dryRun: true,
    batchSize: 500,
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
  return report.tables.length + report.skippedTotal + notes.length + report.migrationsApplied.length
}
