-- Signing keys of the jwt plugin. One active key at a time: active_slot is 1 while the key signs and
-- NULL once retired, and the unique index admits a single 1 (NULLs never collide), so instances
-- racing to create the first key or to rotate end with exactly one active key. A retired key stays
-- in the JWKS for the token lifetime after retired_at, so tokens it signed keep verifying.
-- private_key is PKCS#8 sealed with a key derived from the instance secret (never in clear).
CREATE TABLE IF NOT EXISTS kavach_jwks (
  kid          TEXT PRIMARY KEY,
  alg          TEXT NOT NULL,
  public_jwk   TEXT NOT NULL,
  private_key  TEXT NOT NULL,
  active_slot  SMALLINT,
  created_at   TIMESTAMPTZ NOT NULL,
  retired_at   TIMESTAMPTZ
);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_jwks_active ON kavach_jwks (active_slot);
