import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Kavach } from '../index'

// Any instance, whatever its user fields and customSession shape.
export type KavachSource = Kavach<any, any, any> | Promise<Kavach<any, any, any>> | (() => Kavach<any, any, any> | Promise<Kavach<any, any, any>>)

type Req = IncomingMessage & Record<string, any>
type Res = ServerResponse & Record<string, any>
type Next = (err?: unknown) => void

/**
 * The kavachos HTTP API as Express middleware; mount it with `app.use('/api/kavach', ...)`.
 * Works with and without `express.json()` in front of it.
 */
export declare function kavachExpress(
  kavach: KavachSource,
  options?: { maxBodySize?: number },
): [(req: Req, res: Res, next: Next) => Promise<void>, (err: unknown, req: Req, res: Res, next: Next) => void]
