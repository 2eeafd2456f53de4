-- Agents, their tokens (SHA-256 only) and the audit log.
CREATE TABLE IF NOT EXISTS kavach_agents (
  id            TEXT PRIMARY KEY,
  owner_id      TEXT NOT NULL,
  name          TEXT NOT NULL,
  type          TEXT NOT NULL,
  status        TEXT NOT NULL DEFAULT 'active',
  token_hash    TEXT NOT NULL,
  token_prefix  TEXT NOT NULL,
  permissions   TEXT NOT NULL,
  metadata      TEXT,
  expires_at    TIMESTAMPTZ,
  created_at    TIMESTAMPTZ NOT NULL,
  updated_at    TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_agents_token_hash ON kavach_agents (token_hash);
CREATE INDEX IF NOT EXISTS kavach_agents_owner ON kavach_agents (owner_id, status);

-- The audit log is the hot write path: it keeps only the index by agent (which also serves owner
-- queries through kavach_agents) and a partial index for hourly rate counts.
CREATE TABLE IF NOT EXISTS kavach_audit_logs (
  id           TEXT PRIMARY KEY,
  agent_id     TEXT NOT NULL,
  user_id      TEXT NOT NULL,
  action       TEXT NOT NULL,
  resource     TEXT NOT NULL,
  parameters   TEXT,
  result       TEXT NOT NULL,
  code         TEXT,
  reason       TEXT,
  rate_key     TEXT,
  ip           TEXT,
  duration_us  BIGINT NOT NULL,
  created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS kavach_audit_agent_time ON kavach_audit_logs (agent_id, created_at);
CREATE INDEX IF NOT EXISTS kavach_audit_rate ON kavach_audit_logs (agent_id, rate_key, created_at)
  WHERE rate_key IS NOT NULL;
