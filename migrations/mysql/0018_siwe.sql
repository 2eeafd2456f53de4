-- The siwe() plugin (Sign-In with Ethereum): the wallets a user signs in with, one row per address
-- and chain. Created whether or not the plugin is on, so it can be turned on later. `address` is
-- EIP-55 checksummed. Nonces live in kavach_one_time (hashed).
CREATE TABLE IF NOT EXISTS kavach_wallet_address (
  id          VARCHAR(64) NOT NULL PRIMARY KEY,
  user_id     VARCHAR(255) NOT NULL,
  address     VARCHAR(42) NOT NULL,
  chain_id    BIGINT NOT NULL,
  is_primary  TINYINT(1) NOT NULL DEFAULT 0,
  created_at  DATETIME(3) NOT NULL,
  UNIQUE KEY kavach_wallet_address_chain (address, chain_id),
  KEY kavach_wallet_address_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
