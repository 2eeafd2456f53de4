-- Invitations to organizations (the organization plugin), and the organization a session acts in.
CREATE TABLE IF NOT EXISTS kavach_org_invitations (
  id          TEXT PRIMARY KEY,
  org_id      TEXT NOT NULL,
  email       TEXT NOT NULL,
  role        TEXT NOT NULL,
  status      TEXT NOT NULL,
  inviter_id  TEXT,
  expires_at  TIMESTAMPTZ NOT NULL,
  created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS kavach_org_invitations_org ON kavach_org_invitations (org_id);
CREATE INDEX IF NOT EXISTS kavach_org_invitations_email ON kavach_org_invitations (email);

ALTER TABLE kavach_session ADD COLUMN IF NOT EXISTS active_organization_id TEXT;
