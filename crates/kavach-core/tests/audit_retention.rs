//! `audit: { retentionDays }`: rows written through the real audit path at instance-clock times
//! are pruned by the background task once they are older than the retention, on every backend.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kavach_core::agents::retention;
use kavach_core::{AuditFilter, AuthzRequest, CreateAgent, Kavach, ManualClock};
use serde_json::json;

const DAY: i64 = 86_400_000;

fn read() -> AuthzRequest {
    AuthzRequest {
        action: "read".into(),
        resource: "docs:1".into(),
        ..Default::default()
    }
}

async fn timestamps(k: &Kavach, agent: &str) -> Vec<i64> {
    k.audit_query(&AuditFilter {
        agent_id: Some(agent.into()),
        limit: Some(1000),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_iter()
    .map(|e| e.timestamp)
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_old_rows_on_every_backend() {
    for backend in backends() {
        run(backend).await;
    }
}

async fn run(backend: &str) {
    let clock = ManualClock::new(NOON - 40 * DAY);
    let url = fresh_url(backend, "ret").await;
    let k = Kavach::open_with_clock(&config(backend, &url, json!({})), None, clock.clone())
        .await
        .unwrap();
    let input: CreateAgent = serde_json::from_value(json!({
        "ownerId": "owner", "name": "r", "type": "service",
        "permissions": [{ "resource": "docs:*", "actions": ["read"] }]
    }))
    .unwrap();
    let agent = k.create_agent(input).await.unwrap().agent.id;
    // 3 decisions 40 days back, 2 at 29 days back, 2 now (NOON).
    for (at, n) in [(NOON - 40 * DAY, 3), (NOON - 29 * DAY, 2), (NOON, 2)] {
        clock.set(at);
        for _ in 0..n {
            assert!(
                k.authorize(&agent, &read()).await.unwrap().allowed,
                "{backend}"
            );
        }
    }
    assert_eq!(timestamps(&k, &agent).await.len(), 7, "{backend}");
    k.close().await;

    let cfg = config(backend, &url, json!({ "audit": { "retentionDays": 30 } }));
    let k = Kavach::open_with_clock(&cfg, None, clock.clone())
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let ts = timestamps(&k, &agent).await;
        if ts.len() == 4 {
            assert!(
                ts.iter().all(|t| *t >= NOON - 30 * DAY),
                "{backend}: {ts:?}"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{backend}: old rows still there after 30 s: {ts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // One row at a time: every batch is one short statement, and the count is exact.
    assert_eq!(
        retention::prune(k.pool(), NOON - 10 * DAY, 1)
            .await
            .unwrap(),
        2,
        "{backend}"
    );
    assert_eq!(timestamps(&k, &agent).await, vec![NOON, NOON], "{backend}");
    k.close().await;
}
