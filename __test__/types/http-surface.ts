// The human-auth and HTTP surface so far: Results, sessions from headers or requests, the shims.
import { createKavach, type User } from 'kavachos';
import { kavachNextjs } from '@kavachos/nextjs';
import { kavachExpress } from '@kavachos/express';
import { kavachFastify } from '@kavachos/fastify';

export async function humans(req: Request): Promise<User | null> {
  const kavach = await createKavach({
    database: { provider: 'sqlite', url: 'app.db' },
    secret: process.env.KAVACHOS_SECRET!,
    baseUrl: 'https://app.example.com',
    emailAndPassword: { enabled: true, minPasswordLength: 12 },
    session: { expiresIn: 604800, updateAge: 86400, cookieName: 'sid' },
    trustedOrigins: ['https://admin.example.com'],
  });
  const up = await kavach.auth.signUp({ email: 'a@b.c', password: 'long enough pw', name: 'A' });
  if (up.success) console.log(up.data.token, up.data.session?.expiresAt.getTime());
  else console.log(up.error.code);
  const session = await kavach.auth.getSession({ request: req });
  if (!session.success || !session.data) return null;
  const fromHeaders = await kavach.auth.getSession({ headers: req.headers });
  console.log(fromHeaders.data?.session.id);
  const res: Response = await kavach.handler(req);
  console.log(res.status, kavachNextjs(kavach).DELETE, kavachExpress(kavach), kavachFastify(Promise.resolve(kavach)));
  return session.data.user;
}
