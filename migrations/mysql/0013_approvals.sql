-- Approvals (a permission with requireApproval): each request an agent makes that needs a human's
-- yes is filed once, keyed by the SHA-256 of its action, resource and arguments; the agent's owner
-- approves or denies it; an approved one lets the same request through once (or until it expires).
CREATE TABLE IF NOT EXISTS kavach_approvals (
  id            VARCHAR(64) NOT NULL PRIMARY KEY,
  agent_id      VARCHAR(64) NOT NULL,
  owner_id      VARCHAR(255) NOT NULL,
  action        MEDIUMTEXT NOT NULL,
  resource      MEDIUMTEXT NOT NULL,
  arguments     MEDIUMTEXT NULL,
  request_hash  CHAR(64) NOT NULL,
  status        VARCHAR(16) NOT NULL,
  created_at    DATETIME(3) NOT NULL,
  expires_at    DATETIME(3) NOT NULL,
  decided_at    DATETIME(3) NULL,
  decided_by    VARCHAR(255) NULL,
  used_at       DATETIME(3) NULL,
  KEY kavach_approvals_request (agent_id, request_hash, status),
  KEY kavach_approvals_owner (owner_id, status, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
