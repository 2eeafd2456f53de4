-- The apiKey() plugin. Created whether or not the plugin is on, so it can be turned on later.
-- Only the SHA-256 of a key is stored (`key_hash`); `key_start` keeps its first characters for display.
-- `remaining` counts the uses left (NULL: unlimited), refilled to `refill_amount` every
-- `refill_interval` ms; `request_count` counts the requests of the rate-limit window that began at
-- `window_start`. Those counters, `last_refill_at` and `last_request` are Unix milliseconds in every
-- dialect so that the one conditional UPDATE that spends a use compares them with plain arithmetic.
-- `permissions` ({ resource: [actions] }) and `metadata` are JSON text.
CREATE TABLE IF NOT EXISTS kavach_api_key (
  id                     TEXT PRIMARY KEY,
  user_id                TEXT NOT NULL,
  name                   TEXT,
  key_start              TEXT,
  prefix                 TEXT,
  key_hash               TEXT NOT NULL,
  enabled                BOOLEAN NOT NULL DEFAULT TRUE,
  expires_at             TIMESTAMPTZ,
  remaining              BIGINT,
  refill_amount          BIGINT,
  refill_interval        BIGINT,
  last_refill_at         BIGINT,
  rate_limit_enabled     BOOLEAN NOT NULL DEFAULT FALSE,
  rate_limit_time_window BIGINT,
  rate_limit_max         BIGINT,
  request_count          BIGINT NOT NULL DEFAULT 0,
  window_start           BIGINT,
  last_request           BIGINT,
  permissions            TEXT,
  metadata               TEXT,
  created_at             TIMESTAMPTZ NOT NULL,
  updated_at             TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_api_key_hash ON kavach_api_key (key_hash);
CREATE INDEX IF NOT EXISTS kavach_api_key_user ON kavach_api_key (user_id);
