-- SQLite drops its audit time index. Every audited call (every authorize) commits one row, and an
-- index on created_at adds one more page to that commit: 4-5 µs, +15-20%, on an inline authorize.
-- Retention walks the table in rowid order instead, and an export without an agent walks it by
-- rowid, newest written first; one agent's rows keep the (agent_id, created_at) index.
DROP INDEX IF EXISTS kavach_audit_created;
