//! The delivery worker: one tokio task that claims due deliveries, POSTs them signed, and records
//! each attempt, woken by [`Worker::notify`] after a local enqueue and polling otherwise (rows
//! written by another process, or left leased by one that crashed).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::header::CONTENT_TYPE;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;

use super::outbox::{self, Claimed, Outcome};
use super::Webhook;
use crate::clock::Clock;
use crate::error::{KavachError, Result};
use crate::store::db::Pool;

/// Tuning of the [`Worker`]; the defaults suit production.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// How often the outbox is polled when nothing wakes the worker (default 1 s).
    pub poll_interval: Duration,
    /// How long a claimed delivery stays reserved for this worker (default 60 s); raised to at
    /// least `request_timeout` + 5 s, since a lease that expired mid-request would let another
    /// worker send it too.
    pub lease: Duration,
    /// Timeout of one POST, connecting included (default 10 s).
    pub request_timeout: Duration,
    /// Deliveries claimed at once (default 32).
    pub batch_size: u32,
    /// POSTs in flight at once (default 8).
    pub concurrency: usize,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            batch_size: 32,
            concurrency: 8,
        }
    }
}

/// The running delivery worker. Dropping it stops the task too; [`Worker::shutdown`] also waits.
pub struct Worker {
    notify: Arc<Notify>,
    stop: watch::Sender<bool>,
    task: parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("running", &self.task.lock().is_some())
            .finish()
    }
}

struct Ctx {
    pool: Pool,
    hooks: Vec<Webhook>,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    opts: WorkerOptions,
}

impl Worker {
    /// Starts the worker with [`WorkerOptions::default`]. Spawns a task only when `hooks` is not
    /// empty. Must be called inside a tokio runtime (`INTERNAL_ERROR` otherwise).
    pub fn start(pool: Pool, hooks: Vec<Webhook>, clock: Arc<dyn Clock>) -> Result<Worker> {
        Self::start_with(pool, hooks, clock, WorkerOptions::default())
    }

    /// Starts the worker with explicit options.
    pub fn start_with(
        pool: Pool,
        hooks: Vec<Webhook>,
        clock: Arc<dyn Clock>,
        opts: WorkerOptions,
    ) -> Result<Worker> {
        let notify = Arc::new(Notify::new());
        let (stop, stop_rx) = watch::channel(false);
        let worker = |task| Worker {
            notify: notify.clone(),
            stop: stop.clone(),
            task: parking_lot::Mutex::new(task),
        };
        if hooks.is_empty() {
            return Ok(worker(None));
        }
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            KavachError::Internal("the webhook worker needs a tokio runtime".into())
        })?;
        let client = reqwest::Client::builder()
            .timeout(opts.request_timeout)
            .connect_timeout(opts.request_timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("kavachos-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| KavachError::Internal("could not build the webhook HTTP client".into()))?;
        let ctx = Arc::new(Ctx {
            pool,
            hooks,
            clock,
            client,
            opts: WorkerOptions {
                batch_size: opts.batch_size.max(1),
                concurrency: opts.concurrency.max(1),
                // A claimed row is sent only while its lease outlives the request (see `deliver`).
                lease: opts
                    .lease
                    .max(opts.request_timeout.saturating_add(Duration::from_secs(5))),
                ..opts
            },
        });
        let task = handle.spawn(run(ctx, notify.clone(), stop_rx));
        Ok(worker(Some(task)))
    }

    /// The wake-up of this worker: call `notify_one()` after committing an enqueue (or a
    /// redeliver) so the delivery goes out now rather than at the next poll.
    pub fn notify(&self) -> Arc<Notify> {
        self.notify.clone()
    }

    /// Same as `self.notify().notify_one()`.
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// Whether a delivery task runs (some webhook is configured and it was not shut down).
    pub fn is_running(&self) -> bool {
        self.task.lock().as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the worker and waits for it. POSTs in flight are abandoned and their deliveries
    /// released, so that this or another process sends them again (at least once).
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Whether the stop signal was sent (or the [`Worker`] is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn run(ctx: Arc<Ctx>, notify: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    let poll = ctx.opts.poll_interval;
    loop {
        let lease_id = format!("lease_{}", crate::crypto::token::new_id());
        let round = tokio::select! {
            biased;
            _ = stopped(&mut stop) => {
                // Give back what this round still held; a failure leaves it to the lease expiry.
                let _ = outbox::release(&ctx.pool, &lease_id).await;
                return;
            }
            r = round(&ctx, &lease_id) => r,
        };
        let wait = match round {
            // A full batch: more may be due right away.
            Ok((claimed, _)) if claimed >= ctx.opts.batch_size as usize => Duration::ZERO,
            Ok((_, Some(next_due))) => {
                let ms = next_due.saturating_sub(ctx.clock.now_ms()).max(0);
                poll.min(Duration::from_millis(ms as u64))
            }
            Ok((_, None)) => poll,
            // The database is unreachable or busy: try again at the next poll.
            Err(_) => poll,
        };
        if wait.is_zero() {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            biased;
            _ = stopped(&mut stop) => return,
            _ = notify.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One claim and its POSTs: how many deliveries were claimed, and the earliest retry scheduled.
async fn round(ctx: &Arc<Ctx>, lease_id: &str) -> Result<(usize, Option<i64>)> {
    let now = ctx.clock.now_ms();
    let lease_ms = i64::try_from(ctx.opts.lease.as_millis()).unwrap_or(i64::MAX);
    let claimed = outbox::claim(
        &ctx.pool,
        lease_id,
        now,
        lease_ms,
        i64::from(ctx.opts.batch_size),
    )
    .await?;
    let n = claimed.len();
    let timeout_ms = i64::try_from(ctx.opts.request_timeout.as_millis()).unwrap_or(i64::MAX);
    let send_by = now
        .saturating_add(lease_ms)
        .saturating_sub(timeout_ms.saturating_add(1_000));
    let permits = Arc::new(Semaphore::new(ctx.opts.concurrency));
    let mut set = JoinSet::new();
    for c in claimed {
        let ctx = ctx.clone();
        let permits = permits.clone();
        let lease_id = lease_id.to_owned();
        set.spawn(async move {
            let _permit = permits.acquire_owned().await.ok()?;
            deliver(&ctx, &lease_id, c, send_by).await
        });
    }
    let mut next_due: Option<i64> = None;
    while let Some(done) = set.join_next().await {
        if let Ok(Some(at)) = done {
            next_due = Some(next_due.map_or(at, |n| n.min(at)));
        }
    }
    Ok((n, next_due))
}

/// POSTs one delivery and records the attempt; returns when it is due again if it was rescheduled.
async fn deliver(ctx: &Ctx, lease_id: &str, c: Claimed, send_by: i64) -> Option<i64> {
    if ctx.clock.now_ms() > send_by {
        // Waited so long for a turn that the lease could expire mid-request and another worker
        // send it too: give it back instead.
        let _ = outbox::release_one(&ctx.pool, &c.id, lease_id).await;
        return None;
    }
    let (outcome, sent) = attempt(ctx, &c).await;
    // Not sent at all (no such webhook, no event): the attempt count stays.
    let attempts = if sent {
        c.attempts.saturating_add(1)
    } else {
        c.attempts
    };
    let next = match &outcome {
        Outcome::Retry {
            next_attempt_at, ..
        } => Some(*next_attempt_at),
        _ => None,
    };
    let now = ctx.clock.now_ms();
    // A lost lease (expired and taken, or redelivered meanwhile) is not ours to record.
    let _ = outbox::finish(&ctx.pool, &c.id, lease_id, attempts, &outcome, now).await;
    next
}

/// One POST; the outcome, and whether a request was sent at all.
async fn attempt(ctx: &Ctx, c: &Claimed) -> (Outcome, bool) {
    let Some(hook) = ctx.hooks.iter().find(|h| h.url() == c.url) else {
        let error = "no webhook with this url is configured any more".into();
        return (
            Outcome::Failed {
                http_status: None,
                error,
            },
            false,
        );
    };
    let (Some(payload), Some(event)) = (&c.payload, &c.event) else {
        let error = "the event of this delivery is missing".into();
        return (
            Outcome::Failed {
                http_status: None,
                error,
            },
            false,
        );
    };
    let now = ctx.clock.now_ms();
    let ts = now.div_euclid(1000);
    let signature = hook.signature(ts, payload);
    let sent = ctx
        .client
        .post(hook.url())
        .header(CONTENT_TYPE, "application/json")
        .header("X-Kavach-Id", c.event_id.as_str())
        .header("X-Kavach-Event", event.as_str())
        .header("X-Kavach-Timestamp", ts.to_string())
        .header("X-Kavach-Signature", signature)
        .body(payload.clone())
        .send()
        .await;
    let (http_status, error) = match sent {
        Ok(resp) if resp.status().is_success() => {
            let http_status = i32::from(resp.status().as_u16());
            return (Outcome::Delivered { http_status }, true);
        }
        Ok(resp) => {
            let s = resp.status();
            (
                Some(i32::from(s.as_u16())),
                format!("the receiver answered HTTP {}", s.as_u16()),
            )
        }
        Err(e) => (None, describe(&e, ctx.opts.request_timeout)),
    };
    let attempts = u32::try_from(c.attempts.saturating_add(1)).unwrap_or(u32::MAX);
    if attempts > hook.retries() {
        return (Outcome::Failed { http_status, error }, true);
    }
    let delay = hook.backoff_ms(attempts);
    let jitter = if delay >= 10 {
        rand::thread_rng().gen_range(0..=delay / 10)
    } else {
        0
    };
    let wait = i64::try_from(delay.saturating_add(jitter)).unwrap_or(i64::MAX);
    let next_attempt_at = ctx.clock.now_ms().saturating_add(wait);
    let retry = Outcome::Retry {
        http_status,
        error,
        next_attempt_at,
    };
    (retry, true)
}

/// A transport failure in words, without the URL (it may carry a token) and never a header.
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    let what = if e.is_timeout() {
        return format!("timed out after {} ms", timeout.as_millis());
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_builder() {
        "the request could not be built"
    } else {
        "the request failed"
    };
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = None;
    while let Some(c) = cause {
        last = Some(c);
        cause = c.source();
    }
    match last {
        Some(c) => {
            let text: String = c.to_string().chars().take(200).collect();
            format!("{what}: {text}")
        }
        None => what.to_owned(),
    }
}
