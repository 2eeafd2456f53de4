-- The device authorization grant (RFC 8628, the deviceAuthorization() plugin): one row per request
-- a device made, until its token is issued, it is denied and polled, or it expires. Both codes are
-- stored only as keyed hashes (HMAC-SHA256 under a key derived from the instance secret).
-- `user_id` is set when a signed-in user looks the user code up (or by the device's `user_id`);
-- `status` is pending, approved or denied; `polling_interval` (ms) grows with each slow_down.
CREATE TABLE IF NOT EXISTS kavach_device_code (
  id                TEXT PRIMARY KEY,
  device_code_hash  TEXT NOT NULL,
  user_code_hash    TEXT NOT NULL,
  user_id           TEXT,
  client_id         TEXT NOT NULL,
  scope             TEXT,
  status            TEXT NOT NULL,
  polling_interval  BIGINT NOT NULL,
  last_polled_at    TIMESTAMPTZ,
  expires_at        TIMESTAMPTZ NOT NULL,
  created_at        TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_device_code_device ON kavach_device_code (device_code_hash);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_device_code_user ON kavach_device_code (user_code_hash);
CREATE INDEX IF NOT EXISTS kavach_device_code_user_id ON kavach_device_code (user_id);
CREATE INDEX IF NOT EXISTS kavach_device_code_expires ON kavach_device_code (expires_at);
