-- The admin plugin: roles and bans on users, and who is impersonating on a session. Added whether or
-- not the plugin is on, like the organization tables. MySQL has no ADD COLUMN IF NOT EXISTS (MariaDB
-- does): each column is added only when information_schema does not list it yet, so the file can run again.
SET @kavach_sql = (SELECT IF(COUNT(*) = 0, 'ALTER TABLE kavach_user ADD COLUMN role VARCHAR(64) NOT NULL DEFAULT ''user''', 'DO 0') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'kavach_user' AND COLUMN_NAME = 'role');
PREPARE kavach_stmt FROM @kavach_sql;
EXECUTE kavach_stmt;
DEALLOCATE PREPARE kavach_stmt;
SET @kavach_sql = (SELECT IF(COUNT(*) = 0, 'ALTER TABLE kavach_user ADD COLUMN banned TINYINT(1) NOT NULL DEFAULT 0', 'DO 0') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'kavach_user' AND COLUMN_NAME = 'banned');
PREPARE kavach_stmt FROM @kavach_sql;
EXECUTE kavach_stmt;
DEALLOCATE PREPARE kavach_stmt;
SET @kavach_sql = (SELECT IF(COUNT(*) = 0, 'ALTER TABLE kavach_user ADD COLUMN ban_reason TEXT COLLATE utf8mb4_unicode_ci NULL', 'DO 0') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'kavach_user' AND COLUMN_NAME = 'ban_reason');
PREPARE kavach_stmt FROM @kavach_sql;
EXECUTE kavach_stmt;
DEALLOCATE PREPARE kavach_stmt;
SET @kavach_sql = (SELECT IF(COUNT(*) = 0, 'ALTER TABLE kavach_user ADD COLUMN ban_expires DATETIME(3) NULL', 'DO 0') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'kavach_user' AND COLUMN_NAME = 'ban_expires');
PREPARE kavach_stmt FROM @kavach_sql;
EXECUTE kavach_stmt;
DEALLOCATE PREPARE kavach_stmt;
-- The admin's user id when an admin opened this session to act as its user (never slides).
SET @kavach_sql = (SELECT IF(COUNT(*) = 0, 'ALTER TABLE kavach_session ADD COLUMN impersonated_by VARCHAR(255) NULL', 'DO 0') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'kavach_session' AND COLUMN_NAME = 'impersonated_by');
PREPARE kavach_stmt FROM @kavach_sql;
EXECUTE kavach_stmt;
DEALLOCATE PREPARE kavach_stmt;
