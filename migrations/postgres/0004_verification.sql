-- Single-use tokens for password resets and email verification; only their SHA-256 is stored.
CREATE TABLE IF NOT EXISTS kavach_verification (
  id          TEXT PRIMARY KEY,
  user_id     TEXT NOT NULL,
  purpose     TEXT NOT NULL,
  token_hash  TEXT NOT NULL,
  expires_at  TIMESTAMPTZ NOT NULL,
  created_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_verification_token ON kavach_verification (token_hash);
CREATE INDEX IF NOT EXISTS kavach_verification_user ON kavach_verification (user_id, purpose);
