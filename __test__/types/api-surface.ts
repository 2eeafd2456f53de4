// The rest of the issue-3 surface: every call typed, errors typed, results narrowed.
import { createKavach, KavachError, migrate, type AuthorizeResult, type AuditEntry, type Agent } from 'kavachos';

export async function surface(): Promise<void> {
  const kavach = await createKavach({
    database: { provider: 'sqlite', url: ':memory:', durability: 'full', pool: { maxConnections: 4 } },
    secret: 'x'.repeat(32),
    skipMigrations: false,
    agents: { maxPerOwner: 5, tokenExpiry: '30d' },
    audit: { retentionDays: 90 },
  });
  const created = await kavach.agent.create({
    ownerId: 'u',
    name: 'n',
    type: 'service',
    permissions: [{ resource: 'a:*', actions: ['*'], constraints: { maxCallsPerHour: 10, timeWindow: { start: '09:00', end: '17:00' }, ipAllowlist: ['10.0.0.0/8'], allowedArgPatterns: ['^x'], requireApproval: false } }],
    expiresAt: new Date(),
    metadata: { team: 'x' },
  });
  const token: string = created.token;
  const maybe: Agent | null = await kavach.agent.get(created.id);
  const list: Agent[] = await kavach.agent.list({ ownerId: 'u', status: 'active', type: 'service' });
  await kavach.agent.update(created.id, { name: 'm', expiresAt: null });
  await kavach.agent.revoke(created.id);
  const rotated = await kavach.agent.rotate(created.id);
  const r1: AuthorizeResult = await kavach.authorize(created.id, { action: 'a', resource: 'b', arguments: { q: 1 }, ip: '::1' });
  const r2 = await kavach.authorizeByToken(rotated.token, { action: 'a', resource: 'b' });
  if (!r2.allowed && r2.code === 'RATE_LIMITED') console.log(r2.reason);
  const auditId: string | null = r1.auditId;
  const rows: AuditEntry[] = await kavach.audit.query({ agentId: created.id, since: new Date(), actions: ['a'], result: 'denied', limit: 10 });
  const csv: string = await kavach.audit.export({ format: 'csv', since: Date.now() - 1000 });
  const stream: ReadableStream<Uint8Array> & AsyncIterable<Uint8Array> = await kavach.audit.export({ format: 'json', stream: true });
  for await (const chunk of stream) console.log(chunk.byteLength);
  const applied: number[] = await migrate('sqlite:./x.db');
  try {
    await kavach.close();
  } catch (e) {
    if (e instanceof KavachError && e.code === 'DB_UNREACHABLE') console.log(e.message);
  }
  console.log(token, maybe, list, auditId, rows[0]?.timestamp.toISOString(), csv, applied);
}
