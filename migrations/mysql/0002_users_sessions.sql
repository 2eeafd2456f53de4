-- Human accounts: users, their credentials and provider links, and sessions. Column names follow the
-- SQL of the migration guides (kavach_user / kavach_account / kavach_session). Every statement can run
-- again safely (indexes live inside CREATE TABLE IF NOT EXISTS).
CREATE TABLE IF NOT EXISTS kavach_user (
  id              VARCHAR(255) NOT NULL PRIMARY KEY,
  email           VARCHAR(320) NOT NULL,
  name            VARCHAR(255) COLLATE utf8mb4_unicode_ci NULL,
  email_verified  TINYINT(1) NOT NULL DEFAULT 0,
  image           TEXT COLLATE utf8mb4_unicode_ci NULL,
  created_at      DATETIME(3) NOT NULL,
  updated_at      DATETIME(3) NOT NULL,
  UNIQUE KEY kavach_user_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS kavach_account (
  id                   VARCHAR(255) NOT NULL PRIMARY KEY,
  user_id              VARCHAR(255) NOT NULL,
  provider_id          VARCHAR(64) NOT NULL,
  provider_account_id  VARCHAR(255) NOT NULL,
  access_token         TEXT COLLATE utf8mb4_unicode_ci NULL,
  refresh_token        TEXT COLLATE utf8mb4_unicode_ci NULL,
  expires_at           DATETIME(3) NULL,
  password             TEXT COLLATE utf8mb4_unicode_ci NULL,
  created_at           DATETIME(3) NOT NULL,
  updated_at           DATETIME(3) NOT NULL,
  UNIQUE KEY kavach_account_provider (provider_id, provider_account_id),
  KEY kavach_account_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- `token` holds the SHA-256 of the session token kavachos issued (rows imported from other
-- libraries may hold their raw token until first use replaces them).
CREATE TABLE IF NOT EXISTS kavach_session (
  id          VARCHAR(255) NOT NULL PRIMARY KEY,
  user_id     VARCHAR(255) NOT NULL,
  token       VARCHAR(255) NOT NULL,
  expires_at  DATETIME(3) NOT NULL,
  ip_address  VARCHAR(64) NULL,
  user_agent  TEXT COLLATE utf8mb4_unicode_ci NULL,
  created_at  DATETIME(3) NOT NULL,
  updated_at  DATETIME(3) NOT NULL,
  UNIQUE KEY kavach_session_token (token),
  KEY kavach_session_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
