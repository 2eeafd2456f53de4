import Link from 'next/link';
import { headers } from 'next/headers';
import { getKavach } from '@/lib/kavach';
import { Profile } from '@/components/Profile';
import { passkeysOn } from '@/lib/passkeys';

// A server component: the session comes from the request's cookies, on the server.
export default async function Dashboard() {
  // headers() first: it makes the page dynamic before anything opens the database, so that
  // `next build` does not create an instance (and connect to DATABASE_URL) while prerendering.
  const requestHeaders = await headers();
  const kavach = await getKavach();
  const session = await kavach.auth.getSession({ headers: requestHeaders });
  // middleware.ts already sent anonymous visitors to /sign-in; this is the page's own guard.
  const user = session.success ? session.data?.user : undefined;
  if (!user) return <main><p>Not signed in. <Link href="/sign-in?next=/dashboard">Sign in</Link></p></main>;
  return (
    <main>
      <h1>Dashboard</h1>
      <p id="greeting">Hello, {user.email}</p>
      <Profile passkeys={passkeysOn()} />
      <p><Link href="/dashboard/agents">Agents</Link></p>
    </main>
  );
}
