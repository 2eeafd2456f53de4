import type { Hono } from 'hono'
import type { Kavach } from '../index'

export type KavachSource = Kavach | Promise<Kavach> | (() => Kavach | Promise<Kavach>)

/** A Hono app serving the kavachos HTTP API; mount it with `app.route('/api/kavach', ...)`. */
export declare function kavachHono(kavach: KavachSource): Hono
export declare const createHonoAdapter: typeof kavachHono
