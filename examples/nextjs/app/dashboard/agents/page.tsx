'use client';
import { useCallback, useEffect, useState } from 'react';
import Link from 'next/link';
import { useKavachClient } from '@kavachos/react';
import type { Agent, AuthorizeResult } from '@kavachos/client';

// Agents through the HTTP API (POST /api/auth/agents, POST /api/auth/authorize/token), as the
// signed-in user: the owner comes from the session, never from the page.
export default function AgentsPage() {
  const client = useKavachClient();
  const [agents, setAgents] = useState<Agent[]>([]);
  const [name, setName] = useState('github-reader');
  const [created, setCreated] = useState<{ id: string; name: string; token: string } | null>(null);
  const [decision, setDecision] = useState<AuthorizeResult | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    const list = await client.agents.list();
    if (list.success) setAgents(list.data);
    else setError(list.error.message);
  }, [client]);
  useEffect(() => {
    void load();
  }, [load]);

  async function create(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    setDecision(null);
    const result = await client.agents.create({
      name,
      type: 'autonomous',
      permissions: [{ resource: 'mcp:github:*', actions: ['read'], constraints: { maxCallsPerHour: 100 } }],
    });
    if (!result.success) {
      setError(result.error.message);
      return;
    }
    // The token exists only in this answer: the server keeps its SHA-256.
    setCreated({ id: result.data.id, name: result.data.name, token: result.data.token });
    await load();
  }

  async function authorize() {
    if (!created) return;
    const result = await client.authorizeByToken(created.token, { action: 'read', resource: 'mcp:github:repos' });
    if (result.success) setDecision(result.data);
    else setError(result.error.message);
  }

  return (
    <main>
      <h1>Agents</h1>
      <form onSubmit={create}>
        <input name="agent-name" aria-label="Agent name" value={name} onChange={(e) => setName(e.target.value)} />
        <button type="submit">Create agent</button>
      </form>
      {created ? (
        <section>
          <p>
            Token for {created.name}, shown once (copy it now): <code id="agent-token">{created.token}</code>
          </p>
          <button type="button" onClick={authorize}>Authorize read on mcp:github:repos</button>
          <button type="button" onClick={() => setCreated(null)}>Hide token</button>
        </section>
      ) : null}
      {decision ? (
        <p id="decision">
          {decision.allowed ? 'allowed' : `denied (${decision.code})`}, audit {decision.auditId}
        </p>
      ) : null}
      {error ? <p role="alert">{error}</p> : null}
      <h2>Your agents</h2>
      <ul id="agents">
        {agents.map((a) => (
          <li key={a.id}>
            {a.name} ({a.type}, {a.status})
          </li>
        ))}
      </ul>
      <p><Link href="/dashboard">Back to the dashboard</Link></p>
    </main>
  );
}
