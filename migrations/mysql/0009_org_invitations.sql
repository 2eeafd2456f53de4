-- Invitations to organizations (the organization plugin), and the organization a session acts in.
CREATE TABLE IF NOT EXISTS kavach_org_invitations (
  id          VARCHAR(64) NOT NULL PRIMARY KEY,
  org_id      VARCHAR(64) NOT NULL,
  email       VARCHAR(320) NOT NULL,
  role        VARCHAR(64) NOT NULL,
  status      VARCHAR(16) NOT NULL,
  inviter_id  VARCHAR(255) NULL,
  expires_at  DATETIME(3) NOT NULL,
  created_at  DATETIME(3) NOT NULL,
  KEY kavach_org_invitations_org (org_id),
  KEY kavach_org_invitations_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Re-runnable: the migration runner treats "duplicate column" as already applied.
ALTER TABLE kavach_session ADD COLUMN active_organization_id VARCHAR(64) NULL;
