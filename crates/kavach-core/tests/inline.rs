//! SQLite's same-thread commit: it never waits for another writer's lock, and it is audited like the
//! queued path.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kavach_core::{AuditFilter, AuthzRequest, CreateAgent, ManualClock};
use serde_json::json;

fn req() -> AuthzRequest {
    AuthzRequest {
        action: "read".into(),
        resource: "doc:1".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_commit_gives_way_to_another_writer() {
    let clock = ManualClock::new(NOON);
    let (k, url) = open("sqlite", "inline", clock).await;
    let input: CreateAgent = serde_json::from_value(json!({
        "ownerId": "o", "name": "n", "type": "service", "permissions": [{ "resource": "doc:*", "actions": ["read"] }]
    }))
    .unwrap();
    let agent = k.create_agent(input).await.unwrap();

    let d = k
        .authorize_by_token_inline(&agent.token, &req())
        .expect("idle store commits inline")
        .unwrap();
    assert!(d.allowed);

    // Another process holds SQLite's write lock.
    let other = rusqlite::Connection::open(&url).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Instant::now();
    assert!(
        k.authorize_by_token_inline(&agent.token, &req()).is_none(),
        "busy: take the queued path"
    );
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the caller's thread did not wait for the lock"
    );

    // The queued path waits for the lock and then commits.
    let k2 = k.clone();
    let token = agent.token.clone();
    let queued = tokio::spawn(async move { k2.authorize_by_token(&token, &req()).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !queued.is_finished(),
        "no decision before its audit row can be committed"
    );
    other.execute_batch("COMMIT").unwrap();
    let d = queued.await.unwrap().unwrap();
    assert!(d.allowed);

    let rows = k
        .audit_query(&AuditFilter {
            agent_id: Some(agent.agent.id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        2,
        "one row per decision: the abandoned inline attempt wrote nothing"
    );
    assert_eq!(rows[0].id, d.audit_id.unwrap());
    k.close().await;
}
