//! The outbox tables: writing events inside the caller's transaction, claiming due deliveries
//! under a lease, recording each attempt, and listing / redelivering for the admin API.

use serde::Serialize;
use sqlx::{Executor, Row};

use super::{EventRecord, Webhook, STATUSES};
use crate::config::Dialect;
use crate::error::{KavachError, Result};
use crate::store::db::BeginWrite;
use crate::store::db::{dialect_of, sql_for, Pool, Ts};
use crate::{col_opt_str, col_str, on_pool, BoxFut};

/// What [`enqueue`] writes: the event row and one delivery row per subscribed webhook.
#[doc(hidden)]
#[derive(Debug)]
pub struct OutboxRows {
    event_id: String,
    event: String,
    payload: String,
    created_at: i64,
    /// `(delivery id, url)`.
    deliveries: Vec<(String, String)>,
}

/// A connection (or transaction, through `&mut *tx`) the outbox can be written on:
/// `sqlx::SqliteConnection`, `sqlx::PgConnection` and `sqlx::MySqlConnection`.
pub trait OutboxConn: Send {
    #[doc(hidden)]
    fn write_outbox<'a>(&'a mut self, rows: &'a OutboxRows) -> BoxFut<'a, Result<()>>;
}

const INSERT_EVENT: &str =
    "INSERT INTO kavach_events (id, event, payload, created_at) VALUES (?, ?, ?, ?)";
const INSERT_DELIVERY: &str = "INSERT INTO kavach_webhook_deliveries (id, event_id, url, status, attempts, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)";

macro_rules! outbox_conn {
    ($conn:ty, $dialect:expr) => {
        impl OutboxConn for $conn {
            fn write_outbox<'a>(&'a mut self, rows: &'a OutboxRows) -> BoxFut<'a, Result<()>> {
                Box::pin(async move {
                    let now = Ts(rows.created_at);
                    sqlx::query(&sql_for($dialect, INSERT_EVENT))
                        .bind(&rows.event_id)
                        .bind(&rows.event)
                        .bind(&rows.payload)
                        .bind(now)
                        .execute(&mut *self)
                        .await?;
                    let insert = sql_for($dialect, INSERT_DELIVERY);
                    for (id, url) in &rows.deliveries {
                        sqlx::query(&insert)
                            .bind(id)
                            .bind(&rows.event_id)
                            .bind(url)
                            .bind(now)
                            .bind(now)
                            .bind(now)
                            .execute(&mut *self)
                            .await?;
                    }
                    Ok(())
                })
            }
        }
    };
}
outbox_conn!(sqlx::SqliteConnection, Dialect::Sqlite);
outbox_conn!(sqlx::PgConnection, Dialect::Postgres);
outbox_conn!(sqlx::MySqlConnection, Dialect::MySql);

/// Writes `ev` and one pending delivery per webhook of `hooks` subscribed to it, on `conn` (the
/// caller's transaction: `events::enqueue(&mut *tx, &hooks, &ev)`). Writes nothing at all when no
/// webhook wants the event. Wake the [`super::Worker`] after the commit.
pub async fn enqueue<C: OutboxConn + ?Sized>(
    conn: &mut C,
    hooks: &[Webhook],
    ev: &EventRecord,
) -> Result<()> {
    let deliveries: Vec<(String, String)> = hooks
        .iter()
        .filter(|h| h.wants(&ev.event))
        .map(|h| {
            (
                format!("whd_{}", crate::crypto::token::new_id()),
                h.url().to_owned(),
            )
        })
        .collect();
    if deliveries.is_empty() {
        return Ok(());
    }
    let rows = OutboxRows {
        event_id: ev.id.clone(),
        event: ev.event.clone(),
        payload: ev.payload(),
        created_at: ev.timestamp_ms,
        deliveries,
    };
    conn.write_outbox(&rows).await
}

/// One delivery of one event to one webhook, as listed by [`deliveries`]. Times are Unix ms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub event: String,
    pub url: String,
    pub status: String,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// Largest page [`deliveries`] returns.
pub const MAX_LIST: u32 = 1000;

/// Deliveries, newest first, optionally only those with `status` (`pending`, `delivered` or
/// `failed`); `limit` is clamped to `1..=1000`.
pub async fn deliveries(pool: &Pool, status: Option<&str>, limit: u32) -> Result<Vec<Delivery>> {
    if let Some(s) = status {
        if !STATUSES.contains(&s) {
            return Err(KavachError::validation(
                "status must be one of pending, delivered, failed",
            ));
        }
    }
    let limit = i64::from(limit.clamp(1, MAX_LIST));
    let mut sql = String::from(
        "SELECT d.id, d.event_id, e.event, d.url, d.status, d.attempts, d.last_status, d.last_error, \
         d.next_attempt_at, d.created_at, d.delivered_at \
         FROM kavach_webhook_deliveries d LEFT JOIN kavach_events e ON e.id = d.event_id",
    );
    if status.is_some() {
        sql.push_str(" WHERE d.status = ?");
    }
    sql.push_str(" ORDER BY d.created_at DESC, d.id DESC LIMIT ?");
    let sql = sql_for(dialect_of(pool), &sql);
    on_pool!(pool, p => {
        let mut q = sqlx::query(&sql);
        if let Some(s) = status {
            q = q.bind(s);
        }
        let rows = q.bind(limit).fetch_all(p).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(Delivery {
                id: col_str!(r, "id")?,
                event_id: col_str!(r, "event_id")?,
                event: col_opt_str!(r, "event")?.unwrap_or_default(),
                url: col_str!(r, "url")?,
                status: col_str!(r, "status")?,
                attempts: r.try_get("attempts")?,
                last_status: r.try_get("last_status")?,
                last_error: col_opt_str!(r, "last_error")?,
                next_attempt_at: r.try_get::<Ts, _>("next_attempt_at")?.0,
                created_at: r.try_get::<Ts, _>("created_at")?.0,
                delivered_at: r.try_get::<Option<Ts>, _>("delivered_at")?.map(|t| t.0),
            });
        }
        Ok(out)
    })
}

/// Puts delivery `id` back to `pending`, due at `now_ms`, with its attempts reset (whatever its
/// status). `NOT_FOUND` for an unknown id. Wake the [`super::Worker`] afterwards.
pub async fn redeliver(pool: &Pool, id: &str, now_ms: i64) -> Result<()> {
    let d = dialect_of(pool);
    let update = sql_for(
        d,
        "UPDATE kavach_webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, \
         locked_until = NULL, locked_by = NULL, delivered_at = NULL, updated_at = ? WHERE id = ?",
    );
    let exists = sql_for(d, "SELECT id FROM kavach_webhook_deliveries WHERE id = ?");
    let now = Ts(now_ms);
    let found = on_pool!(pool, p => {
        let n = sqlx::query(&update).bind(now).bind(now).bind(id).execute(p).await?.rows_affected();
        // MySQL counts changed rows only; ask when nothing changed.
        n > 0 || sqlx::query(&exists).bind(id).fetch_optional(p).await?.is_some()
    });
    if found {
        Ok(())
    } else {
        Err(KavachError::NotFound(
            "no webhook delivery with this id".into(),
        ))
    }
}

/// A delivery claimed by the worker (`locked_by` = its lease id).
#[derive(Debug, Clone)]
pub(crate) struct Claimed {
    pub id: String,
    pub event_id: String,
    pub event: Option<String>,
    pub url: String,
    pub attempts: i32,
    pub payload: Option<String>,
}

const DUE: &str =
    "status = 'pending' AND next_attempt_at <= ? AND (locked_until IS NULL OR locked_until <= ?)";

/// Claims up to `limit` due deliveries: sets `locked_until = now + lease_ms` and `locked_by =
/// lease_id` and commits, so that no other worker takes them until the lease expires.
pub(crate) async fn claim(
    pool: &Pool,
    lease_id: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Claimed>> {
    let d = dialect_of(pool);
    let now = Ts(now_ms);
    let until = Ts(now_ms.saturating_add(lease_ms));
    match pool {
        Pool::Sqlite(p) => {
            // A read first (WAL readers never wait): an idle poll takes no write lock, so it never
            // holds up the app's own writers.
            let due = format!("SELECT 1 FROM kavach_webhook_deliveries WHERE {DUE} LIMIT 1");
            let any = sqlx::query(&due)
                .bind(now)
                .bind(now)
                .fetch_optional(p)
                .await?;
            if any.is_none() {
                return Ok(Vec::new());
            }
            // One statement: SQLite runs it under its single writer lock, so two workers can never
            // both take a row.
            let sql = format!(
                "UPDATE kavach_webhook_deliveries SET locked_until = ?, locked_by = ? WHERE id IN \
                 (SELECT id FROM kavach_webhook_deliveries WHERE {DUE} ORDER BY next_attempt_at LIMIT ?)"
            );
            sqlx::query(&sql)
                .bind(until)
                .bind(lease_id)
                .bind(now)
                .bind(now)
                .bind(limit)
                .execute(p)
                .await?;
        }
        Pool::Pg(_) | Pool::My(_) => {
            let select = sql_for(
                d,
                &format!(
                    "SELECT id FROM kavach_webhook_deliveries WHERE {DUE} ORDER BY next_attempt_at \
                     LIMIT ? FOR UPDATE SKIP LOCKED"
                ),
            )
            .into_owned();
            macro_rules! lock_and_lease {
                ($tx:expr) => {{
                    let ids: Vec<String> = sqlx::query(&select)
                        .bind(now)
                        .bind(now)
                        .bind(limit)
                        .fetch_all(&mut *$tx)
                        .await?
                        .iter()
                        .map(|r| col_str!(r, "id"))
                        .collect::<std::result::Result<_, _>>()?;
                    if !ids.is_empty() {
                        let marks = vec!["?"; ids.len()].join(", ");
                        let update = sql_for(
                            d,
                            &format!(
                                "UPDATE kavach_webhook_deliveries SET locked_until = ?, locked_by = ? \
                                 WHERE id IN ({marks})"
                            ),
                        )
                        .into_owned();
                        let mut q = sqlx::query(&update).bind(until).bind(lease_id);
                        for id in &ids {
                            q = q.bind(id);
                        }
                        q.execute(&mut *$tx).await?;
                    }
                    ids.len()
                }};
            }
            let n = match pool {
                Pool::Pg(p) => {
                    let mut tx = p.begin_write().await?;
                    let n = lock_and_lease!(tx);
                    tx.commit().await?;
                    n
                }
                Pool::My(p) => {
                    let mut conn = p.acquire().await?;
                    // No gap locks: the claim must not hold up concurrent enqueues.
                    (&mut *conn)
                        .execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .await?;
                    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                    let n = lock_and_lease!(tx);
                    tx.commit().await?;
                    n
                }
                Pool::Sqlite(_) => 0,
            };
            if n == 0 {
                return Ok(Vec::new());
            }
        }
    }
    let fetch = sql_for(
        d,
        "SELECT d.id, d.event_id, e.event, d.url, d.attempts, e.payload \
         FROM kavach_webhook_deliveries d LEFT JOIN kavach_events e ON e.id = d.event_id \
         WHERE d.locked_by = ? ORDER BY d.next_attempt_at",
    );
    on_pool!(pool, p => {
        let rows = sqlx::query(&fetch).bind(lease_id).fetch_all(p).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(Claimed {
                id: col_str!(r, "id")?,
                event_id: col_str!(r, "event_id")?,
                event: col_opt_str!(r, "event")?,
                url: col_str!(r, "url")?,
                attempts: r.try_get("attempts")?,
                payload: col_opt_str!(r, "payload")?,
            });
        }
        Ok(out)
    })
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Delivered {
        http_status: i32,
    },
    Retry {
        http_status: Option<i32>,
        error: String,
        next_attempt_at: i64,
    },
    Failed {
        http_status: Option<i32>,
        error: String,
    },
}

/// Records an attempt on a delivery this lease still holds (`false` when the lease was lost: the
/// row expired and another worker took it, or it was redelivered meanwhile).
pub(crate) async fn finish(
    pool: &Pool,
    id: &str,
    lease_id: &str,
    attempts: i32,
    outcome: &Outcome,
    now_ms: i64,
) -> Result<bool> {
    let d = dialect_of(pool);
    let now = Ts(now_ms);
    let (status, http_status, error, next_at, delivered_at) = match outcome {
        Outcome::Delivered { http_status } => {
            ("delivered", Some(*http_status), None, None, Some(now))
        }
        Outcome::Retry {
            http_status,
            error,
            next_attempt_at,
        } => (
            "pending",
            *http_status,
            Some(error.as_str()),
            Some(Ts(*next_attempt_at)),
            None,
        ),
        Outcome::Failed { http_status, error } => {
            ("failed", *http_status, Some(error.as_str()), None, None)
        }
    };
    let sql = sql_for(
        d,
        "UPDATE kavach_webhook_deliveries SET status = ?, attempts = ?, last_status = ?, last_error = ?, \
         next_attempt_at = COALESCE(?, next_attempt_at), delivered_at = ?, updated_at = ?, \
         locked_until = NULL, locked_by = NULL WHERE id = ? AND locked_by = ?",
    );
    let n = on_pool!(pool, p => sqlx::query(&sql)
        .bind(status)
        .bind(attempts)
        .bind(http_status)
        .bind(error)
        .bind(next_at)
        .bind(delivered_at)
        .bind(now)
        .bind(id)
        .bind(lease_id)
        .execute(p)
        .await?
        .rows_affected());
    Ok(n > 0)
}

/// Gives back the deliveries a lease still holds (a worker stopping mid-round), so that they are
/// due again at once instead of when the lease expires.
pub(crate) async fn release(pool: &Pool, lease_id: &str) -> Result<()> {
    let sql = sql_for(
        dialect_of(pool),
        "UPDATE kavach_webhook_deliveries SET locked_until = NULL, locked_by = NULL WHERE locked_by = ?",
    );
    on_pool!(pool, p => sqlx::query(&sql).bind(lease_id).execute(p).await?.rows_affected());
    Ok(())
}

/// Gives back one delivery this lease holds.
pub(crate) async fn release_one(pool: &Pool, id: &str, lease_id: &str) -> Result<()> {
    let sql = sql_for(
        dialect_of(pool),
        "UPDATE kavach_webhook_deliveries SET locked_until = NULL, locked_by = NULL WHERE id = ? AND locked_by = ?",
    );
    on_pool!(pool, p => sqlx::query(&sql).bind(id).bind(lease_id).execute(p).await?.rows_affected());
    Ok(())
}
