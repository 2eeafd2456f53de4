-- The webhook outbox: each event is written here in the same transaction as the change, with one
-- delivery row per subscribed webhook, which the delivery worker claims with a lease and POSTs.
-- Indexes live inside CREATE TABLE IF NOT EXISTS so that every statement can run again safely.
CREATE TABLE IF NOT EXISTS kavach_events (
  id          VARCHAR(64) NOT NULL PRIMARY KEY,
  event       VARCHAR(64) NOT NULL,
  payload     MEDIUMTEXT COLLATE utf8mb4_unicode_ci NOT NULL,
  created_at  DATETIME(3) NOT NULL,
  KEY kavach_events_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS kavach_webhook_deliveries (
  id               VARCHAR(64) NOT NULL PRIMARY KEY,
  event_id         VARCHAR(64) NOT NULL,
  url              VARCHAR(2048) NOT NULL,
  status           VARCHAR(16) NOT NULL,
  attempts         INT NOT NULL DEFAULT 0,
  next_attempt_at  DATETIME(3) NOT NULL,
  locked_until     DATETIME(3) NULL,
  locked_by        VARCHAR(64) NULL,
  last_status      INT NULL,
  last_error       TEXT COLLATE utf8mb4_unicode_ci NULL,
  created_at       DATETIME(3) NOT NULL,
  updated_at       DATETIME(3) NOT NULL,
  delivered_at     DATETIME(3) NULL,
  -- The worker's claim: pending rows whose next attempt is due, oldest first.
  KEY kavach_webhook_deliveries_due (status, next_attempt_at),
  KEY kavach_webhook_deliveries_event (event_id),
  KEY kavach_webhook_deliveries_lease (locked_by)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
