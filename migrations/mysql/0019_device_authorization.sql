-- The device authorization grant (RFC 8628, the deviceAuthorization() plugin): one row per request
-- a device made, until its token is issued, it is denied and polled, or it expires. Both codes are
-- stored only as keyed hashes (HMAC-SHA256 under a key derived from the instance secret).
-- `user_id` is set when a signed-in user looks the user code up (or by the device's `user_id`);
-- `status` is pending, approved or denied; `polling_interval` (ms) grows with each slow_down.
CREATE TABLE IF NOT EXISTS kavach_device_code (
  id                VARCHAR(64) NOT NULL PRIMARY KEY,
  device_code_hash  VARCHAR(128) NOT NULL,
  user_code_hash    VARCHAR(128) NOT NULL,
  user_id           VARCHAR(255) NULL,
  client_id         VARCHAR(191) NOT NULL,
  scope             VARCHAR(191) NULL,
  status            VARCHAR(16) NOT NULL,
  polling_interval  BIGINT NOT NULL,
  last_polled_at    DATETIME(3) NULL,
  expires_at        DATETIME(3) NOT NULL,
  created_at        DATETIME(3) NOT NULL,
  UNIQUE KEY kavach_device_code_device (device_code_hash),
  UNIQUE KEY kavach_device_code_user (user_code_hash),
  KEY kavach_device_code_user_id (user_id),
  KEY kavach_device_code_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
