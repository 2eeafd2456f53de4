//! The admin plugin on every backend, with the clock driven by hand: a ban blocks sign-in (after the
//! password), ends live sessions and revokes agents at once, and lapses at its expiry; an
//! impersonation session is valid one second before its TTL and gone at it, and never slides.

mod common;

use std::sync::Arc;

use common::*;
use kavach_core::accounts::human::{ClientInfo, SignIn, SignUp};
use kavach_core::plugins::admin::{BanUser, Impersonate, ListUsers, SetRole};
use kavach_core::plugins::organization::CreateOrganization;
use kavach_core::{AuthzRequest, CreateAgent, Kavach, ManualClock};

const TTL_MS: i64 = 600_000;

async fn open_admin(backend: &str, clock: Arc<ManualClock>) -> Arc<Kavach> {
    let url = fresh_url(backend, "admin").await;
    let cfg = config(
        backend,
        &url,
        serde_json::json!({
            "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 2000 },
            // Ordinary sessions slide after a minute of use: impersonations must not.
            "session": { "updateAge": 60 },
            "plugins": [
                { "id": "admin", "options": { "impersonationTtl": TTL_MS / 1000, "adminUserIds": [] } },
                { "id": "organization", "options": {} },
            ],
        }),
    );
    Kavach::open_with_clock(&cfg, None, clock)
        .await
        .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)))
}

fn up(email: &str) -> SignUp {
    SignUp {
        email: email.into(),
        password: "correct horse".into(),
        name: Some(email.split('@').next().unwrap_or("x").into()),
        image: None,
        extra: Default::default(),
    }
}

fn inp(email: &str, password: &str) -> SignIn {
    SignIn {
        email: email.into(),
        password: password.into(),
    }
}

fn agent_for(owner: &str) -> CreateAgent {
    serde_json::from_value(serde_json::json!({
        "ownerId": owner, "name": "helper", "type": "autonomous",
        "permissions": [{ "resource": "mcp:*", "actions": ["read"] }],
    }))
    .unwrap()
}

fn read() -> AuthzRequest {
    AuthzRequest {
        action: "read".into(),
        resource: "mcp:x".into(),
        arguments: None,
        ip: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_story_on_every_backend() {
    for backend in backends() {
        let clock = ManualClock::new(NOON);
        let k = open_admin(backend, clock.clone()).await;
        let ctx = |e: kavach_core::KavachError| format!("{backend}: {}", explain(&e));
        let c = ClientInfo::default;

        let root = k.sign_up(up("root@example.com"), c()).await.unwrap().user;
        let alice = k.sign_up(up("alice@example.com"), c()).await.unwrap().user;
        let bob = k.sign_up(up("bob@example.com"), c()).await.unwrap().user;
        assert_eq!((alice.role.as_str(), alice.banned), ("user", false));
        assert!(!k.is_admin(&root));
        k.set_role(SetRole {
            user_id: root.id.clone(),
            role: "admin".into(),
        })
        .await
        .map_err(ctx)
        .unwrap();
        let root = k.admin_get_user(&root.id).await.unwrap().unwrap();
        assert!(k.is_admin(&root), "{backend}");
        assert_eq!(
            k.set_role(SetRole {
                user_id: alice.id.clone(),
                role: "bad role!".into()
            })
            .await
            .unwrap_err()
            .code(),
            "VALIDATION_FAILED"
        );
        assert_eq!(
            k.set_role(SetRole {
                user_id: "nobody".into(),
                role: "user".into()
            })
            .await
            .unwrap_err()
            .code(),
            "NOT_FOUND"
        );

        // Listing and search.
        let all = k
            .list_users(ListUsers::default())
            .await
            .map_err(ctx)
            .unwrap();
        assert_eq!(all.total, 3, "{backend}");
        let emails: Vec<_> = all.users.iter().map(|u| u.email.as_str()).collect();
        assert_eq!(
            emails,
            ["root@example.com", "alice@example.com", "bob@example.com"]
        );
        let found = k
            .list_users(ListUsers {
                search: Some("ALI".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            (found.total, found.users[0].id.as_str()),
            (1, alice.id.as_str())
        );
        let wildcard = k
            .list_users(ListUsers {
                search: Some("%".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(wildcard.total, 0, "{backend}: % is a literal in search");
        let page = k
            .list_users(ListUsers {
                search: None,
                limit: Some(1),
                offset: Some(1),
            })
            .await
            .unwrap();
        assert_eq!((page.total, page.users.len()), (3, 1));
        assert_eq!(page.users[0].id, alice.id);

        // A ban ends the live session and revokes the agent at once.
        let live = k
            .sign_in(inp("alice@example.com", "correct horse"), c())
            .await
            .unwrap();
        let agent = k.create_agent(agent_for(&alice.id)).await.unwrap();
        assert!(
            k.authorize_by_token(&agent.token, &read())
                .await
                .unwrap()
                .allowed
        );
        let until = NOON + 86_400_000;
        let banned = k
            .ban_user(BanUser {
                user_id: alice.id.clone(),
                reason: Some("spam".into()),
                expires_at: Some(until),
            })
            .await
            .map_err(ctx)
            .unwrap();
        assert_eq!(
            (
                banned.banned,
                banned.ban_reason.as_deref(),
                banned.ban_expires
            ),
            (true, Some("spam"), Some(until))
        );
        assert!(
            k.get_session(&live.token).await.unwrap().is_none(),
            "{backend}"
        );
        if let Some(inline) = k.get_session_inline(Some(&live.token)) {
            assert!(inline.unwrap().is_none());
        }
        let d = k.authorize_by_token(&agent.token, &read()).await.unwrap();
        assert_eq!((d.allowed, d.code), (false, Some("AGENT_REVOKED")));
        // Banned status is told only after the password matched.
        assert_eq!(
            k.sign_in(inp("alice@example.com", "wrong horse"), c())
                .await
                .unwrap_err()
                .code(),
            "INVALID_CREDENTIALS"
        );
        let refused = k
            .sign_in(inp("alice@example.com", "correct horse"), c())
            .await
            .unwrap_err();
        assert_eq!(
            (refused.code(), refused.http_status()),
            ("USER_BANNED", 403)
        );
        assert_eq!(
            k.ban_user(BanUser {
                user_id: alice.id.clone(),
                reason: None,
                expires_at: Some(NOON),
            })
            .await
            .unwrap_err()
            .code(),
            "VALIDATION_FAILED",
            "an expiry in the past"
        );

        // The ban holds until its expiry and is lifted by the first sign-in after it.
        clock.set(until - 1);
        assert_eq!(
            k.sign_in(inp("alice@example.com", "correct horse"), c())
                .await
                .unwrap_err()
                .code(),
            "USER_BANNED"
        );
        clock.set(until);
        let back = k
            .sign_in(inp("alice@example.com", "correct horse"), c())
            .await
            .map_err(ctx)
            .unwrap();
        assert!(
            !back.user.banned && back.user.ban_reason.is_none() && back.user.ban_expires.is_none()
        );
        let stored = k.admin_get_user(&alice.id).await.unwrap().unwrap();
        assert!(
            !stored.banned && stored.ban_expires.is_none(),
            "{backend}: lifted in the database"
        );
        assert!(k.get_session(&back.token).await.unwrap().is_some());

        // A ban without expiry lasts until unbanned.
        k.ban_user(BanUser {
            user_id: bob.id.clone(),
            reason: None,
            expires_at: None,
        })
        .await
        .unwrap();
        clock.advance(365 * 86_400_000);
        assert_eq!(
            k.sign_in(inp("bob@example.com", "correct horse"), c())
                .await
                .unwrap_err()
                .code(),
            "USER_BANNED"
        );
        let unbanned = k.unban_user(&bob.id).await.unwrap();
        assert!(!unbanned.banned);
        let bob_in = k
            .sign_in(inp("bob@example.com", "correct horse"), c())
            .await
            .unwrap();

        // A session left behind for a banned user (written by hand here) answers nothing.
        let leftover = k
            .sign_in(inp("bob@example.com", "correct horse"), c())
            .await
            .unwrap();
        let sql = kavach_core::store::db::sql_for(
            k.dialect(),
            "UPDATE kavach_user SET banned = ? WHERE id = ?",
        );
        kavach_core::on_pool!(k.pool(), p => sqlx::query(&sql).bind(true).bind(&bob.id).execute(p).await.unwrap().rows_affected());
        if let Some(inline) = k.get_session_inline(Some(&leftover.token)) {
            assert!(inline.unwrap().is_none());
        }
        assert!(
            k.get_session(&leftover.token).await.unwrap().is_none(),
            "{backend}"
        );
        assert!(k.get_session(&bob_in.token).await.unwrap().is_none());
        k.unban_user(&bob.id).await.unwrap();
        assert!(
            k.get_session(&leftover.token).await.unwrap().is_none(),
            "deleted on sight"
        );

        // Impersonation: marked, valid at TTL - 1 s, gone at TTL, never slid.
        let start = clock_now(&k);
        let imp = k
            .impersonate(
                Impersonate {
                    admin_id: root.id.clone(),
                    user_id: alice.id.clone(),
                },
                c(),
            )
            .await
            .map_err(ctx)
            .unwrap();
        assert_eq!(imp.user.id, alice.id);
        assert_eq!(
            imp.session.impersonated_by.as_deref(),
            Some(root.id.as_str())
        );
        assert_eq!(imp.session.expires_at, start + TTL_MS);
        let ordinary = k
            .sign_in(inp("alice@example.com", "correct horse"), c())
            .await
            .unwrap();
        assert_eq!(ordinary.session.impersonated_by, None);
        for step in [120_000, 240_000] {
            clock.set(start + step);
            let (s, u) = k.get_session(&imp.token).await.unwrap().unwrap();
            assert_eq!(
                (s.expires_at, u.id.as_str()),
                (start + TTL_MS, alice.id.as_str()),
                "{backend}: no slide"
            );
            assert_eq!(s.impersonated_by.as_deref(), Some(root.id.as_str()));
            // The ordinary session does slide (updateAge 60 s).
            let (o, _) = k.get_session(&ordinary.token).await.unwrap().unwrap();
            assert!(o.expires_at > ordinary.session.expires_at);
        }
        clock.set(start + TTL_MS - 1000);
        if let Some(inline) = k.get_session_inline(Some(&imp.token)) {
            let (s, _) = inline.unwrap().expect("inline: still valid at TTL - 1 s");
            assert_eq!(s.expires_at, start + TTL_MS);
        }
        let (s, _) = k
            .get_session(&imp.token)
            .await
            .unwrap()
            .expect("valid at TTL - 1 s");
        assert_eq!(s.expires_at, start + TTL_MS, "{backend}");
        clock.set(start + TTL_MS);
        assert!(k
            .get_session_inline(Some(&imp.token))
            .is_none_or(|r| r.unwrap().is_none()));
        assert!(
            k.get_session(&imp.token).await.unwrap().is_none(),
            "{backend}: gone at TTL"
        );

        // Who may impersonate whom.
        let imp_as = |a: &str, u: &str| Impersonate {
            admin_id: a.into(),
            user_id: u.into(),
        };
        assert_eq!(
            code(k.impersonate(imp_as(&alice.id, &bob.id), c()).await),
            "FORBIDDEN"
        );
        assert_eq!(
            code(k.impersonate(imp_as(&root.id, &root.id), c()).await),
            "FORBIDDEN"
        );
        assert_eq!(
            code(k.impersonate(imp_as(&root.id, "nobody"), c()).await),
            "NOT_FOUND"
        );
        k.set_role(SetRole {
            user_id: bob.id.clone(),
            role: "user,admin".into(),
        })
        .await
        .unwrap();
        assert_eq!(
            code(k.impersonate(imp_as(&root.id, &bob.id), c()).await),
            "FORBIDDEN",
            "admins are not impersonated"
        );

        // Stopping ends the impersonation only.
        let again = k
            .impersonate(imp_as(&root.id, &alice.id), c())
            .await
            .unwrap();
        assert_eq!(
            k.stop_impersonating(&ordinary.token)
                .await
                .unwrap_err()
                .code(),
            "FORBIDDEN"
        );
        let ended = k
            .stop_impersonating(&again.token)
            .await
            .map_err(ctx)
            .unwrap();
        assert_eq!(ended.impersonated_by.as_deref(), Some(root.id.as_str()));
        assert!(k.get_session(&again.token).await.unwrap().is_none());
        assert!(k.get_session(&ordinary.token).await.unwrap().is_some());
        assert_eq!(
            k.stop_impersonating(&again.token).await.unwrap_err().code(),
            "NOT_FOUND"
        );

        // Removing a user takes their sessions, accounts and memberships, and revokes their agents.
        let org = k
            .create_organization(CreateOrganization {
                name: "Acme".into(),
                owner_id: root.id.clone(),
                slug: None,
                metadata: None,
            })
            .await
            .unwrap();
        k.add_member(kavach_core::plugins::organization::MemberInput {
            organization_id: org.id.clone(),
            user_id: alice.id.clone(),
            role: "member".into(),
        })
        .await
        .unwrap();
        let alice_agent = k.create_agent(agent_for(&alice.id)).await.unwrap();
        let pending = k
            .impersonate(imp_as(&root.id, &alice.id), c())
            .await
            .unwrap();
        k.remove_user(&alice.id).await.map_err(ctx).unwrap();
        assert!(k.admin_get_user(&alice.id).await.unwrap().is_none());
        assert!(k.get_session(&ordinary.token).await.unwrap().is_none());
        assert!(k.get_session(&pending.token).await.unwrap().is_none());
        assert!(k.membership(&org.id, &alice.id).await.unwrap().is_none());
        let d = k
            .authorize_by_token(&alice_agent.token, &read())
            .await
            .unwrap();
        assert_eq!(d.code, Some("AGENT_REVOKED"));
        assert_eq!(
            k.sign_in(inp("alice@example.com", "correct horse"), c())
                .await
                .unwrap_err()
                .code(),
            "INVALID_CREDENTIALS"
        );
        assert_eq!(
            k.remove_user(&alice.id).await.unwrap_err().code(),
            "NOT_FOUND"
        );
        assert_eq!(k.list_users(ListUsers::default()).await.unwrap().total, 2);
        // The email is free again.
        k.sign_up(up("alice@example.com"), c())
            .await
            .map_err(ctx)
            .unwrap();
        k.close().await;
    }
}

fn code<T>(r: kavach_core::Result<T>) -> &'static str {
    match r {
        Ok(_) => "OK",
        Err(e) => e.code(),
    }
}

fn clock_now(k: &Kavach) -> i64 {
    k.now_ms()
}

#[tokio::test]
async fn admin_calls_need_the_plugin_and_admin_ids_count() {
    let url = fresh_url("sqlite", "admin_off").await;
    let k = Kavach::open_with_clock(
        &config("sqlite", &url, serde_json::json!({ "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 2000 } })),
        None,
        ManualClock::new(NOON),
    )
    .await
    .unwrap();
    assert_eq!(
        k.list_users(ListUsers::default()).await.unwrap_err().code(),
        "CONFIG_INVALID"
    );
    let u = k
        .sign_up(up("x@example.com"), ClientInfo::default())
        .await
        .unwrap()
        .user;
    assert!(!k.is_admin(&u));
    k.close().await;

    let url = fresh_url("sqlite", "admin_ids").await;
    let boot = |ids: serde_json::Value| {
        config(
            "sqlite",
            &url,
            serde_json::json!({
                "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 2000 },
                "plugins": [{ "id": "admin", "options": { "adminUserIds": ids, "defaultRole": "member" } }],
            }),
        )
    };
    let k = Kavach::open_with_clock(&boot(serde_json::json!([])), None, ManualClock::new(NOON))
        .await
        .unwrap();
    let a = k
        .sign_up(up("a@example.com"), ClientInfo::default())
        .await
        .unwrap()
        .user;
    let b = k
        .sign_up(up("b@example.com"), ClientInfo::default())
        .await
        .unwrap()
        .user;
    assert_eq!(a.role, "member", "defaultRole");
    assert_eq!(
        k.admin_get_user(&a.id).await.unwrap().unwrap().role,
        "member"
    );
    k.close().await;
    let k = Kavach::open_with_clock(
        &boot(serde_json::json!([a.id])),
        None,
        ManualClock::new(NOON),
    )
    .await
    .unwrap();
    let a = k.admin_get_user(&a.id).await.unwrap().unwrap();
    assert!(k.is_admin(&a), "listed in adminUserIds");
    let imp = k
        .impersonate(
            Impersonate {
                admin_id: a.id.clone(),
                user_id: b.id.clone(),
            },
            ClientInfo::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        imp.session.expires_at,
        NOON + 3_600_000,
        "default TTL: one hour"
    );
    k.close().await;
}
