import type { Hono } from 'hono'
import type { Kavach } from '../index'

// Any instance, whatever its user fields and customSession shape.
export type KavachSource = Kavach<any, any, any> | Promise<Kavach<any, any, any>> | (() => Kavach<any, any, any> | Promise<Kavach<any, any, any>>)

/** A Hono app serving the kavachos HTTP API; mount it with `app.route('/api/kavach', ...)`. */
export declare function kavachHono(kavach: KavachSource): Hono
export declare const createHonoAdapter: typeof kavachHono
