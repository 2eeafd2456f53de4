-- Sign-in methods beyond email and password (username, phoneNumber, anonymous), the app's own user
-- fields (user.additionalFields, as JSON), and the one-time secrets that magic links and emailed or
-- texted codes ride on. Added whether or not the plugins are on, like the other plugins' tables.
-- `username` is stored lowercased (uniqueness ignores case); `display_username` keeps the case the
-- user typed. `phone_number` is E.164.
ALTER TABLE kavach_user ADD COLUMN IF NOT EXISTS username TEXT;
ALTER TABLE kavach_user ADD COLUMN IF NOT EXISTS display_username TEXT;
ALTER TABLE kavach_user ADD COLUMN IF NOT EXISTS phone_number TEXT;
ALTER TABLE kavach_user ADD COLUMN IF NOT EXISTS phone_number_verified BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE kavach_user ADD COLUMN IF NOT EXISTS is_anonymous BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE kavach_user ADD COLUMN IF NOT EXISTS additional_fields TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS kavach_user_username ON kavach_user (username);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_user_phone_number ON kavach_user (phone_number);

-- One-time secrets delivered to a person (a magic link's token, an emailed or texted code). Only a
-- keyed hash of the secret is stored. `identifier` is what the secret is for (a normalized email or
-- phone number, or the token's own hash for links), one live secret per (purpose, identifier);
-- `attempts` counts wrong tries; `data` holds what the flow carries along (never a secret).
CREATE TABLE IF NOT EXISTS kavach_one_time (
  id           TEXT PRIMARY KEY,
  purpose      TEXT NOT NULL,
  identifier   TEXT NOT NULL,
  secret_hash  TEXT NOT NULL,
  attempts     BIGINT NOT NULL DEFAULT 0,
  data         TEXT,
  expires_at   TIMESTAMPTZ NOT NULL,
  created_at   TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_one_time_identifier ON kavach_one_time (purpose, identifier);
CREATE INDEX IF NOT EXISTS kavach_one_time_secret ON kavach_one_time (secret_hash);
CREATE INDEX IF NOT EXISTS kavach_one_time_expires ON kavach_one_time (expires_at);
