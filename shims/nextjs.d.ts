import type { Kavach } from '../index'

// Any instance, whatever its user fields and customSession shape.
export type KavachSource = Kavach<any, any, any> | Promise<Kavach<any, any, any>> | (() => Kavach<any, any, any> | Promise<Kavach<any, any, any>>)

/** The route context Next.js passes (params is a Promise from Next 15 on). */
export interface NextRouteContext {
  params?: Promise<Record<string, string | string[] | undefined>> | Record<string, string | string[] | undefined>
}

/**
 * `context` is typed loosely on purpose: `next build --webpack` checks a route's second parameter
 * against its own `{ params: Promise<{ <segment>: string[] }> }` for each route file, and the handler
 * reads whichever catch-all segment it is given (see NextRouteContext).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type NextRouteHandler = (request: Request, context?: any) => Promise<Response>

export interface KavachNextjsOptions {
  /** The mount, when the route file has no catch-all segment to read it from. */
  basePath?: string
  /** Use `x-forwarded-for` as the client address (default true: Next.js has no socket to read). */
  trustForwardedFor?: boolean
}

export declare function kavachNextjs(
  kavach: KavachSource,
  options?: KavachNextjsOptions,
): {
  GET: NextRouteHandler
  POST: NextRouteHandler
  PUT: NextRouteHandler
  PATCH: NextRouteHandler
  DELETE: NextRouteHandler
  OPTIONS: NextRouteHandler
  HEAD: NextRouteHandler
}
