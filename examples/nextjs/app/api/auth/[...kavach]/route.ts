// app/api/auth/[...kavach]/route.ts: the whole HTTP API under /api/auth (seed 000), plus the
// methods the agents routes use (PATCH /agents/:id, DELETE /agents/:id).
import { kavachNextjs } from '@kavachos/nextjs';
import { getKavach } from '@/lib/kavach';

const { GET, POST, PATCH, DELETE } = kavachNextjs(getKavach);

export { GET, POST, PATCH, DELETE };
