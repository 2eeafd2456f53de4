export { importBetterAuth, migrate } from './index'
export type { ImportBetterAuthOptions, ImportReport, ImportCounts } from './index'
