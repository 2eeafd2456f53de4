-- Agents, their tokens (SHA-256 only) and the audit log.
-- Identifiers compare byte for byte (utf8mb4_bin); free text uses a _ci collation so that drivers
-- read it as text. Indexes live inside CREATE TABLE IF NOT EXISTS so that every statement can run again safely.
CREATE TABLE IF NOT EXISTS kavach_agents (
  id            VARCHAR(64) NOT NULL PRIMARY KEY,
  owner_id      VARCHAR(255) NOT NULL,
  name          VARCHAR(255) NOT NULL,
  type          VARCHAR(32) NOT NULL,
  status        VARCHAR(16) NOT NULL DEFAULT 'active',
  token_hash    CHAR(64) NOT NULL,
  token_prefix  VARCHAR(16) NOT NULL,
  permissions   MEDIUMTEXT COLLATE utf8mb4_unicode_ci NOT NULL,
  metadata      MEDIUMTEXT COLLATE utf8mb4_unicode_ci NULL,
  expires_at    DATETIME(3) NULL,
  created_at    DATETIME(3) NOT NULL,
  updated_at    DATETIME(3) NOT NULL,
  UNIQUE KEY kavach_agents_token_hash (token_hash),
  KEY kavach_agents_owner (owner_id, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The audit log is the hot write path: one secondary index serves queries by agent (and by owner,
-- through kavach_agents) and the hourly rate counts.
CREATE TABLE IF NOT EXISTS kavach_audit_logs (
  id           VARCHAR(64) NOT NULL PRIMARY KEY,
  agent_id     VARCHAR(64) NOT NULL,
  user_id      VARCHAR(255) NOT NULL,
  action       VARCHAR(256) NOT NULL,
  resource     VARCHAR(1024) NOT NULL,
  parameters   MEDIUMTEXT COLLATE utf8mb4_unicode_ci NULL,
  result       VARCHAR(16) NOT NULL,
  code         VARCHAR(32) NULL,
  reason       TEXT COLLATE utf8mb4_unicode_ci NULL,
  rate_key     CHAR(32) NULL,
  ip           VARCHAR(64) NULL,
  duration_us  BIGINT NOT NULL,
  created_at   DATETIME(3) NOT NULL,
  KEY kavach_audit_agent_rate_time (agent_id, rate_key, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
