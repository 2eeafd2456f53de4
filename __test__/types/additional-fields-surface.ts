// user.additionalFields and customSession under --strict: the fields land on the user type that
// createKavach infers, sign-up takes the ones the client may send, and customSession's return type
// becomes getSession's data.
import { createKavach, type User } from 'kavachos';
import { anonymous, customSession, type AnonymousLink } from 'kavachos/plugins';

export async function additionalFieldsSurface(request: Request): Promise<void> {
  const kavach = await createKavach({
    database: { provider: 'sqlite', url: ':memory:' },
    user: {
      additionalFields: {
        plan: { type: 'string', required: true },
        seats: { type: 'number', defaultValue: 1 },
        trialEnds: { type: 'date' },
        tags: { type: 'string[]' },
        credits: { type: 'number', input: false, defaultValue: 5 },
        internalNote: { type: 'string', returned: false },
      },
    },
    plugins: [
      anonymous({
        emailDomainName: 'guests.example.com',
        onLinkAccount: async ({ anonymousUser, newUser }: AnonymousLink) => {
          console.log(anonymousUser.user.id, newUser.user.id, newUser.session.expiresAt.toISOString());
        },
        generateName: () => 'Guest',
      }),
    ],
  });
  const signed = await kavach.auth.signUp({ email: 'a@example.com', password: 'password-123', plan: 'pro', trialEnds: new Date(), tags: ['x'] });
  if (signed.success) {
    const plan: string = signed.data.user.plan;
    const seats: number = signed.data.user.seats;
    const credits: number = signed.data.user.credits;
    const trial: Date | null | undefined = signed.data.user.trialEnds;
    const tags: string[] | null | undefined = signed.data.user.tags;
    const guest: boolean | undefined = signed.data.user.isAnonymous;
    console.log(plan, seats, credits, trial, tags, guest);
    // @ts-expect-error returned: false is not on the user
    console.log(signed.data.user.internalNote);
  }
  const signedIn = await kavach.auth.signIn({ email: 'a@example.com', password: 'password-123' });
  if (signedIn.success && !signedIn.data.twoFactorRequired) {
    const plan: string = signedIn.data.user.plan;
    console.log(plan);
  }
  const session = await kavach.auth.getSession({ request });
  if (session.success && session.data) {
    const plan: string = session.data.user.plan;
    const base: User = session.data.user;
    console.log(plan, base.email, session.data.session.expiresAt.getTime());
  }
  // @ts-expect-error plan is required at sign-up
  await kavach.auth.signUp({ email: 'b@example.com', password: 'password-123' });
  // @ts-expect-error credits is input: false
  await kavach.auth.signUp({ email: 'b@example.com', password: 'password-123', plan: 'x', credits: 9 });
  // @ts-expect-error seats is a number
  await kavach.auth.signUp({ email: 'b@example.com', password: 'password-123', plan: 'x', seats: 'many' });

  const shaped = await createKavach({
    database: { provider: 'sqlite', url: ':memory:' },
    user: { additionalFields: { plan: { type: 'string', defaultValue: 'free' } } },
    plugins: [
      customSession(async ({ user, session }) => ({
        user: { id: user.id, email: user.email },
        session: { id: session.id },
        roles: ['reader'] as string[],
      })),
    ],
  });
  const custom = await shaped.auth.getSession({ request });
  if (custom.success && custom.data) {
    const roles: string[] = custom.data.roles;
    const sid: string = custom.data.session.id;
    console.log(roles, sid, custom.data.user.email);
    // @ts-expect-error the custom shape has no expiresAt on the session
    console.log(custom.data.session.expiresAt);
  } else if (!custom.success) {
    console.log(custom.error.code);
  }
  // The plain instance keeps the plain shape.
  const plain = await createKavach({ database: { provider: 'sqlite', url: ':memory:' } });
  const s = await plain.auth.getSession({ request });
  if (s.success && s.data) console.log(s.data.user.email, s.data.session.expiresAt.getTime());

  // @ts-expect-error a field type is one of the six
  await createKavach({ database: { provider: 'sqlite', url: ':memory:' }, user: { additionalFields: { x: { type: 'text' } } } });
}
