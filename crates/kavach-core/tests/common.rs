//! Test databases: a fresh SQLite file, and fresh PostgreSQL / MariaDB databases when reachable.
#![allow(dead_code)]

use std::sync::Arc;

use kavach_core::{Kavach, KavachConfig, ManualClock};

pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const MY_ADMIN: &str = "mysql://root@127.0.0.1:3306/test";

/// Which backends to run: `KAVACH_TEST_DBS=sqlite,postgres,mysql` (default: all three).
pub fn backends() -> Vec<&'static str> {
    let wanted =
        std::env::var("KAVACH_TEST_DBS").unwrap_or_else(|_| "sqlite,postgres,mysql".into());
    ["sqlite", "postgres", "mysql"]
        .into_iter()
        .filter(|b| wanted.split(',').any(|w| w.trim() == *b))
        .collect()
}

/// Creates an empty database for one test and returns its URL.
pub async fn fresh_url(backend: &str, tag: &str) -> String {
    let name = format!("kt_{}_{}", tag, &uuid_hex()[..10]);
    match backend {
        "sqlite" => {
            let dir = std::env::temp_dir().join("kavach-tests");
            std::fs::create_dir_all(&dir).unwrap();
            dir.join(format!("{name}.db"))
                .to_string_lossy()
                .into_owned()
        }
        "postgres" => {
            use sqlx::Executor;
            let pool = sqlx::PgPool::connect(PG_ADMIN)
                .await
                .expect("PostgreSQL at 127.0.0.1:5432");
            pool.execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .unwrap();
            pool.close().await;
            format!("postgres://postgres@127.0.0.1:5432/{name}")
        }
        "mysql" => {
            use sqlx::Executor;
            let pool = sqlx::MySqlPool::connect(MY_ADMIN)
                .await
                .expect("MariaDB at 127.0.0.1:3306");
            pool.execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .unwrap();
            pool.close().await;
            format!("mysql://root@127.0.0.1:3306/{name}")
        }
        other => panic!("unknown backend {other}"),
    }
}

fn uuid_hex() -> String {
    kavach_core::crypto::token::new_id()
        .replace('-', "")
        .chars()
        .rev()
        .collect()
}

pub fn config(backend: &str, url: &str, extra: serde_json::Value) -> KavachConfig {
    let mut v = serde_json::json!({
        "database": { "provider": backend, "url": url },
        "secret": "x".repeat(32),
    });
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, val) in e {
            o.insert(k.clone(), val.clone());
        }
    }
    KavachConfig::from_json(&v.to_string()).unwrap()
}

pub async fn open(backend: &str, tag: &str, clock: Arc<ManualClock>) -> (Arc<Kavach>, String) {
    let url = fresh_url(backend, tag).await;
    let k = Kavach::open_with_clock(&config(backend, &url, serde_json::json!({})), None, clock)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{backend}: {e} ({:?})",
                std::error::Error::source(&e).map(|s| s.to_string())
            )
        });
    (k, url)
}

pub fn explain(e: &kavach_core::KavachError) -> String {
    format!(
        "{} [{}] {:?}",
        e,
        e.code(),
        std::error::Error::source(e).map(|s| s.to_string())
    )
}

/// Noon UTC on 2026-01-01.
pub const NOON: i64 = 1_767_268_800_000;
