-- Nothing changes here. In this step SQLite drops its audit time index (a page in every audited
-- call's commit) and walks the table by rowid; PostgreSQL and MySQL keep (created_at, id) for
-- retention and streamed exports. This file keeps the dialects' migration numbers in step.
SELECT 1;
