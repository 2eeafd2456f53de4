//! One story, run against every backend: agents, authorization with every constraint, audit.

mod common;

use common::*;
use kavach_core::{
    AgentFilter, AuditFilter, AuthzRequest, CreateAgent, ExportFormat, ManualClock, UpdateAgent,
};
use serde_json::json;

fn req(action: &str, resource: &str) -> AuthzRequest {
    AuthzRequest {
        action: action.into(),
        resource: resource.into(),
        ..Default::default()
    }
}

fn agent_input(owner: &str, perms: serde_json::Value) -> CreateAgent {
    serde_json::from_value(
        json!({ "ownerId": owner, "name": "default", "type": "autonomous", "permissions": perms }),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_on_every_backend() {
    for backend in backends() {
        story(backend).await;
    }
}

async fn story(backend: &str) {
    let clock = ManualClock::new(NOON);
    let (k, _url) = open(backend, "story", clock.clone()).await;
    let ctx = |e: kavach_core::KavachError| -> String { format!("{backend}: {}", explain(&e)) };

    // Create: token shown once, stored hashed, ownerId opaque (no user row exists).
    let a = k
        .create_agent(agent_input(
            "user_without_row",
            json!([{ "resource": "app:read:*", "actions": ["read"] }]),
        ))
        .await
        .map_err(ctx)
        .unwrap();
    assert!(
        a.token.starts_with("kv_") && a.token.len() == 46,
        "{backend}"
    );
    let got = k
        .get_agent(&a.agent.id)
        .await
        .map_err(ctx)
        .unwrap()
        .unwrap();
    assert_eq!(got, a.agent, "{backend}");

    // Allowed and denied decisions, each audited.
    let d = k
        .authorize_by_token(&a.token, &req("read", "app:read:docs"))
        .await
        .map_err(ctx)
        .unwrap();
    assert!(d.allowed, "{backend}: {d:?}");
    let allowed_id = d.audit_id.clone().unwrap();
    let d = k
        .authorize_by_token(&a.token, &req("write", "app:read:docs"))
        .await
        .map_err(ctx)
        .unwrap();
    assert_eq!(
        (d.allowed, d.code),
        (false, Some("NO_PERMISSION")),
        "{backend}"
    );
    let d = k
        .authorize_by_token("kv_not-a-real-token", &req("read", "app:read:docs"))
        .await
        .unwrap();
    assert_eq!(
        (d.code, d.audit_id.as_deref()),
        (Some("INVALID_TOKEN"), None),
        "{backend}"
    );
    let d = k
        .authorize_by_token("Bearer junk", &req("read", "app:read:docs"))
        .await
        .unwrap();
    assert_eq!(d.code, Some("INVALID_TOKEN"));
    let d = k
        .authorize("nope", &req("read", "app:read:docs"))
        .await
        .unwrap();
    assert_eq!(d.code, Some("AGENT_NOT_FOUND"));

    let rows = k
        .audit_query(&AuditFilter {
            agent_id: Some(a.agent.id.clone()),
            ..Default::default()
        })
        .await
        .map_err(ctx)
        .unwrap();
    assert_eq!(rows.len(), 2, "{backend}");
    assert_eq!(rows[1].id, allowed_id, "{backend}: newest first");
    assert_eq!(rows[1].user_id, "user_without_row");

    // Rotate: the old token fails at once, the new one works.
    let rotated = k.rotate_agent(&a.agent.id).await.map_err(ctx).unwrap();
    assert_ne!(rotated.token, a.token);
    let d = k
        .authorize_by_token(&a.token, &req("read", "app:read:docs"))
        .await
        .unwrap();
    assert_eq!(d.code, Some("INVALID_TOKEN"), "{backend}");
    assert!(
        k.authorize_by_token(&rotated.token, &req("read", "app:read:x"))
            .await
            .unwrap()
            .allowed
    );

    // Constraints: rate limit (exact, also under concurrency), time window, IP, args, approval.
    let b = k
        .create_agent(agent_input(
            "owner2",
            json!([
                { "resource": "tool:search", "actions": ["call"], "constraints": { "maxCallsPerHour": 5 } },
                { "resource": "tool:night", "actions": ["call"], "constraints": { "timeWindow": { "start": "22:00", "end": "02:00" } } },
                { "resource": "tool:ip", "actions": ["call"], "constraints": { "ipAllowlist": ["10.0.0.0/8", "::1"] } },
                { "resource": "tool:fs", "actions": ["call"], "constraints": { "allowedArgPatterns": ["^/tmp/"] } },
                { "resource": "tool:pay", "actions": ["call"], "constraints": { "requireApproval": true } }
            ]),
        ))
        .await
        .map_err(ctx)
        .unwrap();
    let mut calls = Vec::new();
    for _ in 0..12 {
        let k = k.clone();
        let t = b.token.clone();
        calls.push(tokio::spawn(async move {
            k.authorize_by_token(&t, &req("call", "tool:search")).await
        }));
    }
    let mut allowed = 0;
    for c in calls {
        let d = c.await.unwrap().map_err(ctx).unwrap();
        if d.allowed {
            allowed += 1;
        } else {
            assert_eq!(d.code, Some("RATE_LIMITED"), "{backend}");
        }
    }
    assert_eq!(
        allowed, 5,
        "{backend}: exactly maxCallsPerHour allowed under concurrency"
    );
    clock.advance(3_600_001);
    assert!(
        k.authorize_by_token(&b.token, &req("call", "tool:search"))
            .await
            .unwrap()
            .allowed,
        "{backend}: window slides"
    );
    clock.set(NOON);

    let d = k
        .authorize_by_token(&b.token, &req("call", "tool:night"))
        .await
        .unwrap();
    assert_eq!(d.code, Some("OUTSIDE_TIME_WINDOW"), "{backend}");
    clock.set(NOON + 11 * 3_600_000 + 30 * 60_000); // 23:30 UTC
    assert!(
        k.authorize_by_token(&b.token, &req("call", "tool:night"))
            .await
            .unwrap()
            .allowed
    );
    clock.set(NOON);

    let with_ip = |ip: &str| AuthzRequest {
        ip: Some(ip.into()),
        ..req("call", "tool:ip")
    };
    assert!(
        k.authorize(&b.agent.id, &with_ip("10.2.3.4"))
            .await
            .unwrap()
            .allowed
    );
    assert!(
        k.authorize(&b.agent.id, &with_ip("::1"))
            .await
            .unwrap()
            .allowed
    );
    assert_eq!(
        k.authorize(&b.agent.id, &with_ip("11.0.0.1"))
            .await
            .unwrap()
            .code,
        Some("IP_NOT_ALLOWED")
    );
    assert_eq!(
        k.authorize(&b.agent.id, &req("call", "tool:ip"))
            .await
            .unwrap()
            .code,
        Some("IP_NOT_ALLOWED")
    );

    let with_args = |v: serde_json::Value| AuthzRequest {
        arguments: Some(v),
        ..req("call", "tool:fs")
    };
    assert!(
        k.authorize(&b.agent.id, &with_args(json!({ "path": "/tmp/a" })))
            .await
            .unwrap()
            .allowed
    );
    let d = k
        .authorize(&b.agent.id, &with_args(json!({ "path": "/etc/passwd" })))
        .await
        .unwrap();
    assert_eq!(d.code, Some("ARGUMENT_REJECTED"), "{backend}");

    assert_eq!(
        k.authorize(&b.agent.id, &req("call", "tool:pay"))
            .await
            .unwrap()
            .code,
        Some("APPROVAL_REQUIRED")
    );

    // Audit filters run in SQL.
    let denied = k
        .audit_query(&AuditFilter {
            agent_id: Some(b.agent.id.clone()),
            result: Some("denied".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(denied.iter().all(|e| e.result == "denied"));
    let limited = k
        .audit_query(&AuditFilter {
            agent_id: Some(b.agent.id.clone()),
            limit: Some(3),
            offset: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 3);
    let none = k
        .audit_query(&AuditFilter {
            actions: Some(vec!["nothing".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    let args_row = k
        .audit_query(&AuditFilter {
            agent_id: Some(b.agent.id.clone()),
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.code.as_deref() == Some("ARGUMENT_REJECTED"))
        .unwrap();
    assert_eq!(args_row.parameters, Some(json!({ "path": "/etc/passwd" })));
    let csv = k
        .audit_export(&AuditFilter::default(), ExportFormat::Csv)
        .await
        .unwrap();
    assert!(csv.starts_with("id,agentId,userId,action,resource,result"));
    let json_export: serde_json::Value = serde_json::from_str(
        &k.audit_export(&AuditFilter::default(), ExportFormat::Json)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        json_export.as_array().unwrap().len(),
        csv.lines().count() - 1
    );

    // Expiry, update, list, revoke.
    let c = k
        .create_agent(serde_json::from_value(json!({ "ownerId": "owner3", "name": "short", "type": "service", "permissions": [{ "resource": "*", "actions": ["*"] }], "expiresAt": NOON + 1000 })).unwrap())
        .await
        .unwrap();
    assert!(
        k.authorize_by_token(&c.token, &req("x", "y"))
            .await
            .unwrap()
            .allowed
    );
    clock.advance(1000);
    let d = k
        .authorize_by_token(&c.token, &req("x", "y"))
        .await
        .unwrap();
    assert_eq!(d.code, Some("AGENT_EXPIRED"), "{backend}");
    assert!(d.audit_id.is_some());
    assert_eq!(
        k.authorize(&c.agent.id, &req("x", "y")).await.unwrap().code,
        Some("AGENT_EXPIRED")
    );
    assert_eq!(
        k.get_agent(&c.agent.id).await.unwrap().unwrap().status,
        "expired"
    );
    let expired = k
        .list_agents(AgentFilter {
            status: Some("expired".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(
        k.rotate_agent(&c.agent.id).await.unwrap_err().code(),
        "CONFLICT"
    );
    let patched = k
        .update_agent(
            &c.agent.id,
            serde_json::from_value::<UpdateAgent>(json!({ "expiresAt": null, "name": "renamed" }))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        (patched.status.as_str(), patched.name.as_str()),
        ("active", "renamed")
    );
    k.revoke_agent(&c.agent.id).await.unwrap();
    let d = k
        .authorize_by_token(&c.token, &req("x", "y"))
        .await
        .unwrap();
    assert_eq!(d.code, Some("AGENT_REVOKED"), "{backend}");
    assert_eq!(
        k.revoke_agent("missing").await.unwrap_err().code(),
        "NOT_FOUND"
    );
    assert_eq!(
        k.list_agents(AgentFilter {
            owner_id: Some("owner2".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .len(),
        1
    );

    // Per-owner limit, enforced under concurrency.
    let mut creates = Vec::new();
    for i in 0..14 {
        let k = k.clone();
        creates.push(tokio::spawn(async move {
            k.create_agent(agent_input(
                "busy_owner",
                json!([{ "resource": "*", "actions": ["*"] }]),
            ))
            .await
            .map(|_| i)
        }));
    }
    let mut ok = 0;
    for c in creates {
        match c.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(
                e.code(),
                "AGENT_LIMIT_REACHED",
                "{backend}: {}",
                explain(&e)
            ),
        }
    }
    assert_eq!(ok, 10, "{backend}: the default limit is 10 active agents");

    // Bad input is a typed error.
    let bad = k
        .create_agent(agent_input(
            "o",
            json!([{ "resource": "a::b", "actions": ["x"] }]),
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), "VALIDATION_FAILED");
    assert_eq!(
        k.authorize_by_token(&b.token, &req("", "r"))
            .await
            .unwrap_err()
            .code(),
        "VALIDATION_FAILED"
    );

    k.close().await;
    assert_eq!(k.get_agent("x").await.unwrap_err().code(), "CLOSED");
}
