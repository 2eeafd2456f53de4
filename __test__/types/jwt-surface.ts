// The jwt plugin's surface under --strict: options, customClaims' input, every kavach.jwt call.
import { createKavach, type Jwk, type JwtPayload, type Session, type User } from 'kavachos';
import { jwt, type JwtOptions } from 'kavachos/plugins';

export async function jwtSurface(request: Request): Promise<void> {
  const options: JwtOptions = {
    algorithm: 'RS256',
    expiresIn: 600,
    issuer: 'https://app.example.com',
    audience: ['web', 'mobile'],
    // Seed 000: "a customClaims callback that runs at token issuance. It receives the session".
    customClaims: async ({ session, user }: { session: Session; user: User }) => ({
      org: session.id,
      verified: user.emailVerified,
      since: session.createdAt.toISOString(),
    }),
  };
  const kavach = await createKavach({
    database: { provider: 'sqlite', url: ':memory:' },
    secret: 'x'.repeat(32),
    plugins: [jwt(options), jwt(), jwt({ customClaims: () => ({ plan: 'pro' }) })],
  });
  const issued = await kavach.jwt.issue({ request });
  const fromHeaders = await kavach.jwt.issue({ headers: request.headers });
  const plain = await kavach.jwt.issue(request);
  if (issued.success) {
    const token: string = issued.data.token;
    const verified = await kavach.jwt.verify(token);
    if (verified.success) {
      const claims: JwtPayload = verified.data;
      const sub: string = claims.sub;
      const exp: number = claims.exp;
      const sid: string = claims.sid;
      const extra: unknown = claims['org'];
      console.log(sub, exp, sid, extra);
    } else {
      const code: string = verified.error.code;
      console.log(code);
    }
  }
  const { keys }: { keys: Jwk[] } = await kavach.jwt.getJwks();
  const kty: 'OKP' | 'RSA' = keys[0]!.kty;
  const rotated = await kavach.jwt.rotateKeys();
  const kid: string | undefined = rotated.data?.kid;
  console.log(fromHeaders.success, plain.error?.code, kty, kid);

  // @ts-expect-error only EdDSA and RS256
  jwt({ algorithm: 'HS256' });
  // @ts-expect-error verify takes the token string
  await kavach.jwt.verify({ token: 'x' });
}
