//! The shared one-time secret store on every backend, on a manual clock: single use under
//! concurrency, expiry, the attempt limit, replacement on reissue, and only keyed hashes stored.

mod common;

use common::*;
use kavach_core::plugins::one_time::{key, OneTime, Taken};
use kavach_core::ManualClock;

async fn stored_hashes(k: &kavach_core::Kavach) -> Vec<String> {
    let sql = "SELECT secret_hash FROM kavach_one_time";
    match k.pool() {
        kavach_core::store::db::Pool::Sqlite(p) => {
            sqlx::query_scalar(sql).fetch_all(p).await.unwrap()
        }
        kavach_core::store::db::Pool::Pg(p) => sqlx::query_scalar(sql).fetch_all(p).await.unwrap(),
        kavach_core::store::db::Pool::My(p) => {
            let v: Vec<Vec<u8>> = sqlx::query_scalar(sql).fetch_all(p).await.unwrap();
            v.into_iter()
                .map(|b| String::from_utf8(b).unwrap())
                .collect()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_secrets_on_every_backend() {
    for backend in backends() {
        let clock = ManualClock::new(1_700_000_000_000);
        let (k, _) = open(backend, "onetime", clock.clone()).await;
        let key = key(Some("a-test-secret-a-test-secret-a-test-secret"));
        let store = || OneTime::new(&k, &key);

        // A link works once, even with ten concurrent redemptions.
        let token = OneTime::new_token();
        let data = serde_json::json!({ "callbackURL": "/home" });
        store()
            .issue("link", "a@example.com", &token, Some(&data), 300_000)
            .await
            .unwrap();
        assert!(!stored_hashes(&k).await.iter().any(|h| h.contains(&token)));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (k, key, token) = (k.clone(), key.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                OneTime::new(&k, &key)
                    .take_secret("link", &token)
                    .await
                    .unwrap()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            match t.await.unwrap() {
                Taken::Valid {
                    identifier,
                    data: d,
                } => {
                    assert_eq!(identifier, "a@example.com");
                    assert_eq!(d, Some(data.clone()));
                    wins += 1;
                }
                Taken::Invalid => {}
                other => panic!("{backend}: unexpected {other:?}"),
            }
        }
        assert_eq!(wins, 1, "{backend}: exactly one redemption wins");

        // Another purpose does not accept the secret; expiry is the instance clock's.
        let token = OneTime::new_token();
        store()
            .issue("link", "b@example.com", &token, None, 300_000)
            .await
            .unwrap();
        assert_eq!(
            store().take_secret("other", &token).await.unwrap(),
            Taken::Invalid
        );
        clock.advance(300_001);
        assert_eq!(
            store().take_secret("link", &token).await.unwrap(),
            Taken::Expired
        );
        assert_eq!(
            store().take_secret("link", &token).await.unwrap(),
            Taken::Invalid
        );

        // A code: wrong tries count, the third wrong one voids it, the right one then fails too.
        let code = OneTime::new_code(6);
        let wrong = if code == "000000" { "111111" } else { "000000" };
        store()
            .issue("otp", "c@example.com", &code, None, 300_000)
            .await
            .unwrap();
        assert!(!stored_hashes(&k).await.iter().any(|h| h == &code));
        for _ in 0..3 {
            assert_eq!(
                store()
                    .check_code("otp", "c@example.com", wrong, 3, true)
                    .await
                    .unwrap(),
                Taken::Invalid
            );
        }
        assert_eq!(
            store()
                .check_code("otp", "c@example.com", &code, 3, true)
                .await
                .unwrap(),
            Taken::TooManyAttempts
        );

        // Checking without consuming leaves it; consuming takes it once under concurrency.
        let code = OneTime::new_code(6);
        store()
            .issue("otp", "c@example.com", &code, None, 300_000)
            .await
            .unwrap();
        assert!(matches!(
            store()
                .check_code("otp", "c@example.com", &code, 3, false)
                .await
                .unwrap(),
            Taken::Valid { .. }
        ));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (k, key, code) = (k.clone(), key.clone(), code.clone());
            tasks.push(tokio::spawn(async move {
                OneTime::new(&k, &key)
                    .check_code("otp", "c@example.com", &code, 20, true)
                    .await
                    .unwrap()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            if matches!(t.await.unwrap(), Taken::Valid { .. }) {
                wins += 1;
            }
        }
        assert_eq!(wins, 1, "{backend}: exactly one code check consumes it");

        // Reissuing replaces the earlier code; an expired code says so.
        let first = OneTime::new_code(6);
        store()
            .issue("otp", "d@example.com", &first, None, 300_000)
            .await
            .unwrap();
        let mut second = OneTime::new_code(6);
        while second == first {
            second = OneTime::new_code(6);
        }
        store()
            .issue("otp", "d@example.com", &second, None, 300_000)
            .await
            .unwrap();
        assert_eq!(
            store()
                .check_code("otp", "d@example.com", &first, 3, true)
                .await
                .unwrap(),
            Taken::Invalid
        );
        clock.advance(300_001);
        assert_eq!(
            store()
                .check_code("otp", "d@example.com", &second, 3, true)
                .await
                .unwrap(),
            Taken::Expired
        );
        k.close().await;
    }
}
