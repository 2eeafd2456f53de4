// Approvals, delegation chains and trust scores under --strict.
import { createKavach, type Approval, type AuthorizeResult, type Delegation, type TrustScore } from 'kavachos';

export async function governanceSurface(): Promise<void> {
  const kavach = await createKavach({
    database: { provider: 'sqlite', url: ':memory:' },
    secret: 'x'.repeat(32),
    agents: { approvals: { expiresIn: 900, reuse: 'once' } },
    hooks: { events: { 'approval.requested': (e) => console.log(e.data) } },
  });
  const a = await kavach.agent.create({
    ownerId: 'u1',
    name: 'deployer',
    type: 'autonomous',
    permissions: [
      { resource: 'deploy:*', actions: ['run'], constraints: { requireApproval: true } },
      { resource: 'vault:*', actions: ['read'], constraints: { minTrust: 60 } },
    ],
  });
  const d: AuthorizeResult = await kavach.authorize(a.id, { action: 'run', resource: 'deploy:prod' });
  if (d.code === 'APPROVAL_REQUIRED' && d.approvalId) {
    const approved: Approval = await kavach.approvals.approve(d.approvalId, { decidedBy: 'u1' });
    const when: Date | null = approved.decidedAt;
    console.log(approved.status, when?.getTime());
  }
  const pending: Approval[] = await kavach.approvals.list({ ownerId: 'u1', status: 'pending' });
  if (pending[0]) await kavach.approvals.deny(pending[0].id);
  const b = await kavach.agent.create({ ownerId: 'u1', name: 'helper', type: 'delegated', permissions: [] });
  const link: Delegation = await kavach.delegation.create({
    fromAgentId: a.id,
    toAgentId: b.id,
    permissions: [{ resource: 'deploy:staging', actions: ['run'], constraints: { requireApproval: true } }],
    expiresAt: new Date(Date.now() + 3_600_000),
    maxDepth: 2,
  });
  const links: Delegation[] = await kavach.delegation.list({ agentId: b.id });
  await kavach.delegation.revoke(link.id);
  const t: TrustScore = await kavach.trust.score(a.id);
  const level: 'high' | 'medium' | 'low' | 'untrusted' = t.level;
  const rows = await kavach.audit.query({ agentId: b.id });
  const chain: string[] | undefined = rows[0]?.delegationChain;
  console.log(links.length, t.score, level, t.factors.violations, chain);
  await kavach.close();
}
