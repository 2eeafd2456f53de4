//! The twoFactor() plugin on every backend, on a manual clock: enrollment, the sign-in that waits
//! for its code, replay, backup codes, attempts, expiry, trusted devices, disable.

mod common;

use std::sync::Arc;

use common::*;
use kavach_core::accounts::human::SignInOutcome;
use kavach_core::accounts::human::{ClientInfo, SignIn, SignUp};
use kavach_core::plugin::SignInContext;
use kavach_core::plugins::two_factor::{
    code_at_step, step_of, VerifyTwoFactor, DIGITS, TRUSTED_COOKIE,
};
use kavach_core::{Kavach, ManualClock};

fn up(email: &str) -> SignUp {
    SignUp {
        email: email.into(),
        password: "correct horse".into(),
        name: None,
        image: None,
        extra: Default::default(),
    }
}

fn creds(email: &str) -> SignIn {
    SignIn {
        email: email.into(),
        password: "correct horse".into(),
    }
}

fn code(c: &str) -> VerifyTwoFactor {
    VerifyTwoFactor {
        code: Some(c.into()),
        ..Default::default()
    }
}

fn backup(c: &str) -> VerifyTwoFactor {
    VerifyTwoFactor {
        backup_code: Some(c.into()),
        ..Default::default()
    }
}

fn secret_bytes(base32: &str) -> Vec<u8> {
    totp_rs::Secret::Encoded(base32.to_owned())
        .to_bytes()
        .unwrap()
}

/// The code of the clock's step plus `offset`.
fn totp(secret: &[u8], clock: &ManualClock, offset: i64) -> String {
    use kavach_core::Clock;
    code_at_step(secret, DIGITS, (step_of(clock.now_ms()) + offset) as u64)
}

/// What a request from a trusted device carries: its cookie.
fn device_ctx(trusted: Option<&str>) -> SignInContext {
    SignInContext {
        cookies: trusted
            .map(|t| (TRUSTED_COOKIE.to_owned(), t.to_owned()))
            .into_iter()
            .collect(),
    }
}

async fn pending(k: &Kavach, email: &str, trusted: Option<&str>) -> String {
    match k
        .sign_in_flow(creds(email), ClientInfo::default(), &device_ctx(trusted))
        .await
        .unwrap()
    {
        SignInOutcome::Interrupted(held) => {
            assert_eq!(held.data["twoFactorRequired"], true);
            assert_eq!(held.body, serde_json::json!({ "twoFactorRequired": true }));
            held.data["twoFactorToken"].as_str().unwrap().to_owned()
        }
        SignInOutcome::Complete(_) => panic!("expected a second factor to be required"),
    }
}

async fn stored_secret(k: &Kavach, user_id: &str) -> String {
    let sql = "SELECT secret FROM kavach_two_factor WHERE user_id = ";
    match k.pool() {
        kavach_core::store::db::Pool::Sqlite(p) => sqlx::query_scalar(&format!("{sql}?"))
            .bind(user_id)
            .fetch_one(p)
            .await
            .unwrap(),
        kavach_core::store::db::Pool::Pg(p) => sqlx::query_scalar(&format!("{sql}$1"))
            .bind(user_id)
            .fetch_one(p)
            .await
            .unwrap(),
        kavach_core::store::db::Pool::My(p) => {
            let v: Vec<u8> = sqlx::query_scalar(&format!("{sql}?"))
                .bind(user_id)
                .fetch_one(p)
                .await
                .unwrap();
            String::from_utf8(v).unwrap()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_factor_story_on_every_backend() {
    for backend in backends() {
        let url = fresh_url(backend, "twofactor").await;
        let cfg = config(
            backend,
            &url,
            serde_json::json!({
                "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 1000 },
                "rateLimit": { "enabled": false },
                "plugins": [{ "id": "two-factor", "options": { "issuer": "Acme", "trustDeviceDays": 30, "backupCodeCount": 6 } }],
            }),
        );
        let clock = ManualClock::new(NOON);
        let k: Arc<Kavach> = Kavach::open_with_clock(&cfg, None, clock.clone())
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)));
        let ctx = |what: &str| format!("{backend}: {what}");
        let user = k
            .sign_up(up("ada@example.com"), ClientInfo::default())
            .await
            .unwrap()
            .user;
        let uid = user.id.clone();
        k.sign_up(up("bob@example.com"), ClientInfo::default())
            .await
            .unwrap();

        // Enrollment: the password is checked again; nothing changes at sign-in until activation.
        assert_eq!(
            k.two_factor_enable(&uid, "wrong".into())
                .await
                .unwrap_err()
                .code(),
            "INVALID_CREDENTIALS"
        );
        let e = k
            .two_factor_enable(&uid, "correct horse".into())
            .await
            .unwrap();
        assert_eq!(e.secret.len(), 32, "{}", ctx("base32 of 20 bytes"));
        assert_eq!(
            e.totp_uri,
            format!("otpauth://totp/Acme:ada%40example.com?secret={}&issuer=Acme&algorithm=SHA1&digits=6&period=30", e.secret)
        );
        assert_eq!(e.backup_codes.len(), 6);
        let sealed = stored_secret(&k, &uid).await;
        assert!(
            sealed.starts_with("v1.") && !sealed.contains(&e.secret),
            "{}",
            ctx("secret stored encrypted")
        );
        assert!(!k.two_factor_status(&uid).await.unwrap());
        assert!(matches!(
            k.sign_in_flow(
                creds("ada@example.com"),
                ClientInfo::default(),
                &device_ctx(None)
            )
            .await
            .unwrap(),
            SignInOutcome::Complete(_)
        ));
        let secret = secret_bytes(&e.secret);
        let wrong = if totp(&secret, &clock, 0) == "000000" {
            "111111"
        } else {
            "000000"
        };
        assert_eq!(
            k.two_factor_activate(&uid, wrong).await.unwrap_err().code(),
            "INVALID_CODE"
        );
        k.two_factor_activate(&uid, &totp(&secret, &clock, 0))
            .await
            .unwrap_or_else(|e| panic!("{}", ctx(&explain(&e))));
        assert!(k.two_factor_status(&uid).await.unwrap());
        assert_eq!(
            k.two_factor_enable(&uid, "correct horse".into())
                .await
                .unwrap_err()
                .code(),
            "CONFLICT"
        );
        assert_eq!(
            k.two_factor_activate(&uid, "123456")
                .await
                .unwrap_err()
                .code(),
            "CONFLICT"
        );

        // Sign-in now waits for the code; the plain sign_in refuses.
        assert_eq!(
            k.sign_in(creds("ada@example.com"), ClientInfo::default())
                .await
                .unwrap_err()
                .code(),
            "TWO_FACTOR_REQUIRED"
        );
        let t = pending(&k, "ada@example.com", None).await;
        // The code used for activation is spent: the same step is refused.
        assert_eq!(
            k.two_factor_verify(&t, code(&totp(&secret, &clock, 0)), ClientInfo::default())
                .await
                .unwrap_err()
                .code(),
            "INVALID_CODE",
            "{}",
            ctx("replay of the activation code")
        );
        clock.advance(30_000);
        let done = k
            .two_factor_verify(&t, code(&totp(&secret, &clock, 0)), ClientInfo::default())
            .await
            .unwrap_or_else(|e| panic!("{}", ctx(&explain(&e))));
        assert_eq!(done.signed_in.user.id, uid);
        assert!(done.trusted_device_token.is_none());
        assert!(k
            .get_session(&done.signed_in.token)
            .await
            .unwrap()
            .is_some());
        assert_eq!(
            k.two_factor_verify(&t, code(&totp(&secret, &clock, 0)), ClientInfo::default())
                .await
                .unwrap_err()
                .code(),
            "INVALID_TWO_FACTOR_TOKEN",
            "{}",
            ctx("a pending sign-in completes once")
        );

        // Replay in the same step, an older step, and the ±1 window.
        let t = pending(&k, "ada@example.com", None).await;
        for c in [totp(&secret, &clock, 0), totp(&secret, &clock, -1)] {
            assert_eq!(
                k.two_factor_verify(&t, code(&c), ClientInfo::default())
                    .await
                    .unwrap_err()
                    .code(),
                "INVALID_CODE"
            );
        }
        assert_eq!(
            k.two_factor_verify(&t, code(&totp(&secret, &clock, 2)), ClientInfo::default())
                .await
                .unwrap_err()
                .code(),
            "INVALID_CODE",
            "{}",
            ctx("two steps ahead is outside the window")
        );
        k.two_factor_verify(&t, code(&totp(&secret, &clock, 1)), ClientInfo::default())
            .await
            .unwrap_or_else(|e| panic!("{}", ctx(&explain(&e))));

        // Backup codes: each works once, whatever the case and dashes.
        let t = pending(&k, "ada@example.com", None).await;
        k.two_factor_verify(
            &t,
            backup(&e.backup_codes[0].to_lowercase()),
            ClientInfo::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{}", ctx(&explain(&e))));
        let t = pending(&k, "ada@example.com", None).await;
        assert_eq!(
            k.two_factor_verify(&t, backup(&e.backup_codes[0]), ClientInfo::default())
                .await
                .unwrap_err()
                .code(),
            "INVALID_CODE",
            "{}",
            ctx("a used backup code fails the second time")
        );
        // That was attempt 1; attempts 2..=5 fail, then even a good code finds the sign-in ended.
        for _ in 0..4 {
            assert_eq!(
                k.two_factor_verify(&t, backup("AAAAA-AAAAA"), ClientInfo::default())
                    .await
                    .unwrap_err()
                    .code(),
                "INVALID_CODE"
            );
        }
        assert_eq!(
            k.two_factor_verify(&t, backup(&e.backup_codes[1]), ClientInfo::default())
                .await
                .unwrap_err()
                .code(),
            "INVALID_TWO_FACTOR_TOKEN",
            "{}",
            ctx("5 wrong codes end the pending sign-in")
        );
        assert_eq!(
            k.two_factor_verify(&t, VerifyTwoFactor::default(), ClientInfo::default())
                .await
                .unwrap_err()
                .code(),
            "VALIDATION_FAILED"
        );

        // The pending sign-in lives 5 minutes, to the millisecond.
        let t = pending(&k, "ada@example.com", None).await;
        clock.advance(299_999);
        k.two_factor_verify(&t, backup(&e.backup_codes[1]), ClientInfo::default())
            .await
            .unwrap_or_else(|e| panic!("{}", ctx(&explain(&e))));
        let t = pending(&k, "ada@example.com", None).await;
        clock.advance(300_000);
        assert_eq!(
            k.two_factor_verify(&t, backup(&e.backup_codes[2]), ClientInfo::default())
                .await
                .unwrap_err()
                .code(),
            "INVALID_TWO_FACTOR_TOKEN"
        );

        // A trusted device skips the code for 30 days, for its own user only.
        let t = pending(&k, "ada@example.com", None).await;
        let done = k
            .two_factor_verify(
                &t,
                VerifyTwoFactor {
                    backup_code: Some(e.backup_codes[2].clone()),
                    trust_device: Some(true),
                    ..Default::default()
                },
                ClientInfo::default(),
            )
            .await
            .unwrap();
        let device = done.trusted_device_token.expect("a trusted-device token");
        assert!(matches!(
            k.sign_in_flow(
                creds("ada@example.com"),
                ClientInfo::default(),
                &device_ctx(Some(&device))
            )
            .await
            .unwrap(),
            SignInOutcome::Complete(_)
        ));
        pending(&k, "ada@example.com", Some("not-a-device")).await;
        // The device is Ada's: it does not skip Bob's second factor.
        let bob = k
            .sign_in(creds("bob@example.com"), ClientInfo::default())
            .await
            .unwrap()
            .user
            .id;
        let be = k
            .two_factor_enable(&bob, "correct horse".into())
            .await
            .unwrap();
        k.two_factor_activate(&bob, &totp(&secret_bytes(&be.secret), &clock, 0))
            .await
            .unwrap();
        pending(&k, "bob@example.com", Some(&device)).await;
        k.two_factor_disable(&bob, "correct horse".into())
            .await
            .unwrap();
        clock.advance(30 * 86_400_000 - 1);
        assert!(matches!(
            k.sign_in_flow(
                creds("ada@example.com"),
                ClientInfo::default(),
                &device_ctx(Some(&device))
            )
            .await
            .unwrap(),
            SignInOutcome::Complete(_)
        ));
        clock.advance(1);
        pending(&k, "ada@example.com", Some(&device)).await;

        // Two concurrent uses of one backup code, and of one TOTP code: each succeeds once.
        let (t1, t2) = (
            pending(&k, "ada@example.com", None).await,
            pending(&k, "ada@example.com", None).await,
        );
        let (a, b) = tokio::join!(
            k.two_factor_verify(&t1, backup(&e.backup_codes[3]), ClientInfo::default()),
            k.two_factor_verify(&t2, backup(&e.backup_codes[3]), ClientInfo::default()),
        );
        assert_eq!(
            a.is_ok() as u8 + b.is_ok() as u8,
            1,
            "{}",
            ctx("concurrent backup code")
        );
        let (t1, t2) = (
            pending(&k, "ada@example.com", None).await,
            pending(&k, "ada@example.com", None).await,
        );
        let c = totp(&secret, &clock, 0);
        let (a, b) = tokio::join!(
            k.two_factor_verify(&t1, code(&c), ClientInfo::default()),
            k.two_factor_verify(&t2, code(&c), ClientInfo::default()),
        );
        assert_eq!(
            a.is_ok() as u8 + b.is_ok() as u8,
            1,
            "{}",
            ctx("concurrent TOTP code")
        );

        // New backup codes: the old ones stop working.
        let fresh = k
            .two_factor_backup_codes(&uid, "correct horse".into())
            .await
            .unwrap();
        assert_eq!(fresh.len(), 6);
        let t = pending(&k, "ada@example.com", None).await;
        assert_eq!(
            k.two_factor_verify(&t, backup(&e.backup_codes[4]), ClientInfo::default())
                .await
                .unwrap_err()
                .code(),
            "INVALID_CODE"
        );
        k.two_factor_verify(&t, backup(&fresh[0]), ClientInfo::default())
            .await
            .unwrap();

        // Bob turned his second factor off again: his sign-in is a plain one.
        assert!(matches!(
            k.sign_in_flow(
                creds("bob@example.com"),
                ClientInfo::default(),
                &device_ctx(Some(&device))
            )
            .await
            .unwrap(),
            SignInOutcome::Complete(_)
        ));

        // Disable (password checked again): the second factor, its codes and devices are gone.
        assert_eq!(
            k.two_factor_disable(&uid, "nope".into())
                .await
                .unwrap_err()
                .code(),
            "INVALID_CREDENTIALS"
        );
        k.two_factor_disable(&uid, "correct horse".into())
            .await
            .unwrap();
        assert!(!k.two_factor_status(&uid).await.unwrap());
        k.sign_in(creds("ada@example.com"), ClientInfo::default())
            .await
            .unwrap();
        assert_eq!(
            k.two_factor_backup_codes(&uid, "correct horse".into())
                .await
                .unwrap_err()
                .code(),
            "CONFLICT"
        );
        // Re-enrolling gives a new secret.
        let again = k
            .two_factor_enable(&uid, "correct horse".into())
            .await
            .unwrap();
        assert_ne!(again.secret, e.secret);
        k.close().await;
    }
}

#[tokio::test]
async fn two_factor_needs_the_plugin_and_a_secret() {
    let (k, _url) = open("sqlite", "twofactor_off", ManualClock::new(NOON)).await;
    assert_eq!(
        k.two_factor_status("x").await.unwrap_err().code(),
        "CONFIG_INVALID"
    );
    k.close().await;
    let cfg = kavach_core::KavachConfig::from_json(
        &serde_json::json!({ "database": { "url": ":memory:" }, "plugins": [{ "id": "two-factor", "options": {} }] }).to_string(),
    )
    .unwrap();
    // Checked at boot, before any database is opened.
    assert_eq!(
        Kavach::open(&cfg, Some("test")).await.unwrap_err().code(),
        "CONFIG_INVALID"
    );
}

#[tokio::test]
async fn another_instance_secret_cannot_read_the_totp_secret() {
    let url = fresh_url("sqlite", "twofactor_key").await;
    let plugins = serde_json::json!({
        "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 1000 },
        "plugins": [{ "id": "two-factor", "options": {} }],
    });
    let clock = ManualClock::new(NOON);
    let k = Kavach::open_with_clock(
        &config("sqlite", &url, plugins.clone()),
        None,
        clock.clone(),
    )
    .await
    .unwrap();
    let uid = k
        .sign_up(up("ada@example.com"), ClientInfo::default())
        .await
        .unwrap()
        .user
        .id;
    let e = k
        .two_factor_enable(&uid, "correct horse".into())
        .await
        .unwrap();
    k.close().await;
    let mut other = serde_json::json!({ "database": { "provider": "sqlite", "url": url }, "secret": "y".repeat(32) });
    for (key, v) in plugins.as_object().unwrap() {
        other[key] = v.clone();
    }
    let cfg = kavach_core::KavachConfig::from_json(&other.to_string()).unwrap();
    let k2 = Kavach::open_with_clock(&cfg, None, clock.clone())
        .await
        .unwrap();
    let c = totp(&secret_bytes(&e.secret), &clock, 0);
    let err = k2.two_factor_activate(&uid, &c).await.unwrap_err();
    assert_eq!(err.code(), "INTERNAL_ERROR");
    k2.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_count_per_account_across_sign_ins() {
    for backend in backends() {
        let url = fresh_url(backend, "twofactor_limit").await;
        let cfg = config(
            backend,
            &url,
            serde_json::json!({
                "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 1000 },
                "rateLimit": { "maxFailedSignIns": 3, "failedSignInWindow": 900 },
                "plugins": [{ "id": "two-factor" }],
            }),
        );
        let clock = ManualClock::new(NOON);
        let k = Kavach::open_with_clock(&cfg, None, clock.clone())
            .await
            .unwrap();
        let uid = k
            .sign_up(up("ada@example.com"), ClientInfo::default())
            .await
            .unwrap()
            .user
            .id;
        let e = k
            .two_factor_enable(&uid, "correct horse".into())
            .await
            .unwrap();
        let secret = secret_bytes(&e.secret);
        k.two_factor_activate(&uid, &totp(&secret, &clock, 0))
            .await
            .unwrap();
        // Three wrong codes, each on a fresh pending sign-in: the account is then blocked.
        for _ in 0..3 {
            let t = pending(&k, "ada@example.com", None).await;
            assert_eq!(
                k.two_factor_verify(&t, backup("AAAAA-AAAAA"), ClientInfo::default())
                    .await
                    .unwrap_err()
                    .code(),
                "INVALID_CODE"
            );
        }
        let t = pending(&k, "ada@example.com", None).await;
        let err = k
            .two_factor_verify(&t, backup(&e.backup_codes[0]), ClientInfo::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "RATE_LIMITED", "{backend}");
        assert_eq!(err.http_status(), 429);
        // The next window lets the right code through (the blocked try did not spend it).
        clock.advance(900_000);
        let t = pending(&k, "ada@example.com", None).await;
        k.two_factor_verify(&t, backup(&e.backup_codes[0]), ClientInfo::default())
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)));
        k.close().await;
    }
}
