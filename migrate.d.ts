export { importBetterAuth, importClerk, migrate } from './index'
export type { ImportBetterAuthOptions, ImportClerkOptions, ImportReport, ImportCounts } from './index'
