//! Fixed-window counters in the database, so every process on it shares the same limits.

use crate::error::Result;
use crate::store::db::Pool;

/// A limit: at most `max` events per `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window_ms: i64,
}

/// Over the limit: retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

fn window(limit: Limit, now_ms: i64) -> (i64, u64) {
    let start = now_ms - now_ms.rem_euclid(limit.window_ms);
    let left_ms = start + limit.window_ms - now_ms;
    (
        start,
        u64::try_from((left_ms + 999) / 1000).unwrap_or(1).max(1),
    )
}

/// Counts one event under `key` and says whether it went over the limit.
pub async fn hit(pool: &Pool, key: &str, limit: Limit, now_ms: i64) -> Result<Option<RetryAfter>> {
    let (start, retry) = window(limit, now_ms);
    let count: i64 = match pool {
        Pool::Sqlite(p) => {
            sqlx::query_scalar(
                "INSERT INTO kavach_rate_limits (key, window_start, count) VALUES (?, ?, 1) \
             ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1 RETURNING count",
            )
            .bind(key)
            .bind(start)
            .fetch_one(p)
            .await?
        }
        Pool::Pg(p) => {
            let n: i32 = sqlx::query_scalar(
                "INSERT INTO kavach_rate_limits (key, window_start, count) VALUES ($1, $2, 1) \
                 ON CONFLICT (key, window_start) DO UPDATE SET count = kavach_rate_limits.count + 1 RETURNING count",
            )
            .bind(key)
            .bind(start)
            .fetch_one(p)
            .await?;
            i64::from(n)
        }
        Pool::My(p) => {
            // LAST_INSERT_ID(expr) hands the new count back on this connection, atomically.
            let mut conn = p.acquire().await?;
            sqlx::query(
                "INSERT INTO kavach_rate_limits (`key`, window_start, count) VALUES (?, ?, LAST_INSERT_ID(1)) \
                 ON DUPLICATE KEY UPDATE count = LAST_INSERT_ID(count + 1)",
            )
            .bind(key)
            .bind(start)
            .execute(&mut *conn)
            .await?;
            let n: u64 = sqlx::query_scalar("SELECT LAST_INSERT_ID()")
                .fetch_one(&mut *conn)
                .await?;
            i64::try_from(n).unwrap_or(i64::MAX)
        }
    };
    if rand::random::<u16>() < 64 {
        prune(pool, now_ms).await?;
    }
    Ok((count > i64::from(limit.max)).then_some(RetryAfter(retry)))
}

/// Whether `key` is already at its limit, without counting an event.
pub async fn blocked(
    pool: &Pool,
    key: &str,
    limit: Limit,
    now_ms: i64,
) -> Result<Option<RetryAfter>> {
    let (start, retry) = window(limit, now_ms);
    let count: Option<i64> = match pool {
        Pool::Sqlite(p) => {
            sqlx::query_scalar(
                "SELECT count FROM kavach_rate_limits WHERE key = ? AND window_start = ?",
            )
            .bind(key)
            .bind(start)
            .fetch_optional(p)
            .await?
        }
        Pool::Pg(p) => sqlx::query_scalar::<_, i32>(
            "SELECT count FROM kavach_rate_limits WHERE key = $1 AND window_start = $2",
        )
        .bind(key)
        .bind(start)
        .fetch_optional(p)
        .await?
        .map(i64::from),
        Pool::My(p) => sqlx::query_scalar::<_, i32>(
            "SELECT count FROM kavach_rate_limits WHERE `key` = ? AND window_start = ?",
        )
        .bind(key)
        .bind(start)
        .fetch_optional(p)
        .await?
        .map(i64::from),
    };
    Ok((count.unwrap_or(0) >= i64::from(limit.max)).then_some(RetryAfter(retry)))
}

/// Drops windows older than a day.
async fn prune(pool: &Pool, now_ms: i64) -> Result<()> {
    let cutoff = now_ms - 86_400_000;
    match pool {
        Pool::Sqlite(p) => sqlx::query("DELETE FROM kavach_rate_limits WHERE window_start < ?")
            .bind(cutoff)
            .execute(p)
            .await?
            .rows_affected(),
        Pool::Pg(p) => sqlx::query("DELETE FROM kavach_rate_limits WHERE window_start < $1")
            .bind(cutoff)
            .execute(p)
            .await?
            .rows_affected(),
        Pool::My(p) => sqlx::query("DELETE FROM kavach_rate_limits WHERE window_start < ?")
            .bind(cutoff)
            .execute(p)
            .await?
            .rows_affected(),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_align_and_retry_is_at_least_a_second() {
        let l = Limit {
            max: 3,
            window_ms: 60_000,
        };
        assert_eq!(window(l, 120_000), (120_000, 60));
        assert_eq!(window(l, 179_500), (120_000, 1));
        assert_eq!(window(l, 150_001), (120_000, 30));
    }
}
