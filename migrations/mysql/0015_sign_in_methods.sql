-- Sign-in methods beyond email and password (username, phoneNumber, anonymous), the app's own user
-- fields (user.additionalFields, as JSON), and the one-time secrets that magic links and emailed or
-- texted codes ride on. Added whether or not the plugins are on, like the other plugins' tables.
-- `username` is stored lowercased (uniqueness ignores case); `display_username` keeps the case the
-- user typed. `phone_number` is E.164. MySQL has no ADD COLUMN IF NOT EXISTS (MariaDB does): each
-- column and index is added only when information_schema does not list it yet, so the file can run again.
SET @kavach_sql = (SELECT IF(COUNT(*) = 0, 'ALTER TABLE kavach_user ADD COLUMN username VARCHAR(255) NULL', 'DO 0') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'kavach_user' AND COLUMN_NAME = 'username');
PREPARE kavach_stmt FROM @kavach_sql;
EXECUTE kavach_stmt;
DEALLOCATE PREPARE kavach_stmt;
SET @kavach_sql = (SELECT IF(COUNT(*) = 0, 'ALTER TABLE kavach_user ADD COLUMN display_username VARCHAR(255) COLLATE utf8mb4_unicode_ci NULL', 'DO 0') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'kavach_user' AND COLUMN_NAME = 'display_username');
PREPARE kavach_stmt FROM @kavach_sql;
EXECUTE kavach_stmt;
DEALLOCATE PREPARE kavach_stmt;
SET @kavach_sql = (SELECT IF(COUNT(*) = 0, 'ALTER TABLE kavach_user ADD COLUMN phone_number VARCHAR(32) NULL', 'DO 0') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'kavach_user' AND COLUMN_NAME = 'phone_number');
PREPARE kavach_stmt FROM @kavach_sql;
EXECUTE kavach_stmt;
DEALLOCATE PREPARE kavach_stmt;
SET @kavach_sql = (SELECT IF(COUNT(*) = 0, 'ALTER TABLE kavach_user ADD COLUMN phone_number_verified TINYINT(1) NOT NULL DEFAULT 0', 'DO 0') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'kavach_user' AND COLUMN_NAME = 'phone_number_verified');
PREPARE kavach_stmt FROM @kavach_sql;
EXECUTE kavach_stmt;
DEALLOCATE PREPARE kavach_stmt;
SET @kavach_sql = (SELECT IF(COUNT(*) = 0, 'ALTER TABLE kavach_user ADD COLUMN is_anonymous TINYINT(1) NOT NULL DEFAULT 0', 'DO 0') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'kavach_user' AND COLUMN_NAME = 'is_anonymous');
PREPARE kavach_stmt FROM @kavach_sql;
EXECUTE kavach_stmt;
DEALLOCATE PREPARE kavach_stmt;
SET @kavach_sql = (SELECT IF(COUNT(*) = 0, 'ALTER TABLE kavach_user ADD COLUMN additional_fields TEXT COLLATE utf8mb4_unicode_ci NULL', 'DO 0') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'kavach_user' AND COLUMN_NAME = 'additional_fields');
PREPARE kavach_stmt FROM @kavach_sql;
EXECUTE kavach_stmt;
DEALLOCATE PREPARE kavach_stmt;
SET @kavach_sql = (SELECT IF(COUNT(*) = 0, 'CREATE UNIQUE INDEX kavach_user_username ON kavach_user (username)', 'DO 0') FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'kavach_user' AND INDEX_NAME = 'kavach_user_username');
PREPARE kavach_stmt FROM @kavach_sql;
EXECUTE kavach_stmt;
DEALLOCATE PREPARE kavach_stmt;
SET @kavach_sql = (SELECT IF(COUNT(*) = 0, 'CREATE UNIQUE INDEX kavach_user_phone_number ON kavach_user (phone_number)', 'DO 0') FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'kavach_user' AND INDEX_NAME = 'kavach_user_phone_number');
PREPARE kavach_stmt FROM @kavach_sql;
EXECUTE kavach_stmt;
DEALLOCATE PREPARE kavach_stmt;

-- One-time secrets delivered to a person (a magic link's token, an emailed or texted code). Only a
-- keyed hash of the secret is stored. `identifier` is what the secret is for (a normalized email or
-- phone number, or the token's own hash for links), one live secret per (purpose, identifier);
-- `attempts` counts wrong tries; `data` holds what the flow carries along (never a secret).
CREATE TABLE IF NOT EXISTS kavach_one_time (
  id           VARCHAR(64) NOT NULL PRIMARY KEY,
  purpose      VARCHAR(64) NOT NULL,
  identifier   VARCHAR(255) NOT NULL,
  secret_hash  VARCHAR(128) NOT NULL,
  attempts     BIGINT NOT NULL DEFAULT 0,
  data         TEXT COLLATE utf8mb4_unicode_ci NULL,
  expires_at   DATETIME(3) NOT NULL,
  created_at   DATETIME(3) NOT NULL,
  UNIQUE KEY kavach_one_time_identifier (purpose, identifier),
  KEY kavach_one_time_secret (secret_hash),
  KEY kavach_one_time_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
