-- Organizations (the organization plugin) and their members. Created whether or not the plugin is on,
-- so data can be imported and the plugin turned on later without another migration step.
CREATE TABLE IF NOT EXISTS kavach_organizations (
  id          VARCHAR(64) NOT NULL PRIMARY KEY,
  name        VARCHAR(255) COLLATE utf8mb4_unicode_ci NOT NULL,
  slug        VARCHAR(255) NOT NULL,
  owner_id    VARCHAR(255) NOT NULL,
  metadata    MEDIUMTEXT COLLATE utf8mb4_unicode_ci NULL,
  created_at  DATETIME(3) NOT NULL,
  updated_at  DATETIME(3) NOT NULL,
  UNIQUE KEY kavach_organizations_slug (slug)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS kavach_org_members (
  id          VARCHAR(64) NOT NULL PRIMARY KEY,
  org_id      VARCHAR(64) NOT NULL,
  user_id     VARCHAR(255) NOT NULL,
  role        VARCHAR(64) NOT NULL,
  created_at  DATETIME(3) NOT NULL,
  UNIQUE KEY kavach_org_members_org_user (org_id, user_id),
  KEY kavach_org_members_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
