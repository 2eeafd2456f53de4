//! Email and password accounts and sessions, on every backend.

mod common;

use std::sync::Arc;

use common::*;
use kavach_core::accounts::human::{ClientInfo, SignIn, SignUp};
use kavach_core::{Kavach, ManualClock};
use sqlx::Executor;

async fn open_human(backend: &str, clock: Arc<ManualClock>) -> (Arc<Kavach>, String) {
    let url = fresh_url(backend, "human").await;
    let cfg = config(
        backend,
        &url,
        serde_json::json!({ "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 2000 } }),
    );
    (
        Kavach::open_with_clock(&cfg, None, clock).await.unwrap(),
        url,
    )
}

fn up(email: &str, password: &str) -> SignUp {
    SignUp {
        email: email.into(),
        password: password.into(),
        name: Some("Ada".into()),
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

async fn stored_hash(backend: &str, url: &str, email: &str) -> String {
    let sql = "SELECT a.password FROM kavach_account a JOIN kavach_user u ON u.id = a.user_id WHERE u.email = ";
    match backend {
        "sqlite" => {
            let c = rusqlite::Connection::open(url).unwrap();
            c.query_row(&format!("{sql}?1"), [email], |r| r.get(0))
                .unwrap()
        }
        "postgres" => {
            let p = sqlx::PgPool::connect(url).await.unwrap();
            let v: String = sqlx::query_scalar(&format!("{sql}$1"))
                .bind(email)
                .fetch_one(&p)
                .await
                .unwrap();
            p.close().await;
            v
        }
        _ => {
            let p = sqlx::MySqlPool::connect(url).await.unwrap();
            let v: Vec<u8> = sqlx::query_scalar(&format!("{sql}?"))
                .bind(email)
                .fetch_one(&p)
                .await
                .unwrap();
            p.close().await;
            String::from_utf8(v).unwrap()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_sign_in_sessions_on_every_backend() {
    for backend in backends() {
        let clock = ManualClock::new(NOON);
        let (k, url) = open_human(backend, clock.clone()).await;
        let client = || ClientInfo {
            ip: Some("203.0.113.9".into()),
            user_agent: Some("test".into()),
            origin: None,
        };

        let signed = k
            .sign_up(up("Ada@Example.com", "correct horse"), client())
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)));
        assert_eq!(signed.user.email, "ada@example.com");
        let signed_token = signed.token.clone().unwrap();
        assert_eq!(signed_token.len(), 43);
        assert!(stored_hash(backend, &url, "ada@example.com")
            .await
            .starts_with("pbkdf2:2000:"));
        assert_eq!(
            k.sign_up(up("ada@example.com", "another one"), client())
                .await
                .unwrap_err()
                .code(),
            "USER_EXISTS"
        );
        assert_eq!(
            k.sign_up(up("bob@example.com", "short"), client())
                .await
                .unwrap_err()
                .code(),
            "VALIDATION_FAILED"
        );
        assert_eq!(
            k.sign_up(up("not-an-email", "long enough"), client())
                .await
                .unwrap_err()
                .code(),
            "VALIDATION_FAILED"
        );

        // Sign-in: wrong password and unknown email are the same error.
        assert_eq!(
            k.sign_in(inp("ada@example.com", "wrong horse"), client())
                .await
                .unwrap_err()
                .code(),
            "INVALID_CREDENTIALS"
        );
        assert_eq!(
            k.sign_in(inp("nobody@example.com", "correct horse"), client())
                .await
                .unwrap_err()
                .code(),
            "INVALID_CREDENTIALS"
        );
        let again = k
            .sign_in(inp("ADA@example.com", "correct horse"), client())
            .await
            .unwrap();
        assert_ne!(
            again.token, signed_token,
            "every sign-in issues a new token"
        );

        // Sessions: looked up by token, slide after updateAge, expire, end at sign-out.
        let (s, u) = k.get_session(&again.token).await.unwrap().unwrap();
        assert_eq!(
            (u.email.as_str(), s.ip_address.as_deref()),
            ("ada@example.com", Some("203.0.113.9"))
        );
        assert!(k.get_session("not-a-token").await.unwrap().is_none());
        clock.advance(2 * 86_400_000);
        let (slid, _) = k.get_session(&again.token).await.unwrap().unwrap();
        assert_eq!(
            slid.expires_at,
            NOON + 2 * 86_400_000 + 7 * 86_400_000,
            "{backend}: slid a week from now"
        );
        clock.advance(8 * 86_400_000);
        assert!(
            k.get_session(&again.token).await.unwrap().is_none(),
            "{backend}: expired"
        );
        assert!(k.get_session(&signed_token).await.unwrap().is_none());
        clock.set(NOON + 10 * 86_400_000);
        let third = k
            .sign_in(inp("ada@example.com", "correct horse"), client())
            .await
            .unwrap();
        assert!(k.sign_out(&third.token).await.unwrap());
        assert!(k.get_session(&third.token).await.unwrap().is_none());
        let a = k
            .sign_in(inp("ada@example.com", "correct horse"), client())
            .await
            .unwrap();
        let b = k
            .sign_in(inp("ada@example.com", "correct horse"), client())
            .await
            .unwrap();
        assert_eq!(k.revoke_user_sessions(&a.user.id).await.unwrap(), 2);
        assert!(k.get_session(&b.token).await.unwrap().is_none());

        // An imported bcrypt hash signs in and is replaced by PBKDF2 in the same sign-in.
        let bcrypt_hash = bcrypt::hash("imported pw", 4).unwrap();
        let (uid, aid) = (
            kavach_core::crypto::token::new_id(),
            kavach_core::crypto::token::new_id(),
        );
        match k.pool() {
            kavach_core::store::db::Pool::Sqlite(p) => {
                p.execute(format!("INSERT INTO kavach_user (id, email, name, email_verified, created_at, updated_at) VALUES ('{uid}', 'old@example.com', 'Old', 1, 0, 0)").as_str()).await.unwrap();
                p.execute(format!("INSERT INTO kavach_account (id, user_id, provider_id, provider_account_id, password, created_at, updated_at) VALUES ('{aid}', '{uid}', 'credential', '{uid}', '{bcrypt_hash}', 0, 0)").as_str()).await.unwrap();
            }
            kavach_core::store::db::Pool::Pg(p) => {
                p.execute(format!("INSERT INTO kavach_user (id, email, name, email_verified, created_at, updated_at) VALUES ('{uid}', 'old@example.com', 'Old', true, to_timestamp(0), to_timestamp(0))").as_str()).await.unwrap();
                p.execute(format!("INSERT INTO kavach_account (id, user_id, provider_id, provider_account_id, password, created_at, updated_at) VALUES ('{aid}', '{uid}', 'credential', '{uid}', '{bcrypt_hash}', now(), now())").as_str()).await.unwrap();
            }
            kavach_core::store::db::Pool::My(p) => {
                p.execute(format!("INSERT INTO kavach_user (id, email, name, email_verified, created_at, updated_at) VALUES ('{uid}', 'old@example.com', 'Old', 1, NOW(3), NOW(3))").as_str()).await.unwrap();
                p.execute(format!("INSERT INTO kavach_account (id, user_id, provider_id, provider_account_id, password, created_at, updated_at) VALUES ('{aid}', '{uid}', 'credential', '{uid}', '{bcrypt_hash}', NOW(3), NOW(3))").as_str()).await.unwrap();
            }
        }
        assert_eq!(
            k.sign_in(inp("old@example.com", "wrong"), client())
                .await
                .unwrap_err()
                .code(),
            "INVALID_CREDENTIALS"
        );
        assert_eq!(
            stored_hash(backend, &url, "old@example.com").await,
            bcrypt_hash,
            "a failed sign-in changes nothing"
        );
        let old = k
            .sign_in(inp("old@example.com", "imported pw"), client())
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)));
        assert!(old.user.email_verified);
        let upgraded = stored_hash(backend, &url, "old@example.com").await;
        assert!(
            upgraded.starts_with("pbkdf2:2000:"),
            "{backend}: {upgraded}"
        );
        assert!(
            k.sign_in(inp("old@example.com", "imported pw"), client())
                .await
                .is_ok(),
            "and verifies as PBKDF2 next time"
        );
        k.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_password_is_off_unless_enabled() {
    let (k, _) = open("sqlite", "off", ManualClock::new(NOON)).await;
    assert_eq!(
        k.sign_up(up("a@b.c", "long enough"), ClientInfo::default())
            .await
            .unwrap_err()
            .code(),
        "CONFIG_INVALID"
    );
    k.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_base_url_the_origin_check_compares_origin_with_the_host() {
    use kavach_core::http::HttpRequest;
    let (k, _) = open_human("sqlite", ManualClock::new(NOON)).await;
    let sign_up = |origin: &str, host: &str, email: &str| HttpRequest {
        method: "POST".into(),
        path: "/auth/sign-up".into(),
        headers: vec![
            ("origin".into(), origin.into()),
            ("host".into(), host.into()),
            ("content-type".into(), "application/json".into()),
        ],
        body: format!(r#"{{"email":"{email}","password":"long enough pw"}}"#).into_bytes(),
        // What Next.js hands a route handler under `next start`, whatever the Host.
        url_origin: Some("http://localhost:3000".into()),
        ..Default::default()
    };
    let same_host = k
        .handle(sign_up(
            "http://app.example:8080",
            "app.example:8080",
            "a@example.com",
        ))
        .await;
    assert_eq!(same_host.status, 200);
    let cross_site = k
        .handle(sign_up(
            "http://evil.example",
            "app.example:8080",
            "b@example.com",
        ))
        .await;
    assert_eq!(cross_site.status, 403);
    let other_port = k
        .handle(sign_up(
            "http://app.example:9999",
            "app.example:8080",
            "c@example.com",
        ))
        .await;
    assert_eq!(other_port.status, 403);
    let forwarded = HttpRequest {
        headers: vec![
            ("origin".into(), "https://public.example".into()),
            ("host".into(), "127.0.0.1:3000".into()),
            ("x-forwarded-host".into(), "public.example".into()),
            ("content-type".into(), "application/json".into()),
        ],
        ..sign_up("", "", "d@example.com")
    };
    assert_eq!(k.handle(forwarded).await.status, 200, "behind a proxy");
    k.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_links_never_come_from_request_headers_outside_development() {
    use kavach_core::callbacks::{Callbacks, EmailSender};
    struct Collect(parking_lot::Mutex<Vec<String>>);
    impl EmailSender for Collect {
        fn send(
            &self,
            message: serde_json::Value,
        ) -> kavach_core::BoxFut<'static, kavach_core::Result<()>> {
            self.0
                .lock()
                .push(message["url"].as_str().unwrap_or("").to_owned());
            Box::pin(async { Ok(()) })
        }
    }
    for (node_env, base_url) in [
        (None, None),
        (Some("development"), None),
        (None, Some("https://app.example")),
    ] {
        let url = fresh_url("sqlite", "links").await;
        let mut extra = serde_json::json!({ "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 2000 } });
        if let Some(b) = base_url {
            extra["baseUrl"] = b.into();
        }
        let cfg = config("sqlite", &url, extra);
        let sent = Arc::new(Collect(parking_lot::Mutex::new(Vec::new())));
        let callbacks = Callbacks {
            send_reset_password: Some(sent.clone()),
            ..Default::default()
        };
        let k = Kavach::open_with(&cfg, node_env, ManualClock::new(NOON), callbacks)
            .await
            .unwrap();
        k.sign_up(up("ada@example.com", "long enough pw"), Default::default())
            .await
            .unwrap();
        // The request claims to be for evil.example (a forged Host).
        let r = k
            .forgot_password("ada@example.com", None, Some("http://evil.example"))
            .await;
        match (node_env, base_url) {
            (None, None) => {
                assert_eq!(r.unwrap_err().code(), "CONFIG_INVALID");
                assert!(sent.0.lock().is_empty());
            }
            (Some(_), None) => {
                r.unwrap();
                assert!(sent.0.lock()[0].starts_with("http://evil.example/"));
            }
            _ => {
                r.unwrap();
                assert!(sent.0.lock()[0].starts_with("https://app.example/"));
            }
        }
        k.close().await;
    }
}
