-- The webhook outbox: each event is written here in the same transaction as the change, with one
-- delivery row per subscribed webhook, which the delivery worker claims with a lease and POSTs.
CREATE TABLE IF NOT EXISTS kavach_events (
  id          TEXT PRIMARY KEY,
  event       TEXT NOT NULL,
  payload     TEXT NOT NULL,
  created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS kavach_events_created ON kavach_events (created_at);

CREATE TABLE IF NOT EXISTS kavach_webhook_deliveries (
  id               TEXT PRIMARY KEY,
  event_id         TEXT NOT NULL,
  url              TEXT NOT NULL,
  status           TEXT NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  INTEGER NOT NULL,
  locked_until     INTEGER,
  locked_by        TEXT,
  last_status      INTEGER,
  last_error       TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  delivered_at     INTEGER
);
-- The worker's claim: pending rows whose next attempt is due, oldest first.
CREATE INDEX IF NOT EXISTS kavach_webhook_deliveries_due ON kavach_webhook_deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS kavach_webhook_deliveries_event ON kavach_webhook_deliveries (event_id);
CREATE INDEX IF NOT EXISTS kavach_webhook_deliveries_lease ON kavach_webhook_deliveries (locked_by);
