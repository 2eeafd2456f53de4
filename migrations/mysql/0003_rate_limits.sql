-- Counters for the credential routes' rate limits, shared by every process on the database.
-- window_start is Unix milliseconds (an internal table: plain integers in every dialect).
CREATE TABLE IF NOT EXISTS kavach_rate_limits (
  `key`         VARCHAR(255) NOT NULL,
  window_start  BIGINT NOT NULL,
  count         INT NOT NULL,
  PRIMARY KEY (`key`, window_start)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
