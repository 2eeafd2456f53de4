//! What an instance does with its events: the outbox rows for its webhooks (written by the change's
//! own transaction), the in-process listeners of `hooks.events` (called after the commit, never
//! awaited), and the delivery worker. With neither webhooks nor listeners for an event, nothing at
//! all is built or written for it.

use std::sync::Arc;

use serde_json::Value;

use super::{enqueue, EventRecord, OutboxConn, Webhook, Worker};
use crate::callbacks::HookFn;
use crate::clock::Clock;
use crate::error::{KavachError, Result};
use crate::store::db::Pool;

/// The events side of an instance.
pub struct Emitter {
    webhooks: Vec<Webhook>,
    listeners: Vec<(String, Arc<dyn HookFn>)>,
    worker: Option<Worker>,
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field("webhooks", &self.webhooks.len())
            .field("listeners", &self.listeners.len())
            .finish()
    }
}

impl Emitter {
    /// Checks the listeners' event names and starts the delivery worker when there are webhooks.
    pub fn start(
        webhooks: Vec<Webhook>,
        listeners: Vec<(String, Arc<dyn HookFn>)>,
        pool: &Pool,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        if let Some((name, _)) = listeners.iter().find(|(n, _)| !super::is_event_name(n)) {
            return Err(KavachError::ConfigInvalid(format!(
                "hooks.events: \"{name}\" is not an event kavachos emits"
            )));
        }
        let worker = if webhooks.is_empty() {
            None
        } else {
            Some(Worker::start(pool.clone(), webhooks.clone(), clock)?)
        };
        Ok(Self {
            webhooks,
            listeners,
            worker,
        })
    }

    /// Whether anyone listens for `event`.
    pub fn wants(&self, event: &str) -> bool {
        self.listeners.iter().any(|(n, _)| n == event)
            || self.webhooks.iter().any(|w| w.wants(event))
    }

    /// The event, when anyone listens for it; `data` is only built then. Times in `data` (Unix
    /// milliseconds under the keys the HTTP API shows as dates) become ISO 8601 strings.
    pub fn event(
        &self,
        event: &str,
        now_ms: i64,
        data: impl FnOnce() -> Value,
    ) -> Option<EventRecord> {
        if !self.wants(event) {
            return None;
        }
        let mut data = data();
        iso_times(&mut data);
        Some(EventRecord::new(event, data, now_ms))
    }

    /// Writes the outbox rows of `events` on `conn`, inside the caller's transaction.
    pub async fn write<C: OutboxConn + ?Sized>(
        &self,
        conn: &mut C,
        events: &[EventRecord],
    ) -> Result<()> {
        if self.webhooks.is_empty() {
            return Ok(());
        }
        for ev in events {
            enqueue(conn, &self.webhooks, ev).await?;
        }
        Ok(())
    }

    /// Whether a change must write outbox rows for `events` (some webhook wants one of them).
    pub fn needs_outbox(&self, events: &[EventRecord]) -> bool {
        events
            .iter()
            .any(|e| self.webhooks.iter().any(|w| w.wants(&e.event)))
    }

    /// After the change committed: wakes the worker for the rows just written and calls the
    /// listeners, without waiting for them.
    pub fn committed(&self, events: Vec<EventRecord>) {
        if events.is_empty() {
            return;
        }
        if let Some(w) = &self.worker {
            if self.needs_outbox(&events) {
                w.wake();
            }
        }
        for ev in events {
            let mut listeners = self
                .listeners
                .iter()
                .filter(|(n, _)| *n == ev.event)
                .peekable();
            if listeners.peek().is_none() {
                continue;
            }
            let payload: Value = match serde_json::from_str(&ev.payload()) {
                Ok(v) => v,
                Err(_) => continue,
            };
            for (_, f) in listeners {
                f.fire(payload.clone());
            }
        }
    }

    /// Wakes the worker (after `redeliver`).
    pub fn wake(&self) {
        if let Some(w) = &self.worker {
            w.wake();
        }
    }

    /// Stops the worker; a delivery in flight is released and retried later.
    pub async fn shutdown(&self) {
        if let Some(w) = &self.worker {
            w.shutdown().await;
        }
    }
}

/// Keys whose values are Unix milliseconds inside the core and ISO 8601 strings outside it.
const TIME_KEYS: [&str; 5] = [
    "createdAt",
    "updatedAt",
    "expiresAt",
    "timestamp",
    "banExpires",
];

/// Turns the Unix-millisecond times of a JSON answer into ISO 8601 strings (the HTTP API's and the
/// events' shape); permissions, metadata and call arguments are the caller's own data, left as they are.
pub fn iso_times(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                match item {
                    Value::Number(n) if TIME_KEYS.contains(&k.as_str()) => {
                        if let Some(d) = n
                            .as_i64()
                            .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
                        {
                            *item = Value::String(
                                d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                            );
                        }
                    }
                    _ if matches!(k.as_str(), "metadata" | "parameters" | "permissions") => {}
                    other => iso_times(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(iso_times),
        _ => {}
    }
}

/// Runs one write (`|c| ...` on a connection, or the pool) together with the outbox rows of
/// `events` in one transaction when a webhook wants one of them, and straight on the pool when none
/// does; answers the write's value. Errors leave through `?`.
#[macro_export]
#[doc(hidden)]
macro_rules! with_outbox {
    ($pool:expr, $emitter:expr, $events:expr, |$c:ident| $write:expr) => {
        if $emitter.needs_outbox($events) {
            $crate::on_pool!($pool, p => {
                let mut tx = $crate::store::db::BeginWrite::begin_write(p).await?;
                let out = {
                    let $c = &mut *tx;
                    $write
                };
                $emitter.write(&mut *tx, $events).await?;
                tx.commit().await?;
                out
            })
        } else {
            $crate::on_pool!($pool, p => {
                let $c = p;
                $write
            })
        }
    };
}
