-- The MCP OAuth 2.1 server (createKavach({ mcp })): registered clients (secrets only as SHA-256),
-- grants (a user's consent for a client, held by the agent acting for it), single-use codes and
-- refresh tokens (SHA-256 ids; used_at kept so that a replay revokes the grant), revoked access
-- token ids, and the server's own signing keys (as kavach_jwks: one active, private halves sealed).

CREATE TABLE IF NOT EXISTS kavach_mcp_clients (
  client_id     VARCHAR(64) NOT NULL PRIMARY KEY,
  secret_hash   VARCHAR(64),
  name          MEDIUMTEXT,
  redirect_uris MEDIUMTEXT NOT NULL,
  auth_method   VARCHAR(64) NOT NULL,
  metadata      MEDIUMTEXT NOT NULL,
  created_at    DATETIME(3) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS kavach_mcp_grants (
  id          VARCHAR(64) NOT NULL PRIMARY KEY,
  client_id   VARCHAR(64) NOT NULL,
  user_id     VARCHAR(255) NOT NULL,
  agent_id    VARCHAR(64) NOT NULL,
  scope       MEDIUMTEXT NOT NULL,
  created_at  DATETIME(3) NOT NULL,
  revoked_at  DATETIME(3) NULL,
  KEY kavach_mcp_grants_user_client (user_id, client_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS kavach_mcp_codes (
  id              VARCHAR(64) NOT NULL PRIMARY KEY,
  grant_id        VARCHAR(64) NOT NULL,
  client_id       VARCHAR(64) NOT NULL,
  redirect_uri    MEDIUMTEXT NOT NULL,
  code_challenge  VARCHAR(64) NOT NULL,
  scope           MEDIUMTEXT NOT NULL,
  resource        MEDIUMTEXT NULL,
  expires_at      DATETIME(3) NOT NULL,
  used_at         DATETIME(3) NULL,
  KEY kavach_mcp_codes_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS kavach_mcp_refresh_tokens (
  id          VARCHAR(64) NOT NULL PRIMARY KEY,
  grant_id    VARCHAR(64) NOT NULL,
  client_id   VARCHAR(64) NOT NULL,
  scope       MEDIUMTEXT NOT NULL,
  resource    MEDIUMTEXT NULL,
  expires_at  DATETIME(3) NOT NULL,
  used_at     DATETIME(3) NULL,
  created_at  DATETIME(3) NOT NULL,
  KEY kavach_mcp_refresh_grant (grant_id),
  KEY kavach_mcp_refresh_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS kavach_mcp_revoked (
  jti         VARCHAR(64) NOT NULL PRIMARY KEY,
  expires_at  DATETIME(3) NOT NULL,
  KEY kavach_mcp_revoked_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS kavach_mcp_jwks (
  kid          VARCHAR(64) NOT NULL PRIMARY KEY,
  alg          VARCHAR(16) NOT NULL,
  public_jwk   MEDIUMTEXT NOT NULL,
  private_key  MEDIUMTEXT NOT NULL,
  active_slot  SMALLINT NULL,
  created_at   DATETIME(3) NOT NULL,
  retired_at   DATETIME(3) NULL,
  UNIQUE KEY kavach_mcp_jwks_active (active_slot)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
