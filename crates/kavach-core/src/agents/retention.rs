//! Audit retention (`audit: { retentionDays }`): one background task deletes audit rows older than
//! the retention, off the hot path. A first pass runs a few seconds after boot, then one every
//! hour; each pass deletes in small batches with a pause between them, so writers of new rows never
//! wait long. PostgreSQL and MySQL find each batch on their `(created_at, id)` index. SQLite keeps
//! no time index (it would cost every audited call a page in its commit): a pass walks the table
//! once in rowid order, reading the next batch of old rows without the write lock, then deleting
//! exactly those rowids in one short write.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Clock;
use crate::error::{KavachError, Result};
use crate::store::db::{Pool, Ts};

const DAY_MS: i64 = 86_400_000;

/// Tuning of the retention task; the defaults suit production.
#[derive(Debug, Clone)]
pub struct RetentionOptions {
    /// Delay of the first pass after boot (default 3 s, within the documented 30 s).
    pub first_pass: Duration,
    /// Time between passes (default one hour).
    pub interval: Duration,
    /// Rows per DELETE (default 1,000).
    pub batch: u32,
    /// Pause between two batches of a pass (default 20 ms).
    pub pause: Duration,
    /// Wait after a failed batch (database unreachable, a lock): the pass retries then (default 60 s).
    pub retry: Duration,
}

impl Default for RetentionOptions {
    fn default() -> Self {
        Self {
            first_pass: Duration::from_secs(3),
            interval: Duration::from_secs(3600),
            batch: 1000,
            pause: Duration::from_millis(20),
            retry: Duration::from_secs(60),
        }
    }
}

/// The running retention task. Dropping it stops the task; [`Retention::shutdown`] also waits.
pub struct Retention {
    stop: watch::Sender<bool>,
    task: parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Retention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retention")
            .field("running", &self.task.lock().is_some())
            .finish()
    }
}

impl Retention {
    /// Starts the task for `days` of retention. Must be called inside a tokio runtime.
    pub fn start(
        pool: Pool,
        clock: Arc<dyn Clock>,
        days: u32,
        opts: RetentionOptions,
    ) -> Result<Retention> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| KavachError::Internal("audit retention needs a tokio runtime".into()))?;
        let (stop, rx) = watch::channel(false);
        let keep_ms = i64::from(days).saturating_mul(DAY_MS);
        let task = handle.spawn(run(pool, clock, keep_ms, opts, rx));
        Ok(Retention {
            stop,
            task: parking_lot::Mutex::new(Some(task)),
        })
    }

    /// Stops the task (a batch in flight finishes first) and waits for it.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

impl Drop for Retention {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Sleeps `d`; `false` when the stop signal came first.
async fn sleep_unless_stopped(rx: &mut watch::Receiver<bool>, d: Duration) -> bool {
    if *rx.borrow() {
        return false;
    }
    tokio::select! {
        biased;
        // Only a stop is ever sent (or the sender is gone).
        r = rx.changed() => r.is_ok() && !*rx.borrow(),
        _ = tokio::time::sleep(d) => true,
    }
}

async fn run(
    pool: Pool,
    clock: Arc<dyn Clock>,
    keep_ms: i64,
    opts: RetentionOptions,
    mut rx: watch::Receiver<bool>,
) {
    let batch = i64::from(opts.batch.max(1));
    let mut wait = opts.first_pass;
    loop {
        if !sleep_unless_stopped(&mut rx, wait).await {
            return;
        }
        let cutoff = clock.now_ms().saturating_sub(keep_ms);
        wait = opts.interval;
        let mut cursor = Cursor::default();
        loop {
            match prune_batch(&pool, cutoff, batch, &mut cursor).await {
                Ok(false) => break,
                Ok(true) => {
                    if !sleep_unless_stopped(&mut rx, opts.pause).await {
                        return;
                    }
                }
                Err(_) => {
                    // Unreachable or locked: try this pass again a little later.
                    wait = opts.retry.min(opts.interval);
                    break;
                }
            }
        }
    }
}

/// Where a pass has got to, and what it has deleted.
#[derive(Debug, Clone, Copy)]
pub struct Cursor {
    /// SQLite: the last rowid read; the next batch reads after it.
    after_rowid: i64,
    /// Rows deleted so far in this pass.
    pub deleted: u64,
}

impl Default for Cursor {
    fn default() -> Self {
        Self {
            after_rowid: i64::MIN,
            deleted: 0,
        }
    }
}

/// Deletes at most `limit` audit rows older than `cutoff_ms`; answers whether more may be left.
pub async fn prune_batch(
    pool: &Pool,
    cutoff_ms: i64,
    limit: i64,
    cursor: &mut Cursor,
) -> Result<bool> {
    let (deleted, more) = match pool {
        Pool::Sqlite(p) => {
            // A read (no write lock in WAL mode) finds the next old rows in rowid order, however
            // far apart; the write then deletes just those, by rowid. The time is checked again so
            // that a rowid reused since the read is never taken.
            let rows: Vec<i64> = sqlx::query_scalar(
                "SELECT rowid FROM kavach_audit_logs WHERE rowid > ? AND created_at < ? ORDER BY rowid LIMIT ?",
            )
            .bind(cursor.after_rowid)
            .bind(Ts(cutoff_ms))
            .bind(limit)
            .fetch_all(p)
            .await?;
            let Some(&last) = rows.last() else {
                return Ok(false);
            };
            let ids = serde_json::to_string(&rows)
                .map_err(|e| KavachError::Internal(format!("audit retention: {e}")))?;
            let n = sqlx::query(
                "DELETE FROM kavach_audit_logs WHERE rowid IN (SELECT value FROM json_each(?)) AND created_at < ?",
            )
            .bind(ids)
            .bind(Ts(cutoff_ms))
            .execute(p)
            .await?
            .rows_affected();
            cursor.after_rowid = last;
            (n, rows.len() as i64 == limit)
        }
        Pool::Pg(p) => {
            let n = sqlx::query(
                "DELETE FROM kavach_audit_logs WHERE id IN (SELECT id FROM kavach_audit_logs WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
            )
            .bind(Ts(cutoff_ms))
            .bind(limit)
            .execute(p)
            .await?
            .rows_affected();
            (n, n == limit as u64)
        }
        Pool::My(p) => {
            let n = sqlx::query(
                "DELETE FROM kavach_audit_logs WHERE created_at < ? ORDER BY created_at LIMIT ?",
            )
            .bind(Ts(cutoff_ms))
            .bind(limit)
            .execute(p)
            .await?
            .rows_affected();
            (n, n == limit as u64)
        }
    };
    cursor.deleted += deleted;
    Ok(more)
}

/// Deletes every audit row older than `cutoff_ms`, batch by batch; returns how many.
pub async fn prune(pool: &Pool, cutoff_ms: i64, batch: u32) -> Result<u64> {
    let batch = i64::from(batch.max(1));
    let mut cursor = Cursor::default();
    while prune_batch(pool, cutoff_ms, batch, &mut cursor).await? {}
    Ok(cursor.deleted)
}
