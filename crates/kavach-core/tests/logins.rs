//! Password sign-in by any login (`Login::Email`, `Login::Username`, `Login::PhoneNumber`) through
//! `Kavach::password_sign_in`, on every backend.

mod common;

use common::*;
use kavach_core::accounts::human::{ClientInfo, Login, SignInOutcome, SignUp};
use kavach_core::plugin::SignInContext;
use kavach_core::{Kavach, ManualClock};

async fn sign_in(k: &Kavach, login: Login, password: &str) -> Result<SignInOutcome, String> {
    k.password_sign_in(
        login,
        password.into(),
        ClientInfo::default(),
        &SignInContext::default(),
    )
    .await
    .map_err(|e| e.code().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_sign_in_by_email_username_or_number() {
    for backend in backends() {
        let url = fresh_url(backend, "logins").await;
        let cfg = config(
            backend,
            &url,
            serde_json::json!({
                "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 2000 },
                "plugins": [{ "id": "username", "options": {} }],
            }),
        );
        let k = Kavach::open_with_clock(&cfg, None, ManualClock::new(NOON))
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)));
        let mut extra = serde_json::Map::new();
        extra.insert("username".into(), "Ada_L".into());
        let up = k
            .sign_up(
                SignUp {
                    email: "ada@example.com".into(),
                    password: "correct horse".into(),
                    name: None,
                    image: None,
                    extra,
                },
                ClientInfo::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)));
        assert_eq!(up.user.username.as_deref(), Some("ada_l"));
        assert_eq!(up.user.display_username.as_deref(), Some("Ada_L"));

        for login in [
            Login::Email("ADA@example.com".into()),
            Login::Username("ada_L".into()),
            Login::Username(" ADA_L ".into()),
        ] {
            match sign_in(&k, login.clone(), "correct horse").await {
                Ok(SignInOutcome::Complete(s)) => assert_eq!(s.user.id, up.user.id, "{login:?}"),
                other => panic!("{backend} {login:?}: {other:?}"),
            }
        }
        for (login, password) in [
            (Login::Username("ada_l".into()), "wrong horse"),
            (Login::Username("nobody".into()), "correct horse"),
            (Login::PhoneNumber("+14155552671".into()), "correct horse"),
        ] {
            assert_eq!(
                sign_in(&k, login.clone(), password).await.unwrap_err(),
                "INVALID_CREDENTIALS",
                "{backend} {login:?}"
            );
        }
        // An email that is not an address is refused at the boundary (API.md, settled details).
        assert_eq!(
            sign_in(&k, Login::Email("not an email".into()), "correct horse")
                .await
                .unwrap_err(),
            "VALIDATION_FAILED",
            "{backend}"
        );
        // Each login counts its failures under a key of its own, and the email's is the one
        // `/auth/sign-in` always used.
        let keys = [
            Login::Email(" Ada@Example.com".into()).limit_key(),
            Login::Username("ADA_L".into()).limit_key(),
            Login::PhoneNumber("+14155552671".into()).limit_key(),
        ];
        assert_eq!(keys[0], Login::Email("ada@example.com".into()).limit_key());
        assert_eq!(keys[1], Login::Username("ada_l".into()).limit_key());
        assert!(keys[0] != keys[1] && keys[1] != keys[2]);
        k.close().await;
    }
}
