// lib/kavach.ts: seed 000's getKavach, on SQLite unless DATABASE_URL names a PostgreSQL or MySQL server.
// OAuth sign-in (seed 000's "OAuth providers") is on for every provider lib/oauth-providers.ts finds
// credentials for in the environment, and off when there are none. Passkeys are on where the app's
// origin can name a WebAuthn relying party (lib/passkeys.ts).
import { createKavach } from 'kavachos';
import { organization, passkey } from 'kavachos/plugins';
import { oauth } from 'kavachos/auth';
import { oauthProviders } from '@/lib/oauth-providers';
import { passkeysOn } from '@/lib/passkeys';

const url = process.env.DATABASE_URL ?? 'kavach.db';
const provider = /^postgres(ql)?:/.test(url) ? 'postgres' : /^mysql:/.test(url) ? 'mysql' : 'sqlite';

let instance: Awaited<ReturnType<typeof createKavach>> | null = null;

export async function getKavach() {
  if (!instance) {
    const providers = oauthProviders();
    instance = await createKavach({
      database: { provider, url },
      secret: process.env.KAVACHOS_SECRET!,
      baseUrl: process.env.AUTH_BASE_URL,
      // Where app/api/auth/[...kavach]/route.ts mounts the API: the OAuth redirect URI registered
      // with each provider is `${AUTH_BASE_URL}/api/auth/oauth/<id>/callback`.
      basePath: '/api/auth',
      emailAndPassword: { enabled: true },
      plugins: [
        organization(),
        ...(passkeysOn() ? [passkey({ rpName: 'kavachos + Next.js' })] : []),
        ...(providers.length ? [oauth({ providers })] : []),
      ],
    });
  }
  return instance;
}
