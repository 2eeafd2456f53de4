-- The passkey() plugin (WebAuthn). Created whether or not the plugin is on, so it can be turned on later.
-- `credential_id` is the credential's id (base64url, unique across users); `credential` is the
-- relying party's record of it as webauthn-rs keeps it (JSON: the COSE public key, the sign counter,
-- the backup flags, the transports): public material, no secret. `counter` mirrors the sign counter
-- so that an assertion's update is one conditional UPDATE. `device_type` is 'singleDevice' or
-- 'multiDevice' (backup eligible), `backed_up` the backup state, `transports` a comma list.
CREATE TABLE IF NOT EXISTS kavach_passkey (
  id            TEXT PRIMARY KEY,
  user_id       TEXT NOT NULL,
  name          TEXT,
  credential_id TEXT NOT NULL,
  credential    TEXT NOT NULL,
  counter       INTEGER NOT NULL DEFAULT 0,
  device_type   TEXT NOT NULL,
  backed_up     INTEGER NOT NULL DEFAULT 0,
  transports    TEXT,
  aaguid        TEXT,
  created_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_passkey_credential ON kavach_passkey (credential_id);
CREATE INDEX IF NOT EXISTS kavach_passkey_user ON kavach_passkey (user_id);
