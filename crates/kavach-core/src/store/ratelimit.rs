//! Fixed-window counters shared by every process: in the database (the default) or in Redis
//! (`rateLimit: { storage: 'redis', url }`). Both count the same aligned windows, so a limit and its
//! Retry-After are the same whichever storage holds them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{KavachError, Result};
use crate::store::db::Pool;

/// Where the counters live, chosen at boot.
#[derive(Clone)]
pub enum Limiter {
    Database(Pool),
    Redis(Arc<RedisLimiter>),
}

impl Limiter {
    /// The limiter `rateLimit.storage` asks for: Redis when a URL is given (no connection is made
    /// here, so an unreachable Redis never holds boot up; each call then fails with
    /// `RATE_LIMIT_UNAVAILABLE`), the database otherwise.
    pub fn new(pool: &Pool, redis_url: Option<&str>) -> Result<Self> {
        match redis_url {
            None => Ok(Self::Database(pool.clone())),
            Some(url) => Ok(Self::Redis(Arc::new(RedisLimiter::new(url)?))),
        }
    }
}

/// Bound on connecting to Redis and on each reply.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// After a failed connect, calls fail at once for this long instead of each waiting on a dead host.
const REDIS_RETRY_AFTER_FAILURE: Duration = Duration::from_millis(500);
const REDIS_PREFIX: &str = "kavach:rl:";

/// Counters in Redis: one key per limit key and window (`kavach:rl:<key>:<window start>`), counted
/// with INCR and given a PEXPIRE at the window's end in one Lua script, so every process sees the
/// same count atomically.
pub struct RedisLimiter {
    client: redis::Client,
    conn: tokio::sync::Mutex<Connection>,
    incr: redis::Script,
}

enum Connection {
    None,
    Up(redis::aio::ConnectionManager),
    Failed(Instant),
}

fn unavailable(e: &redis::RedisError) -> KavachError {
    // The kind only: the URL (and any password in it) stays out of the message.
    let what = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connection_refusal() {
        "connection refused".to_string()
    } else if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
        "connection lost".to_string()
    } else {
        format!("{:?}", e.kind())
    };
    KavachError::RateLimitUnavailable(format!("Redis {what}"))
}

fn timed_out() -> KavachError {
    KavachError::RateLimitUnavailable("Redis timed out".into())
}

impl RedisLimiter {
    fn new(url: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(|_| {
            KavachError::ConfigInvalid("rateLimit.url is not a valid Redis URL".into())
        })?;
        Ok(Self {
            client,
            conn: tokio::sync::Mutex::new(Connection::None),
            incr: redis::Script::new(
                "local n = redis.call('INCR', KEYS[1]) \
                 if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
                 return n",
            ),
        })
    }

    /// The shared connection, made on first use; it reconnects by itself after a loss.
    async fn connection(&self) -> Result<redis::aio::ConnectionManager> {
        let mut slot = self.conn.lock().await;
        match &*slot {
            Connection::Up(c) => return Ok(c.clone()),
            Connection::Failed(at) if at.elapsed() < REDIS_RETRY_AFTER_FAILURE => {
                return Err(KavachError::RateLimitUnavailable(
                    "Redis unreachable".into(),
                ))
            }
            _ => {}
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let made = tokio::time::timeout(
            REDIS_TIMEOUT * 2,
            self.client.get_connection_manager_with_config(config),
        )
        .await;
        match made {
            Ok(Ok(c)) => {
                *slot = Connection::Up(c.clone());
                Ok(c)
            }
            Ok(Err(e)) => {
                *slot = Connection::Failed(Instant::now());
                Err(unavailable(&e))
            }
            Err(_) => {
                *slot = Connection::Failed(Instant::now());
                Err(timed_out())
            }
        }
    }

    async fn hit(&self, key: &str, limit: Limit, now_ms: i64) -> Result<i64> {
        let (start, _) = window(limit, now_ms);
        // The key outlives its window by a second so a late reader of the window still sees it.
        let ttl_ms = start + limit.window_ms - now_ms + 1000;
        let mut conn = self.connection().await?;
        let mut call = self.incr.key(format!("{REDIS_PREFIX}{key}:{start}"));
        call.arg(ttl_ms);
        match tokio::time::timeout(REDIS_TIMEOUT * 2, call.invoke_async::<i64>(&mut conn)).await {
            Ok(r) => r.map_err(|e| unavailable(&e)),
            Err(_) => Err(timed_out()),
        }
    }

    async fn count(&self, key: &str, limit: Limit, now_ms: i64) -> Result<i64> {
        let (start, _) = window(limit, now_ms);
        let mut conn = self.connection().await?;
        let mut get = redis::cmd("GET");
        get.arg(format!("{REDIS_PREFIX}{key}:{start}"));
        match tokio::time::timeout(REDIS_TIMEOUT * 2, get.query_async::<Option<i64>>(&mut conn))
            .await
        {
            Ok(r) => Ok(r.map_err(|e| unavailable(&e))?.unwrap_or(0)),
            Err(_) => Err(timed_out()),
        }
    }
}

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
pub async fn hit(
    limiter: &Limiter,
    key: &str,
    limit: Limit,
    now_ms: i64,
) -> Result<Option<RetryAfter>> {
    let (start, retry) = window(limit, now_ms);
    let pool = match limiter {
        Limiter::Database(pool) => pool,
        Limiter::Redis(r) => {
            let count = r.hit(key, limit, now_ms).await?;
            return Ok((count > i64::from(limit.max)).then_some(RetryAfter(retry)));
        }
    };
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
    limiter: &Limiter,
    key: &str,
    limit: Limit,
    now_ms: i64,
) -> Result<Option<RetryAfter>> {
    let (start, retry) = window(limit, now_ms);
    let pool = match limiter {
        Limiter::Database(pool) => pool,
        Limiter::Redis(r) => {
            let count = r.count(key, limit, now_ms).await?;
            return Ok((count >= i64::from(limit.max)).then_some(RetryAfter(retry)));
        }
    };
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
