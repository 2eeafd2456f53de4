//! Events and webhooks: the transactional outbox ([`enqueue`]) and its delivery [`Worker`].
//!
//! A change writes its event into `kavach_events` and one `kavach_webhook_deliveries` row per
//! subscribed webhook inside the caller's own transaction, so an event exists exactly when its
//! change committed. The worker claims due deliveries under a lease, POSTs them signed with the
//! webhook's secret, and retries with exponential backoff; a lease left by a crashed process
//! expires and the delivery is picked up again (at least once), and several processes sharing the
//! database each take different rows (`FOR UPDATE SKIP LOCKED`, SQLite's single writer).
//!
//! Secrets never leave [`Webhook`]: not in `Debug`, errors, `last_error` or the payload.

mod emitter;
mod outbox;
mod worker;

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{KavachError, Result};

pub use emitter::{iso_times, Emitter};
pub use outbox::{deliveries, enqueue, redeliver, Delivery, OutboxConn};
pub use worker::{Worker, WorkerOptions};

/// Every event name kavachos emits (`"*"` subscribes to all of them).
pub const EVENT_NAMES: [&str; 21] = [
    "user.created",
    "user.updated",
    "user.deleted",
    "session.created",
    "session.revoked",
    "agent.created",
    "agent.revoked",
    "agent.rotated",
    "approval.requested",
    "approval.approved",
    "approval.denied",
    "organization.created",
    "organization.updated",
    "organization.deleted",
    "member.added",
    "member.removed",
    "member.updated",
    "auth.sign-in",
    "auth.sign-up",
    "auth.password-reset",
    "auth.email-verified",
];

/// Whether `name` is one of [`EVENT_NAMES`].
pub fn is_event_name(name: &str) -> bool {
    EVENT_NAMES.contains(&name)
}

/// The delivery statuses stored in `kavach_webhook_deliveries.status`.
pub const STATUSES: [&str; 3] = ["pending", "delivered", "failed"];

/// One event: what happened (`event`), when (`timestamp_ms`, the time of the change) and to what
/// (`data`, which never holds a password hash, a token or a secret). `id` is the same on every retry.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub id: String,
    pub event: String,
    pub timestamp_ms: i64,
    pub data: serde_json::Value,
}

#[derive(Serialize)]
struct Payload<'a> {
    id: &'a str,
    event: &'a str,
    timestamp: String,
    data: &'a serde_json::Value,
}

impl EventRecord {
    /// A new event with a fresh `evt_` id.
    pub fn new(event: &str, data: serde_json::Value, now_ms: i64) -> Self {
        Self {
            id: format!("evt_{}", crate::crypto::token::new_id()),
            event: event.to_owned(),
            timestamp_ms: now_ms,
            data,
        }
    }

    /// The body POSTed to webhooks: `{"id","event","timestamp","data"}`, `timestamp` in ISO 8601 UTC
    /// with milliseconds.
    pub fn payload(&self) -> String {
        let p = Payload {
            id: &self.id,
            event: &self.event,
            timestamp: iso_millis(self.timestamp_ms),
            data: &self.data,
        };
        // Serializing a struct of strings and a `Value` cannot fail; fall back to an empty object.
        serde_json::to_string(&p).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// `2026-01-01T12:00:00.000Z`.
pub fn iso_millis(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One entry of the `webhooks` option as written by the user.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: String,
    pub events: Vec<String>,
    #[serde(default)]
    pub retries: Option<i64>,
    #[serde(default)]
    pub backoff: Option<BackoffConfig>,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .field("events", &self.events)
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .finish()
    }
}

/// `backoff: { initialMs, maxMs }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackoffConfig {
    #[serde(default)]
    pub initial_ms: Option<i64>,
    #[serde(default)]
    pub max_ms: Option<i64>,
}

/// Default number of retries after the first attempt.
pub const DEFAULT_RETRIES: u32 = 5;
/// Largest accepted `retries`.
pub const MAX_RETRIES: u32 = 20;
/// Default first backoff.
pub const DEFAULT_INITIAL_MS: u64 = 1_000;
/// Default backoff ceiling.
pub const DEFAULT_MAX_MS: u64 = 300_000;
/// Shortest accepted secret.
pub const MIN_SECRET_LEN: usize = 16;
/// Longest accepted backoff (a day).
const MAX_BACKOFF_MS: i64 = 86_400_000;

/// A validated webhook. The secret is kept private and never printed.
#[derive(Clone)]
pub struct Webhook {
    url: String,
    secret: String,
    events: Vec<String>,
    retries: u32,
    initial_ms: u64,
    max_ms: u64,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .field("events", &self.events)
            .field("retries", &self.retries)
            .field("initial_ms", &self.initial_ms)
            .field("max_ms", &self.max_ms)
            .finish()
    }
}

impl Webhook {
    pub fn url(&self) -> &str {
        &self.url
    }
    /// The subscribed names, possibly `"*"`.
    pub fn events(&self) -> &[String] {
        &self.events
    }
    /// Retries after the first attempt (so `retries + 1` attempts in all).
    pub fn retries(&self) -> u32 {
        self.retries
    }
    pub fn backoff_initial_ms(&self) -> u64 {
        self.initial_ms
    }
    pub fn backoff_max_ms(&self) -> u64 {
        self.max_ms
    }

    /// Whether this webhook subscribed to `event`.
    pub fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event)
    }

    /// The `X-Kavach-Signature` value for `body` sent at `timestamp_s` (Unix seconds).
    pub fn signature(&self, timestamp_s: i64, body: &str) -> String {
        sign(&self.secret, timestamp_s, body)
    }

    /// The wait before the attempt that follows failed attempt number `attempts` (1-based):
    /// `min(initialMs * 2^(attempts-1), maxMs)`, without jitter.
    pub fn backoff_ms(&self, attempts: u32) -> u64 {
        let shift = attempts.saturating_sub(1).min(40);
        self.initial_ms
            .saturating_mul(1u64 << shift)
            .min(self.max_ms)
    }
}

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn sign(secret: &str, timestamp_s: i64, body: &str) -> String {
    // HMAC takes a key of any length; the error arm cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn invalid(i: usize, msg: impl fmt::Display) -> KavachError {
    KavachError::ConfigInvalid(format!("webhooks[{i}]: {msg}"))
}

/// Validates the `webhooks` option: an http(s) URL (each URL once: it names the webhook of a
/// delivery), a secret of at least [`MIN_SECRET_LEN`] characters, known event names or `"*"`,
/// `retries` in `0..=20`, and a positive backoff with `maxMs >= initialMs`.
pub fn check(list: &[WebhookConfig]) -> Result<Vec<Webhook>> {
    let mut out: Vec<Webhook> = Vec::with_capacity(list.len());
    for (i, c) in list.iter().enumerate() {
        let url = c.url.trim();
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return Err(invalid(i, "url is not a valid URL"));
        };
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(invalid(i, "url must be an http:// or https:// URL"));
        }
        if out.iter().any(|w| w.url == url) {
            return Err(invalid(i, "the same url is configured twice"));
        }
        if c.secret.trim().is_empty() {
            return Err(invalid(i, "secret is required"));
        }
        if c.secret.chars().count() < MIN_SECRET_LEN {
            return Err(invalid(
                i,
                format_args!("secret must be at least {MIN_SECRET_LEN} characters"),
            ));
        }
        if c.events.is_empty() {
            return Err(invalid(i, "events must name at least one event or \"*\""));
        }
        let mut events: Vec<String> = Vec::with_capacity(c.events.len());
        for e in &c.events {
            if e != "*" && !is_event_name(e) {
                let shown: String = e.chars().take(64).collect();
                return Err(invalid(i, format_args!("unknown event name {shown:?}")));
            }
            if !events.contains(e) {
                events.push(e.clone());
            }
        }
        let retries = match c.retries {
            None => DEFAULT_RETRIES,
            Some(r) if (0..=i64::from(MAX_RETRIES)).contains(&r) => r as u32,
            Some(_) => {
                return Err(invalid(
                    i,
                    format_args!("retries must be between 0 and {MAX_RETRIES}"),
                ))
            }
        };
        let (initial, max) = match &c.backoff {
            None => (DEFAULT_INITIAL_MS as i64, DEFAULT_MAX_MS as i64),
            Some(b) => (
                b.initial_ms.unwrap_or(DEFAULT_INITIAL_MS as i64),
                b.max_ms.unwrap_or(DEFAULT_MAX_MS as i64),
            ),
        };
        if !(1..=MAX_BACKOFF_MS).contains(&initial) {
            return Err(invalid(
                i,
                "backoff.initialMs must be a positive number of milliseconds up to a day",
            ));
        }
        if !(initial..=MAX_BACKOFF_MS).contains(&max) {
            return Err(invalid(
                i,
                "backoff.maxMs must be at least backoff.initialMs and at most a day",
            ));
        }
        out.push(Webhook {
            url: url.to_owned(),
            secret: c.secret.clone(),
            events,
            retries,
            initial_ms: initial as u64,
            max_ms: max as u64,
        });
    }
    Ok(out)
}

/// Parses and validates the JSON `webhooks` option (an array, or `null` for none).
pub fn parse(value: &serde_json::Value) -> Result<Vec<Webhook>> {
    let items = match value {
        serde_json::Value::Null => return Ok(Vec::new()),
        serde_json::Value::Array(items) => items,
        _ => {
            return Err(KavachError::ConfigInvalid(
                "webhooks must be an array".into(),
            ))
        }
    };
    let mut list = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match WebhookConfig::deserialize(item) {
            Ok(c) => list.push(c),
            Err(e) => {
                // serde names unknown and missing fields but may quote a wrongly typed value,
                // which could be the secret: keep only messages that quote no value.
                let msg = e.to_string();
                let msg = if msg.starts_with("unknown field") || msg.starts_with("missing field") {
                    msg
                } else {
                    "a field has the wrong type (url and secret are strings, events an array of \
                     strings, retries and backoff numbers)"
                        .to_owned()
                };
                return Err(invalid(i, msg));
            }
        }
    }
    check(&list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(v: serde_json::Value) -> Result<Vec<Webhook>> {
        parse(&json!([v]))
    }

    #[test]
    fn config_defaults_and_validation() {
        let hooks = one(
            json!({ "url": "https://example.com/h", "secret": "s".repeat(16), "events": ["*"] }),
        )
        .unwrap();
        assert_eq!(hooks[0].retries(), 5);
        assert_eq!(hooks[0].backoff_initial_ms(), 1000);
        assert_eq!(hooks[0].backoff_max_ms(), 300_000);
        assert!(hooks[0].wants("user.created"));
        let bad = [
            json!({ "url": "ftp://x/h", "secret": "s".repeat(16), "events": ["*"] }),
            json!({ "url": "https://x/h", "secret": "", "events": ["*"] }),
            json!({ "url": "https://x/h", "secret": "short", "events": ["*"] }),
            json!({ "url": "https://x/h", "secret": "s".repeat(16), "events": [] }),
            json!({ "url": "https://x/h", "secret": "s".repeat(16), "events": ["user.nope"] }),
            json!({ "url": "https://x/h", "secret": "s".repeat(16), "events": ["*"], "retries": 21 }),
            json!({ "url": "https://x/h", "secret": "s".repeat(16), "events": ["*"], "retries": -1 }),
            json!({ "url": "https://x/h", "secret": "s".repeat(16), "events": ["*"], "extra": 1 }),
            json!({ "url": "https://x/h", "secret": "s".repeat(16), "events": ["*"], "backoff": { "initialMs": 0 } }),
            json!({ "url": "https://x/h", "secret": "s".repeat(16), "events": ["*"], "backoff": { "initialMs": 10, "maxMs": 5 } }),
            json!({ "url": "https://x/h", "secret": 12345678901234567890u64, "events": ["*"] }),
        ];
        for b in bad {
            let e = one(b.clone()).unwrap_err();
            assert_eq!(e.code(), "CONFIG_INVALID", "{b}");
            assert!(!e.to_string().contains("12345678901234567890"));
        }
        let dup = parse(&json!([
            { "url": "https://x/h", "secret": "s".repeat(16), "events": ["*"] },
            { "url": "https://x/h", "secret": "t".repeat(16), "events": ["*"] },
        ]));
        assert!(dup.is_err());
    }

    #[test]
    fn secret_never_in_debug() {
        let secret = "super-secret-value-123";
        let c: WebhookConfig = serde_json::from_value(
            json!({ "url": "https://x/h", "secret": secret, "events": ["user.created"] }),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains(secret));
        let w = check(&[c]).unwrap();
        assert!(!format!("{w:?}").contains(secret));
        assert!(w[0].wants("user.created"));
        assert!(!w[0].wants("user.deleted"));
    }

    #[test]
    fn backoff_doubles_to_the_ceiling() {
        let w = one(
            json!({ "url": "https://x/h", "secret": "s".repeat(16), "events": ["*"],
            "backoff": { "initialMs": 100, "maxMs": 1000 } }),
        )
        .unwrap()
        .remove(0);
        assert_eq!(w.backoff_ms(1), 100);
        assert_eq!(w.backoff_ms(2), 200);
        assert_eq!(w.backoff_ms(4), 800);
        assert_eq!(w.backoff_ms(5), 1000);
        assert_eq!(w.backoff_ms(200), 1000);
    }

    #[test]
    fn payload_shape_and_signature() {
        let ev = EventRecord::new("user.created", json!({ "userId": "u1" }), 1_767_268_800_123);
        assert!(ev.id.starts_with("evt_"));
        let p: serde_json::Value = serde_json::from_str(&ev.payload()).unwrap();
        assert_eq!(p["timestamp"], "2026-01-01T12:00:00.123Z");
        assert_eq!(p["event"], "user.created");
        assert_eq!(p["id"], ev.id.as_str());
        assert_eq!(p["data"]["userId"], "u1");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"1.x");
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sign("key", 1, "x"), expected);
    }
}
