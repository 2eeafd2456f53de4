// Seed 001, step 5, verbatim (fetchGithubRepos is the app's own: see globals.d.ts).
import { getKavach } from '@/lib/kavach';

export async function POST(req: Request) {
  const token = req.headers.get('Authorization')?.replace('Bearer ', '');
  if (!token) return new Response('Missing token', { status: 401 });

  const kavach = await getKavach();

  const { allowed, reason, auditId } = await kavach.authorizeByToken(token, {
    action: 'read',
    resource: 'mcp:github:repos',
  });

  if (!allowed) {
    return Response.json({ error: reason, auditId }, { status: 403 });
  }

  // allowed. Do the work.
  const repos = await fetchGithubRepos();
  return Response.json({ repos, auditId });
}
