// Seed 001, "Fitting in with Clerk" tab, with Clerk's auth() declared locally.
import { getKavach } from '@/lib/kavach';

declare function auth(): Promise<{ userId: string | null }>;

export async function POST(req: Request) {
  const { userId } = await auth();
  if (!userId) return new Response('Unauthorized', { status: 401 });

  const kavach = await getKavach();
  const agent = await kavach.agent.create({
    ownerId: userId,
    name: 'default',
    type: 'autonomous',
    permissions: [{ resource: 'app:read:*', actions: ['read'] }],
  });

  return Response.json({ agentId: agent.id, token: agent.token });
}
