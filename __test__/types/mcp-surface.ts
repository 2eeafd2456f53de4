// createKavach({ mcp }) and kavach.mcp under --strict: seed 004's "pass a mcp config block to
// createKavach", and a resource server protecting its route.
import { createKavach, type McpAuth, type McpConfig, type Result } from 'kavachos';

export async function mcpSurface(): Promise<void> {
  const mcp: McpConfig = {
    enabled: true,
    scopes: { 'tools:call': [{ resource: 'mcp:tools:*', actions: ['call'] }] },
    loginPage: '/sign-in',
    autoApprove: (client) => client.clientName === 'first-party',
    accessTokenTtl: 900,
    resources: ['https://app.example.com/mcp'],
  };
  const kavach = await createKavach({
    database: { provider: 'sqlite', url: ':memory:' },
    secret: 'x'.repeat(32),
    baseUrl: 'https://app.example.com',
    basePath: '/api/auth',
    mcp,
  });
  const request = new Request('https://app.example.com/mcp', { method: 'POST' });
  const auth: Result<McpAuth> = await kavach.mcp.authenticate(request, { resource: 'https://app.example.com/mcp', scopes: ['tools:call'] });
  if (auth.success) {
    const agentId: string = auth.data.agentId;
    const expires: Date = auth.data.expiresAt;
    console.log(agentId, expires.getTime(), auth.data.scopes.join(' '));
  } else {
    const challenge: Response = kavach.mcp.challenge(request, auth.error, { resource: 'https://app.example.com/mcp' });
    console.log(challenge.status);
  }
  const POST: (request: Request) => Promise<Response> = kavach.mcp.withMcpAuth(
    async (_request, a) => {
      const d = await kavach.authorize(a.agentId, { action: 'call', resource: 'mcp:tools:echo' });
      return Response.json({ allowed: d.allowed });
    },
    { resource: 'https://app.example.com/mcp' },
  );
  console.log(typeof POST);
  const reg = await kavach.mcp.registerClient({ redirect_uris: ['https://client.example.com/cb'], token_endpoint_auth_method: 'none' });
  if (reg.success) console.log(reg.data.client_id, reg.data.client_secret ?? 'public');
  await kavach.mcp.rotateKeys();
  await kavach.close();
}
