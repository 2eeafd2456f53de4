import type { Kavach } from '../index'

// Any instance, whatever its user fields and customSession shape.
export type KavachSource = Kavach<any, any, any> | Promise<Kavach<any, any, any>> | (() => Kavach<any, any, any> | Promise<Kavach<any, any, any>>)

/** A Fastify plugin serving the kavachos HTTP API; register it with `{ prefix: '/api/kavach' }`. */
export declare function kavachFastify(
  kavach: KavachSource,
  options?: { maxBodySize?: number },
): (fastify: any, options: Record<string, unknown>) => Promise<void>
