-- SQLite walks the audit log by (created_at, rowid): an index of the one integer column (its
-- entries end in the rowid) serves retention and streamed exports as (created_at, id) did, and
-- costs every audit insert, so every authorize, less than an index that repeats the 36-byte id.
DROP INDEX IF EXISTS kavach_audit_time;
CREATE INDEX IF NOT EXISTS kavach_audit_created ON kavach_audit_logs (created_at);
