-- The twoFactor() plugin. Created whether or not the plugin is on, so it can be turned on later.
-- The TOTP secret is stored encrypted (XChaCha20-Poly1305, key derived from the instance secret);
-- `last_step` is the last accepted 30-second time step, so a code is never accepted twice.
CREATE TABLE IF NOT EXISTS kavach_two_factor (
  user_id     VARCHAR(255) NOT NULL PRIMARY KEY,
  secret      VARCHAR(255) NOT NULL,
  enabled     BOOLEAN NOT NULL DEFAULT FALSE,
  last_step   BIGINT NULL,
  created_at  DATETIME(3) NOT NULL,
  updated_at  DATETIME(3) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per unused backup code (SHA-256 of the normalized code); using a code deletes its row.
CREATE TABLE IF NOT EXISTS kavach_two_factor_backup (
  id          VARCHAR(64) NOT NULL PRIMARY KEY,
  user_id     VARCHAR(255) NOT NULL,
  code_hash   CHAR(64) NOT NULL,
  created_at  DATETIME(3) NOT NULL,
  UNIQUE KEY kavach_two_factor_backup_code (user_id, code_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Devices that skip the second factor until `expires_at` (token stored as SHA-256).
CREATE TABLE IF NOT EXISTS kavach_two_factor_trusted (
  id          VARCHAR(64) NOT NULL PRIMARY KEY,
  user_id     VARCHAR(255) NOT NULL,
  token_hash  CHAR(64) NOT NULL,
  expires_at  DATETIME(3) NOT NULL,
  created_at  DATETIME(3) NOT NULL,
  UNIQUE KEY kavach_two_factor_trusted_token (token_hash),
  KEY kavach_two_factor_trusted_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Sign-ins waiting for their second factor (token stored as SHA-256), with a count of attempts.
CREATE TABLE IF NOT EXISTS kavach_two_factor_pending (
  id          VARCHAR(64) NOT NULL PRIMARY KEY,
  user_id     VARCHAR(255) NOT NULL,
  token_hash  CHAR(64) NOT NULL,
  attempts    BIGINT NOT NULL DEFAULT 0,
  expires_at  DATETIME(3) NOT NULL,
  created_at  DATETIME(3) NOT NULL,
  UNIQUE KEY kavach_two_factor_pending_token (token_hash),
  KEY kavach_two_factor_pending_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
