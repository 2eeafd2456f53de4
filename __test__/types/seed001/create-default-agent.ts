// Seed 001, step 4, verbatim.
import { getKavach } from '@/lib/kavach';

export async function createDefaultAgent(userId: string) {
  const kavach = await getKavach();

  const agent = await kavach.agent.create({
    ownerId: userId,                     // stable ID from your auth provider
    name: 'default',
    type: 'autonomous',
    permissions: [
      { resource: 'app:read:*', actions: ['read'] },
    ],
  });

  // Persist agent.token somewhere the user can access, encrypted at rest.
  // It is returned once and cannot be recovered.
  return { agentId: agent.id, token: agent.token };
}
