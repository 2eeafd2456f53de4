-- Organizations (the organization plugin) and their members. Created whether or not the plugin is on,
-- so data can be imported and the plugin turned on later without another migration step.
CREATE TABLE IF NOT EXISTS kavach_organizations (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  slug        TEXT NOT NULL,
  owner_id    TEXT NOT NULL,
  metadata    TEXT,
  created_at  TIMESTAMPTZ NOT NULL,
  updated_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_organizations_slug ON kavach_organizations (slug);

CREATE TABLE IF NOT EXISTS kavach_org_members (
  id          TEXT PRIMARY KEY,
  org_id      TEXT NOT NULL,
  user_id     TEXT NOT NULL,
  role        TEXT NOT NULL,
  created_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_org_members_org_user ON kavach_org_members (org_id, user_id);
CREATE INDEX IF NOT EXISTS kavach_org_members_user ON kavach_org_members (user_id);
