// Seed 000, "AFTER: lib/kavach.ts", verbatim.
import { createKavach } from 'kavachos';
import { organization } from 'kavachos/plugins';

let instance: Awaited<ReturnType<typeof createKavach>> | null = null;

export async function getKavach() {
  if (!instance) {
    instance = await createKavach({
      database: {
        provider: 'postgres',
        url: process.env.DATABASE_URL!,
      },
      secret: process.env.KAVACHOS_SECRET!,
      baseUrl: process.env.AUTH_BASE_URL!,
      emailAndPassword: { enabled: true },
      plugins: [organization()],
    });
  }
  return instance;
}
