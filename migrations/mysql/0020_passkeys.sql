-- The passkey() plugin (WebAuthn). Created whether or not the plugin is on, so it can be turned on later.
-- `credential_id` is the credential's id (base64url of at most 1023 bytes, unique across users; ASCII
-- so that its unique key fits InnoDB's 3072-byte limit); `credential` is the relying party's record
-- of it as webauthn-rs keeps it (JSON: the COSE public key, the sign counter, the backup flags, the
-- transports): public material, no secret. `counter` mirrors the sign counter so that an
-- assertion's update is one conditional UPDATE. `device_type` is 'singleDevice' or 'multiDevice'
-- (backup eligible), `backed_up` the backup state, `transports` a comma list. CREATE TABLE IF NOT
-- EXISTS with its keys inline, so the file can run again.
CREATE TABLE IF NOT EXISTS kavach_passkey (
  id            VARCHAR(64) NOT NULL PRIMARY KEY,
  user_id       VARCHAR(255) NOT NULL,
  name          VARCHAR(255) COLLATE utf8mb4_unicode_ci NULL,
  credential_id VARCHAR(1400) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  credential    MEDIUMTEXT NOT NULL,
  counter       BIGINT NOT NULL DEFAULT 0,
  device_type   VARCHAR(32) NOT NULL,
  backed_up     BOOLEAN NOT NULL DEFAULT FALSE,
  transports    VARCHAR(255) NULL,
  aaguid        VARCHAR(64) NULL,
  created_at    DATETIME(3) NOT NULL,
  UNIQUE KEY kavach_passkey_credential (credential_id),
  KEY kavach_passkey_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
