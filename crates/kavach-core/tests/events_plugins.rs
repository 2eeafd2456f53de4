//! Events of the organization and admin plugins on every backend: each change writes its event (and
//! one delivery per webhook) in the outbox, only when the change happened, with data that holds no
//! token; without webhooks nothing at all is written.

mod common;

use std::sync::Arc;

use common::*;
use kavach_core::accounts::human::{ClientInfo, SignIn, SignUp};
use kavach_core::plugins::admin::{BanUser, Impersonate, SetRole};
use kavach_core::plugins::organization::{
    CreateOrganization, InviteInput, MemberInput, MemberRef, UpdateOrganization,
};
use kavach_core::store::db::sql_for;
use kavach_core::{col_str, on_pool, CreateAgent, Kavach, ManualClock};
use serde_json::{json, Value};
use sqlx::Row;

async fn open_events(backend: &str, webhooks: bool) -> Arc<Kavach> {
    let url = fresh_url(backend, if webhooks { "evp" } else { "evp_off" }).await;
    let mut extra = json!({
        "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 2000 },
        "plugins": [
            { "id": "organization", "options": {} },
            { "id": "admin", "options": {} },
        ],
    });
    if webhooks {
        extra["webhooks"] = json!([{
            "url": "http://127.0.0.1:9/hook",
            "secret": "0123456789abcdef0123",
            "events": ["*"],
        }]);
    }
    let cfg = config(backend, &url, extra);
    Kavach::open_with_clock(&cfg, None, ManualClock::new(NOON))
        .await
        .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)))
}

/// The payloads of the `name` events in the outbox, each checked against its row and with exactly
/// one delivery.
async fn events(k: &Kavach, name: &str) -> Vec<Value> {
    let sql = sql_for(
        k.dialect(),
        "SELECT id, event, payload FROM kavach_events WHERE event = ? ORDER BY created_at, id",
    );
    let deliveries = sql_for(
        k.dialect(),
        "SELECT COUNT(*) FROM kavach_webhook_deliveries WHERE event_id = ?",
    );
    let rows: Vec<(String, String, String)> = on_pool!(k.pool(), p => {
        let rows = sqlx::query(&sql).bind(name).fetch_all(p).await.unwrap();
        rows.iter()
            .map(|r| (col_str!(r, 0).unwrap(), col_str!(r, 1).unwrap(), col_str!(r, 2).unwrap()))
            .collect()
    });
    let mut out = Vec::new();
    for (id, event, payload) in rows {
        let v: Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(v["id"], id.as_str());
        assert_eq!(v["event"], event.as_str());
        assert!(v["timestamp"].is_string());
        let n: i64 = on_pool!(k.pool(), p => sqlx::query(&deliveries).bind(&id).fetch_one(p).await.unwrap().try_get(0).unwrap());
        assert_eq!(n, 1, "{name}: one delivery for {id}");
        out.push(v["data"].clone());
    }
    out
}

async fn count(k: &Kavach, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    on_pool!(k.pool(), p => sqlx::query_scalar::<_, i64>(&sql).fetch_one(p).await.unwrap())
}

fn with_id<'a>(list: &'a [Value], id: &str) -> Vec<&'a Value> {
    list.iter().filter(|d| d["id"] == id).collect()
}

fn up(email: &str) -> SignUp {
    SignUp {
        email: email.into(),
        password: "correct horse".into(),
        name: None,
        image: None,
        extra: Default::default(),
    }
}

fn agent_for(owner: &str) -> CreateAgent {
    serde_json::from_value(json!({
        "ownerId": owner, "name": "helper", "type": "autonomous",
        "permissions": [{ "resource": "mcp:*", "actions": ["read"] }],
    }))
    .unwrap()
}

fn member(org: &str, user: &str, role: &str) -> MemberInput {
    MemberInput {
        organization_id: org.into(),
        user_id: user.into(),
        role: role.into(),
    }
}

/// Runs every change; with `on` (a webhook subscribed to `*`) checks the outbox after each.
async fn story(k: &Kavach, backend: &str, on: bool) {
    let c = ClientInfo::default;
    let root = k.sign_up(up("root@example.com"), c()).await.unwrap().user;
    let alice = k.sign_up(up("alice@example.com"), c()).await.unwrap().user;
    let bob = k.sign_up(up("bob@example.com"), c()).await.unwrap().user;
    let carol = k.sign_up(up("carol@example.com"), c()).await.unwrap().user;

    // ---- admin: setRole --------------------------------------------------------------------
    k.set_role(SetRole {
        user_id: root.id.clone(),
        role: "admin".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        k.set_role(SetRole {
            user_id: "nobody".into(),
            role: "user".into(),
        })
        .await
        .unwrap_err()
        .code(),
        "NOT_FOUND"
    );
    if on {
        let updated = events(k, "user.updated").await;
        assert_eq!(updated.len(), 1, "{backend}");
        assert_eq!(updated[0]["id"], root.id.as_str());
        assert_eq!(updated[0]["role"], "admin");
        assert!(updated[0]["updatedAt"].is_string(), "ISO time");
    }

    // ---- organizations -----------------------------------------------------------------------
    let org = k
        .create_organization(CreateOrganization {
            name: "Acme".into(),
            owner_id: alice.id.clone(),
            slug: None,
            metadata: Some(json!({ "tier": "gold" })),
        })
        .await
        .unwrap();
    let owner = k.membership(&org.id, &alice.id).await.unwrap().unwrap();
    if on {
        let created = events(k, "organization.created").await;
        assert_eq!(created.len(), 1, "{backend}");
        assert_eq!(created[0]["id"], org.id.as_str());
        assert_eq!(created[0]["ownerId"], alice.id.as_str());
        assert_eq!(created[0]["metadata"]["tier"], "gold");
        let added = events(k, "member.added").await;
        assert_eq!(added.len(), 1, "{backend}");
        assert_eq!(added[0]["id"], owner.id.as_str());
        assert_eq!(added[0]["organizationId"], org.id.as_str());
        assert_eq!(added[0]["role"], "owner");
    }
    // A taken slug: no organization, no event.
    assert_eq!(
        k.create_organization(CreateOrganization {
            name: "Other".into(),
            owner_id: bob.id.clone(),
            slug: Some(org.slug.clone()),
            metadata: None,
        })
        .await
        .unwrap_err()
        .code(),
        "CONFLICT"
    );
    if on {
        assert_eq!(
            events(k, "organization.created").await.len(),
            1,
            "{backend}"
        );
        assert_eq!(events(k, "member.added").await.len(), 1, "{backend}");
    }

    k.update_organization(
        &org.id,
        UpdateOrganization {
            name: Some("Acme Two".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        k.update_organization("nope", UpdateOrganization::default())
            .await
            .unwrap_err()
            .code(),
        "NOT_FOUND"
    );
    if on {
        let updated = events(k, "organization.updated").await;
        assert_eq!(updated.len(), 1, "{backend}");
        assert_eq!(updated[0]["id"], org.id.as_str());
        assert_eq!(updated[0]["name"], "Acme Two");
    }

    // ---- members -----------------------------------------------------------------------------
    let m = k
        .add_member(member(&org.id, &bob.id, "member"))
        .await
        .unwrap();
    assert_eq!(
        k.add_member(member(&org.id, &bob.id, "member"))
            .await
            .unwrap_err()
            .code(),
        "CONFLICT"
    );
    if on {
        let added = events(k, "member.added").await;
        assert_eq!(added.len(), 2, "{backend}: not for the duplicate");
        assert_eq!(with_id(&added, &m.id).len(), 1);
    }
    k.update_member_role(member(&org.id, &bob.id, "admin"))
        .await
        .unwrap();
    // The last owner cannot be demoted: no event.
    assert_eq!(
        k.update_member_role(member(&org.id, &alice.id, "member"))
            .await
            .unwrap_err()
            .code(),
        "LAST_OWNER"
    );
    if on {
        let updated = events(k, "member.updated").await;
        assert_eq!(updated.len(), 1, "{backend}");
        assert_eq!(updated[0]["id"], m.id.as_str());
        assert_eq!(updated[0]["userId"], bob.id.as_str());
        assert_eq!(updated[0]["role"], "admin");
    }
    k.remove_member(MemberRef {
        organization_id: org.id.clone(),
        user_id: bob.id.clone(),
    })
    .await
    .unwrap();
    for who in [&bob.id, &alice.id] {
        assert!(k
            .remove_member(MemberRef {
                organization_id: org.id.clone(),
                user_id: who.clone(),
            })
            .await
            .is_err());
    }
    if on {
        let removed = events(k, "member.removed").await;
        assert_eq!(removed.len(), 1, "{backend}");
        assert_eq!(removed[0]["id"], m.id.as_str());
        assert_eq!(removed[0]["role"], "admin");
    }

    // An accepted invitation adds a member.
    let inv = k
        .invite_member(
            InviteInput {
                organization_id: org.id.clone(),
                email: "carol@example.com".into(),
                role: "member".into(),
                inviter_id: Some(alice.id.clone()),
            },
            None,
        )
        .await
        .unwrap();
    let joined = k.accept_invitation(&inv.id, &carol.id).await.unwrap();
    if on {
        let added = events(k, "member.added").await;
        assert_eq!(added.len(), 3, "{backend}");
        let e = with_id(&added, &joined.id);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0]["userId"], carol.id.as_str());
    }

    k.delete_organization(&org.id).await.unwrap();
    assert_eq!(
        k.delete_organization(&org.id).await.unwrap_err().code(),
        "NOT_FOUND"
    );
    if on {
        let deleted = events(k, "organization.deleted").await;
        assert_eq!(deleted, vec![json!({ "id": org.id })], "{backend}");
        assert_eq!(events(k, "member.removed").await.len(), 1, "{backend}");
    }

    // ---- admin: ban, unban -------------------------------------------------------------------
    let bob_in = k
        .sign_in(
            SignIn {
                email: "bob@example.com".into(),
                password: "correct horse".into(),
            },
            c(),
        )
        .await
        .unwrap();
    let bob_agents = [
        k.create_agent(agent_for(&bob.id)).await.unwrap().agent,
        k.create_agent(agent_for(&bob.id)).await.unwrap().agent,
    ];
    k.revoke_agent(&bob_agents[1].id).await.unwrap();
    let revoked_before = if on {
        events(k, "agent.revoked").await.len()
    } else {
        0
    };
    let sessions_before = if on {
        events(k, "session.revoked").await
    } else {
        Vec::new()
    };
    let banned = k
        .ban_user(BanUser {
            user_id: bob.id.clone(),
            reason: Some("spam".into()),
            expires_at: None,
        })
        .await
        .unwrap();
    assert!(banned.banned);
    assert!(k.get_session(&bob_in.token).await.unwrap().is_none());
    assert_eq!(
        k.ban_user(BanUser {
            user_id: "nobody".into(),
            reason: None,
            expires_at: None,
        })
        .await
        .unwrap_err()
        .code(),
        "NOT_FOUND"
    );
    if on {
        let updated = events(k, "user.updated").await;
        assert_eq!(updated.len(), 2, "{backend}");
        let e = with_id(&updated, &bob.id);
        assert_eq!((e.len(), &e[0]["banned"]), (1, &json!(true)));
        assert_eq!(e[0]["banReason"], "spam");
        // Bob's two sessions (sign-up and sign-in) ended with one event each.
        let revoked = events(k, "session.revoked").await;
        let new: Vec<_> = revoked[sessions_before.len()..].to_vec();
        assert_eq!(new.len(), 2, "{backend}");
        assert!(new.iter().all(|s| s["userId"] == bob.id.as_str()));
        assert_eq!(with_id(&new, &bob_in.session.id).len(), 1);
        // The one active agent is revoked; the one revoked already is not again.
        let agents = events(k, "agent.revoked").await;
        assert_eq!(agents.len(), revoked_before + 1, "{backend}");
        let e = with_id(&agents, &bob_agents[0].id);
        assert_eq!((e.len(), &e[0]["ownerId"]), (1, &json!(bob.id)));
    }
    let unbanned = k.unban_user(&bob.id).await.unwrap();
    assert!(!unbanned.banned);
    if on {
        let updated = events(k, "user.updated").await;
        assert_eq!(updated.len(), 3, "{backend}");
        assert_eq!(updated[2]["id"], bob.id.as_str());
        assert_eq!(updated[2]["banned"], false);
    }

    // ---- admin: impersonation ----------------------------------------------------------------
    let imp = k
        .impersonate(
            Impersonate {
                admin_id: root.id.clone(),
                user_id: carol.id.clone(),
            },
            c(),
        )
        .await
        .unwrap();
    if on {
        let created = events(k, "session.created").await;
        let e = with_id(&created, &imp.session.id);
        assert_eq!(e.len(), 1, "{backend}");
        assert_eq!(e[0]["userId"], carol.id.as_str());
        assert_eq!(e[0]["impersonatedBy"], root.id.as_str());
        assert!(e[0].get("token").is_none());
        assert!(!e[0].to_string().contains(&imp.token));
    }
    let before = if on {
        events(k, "session.revoked").await.len()
    } else {
        0
    };
    k.stop_impersonating(&imp.token).await.unwrap();
    if on {
        let revoked = events(k, "session.revoked").await;
        assert_eq!(revoked.len(), before + 1, "{backend}");
        let e = with_id(&revoked, &imp.session.id);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0]["userId"], carol.id.as_str());
    }

    // ---- admin: removeUser -------------------------------------------------------------------
    let carol_agent = k.create_agent(agent_for(&carol.id)).await.unwrap().agent;
    let carol_sessions = if on {
        events(k, "session.revoked").await.len()
    } else {
        0
    };
    k.remove_user(&carol.id).await.unwrap();
    assert_eq!(
        k.remove_user(&carol.id).await.unwrap_err().code(),
        "NOT_FOUND"
    );
    if on {
        let deleted = events(k, "user.deleted").await;
        assert_eq!(deleted.len(), 1, "{backend}");
        assert_eq!(deleted[0]["id"], carol.id.as_str());
        assert_eq!(deleted[0]["email"], "carol@example.com");
        let agents = events(k, "agent.revoked").await;
        let e = with_id(&agents, &carol_agent.id);
        assert_eq!((e.len(), &e[0]["ownerId"]), (1, &json!(carol.id)));
        // Carol's sign-up session.
        let revoked = events(k, "session.revoked").await;
        assert_eq!(revoked.len(), carol_sessions + 1, "{backend}");
        assert!(revoked[carol_sessions..]
            .iter()
            .all(|s| s["userId"] == carol.id.as_str()));

        // Every event row has its delivery, and no payload holds a token or a hash.
        assert_eq!(
            count(k, "kavach_events").await,
            count(k, "kavach_webhook_deliveries").await
        );
        let payloads = sql_for(k.dialect(), "SELECT payload FROM kavach_events");
        let all: Vec<String> = on_pool!(k.pool(), p => sqlx::query(&payloads)
            .fetch_all(p).await.unwrap().iter().map(|r| col_str!(r, 0).unwrap()).collect());
        for p in &all {
            assert!(!p.contains(&bob_in.token) && !p.contains(&imp.token), "{p}");
            assert!(!p.contains("\"token\"") && !p.contains("password"), "{p}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_changes_write_their_events_on_every_backend() {
    for backend in backends() {
        let k = open_events(backend, true).await;
        story(&k, backend, true).await;
        k.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_webhooks_plugin_changes_write_no_event() {
    for backend in backends() {
        let k = open_events(backend, false).await;
        story(&k, backend, false).await;
        assert_eq!(count(&k, "kavach_events").await, 0, "{backend}");
        assert_eq!(count(&k, "kavach_webhook_deliveries").await, 0, "{backend}");
        k.close().await;
    }
}
