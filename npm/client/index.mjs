// ESM entry: the same module as the CommonJS one (one implementation, no dual-package state).
import client from './index.js'

export const createKavachClient = client.createKavachClient
export const reviveDates = client.reviveDates
export const resolveBase = client.resolveBase
