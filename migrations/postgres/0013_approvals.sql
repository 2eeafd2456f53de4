-- Approvals (a permission with requireApproval): each request an agent makes that needs a human's
-- yes is filed once, keyed by the SHA-256 of its action, resource and arguments; the agent's owner
-- approves or denies it; an approved one lets the same request through once (or until it expires).
CREATE TABLE IF NOT EXISTS kavach_approvals (
  id            TEXT PRIMARY KEY,
  agent_id      TEXT NOT NULL,
  owner_id      TEXT NOT NULL,
  action        TEXT NOT NULL,
  resource      TEXT NOT NULL,
  arguments     TEXT,
  request_hash  TEXT NOT NULL,
  status        TEXT NOT NULL,
  created_at    TIMESTAMPTZ NOT NULL,
  expires_at    TIMESTAMPTZ NOT NULL,
  decided_at    TIMESTAMPTZ,
  decided_by    TEXT,
  used_at       TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS kavach_approvals_request ON kavach_approvals (agent_id, request_hash, status);
CREATE INDEX IF NOT EXISTS kavach_approvals_owner ON kavach_approvals (owner_id, status, created_at);
