//! Audit retention (`audit: { retentionDays }`): one background task deletes audit rows older than
//! the retention, off the hot path. A first pass runs a few seconds after boot, then one every
//! hour; each pass deletes in small batches (one short statement each, walking the
//! `(created_at, id)` index) with a pause between them, so writers of new rows never wait long.

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
        loop {
            match prune_batch(&pool, cutoff, batch).await {
                Ok(n) if n < batch as u64 => break,
                Ok(_) => {
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

/// Deletes at most `limit` audit rows older than `cutoff_ms` (oldest first); returns how many.
pub async fn prune_batch(pool: &Pool, cutoff_ms: i64, limit: i64) -> Result<u64> {
    let n = match pool {
        Pool::Sqlite(p) => sqlx::query(
            "DELETE FROM kavach_audit_logs WHERE rowid IN (SELECT rowid FROM kavach_audit_logs WHERE created_at < ? ORDER BY created_at LIMIT ?)",
        )
        .bind(Ts(cutoff_ms))
        .bind(limit)
        .execute(p)
        .await?
        .rows_affected(),
        Pool::Pg(p) => sqlx::query(
            "DELETE FROM kavach_audit_logs WHERE id IN (SELECT id FROM kavach_audit_logs WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
        )
        .bind(Ts(cutoff_ms))
        .bind(limit)
        .execute(p)
        .await?
        .rows_affected(),
        Pool::My(p) => sqlx::query(
            "DELETE FROM kavach_audit_logs WHERE created_at < ? ORDER BY created_at LIMIT ?",
        )
        .bind(Ts(cutoff_ms))
        .bind(limit)
        .execute(p)
        .await?
        .rows_affected(),
    };
    Ok(n)
}

/// Deletes every audit row older than `cutoff_ms`, batch by batch; returns how many.
pub async fn prune(pool: &Pool, cutoff_ms: i64, batch: u32) -> Result<u64> {
    let batch = i64::from(batch.max(1));
    let mut total = 0;
    loop {
        let n = prune_batch(pool, cutoff_ms, batch).await?;
        total += n;
        if n < batch as u64 {
            return Ok(total);
        }
    }
}
