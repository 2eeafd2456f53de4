-- The siwe() plugin (Sign-In with Ethereum): the wallets a user signs in with, one row per address
-- and chain. Created whether or not the plugin is on, so it can be turned on later. `address` is
-- EIP-55 checksummed; `created_at` is Unix milliseconds. Nonces live in kavach_one_time (hashed).
CREATE TABLE IF NOT EXISTS kavach_wallet_address (
  id          TEXT PRIMARY KEY,
  user_id     TEXT NOT NULL,
  address     TEXT NOT NULL,
  chain_id    INTEGER NOT NULL,
  is_primary  INTEGER NOT NULL DEFAULT 0,
  created_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kavach_wallet_address_chain ON kavach_wallet_address (address, chain_id);
CREATE INDEX IF NOT EXISTS kavach_wallet_address_user ON kavach_wallet_address (user_id);
