// Seed 000, "Organizations" AFTER, verbatim (userId and otherUserId come from the app).
import { getKavach } from '@/lib/kavach';

declare const userId: string;
declare const otherUserId: string;

const kavach = await getKavach();
const org = await kavach.organizations.create({
  name: 'Acme',
  ownerId: userId,
});
await kavach.organizations.addMember({
  organizationId: org.data!.id,
  userId: otherUserId,
  role: 'member',
});
