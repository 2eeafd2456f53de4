// Every export of @kavachos/react, with the types it gives (tsc --strict).
'use client';
import { KavachProvider, useSession, useUser, useSignIn, useSignUp, useSignOut, useOrganization, useKavachClient, type SessionData } from '@kavachos/react';
import type { KavachClient, Organization, Session, User } from '@kavachos/client';

declare function expectType<T>(value: T): void;
declare const initial: SessionData;
declare const client: KavachClient;

export function App({ children }: { children: React.ReactNode }) {
  return (
    <>
      <KavachProvider basePath="/api/kavach">{children}</KavachProvider>
      <KavachProvider baseUrl="http://localhost:3000/api/kavach" initialSession={initial} refetchOnWindowFocus={false} focusThrottleMs={1000}>{children}</KavachProvider>
      <KavachProvider client={client} initialSession={null}>{children}</KavachProvider>
    </>
  );
}

export function Everything() {
  const s = useSession();
  expectType<Session | null>(s.session);
  expectType<User | null>(s.user);
  expectType<SessionData | null>(s.data);
  expectType<boolean>(s.isLoading);
  void s.refresh();

  const { user, isLoading } = useUser();
  expectType<User | null>(user);
  expectType<boolean>(isLoading);

  const signIn = useSignIn();
  void signIn({ email: 'a@b.c', password: 'p' });
  void signIn('a@b.c', 'p');
  void signIn.signIn({ email: 'a@b.c', password: 'p' });
  const { signIn: alsoSignIn, error } = useSignIn({ factor: 'password' });
  void alsoSignIn('a@b.c', 'p');
  expectType<string | undefined>(error?.message);

  const signUp = useSignUp();
  void signUp({ email: 'a@b.c', password: 'p', name: 'A' });
  const signOut = useSignOut();
  void signOut();
  void signOut({ all: true });

  const org = useOrganization();
  expectType<Organization | null>(org.organization);
  expectType<Organization[]>(org.organizations);
  void org.setActive('o');
  void org.create({ name: 'Acme' });

  const c = useKavachClient();
  void c.agents.list();
  // @ts-expect-error sign-in takes an email and a password
  void signIn({ email: 'a@b.c' });
  return null;
}
