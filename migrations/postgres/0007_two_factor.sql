-- The twoFactor() plugin. Created whether or not the plugin is on, so it can be turned on later.
-- The TOTP secret is stored encrypted (XChaCha20-Poly1305, key derived from the instance secret);
-- `last_step` is the last accepted 30-second time step, so a code is never accepted twice.
CREATE TABLE IF NOT EXISTS kavach_two_factor (
  user_id     TEXT PRIMARY KEY,
  secret      TEXT NOT NULL,
  enabled     BOOLEAN NOT NULL DEFAULT FALSE,
  last_step   BIGINT,
  created_at  TIMESTAMPTZ NOT NULL,
  updated_at  TIMESTAMPTZ NOT NULL
);

-- One row per unused backup code (SHA-256 of the normalized code); using a code deletes its row.
CREATE TABLE IF NOT EXISTS kavach_two_factor_backup (
  id          TEXT PRIMARY KEY,
  user_id     TEXT NOT NULL,
  code_hash   TEXT NOT NULL,
  created_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_two_factor_backup_code ON kavach_two_factor_backup (user_id, code_hash);

-- Devices that skip the second factor until `expires_at` (token stored as SHA-256).
CREATE TABLE IF NOT EXISTS kavach_two_factor_trusted (
  id          TEXT PRIMARY KEY,
  user_id     TEXT NOT NULL,
  token_hash  TEXT NOT NULL,
  expires_at  TIMESTAMPTZ NOT NULL,
  created_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_two_factor_trusted_token ON kavach_two_factor_trusted (token_hash);
CREATE INDEX IF NOT EXISTS kavach_two_factor_trusted_user ON kavach_two_factor_trusted (user_id);

-- Sign-ins waiting for their second factor (token stored as SHA-256), with a count of attempts.
CREATE TABLE IF NOT EXISTS kavach_two_factor_pending (
  id          TEXT PRIMARY KEY,
  user_id     TEXT NOT NULL,
  token_hash  TEXT NOT NULL,
  attempts    BIGINT NOT NULL DEFAULT 0,
  expires_at  TIMESTAMPTZ NOT NULL,
  created_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_two_factor_pending_token ON kavach_two_factor_pending (token_hash);
CREATE INDEX IF NOT EXISTS kavach_two_factor_pending_user ON kavach_two_factor_pending (user_id);
