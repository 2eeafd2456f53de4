import type { Kavach } from '../index'

export type KavachSource = Kavach | Promise<Kavach> | (() => Kavach | Promise<Kavach>)

/** A Fastify plugin serving the kavachos HTTP API; register it with `{ prefix: '/api/kavach' }`. */
export declare function kavachFastify(
  kavach: KavachSource,
  options?: { maxBodySize?: number },
): (fastify: any, options: Record<string, unknown>) => Promise<void>
