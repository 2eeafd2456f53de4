// lib/kavach.ts: seed 000's getKavach, on SQLite unless DATABASE_URL names a PostgreSQL or MySQL server.
import { createKavach } from 'kavachos';
import { organization } from 'kavachos/plugins';

const url = process.env.DATABASE_URL ?? 'kavach.db';
const provider = /^postgres(ql)?:/.test(url) ? 'postgres' : /^mysql:/.test(url) ? 'mysql' : 'sqlite';

let instance: Awaited<ReturnType<typeof createKavach>> | null = null;

export async function getKavach() {
  if (!instance) {
    instance = await createKavach({
      database: { provider, url },
      secret: process.env.KAVACHOS_SECRET!,
      baseUrl: process.env.AUTH_BASE_URL,
      emailAndPassword: { enabled: true },
      plugins: [organization()],
    });
  }
  return instance;
}
