-- OAuth sign-in (the oauth plugin): the single-use state of each authorization request (its PKCE
-- verifier, nonce and where to go next, sealed), keyed by the SHA-256 of the state; and the scopes a
-- provider granted, on the account row that holds its sealed tokens.
CREATE TABLE IF NOT EXISTS kavach_oauth_state (
  id           TEXT PRIMARY KEY,
  provider_id  TEXT NOT NULL,
  data         TEXT NOT NULL,
  expires_at   INTEGER NOT NULL,
  created_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS kavach_oauth_state_expires ON kavach_oauth_state (expires_at);

ALTER TABLE kavach_account ADD COLUMN scope TEXT;
