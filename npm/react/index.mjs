'use client'
// ESM entry: the same module as the CommonJS one, so that ESM and CJS importers share one context.
import react from './index.js'

export const KavachProvider = react.KavachProvider
export const KavachContext = react.KavachContext
export const useKavachContext = react.useKavachContext
export const useKavachClient = react.useKavachClient
export const useSession = react.useSession
export const useUser = react.useUser
export const useSignIn = react.useSignIn
export const useSignUp = react.useSignUp
export const useSignOut = react.useSignOut
export const useLinkSocial = react.useLinkSocial
export const useOrganization = react.useOrganization
