//! `migrate_url` (what `kavach-cli migrate` runs), and concurrent migration runs on one database.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_url_applies_once_then_reports_up_to_date() {
    for backend in backends() {
        let url = fresh_url(backend, "cli").await;
        let first = kavach_core::migrate_url(&url)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)));
        let all = kavach_core::store::db::embedded_versions(kavach_core::Dialect::Sqlite);
        assert_eq!(first.applied, all, "{backend}");
        let second = kavach_core::migrate_url(&url).await.unwrap();
        assert!(second.applied.is_empty(), "{backend}");
        assert_eq!(second.current, *all.last().unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_apply_each_migration_once() {
    for backend in backends() {
        let url = fresh_url(backend, "race").await;
        let runs: Vec<_> = (0..6)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { kavach_core::migrate_url(&url).await })
            })
            .collect();
        let mut applied = 0;
        for r in runs {
            let report = r
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)));
            applied += report.applied.len();
        }
        let all = kavach_core::store::db::embedded_versions(kavach_core::Dialect::Sqlite);
        assert_eq!(
            applied,
            all.len(),
            "{backend}: each migration applied by exactly one run"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_servers_are_db_unreachable() {
    for url in [
        "postgres://u:pw-secret@127.0.0.1:1/x",
        "mysql://u:pw-secret@127.0.0.1:1/x",
    ] {
        let e = kavach_core::migrate_url(url).await.unwrap_err();
        assert_eq!(e.code(), "DB_UNREACHABLE");
        assert!(!e.to_string().contains("pw-secret"));
    }
}
