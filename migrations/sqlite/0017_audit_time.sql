-- Audit retention and streamed exports walk the log by time: retention deletes the oldest rows in
-- small batches, exports page newest first by (created_at, id).
CREATE INDEX IF NOT EXISTS kavach_audit_time ON kavach_audit_logs (created_at, id);
