-- The MCP OAuth 2.1 server (createKavach({ mcp })): registered clients (secrets only as SHA-256),
-- grants (a user's consent for a client, held by the agent acting for it), single-use codes and
-- refresh tokens (SHA-256 ids; used_at kept so that a replay revokes the grant), revoked access
-- token ids, and the server's own signing keys (as kavach_jwks: one active, private halves sealed).

CREATE TABLE IF NOT EXISTS kavach_mcp_clients (
  client_id     TEXT PRIMARY KEY,
  secret_hash   TEXT,
  name          TEXT,
  redirect_uris TEXT NOT NULL,
  auth_method   TEXT NOT NULL,
  metadata      TEXT NOT NULL,
  created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS kavach_mcp_grants (
  id          TEXT PRIMARY KEY,
  client_id   TEXT NOT NULL,
  user_id     TEXT NOT NULL,
  agent_id    TEXT NOT NULL,
  scope       TEXT NOT NULL,
  created_at  TIMESTAMPTZ NOT NULL,
  revoked_at  TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS kavach_mcp_grants_user_client ON kavach_mcp_grants (user_id, client_id);

CREATE TABLE IF NOT EXISTS kavach_mcp_codes (
  id              TEXT PRIMARY KEY,
  grant_id        TEXT NOT NULL,
  client_id       TEXT NOT NULL,
  redirect_uri    TEXT NOT NULL,
  code_challenge  TEXT NOT NULL,
  scope           TEXT NOT NULL,
  resource        TEXT,
  expires_at      TIMESTAMPTZ NOT NULL,
  used_at         TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS kavach_mcp_codes_expires ON kavach_mcp_codes (expires_at);

CREATE TABLE IF NOT EXISTS kavach_mcp_refresh_tokens (
  id          TEXT PRIMARY KEY,
  grant_id    TEXT NOT NULL,
  client_id   TEXT NOT NULL,
  scope       TEXT NOT NULL,
  resource    TEXT,
  expires_at  TIMESTAMPTZ NOT NULL,
  used_at     TIMESTAMPTZ,
  created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS kavach_mcp_refresh_grant ON kavach_mcp_refresh_tokens (grant_id);
CREATE INDEX IF NOT EXISTS kavach_mcp_refresh_expires ON kavach_mcp_refresh_tokens (expires_at);

CREATE TABLE IF NOT EXISTS kavach_mcp_revoked (
  jti         TEXT PRIMARY KEY,
  expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS kavach_mcp_revoked_expires ON kavach_mcp_revoked (expires_at);

CREATE TABLE IF NOT EXISTS kavach_mcp_jwks (
  kid          TEXT PRIMARY KEY,
  alg          TEXT NOT NULL,
  public_jwk   TEXT NOT NULL,
  private_key  TEXT NOT NULL,
  active_slot  SMALLINT,
  created_at   TIMESTAMPTZ NOT NULL,
  retired_at   TIMESTAMPTZ
);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_mcp_jwks_active ON kavach_mcp_jwks (active_slot);
