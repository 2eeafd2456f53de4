// Seed 000, "AFTER: app/api/auth/[...kavach]/route.ts", verbatim.
import { kavachNextjs } from '@kavachos/nextjs';
import { getKavach } from '@/lib/kavach';

const { GET, POST } = kavachNextjs(getKavach);

export { GET, POST };
