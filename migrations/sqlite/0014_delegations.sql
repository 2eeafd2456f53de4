-- Delegation chains: an agent hands a subset of its permissions to another agent, up to a depth.
-- parent_id names the link the delegated permissions came from (NULL: the delegator's own); a link
-- counts only while it, every link above it and each delegating agent are live, so revoking or
-- expiring a link cuts everything below it at once. The audit row of a decision a delegation
-- allowed names its chain (JSON array of link ids, root first).
CREATE TABLE IF NOT EXISTS kavach_delegations (
  id             TEXT PRIMARY KEY,
  from_agent_id  TEXT NOT NULL,
  to_agent_id    TEXT NOT NULL,
  permissions    TEXT NOT NULL,
  depth          INTEGER NOT NULL,
  max_depth      INTEGER NOT NULL,
  parent_id      TEXT,
  expires_at     INTEGER,
  revoked_at     INTEGER,
  created_at     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS kavach_delegations_to ON kavach_delegations (to_agent_id);
CREATE INDEX IF NOT EXISTS kavach_delegations_from ON kavach_delegations (from_agent_id);
CREATE INDEX IF NOT EXISTS kavach_delegations_parent ON kavach_delegations (parent_id);

ALTER TABLE kavach_audit_logs ADD COLUMN delegation_chain TEXT;
ALTER TABLE kavach_agents ADD COLUMN delegated INTEGER NOT NULL DEFAULT 0;
