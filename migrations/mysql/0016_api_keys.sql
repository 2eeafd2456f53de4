-- The apiKey() plugin. Created whether or not the plugin is on, so it can be turned on later.
-- Only the SHA-256 of a key is stored (`key_hash`); `key_start` keeps its first characters for display.
-- `remaining` counts the uses left (NULL: unlimited), refilled to `refill_amount` every
-- `refill_interval` ms; `request_count` counts the requests of the rate-limit window that began at
-- `window_start`. Those counters, `last_refill_at` and `last_request` are Unix milliseconds in every
-- dialect so that the one conditional UPDATE that spends a use compares them with plain arithmetic.
-- `permissions` ({ resource: [actions] }) and `metadata` are JSON text. CREATE TABLE IF NOT EXISTS
-- with its keys inline, so the file can run again.
CREATE TABLE IF NOT EXISTS kavach_api_key (
  id                     VARCHAR(64) NOT NULL PRIMARY KEY,
  user_id                VARCHAR(255) NOT NULL,
  name                   VARCHAR(255) COLLATE utf8mb4_unicode_ci NULL,
  key_start              VARCHAR(64) NULL,
  prefix                 VARCHAR(64) NULL,
  key_hash               CHAR(64) NOT NULL,
  enabled                BOOLEAN NOT NULL DEFAULT TRUE,
  expires_at             DATETIME(3) NULL,
  remaining              BIGINT NULL,
  refill_amount          BIGINT NULL,
  refill_interval        BIGINT NULL,
  last_refill_at         BIGINT NULL,
  rate_limit_enabled     BOOLEAN NOT NULL DEFAULT FALSE,
  rate_limit_time_window BIGINT NULL,
  rate_limit_max         BIGINT NULL,
  request_count          BIGINT NOT NULL DEFAULT 0,
  window_start           BIGINT NULL,
  last_request           BIGINT NULL,
  permissions            TEXT NULL,
  metadata               TEXT COLLATE utf8mb4_unicode_ci NULL,
  created_at             DATETIME(3) NOT NULL,
  updated_at             DATETIME(3) NOT NULL,
  UNIQUE KEY kavach_api_key_hash (key_hash),
  KEY kavach_api_key_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
