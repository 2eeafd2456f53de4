// A server component reading the session as the seeds describe (`headers()` from next/headers).
import { headers } from 'next/headers';
import { getKavach } from '@/lib/kavach';

export async function greeting(): Promise<string> {
  const kavach = await getKavach();
  const session = await kavach.auth.getSession({ headers: await headers() });
  return session.success && session.data ? `Hello, ${session.data.user.name ?? session.data.user.email}` : 'Hello';
}
