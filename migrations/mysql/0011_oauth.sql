-- OAuth sign-in (the oauth plugin): the single-use state of each authorization request (its PKCE
-- verifier, nonce and where to go next, sealed), keyed by the SHA-256 of the state; and the scopes a
-- provider granted, on the account row that holds its sealed tokens.
CREATE TABLE IF NOT EXISTS kavach_oauth_state (
  id           VARCHAR(64) NOT NULL PRIMARY KEY,
  provider_id  VARCHAR(64) NOT NULL,
  data         TEXT NOT NULL,
  expires_at   DATETIME(3) NOT NULL,
  created_at   DATETIME(3) NOT NULL,
  KEY kavach_oauth_state_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Re-runnable: the migration runner treats "duplicate column" as already applied.
ALTER TABLE kavach_account ADD COLUMN scope TEXT NULL;
