//! Storage: pools on the three databases, migrations, the embedded-SQLite fast path and the
//! database-backed rate limits.

pub mod db;
pub mod ratelimit;
pub(crate) mod sqlite_fast;
