// Event hooks and webhooks under --strict: every hook's argument, the event listeners, the webhook
// options and kavach.webhooks.
import { createKavach, type Agent, type KavachEvent, type WebhookDelivery } from 'kavachos';

export async function hooksSurface(): Promise<void> {
  const seen: string[] = [];
  const kavach = await createKavach({
    database: { provider: 'sqlite', url: ':memory:' },
    secret: 'x'.repeat(32),
    hooks: {
      beforeAuthorize: async ({ agentId, ownerId, action, resource, ip }) => {
        seen.push(agentId, ownerId, action, resource, ip ?? '');
        return resource.startsWith('mcp:prod:') ? { allow: false, reason: 'production is off-limits' } : undefined;
      },
      afterAuthorize: ({ allowed, code, auditId }) => {
        seen.push(String(allowed), code ?? '', auditId ?? '');
      },
      beforeAgentCreate: (input) => ({ allow: input.permissions.length <= 20 }),
      afterAgentCreate: (agent: Agent) => {
        seen.push(agent.id, agent.createdAt.toISOString());
      },
      onAgentRevoke: ({ agentId }) => {
        seen.push(agentId);
      },
      onViolation: async ({ code, reason }) => {
        seen.push(code ?? '', reason ?? '');
      },
      events: {
        'user.created': async (e: KavachEvent) => {
          seen.push(e.id, e.event, e.timestamp, String(e.data.id));
        },
        'member.added': (e) => {
          seen.push(e.event);
        },
      },
    },
    webhooks: [
      { url: 'https://example.com/kavach', secret: 's'.repeat(32), events: ['*'] },
      { url: 'https://example.com/users', secret: 's'.repeat(32), events: ['user.created', 'user.deleted'], retries: 3, backoff: { initialMs: 500, maxMs: 60_000 } },
    ],
  });
  const failed: WebhookDelivery[] = await kavach.webhooks.deliveries({ status: 'failed' });
  for (const d of failed) {
    const when: Date = d.nextAttemptAt;
    seen.push(d.eventId, d.status, when.toISOString(), String(d.lastStatus ?? ''));
    await kavach.webhooks.redeliver(d.id);
  }
  await kavach.webhooks.deliveries();
  await kavach.close();
}
