-- Human accounts: users, their credentials and provider links, and sessions. Column names follow the
-- SQL of the migration guides (kavach_user / kavach_account / kavach_session), so it runs unchanged.
CREATE TABLE IF NOT EXISTS kavach_user (
  id              TEXT PRIMARY KEY,
  email           TEXT NOT NULL,
  name            TEXT,
  email_verified  INTEGER NOT NULL DEFAULT 0,
  image           TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_user_email ON kavach_user (email);

CREATE TABLE IF NOT EXISTS kavach_account (
  id                   TEXT PRIMARY KEY,
  user_id              TEXT NOT NULL,
  provider_id          TEXT NOT NULL,
  provider_account_id  TEXT NOT NULL,
  access_token         TEXT,
  refresh_token        TEXT,
  expires_at           INTEGER,
  password             TEXT,
  created_at           INTEGER NOT NULL,
  updated_at           INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_account_provider ON kavach_account (provider_id, provider_account_id);
CREATE INDEX IF NOT EXISTS kavach_account_user ON kavach_account (user_id);

-- `token` holds the SHA-256 of the session token kavachos issued (rows imported from other
-- libraries may hold their raw token until first use replaces them).
CREATE TABLE IF NOT EXISTS kavach_session (
  id          TEXT PRIMARY KEY,
  user_id     TEXT NOT NULL,
  token       TEXT NOT NULL,
  expires_at  INTEGER NOT NULL,
  ip_address  TEXT,
  user_agent  TEXT,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_session_token ON kavach_session (token);
CREATE INDEX IF NOT EXISTS kavach_session_user ON kavach_session (user_id);
