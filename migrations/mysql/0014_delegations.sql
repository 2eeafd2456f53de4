-- Delegation chains: an agent hands a subset of its permissions to another agent, up to a depth.
-- parent_id names the link the delegated permissions came from (NULL: the delegator's own); a link
-- counts only while it, every link above it and each delegating agent are live, so revoking or
-- expiring a link cuts everything below it at once. The audit row of a decision a delegation
-- allowed names its chain (JSON array of link ids, root first).
CREATE TABLE IF NOT EXISTS kavach_delegations (
  id             VARCHAR(64) NOT NULL PRIMARY KEY,
  from_agent_id  VARCHAR(64) NOT NULL,
  to_agent_id    VARCHAR(64) NOT NULL,
  permissions    MEDIUMTEXT NOT NULL,
  depth          INTEGER NOT NULL,
  max_depth      INTEGER NOT NULL,
  parent_id      VARCHAR(64) NULL,
  expires_at     DATETIME(3) NULL,
  revoked_at     DATETIME(3) NULL,
  created_at     DATETIME(3) NOT NULL,
  KEY kavach_delegations_to (to_agent_id),
  KEY kavach_delegations_from (from_agent_id),
  KEY kavach_delegations_parent (parent_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Re-runnable: the migration runner treats "duplicate column" as already applied.
ALTER TABLE kavach_audit_logs ADD COLUMN delegation_chain MEDIUMTEXT NULL;
ALTER TABLE kavach_agents ADD COLUMN delegated BIGINT NOT NULL DEFAULT 0;
