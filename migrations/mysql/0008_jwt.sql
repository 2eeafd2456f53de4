-- Signing keys of the jwt plugin. One active key at a time: active_slot is 1 while the key signs and
-- NULL once retired, and the unique key admits a single 1 (NULLs never collide), so instances
-- racing to create the first key or to rotate end with exactly one active key. A retired key stays
-- in the JWKS for the token lifetime after retired_at, so tokens it signed keep verifying.
-- private_key is PKCS#8 sealed with a key derived from the instance secret (never in clear).
CREATE TABLE IF NOT EXISTS kavach_jwks (
  kid          VARCHAR(64) NOT NULL PRIMARY KEY,
  alg          VARCHAR(16) NOT NULL,
  public_jwk   MEDIUMTEXT NOT NULL,
  private_key  MEDIUMTEXT NOT NULL,
  active_slot  SMALLINT NULL,
  created_at   DATETIME(3) NOT NULL,
  retired_at   DATETIME(3) NULL,
  UNIQUE KEY kavach_jwks_active (active_slot)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
