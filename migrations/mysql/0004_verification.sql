-- Single-use tokens for password resets and email verification; only their SHA-256 is stored.
CREATE TABLE IF NOT EXISTS kavach_verification (
  id          VARCHAR(64) NOT NULL PRIMARY KEY,
  user_id     VARCHAR(255) NOT NULL,
  purpose     VARCHAR(32) NOT NULL,
  token_hash  CHAR(64) NOT NULL,
  expires_at  DATETIME(3) NOT NULL,
  created_at  DATETIME(3) NOT NULL,
  UNIQUE KEY kavach_verification_token (token_hash),
  KEY kavach_verification_user (user_id, purpose)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
