//! The webhook outbox and its delivery worker on every backend, against a real HTTP receiver on
//! loopback: transactional enqueue, signatures, retries with backoff, several workers sharing one
//! database, a receiver that is down, and leases left by a crashed worker.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use hmac::{Hmac, Mac};
use kavach_core::events::{self, EventRecord, Webhook, Worker, WorkerOptions};
use kavach_core::store::db::{dialect_of, sql_for, Pool};
use kavach_core::{on_pool, Clock, Kavach, ManualClock, SystemClock};
use parking_lot::Mutex;
use serde_json::json;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SECRET: &str = "whsec_0123456789abcdef";

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 receiver: records each request, answers 500 on demand.

#[derive(Debug, Clone)]
struct Req {
    headers: HashMap<String, String>,
    body: String,
}

#[derive(Default)]
struct Behaviour {
    /// Answer 500 to this many requests first.
    fail_next: AtomicUsize,
    always_fail: AtomicBool,
    /// Never answer (the request hangs until the client gives up).
    hang: AtomicBool,
}

struct Receiver {
    addr: SocketAddr,
    reqs: Arc<Mutex<Vec<Req>>>,
    how: Arc<Behaviour>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    async fn start() -> Self {
        Self::on(TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    fn on(listener: TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let reqs = Arc::new(Mutex::new(Vec::new()));
        let how = Arc::new(Behaviour::default());
        let (r, h) = (reqs.clone(), how.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (r, h) = (r.clone(), h.clone());
                tokio::spawn(async move {
                    let _ = serve(sock, r, h).await;
                });
            }
        });
        Self {
            addr,
            reqs,
            how,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn requests(&self) -> Vec<Req> {
        self.reqs.lock().clone()
    }

    fn event_ids(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| r.headers["x-kavach-id"].clone())
            .collect()
    }
}

async fn serve(
    mut sock: TcpStream,
    reqs: Arc<Mutex<Vec<Req>>>,
    how: Arc<Behaviour>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body =
        String::from_utf8_lossy(&buf[head_end..(head_end + len).min(buf.len())]).into_owned();
    assert!(request_line.starts_with("POST /hook "), "{request_line}");
    reqs.lock().push(Req { headers, body });
    if how.hang.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(30)).await;
        return Ok(());
    }
    let fail = how.always_fail.load(Ordering::SeqCst)
        || how
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let status = if fail {
        "500 Internal Server Error"
    } else {
        "200 OK"
    };
    sock.write_all(
        format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").as_bytes(),
    )
    .await?;
    sock.shutdown().await
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn hooks(url: &str, events: &[&str], retries: u32, initial_ms: u64, max_ms: u64) -> Vec<Webhook> {
    events::parse(&json!([{
        "url": url,
        "secret": SECRET,
        "events": events,
        "retries": retries,
        "backoff": { "initialMs": initial_ms, "maxMs": max_ms },
    }]))
    .unwrap()
}

fn fast() -> WorkerOptions {
    WorkerOptions {
        poll_interval: Duration::from_millis(25),
        lease: Duration::from_secs(60),
        request_timeout: Duration::from_secs(5),
        batch_size: 8,
        concurrency: 4,
    }
}

fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// Enqueues `ev` in a committed transaction.
async fn enqueue_committed(pool: &Pool, hooks: &[Webhook], ev: &EventRecord) {
    on_pool!(pool, p => {
        let mut tx = p.begin().await.unwrap();
        events::enqueue(&mut *tx, hooks, ev).await.unwrap();
        tx.commit().await.unwrap();
    })
}

async fn count(pool: &Pool, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    on_pool!(pool, p => sqlx::query_scalar::<_, i64>(&sql).fetch_one(p).await.unwrap())
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn statuses(pool: &Pool) -> Vec<events::Delivery> {
    events::deliveries(pool, None, 1000).await.unwrap()
}

async fn all_delivered(pool: &Pool, n: usize) -> bool {
    let d = statuses(pool).await;
    d.len() == n && d.iter().all(|d| d.status == "delivered")
}

fn verify(r: &Req) {
    let ts = &r.headers["x-kavach-timestamp"];
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{ts}.{}", r.body).as_bytes());
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(r.headers["x-kavach-signature"], expected);
}

fn now_ms() -> i64 {
    SystemClock.now_ms()
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolled_back_writes_nothing_committed_is_delivered_once_and_signed() {
    for backend in backends() {
        let (k, _) = open(backend, "wh_tx", ManualClock::new(NOON)).await;
        let pool = k.pool().clone();
        let rx = Receiver::start().await;
        let hooks = hooks(&rx.url(), &["user.created", "agent.created"], 5, 20, 1000);

        // Rolled back: nothing at all.
        let ev = EventRecord::new("user.created", json!({ "userId": "u1" }), now_ms());
        on_pool!(&pool, p => {
            let mut tx = p.begin().await.unwrap();
            events::enqueue(&mut *tx, &hooks, &ev).await.unwrap();
            tx.rollback().await.unwrap();
        });
        assert_eq!(count(&pool, "kavach_events").await, 0, "{backend}");
        assert_eq!(count(&pool, "kavach_webhook_deliveries").await, 0);

        // Nobody subscribed: nothing at all.
        let other = EventRecord::new("user.deleted", json!({ "userId": "u1" }), now_ms());
        enqueue_committed(&pool, &hooks, &other).await;
        assert_eq!(count(&pool, "kavach_events").await, 0, "{backend}");
        assert_eq!(count(&pool, "kavach_webhook_deliveries").await, 0);

        // Committed, on a plain pooled connection this time.
        let worker = Worker::start_with(pool.clone(), hooks.clone(), system(), fast()).unwrap();
        on_pool!(&pool, p => {
            let mut conn = p.acquire().await.unwrap();
            events::enqueue(&mut *conn, &hooks, &ev).await.unwrap();
        });
        worker.wake();
        wait_for("delivery", Duration::from_secs(10), || {
            all_delivered(&pool, 1)
        })
        .await;
        // Nothing more arrives later.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let reqs = rx.requests();
        assert_eq!(reqs.len(), 1, "{backend}: delivered once");
        let r = &reqs[0];
        verify(r);
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["x-kavach-id"], ev.id);
        assert_eq!(r.headers["x-kavach-event"], "user.created");
        let ts: i64 = r.headers["x-kavach-timestamp"].parse().unwrap();
        assert!((ts - now_ms() / 1000).abs() < 30);
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["id"], ev.id.as_str());
        assert_eq!(body["event"], "user.created");
        assert_eq!(body["data"]["userId"], "u1");
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(!r.body.contains(SECRET) && !r.body.contains("secret"));

        let d = &statuses(&pool).await[0];
        assert_eq!(d.event_id, ev.id);
        assert_eq!(d.event, "user.created");
        assert_eq!(d.attempts, 1);
        assert_eq!(d.last_status, Some(200));
        assert!(d.delivered_at.is_some());
        assert!(!format!("{d:?}").contains(SECRET));
        let listed = serde_json::to_value(d).unwrap();
        assert!(listed.get("eventId").is_some() && listed.get("nextAttemptAt").is_some());
        assert_eq!(
            events::deliveries(&pool, Some("pending"), 10)
                .await
                .unwrap()
                .len(),
            0
        );
        assert!(events::deliveries(&pool, Some("bogus"), 10).await.is_err());
        worker.shutdown().await;
        k.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_with_backoff_then_fails_and_redelivers() {
    for backend in backends() {
        let (k, _) = open(backend, "wh_retry", ManualClock::new(NOON)).await;
        let pool = k.pool().clone();

        // 500, 500, then 200: delivered on the third attempt, the waits doubling.
        let rx = Receiver::start().await;
        rx.how.fail_next.store(2, Ordering::SeqCst);
        let hooks1 = hooks(&rx.url(), &["*"], 5, 40, 10_000);
        let worker = Worker::start_with(pool.clone(), hooks1.clone(), system(), fast()).unwrap();
        let ev = EventRecord::new("agent.created", json!({ "agentId": "a1" }), now_ms());
        let t0 = Instant::now();
        enqueue_committed(&pool, &hooks1, &ev).await;
        worker.wake();
        wait_for("third attempt", Duration::from_secs(10), || {
            all_delivered(&pool, 1)
        })
        .await;
        assert!(
            t0.elapsed() >= Duration::from_millis(40 + 80),
            "{backend}: backoff respected"
        );
        let reqs = rx.requests();
        assert_eq!(reqs.len(), 3, "{backend}");
        assert!(reqs.iter().all(|r| r.headers["x-kavach-id"] == ev.id));
        reqs.iter().for_each(verify);
        let d = &statuses(&pool).await[0];
        assert_eq!((d.attempts, d.last_status), (3, Some(200)));
        worker.shutdown().await;

        // Always 500 with retries = 2: failed after 3 attempts, then redeliver sends it again.
        let down = Receiver::start().await;
        down.how.always_fail.store(true, Ordering::SeqCst);
        let hooks2 = hooks(&down.url(), &["*"], 2, 20, 1000);
        let worker = Worker::start_with(pool.clone(), hooks2.clone(), system(), fast()).unwrap();
        let ev2 = EventRecord::new("user.updated", json!({ "userId": "u2" }), now_ms());
        enqueue_committed(&pool, &hooks2, &ev2).await;
        worker.wake();
        let failed = || async {
            events::deliveries(&pool, Some("failed"), 10)
                .await
                .unwrap()
                .len()
                == 1
        };
        wait_for("failed", Duration::from_secs(10), failed).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(down.requests().len(), 3, "{backend}: retries + 1 attempts");
        let f = events::deliveries(&pool, Some("failed"), 10)
            .await
            .unwrap()
            .remove(0);
        assert_eq!((f.attempts, f.last_status), (3, Some(500)));
        let err = f.last_error.clone().unwrap();
        assert!(err.contains("500") && !err.contains(SECRET), "{err}");

        worker.shutdown().await;
        down.how.always_fail.store(false, Ordering::SeqCst);
        events::redeliver(&pool, &f.id, now_ms()).await.unwrap();
        let again = events::deliveries(&pool, Some("pending"), 10)
            .await
            .unwrap();
        assert!(again.len() == 1 && again[0].attempts == 0, "{backend}");
        let worker = Worker::start_with(pool.clone(), hooks2.clone(), system(), fast()).unwrap();
        wait_for("redelivered", Duration::from_secs(10), || async {
            events::deliveries(&pool, Some("delivered"), 10)
                .await
                .unwrap()
                .len()
                == 2
        })
        .await;
        assert_eq!(down.requests().len(), 4);
        let e = events::redeliver(&pool, "whd_nope", now_ms())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "NOT_FOUND");
        worker.shutdown().await;

        // A delivery whose webhook is no longer configured fails with a clear reason, unsent.
        let gone = EventRecord::new("user.updated", json!({ "userId": "u3" }), now_ms());
        let old = hooks(&format!("http://{}/old", down.addr), &["*"], 2, 20, 1000);
        enqueue_committed(&pool, &old, &gone).await;
        let worker = Worker::start_with(pool.clone(), hooks2.clone(), system(), fast()).unwrap();
        wait_for("unknown url failed", Duration::from_secs(10), || async {
            events::deliveries(&pool, Some("failed"), 10)
                .await
                .unwrap()
                .len()
                == 1
        })
        .await;
        let f = events::deliveries(&pool, Some("failed"), 10)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(f.attempts, 0);
        assert!(f.last_error.unwrap().contains("no webhook with this url"));
        assert_eq!(down.requests().len(), 4);
        worker.shutdown().await;
        k.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_database_deliver_each_event_once() {
    for backend in backends() {
        let url = fresh_url(backend, "wh_two").await;
        let cfg = config(backend, &url, json!({}));
        let a = Kavach::open_with_clock(&cfg, None, ManualClock::new(NOON))
            .await
            .unwrap();
        let b = Kavach::open_with_clock(&cfg, None, ManualClock::new(NOON))
            .await
            .unwrap();
        let rx = Receiver::start().await;
        let hooks = hooks(&rx.url(), &["*"], 5, 20, 1000);
        let opts = WorkerOptions {
            batch_size: 3,
            ..fast()
        };
        let mut ids = Vec::new();
        for i in 0..20 {
            let ev = EventRecord::new("member.added", json!({ "n": i }), now_ms());
            let pool = if i % 2 == 0 { a.pool() } else { b.pool() };
            enqueue_committed(pool, &hooks, &ev).await;
            ids.push(ev.id);
        }
        // Both start on a full outbox and race for the same rows, in small batches.
        let wa =
            Worker::start_with(a.pool().clone(), hooks.clone(), system(), opts.clone()).unwrap();
        let wb = Worker::start_with(b.pool().clone(), hooks.clone(), system(), opts).unwrap();
        // More arrive while they run.
        for i in 20..30 {
            let ev = EventRecord::new("member.removed", json!({ "n": i }), now_ms());
            let pool = if i % 2 == 0 { a.pool() } else { b.pool() };
            enqueue_committed(pool, &hooks, &ev).await;
            if i % 2 == 0 {
                wa.wake()
            } else {
                wb.wake()
            }
            ids.push(ev.id);
        }
        wait_for("30 deliveries", Duration::from_secs(15), || {
            all_delivered(a.pool(), 30)
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut got = rx.event_ids();
        got.sort();
        ids.sort();
        assert_eq!(got, ids, "{backend}: each event exactly once");
        wa.shutdown().await;
        wb.shutdown().await;
        a.close().await;
        b.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_then_up_gets_every_event_once() {
    for backend in backends() {
        let (k, _) = open(backend, "wh_down", ManualClock::new(NOON)).await;
        let pool = k.pool().clone();
        // A port with nothing listening.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let url = format!("http://{addr}/hook");
        let hooks = hooks(&url, &["*"], 20, 20, 100);
        let worker = Worker::start_with(pool.clone(), hooks.clone(), system(), fast()).unwrap();
        let mut ids = Vec::new();
        for i in 0..20 {
            let ev = EventRecord::new("session.created", json!({ "n": i }), now_ms());
            enqueue_committed(&pool, &hooks, &ev).await;
            ids.push(ev.id);
        }
        worker.wake();
        wait_for("failed attempts", Duration::from_secs(10), || async {
            let d = statuses(&pool).await;
            d.len() == 20 && d.iter().all(|d| d.attempts >= 2 && d.status == "pending")
        })
        .await;
        let d = statuses(&pool).await;
        let err = d[0].last_error.clone().unwrap();
        assert!(err.starts_with("could not connect"), "{backend}: {err}");
        assert!(d.iter().all(|d| d.last_status.is_none()));

        let rx = Receiver::on(TcpListener::bind(addr).await.unwrap());
        wait_for("all 20", Duration::from_secs(10), || {
            all_delivered(&pool, 20)
        })
        .await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        let mut got = rx.event_ids();
        got.sort();
        ids.sort();
        assert_eq!(got, ids, "{backend}");
        worker.shutdown().await;
        k.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_of_a_crashed_worker_are_taken_over() {
    for backend in backends() {
        let (k, _) = open(backend, "wh_lease", ManualClock::new(NOON)).await;
        let pool = k.pool().clone();
        let d = dialect_of(&pool);
        let rx = Receiver::start().await;
        let hooks = hooks(&rx.url(), &["*"], 5, 20, 1000);

        // A row claimed by a worker that died: its lease runs 60 s past the (manual) clock.
        let clock = ManualClock::new(NOON);
        let ev = EventRecord::new("organization.created", json!({ "orgId": "o1" }), NOON);
        enqueue_committed(&pool, &hooks, &ev).await;
        let lease = sql_for(
            d,
            "UPDATE kavach_webhook_deliveries SET locked_by = 'lease_dead', locked_until = ?",
        );
        on_pool!(&pool, p => sqlx::query(&lease)
            .bind(kavach_core::store::db::Ts(NOON + 60_000))
            .execute(p)
            .await
            .unwrap()
            .rows_affected());
        let worker =
            Worker::start_with(pool.clone(), hooks.clone(), clock.clone(), fast()).unwrap();
        worker.wake();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            rx.requests().is_empty(),
            "{backend}: the lease is respected"
        );
        clock.advance(60_001);
        wait_for("takeover", Duration::from_secs(10), || {
            all_delivered(&pool, 1)
        })
        .await;
        assert_eq!(rx.event_ids(), vec![ev.id.clone()]);
        assert_eq!(
            rx.requests()[0].headers["x-kavach-timestamp"],
            ((NOON + 60_001) / 1000).to_string()
        );
        worker.shutdown().await;

        // A worker shut down while its POST hangs gives the row back; the next one delivers it.
        rx.how.hang.store(true, Ordering::SeqCst);
        let ev2 = EventRecord::new("organization.updated", json!({ "orgId": "o1" }), now_ms());
        enqueue_committed(&pool, &hooks, &ev2).await;
        let first = Worker::start_with(pool.clone(), hooks.clone(), system(), fast()).unwrap();
        first.wake();
        wait_for("hung request", Duration::from_secs(10), || async {
            rx.requests().len() == 2
        })
        .await;
        let t = Instant::now();
        first.shutdown().await;
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{backend}: shutdown is prompt"
        );
        let row = events::deliveries(&pool, Some("pending"), 10)
            .await
            .unwrap();
        assert_eq!(row.len(), 1);
        assert_eq!(
            row[0].attempts, 0,
            "{backend}: the abandoned attempt is not recorded"
        );
        let held = sql_for(
            d,
            "SELECT COUNT(*) FROM kavach_webhook_deliveries WHERE locked_by IS NOT NULL",
        );
        let n: i64 = on_pool!(&pool, p => sqlx::query_scalar(&held).fetch_one(p).await.unwrap());
        assert_eq!(n, 0, "{backend}: the lease is released");

        rx.how.hang.store(false, Ordering::SeqCst);
        let second = Worker::start_with(pool.clone(), hooks.clone(), system(), fast()).unwrap();
        wait_for("redelivery", Duration::from_secs(10), || {
            all_delivered(&pool, 2)
        })
        .await;
        assert_eq!(rx.event_ids(), vec![ev.id.clone(), ev2.id.clone(), ev2.id]);
        second.shutdown().await;

        // No webhook configured: no task at all.
        let idle = Worker::start(pool.clone(), Vec::new(), system()).unwrap();
        assert!(!idle.is_running());
        idle.shutdown().await;
        k.close().await;
    }
}
