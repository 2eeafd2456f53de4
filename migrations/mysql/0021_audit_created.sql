-- Nothing changes here. In this step SQLite trades its (created_at, id) audit index for one on
-- (created_at) alone and walks the log by (created_at, rowid); PostgreSQL and MySQL keep theirs for
-- retention and streamed exports. This file keeps the dialects' migration numbers in step.
SELECT 1;
