//! SQLite file faults while an instance runs: a full disk, a read-only file and a file renamed away
//! or deleted give DB_UNAVAILABLE (a typed 503 with a clear message, no driver text), never a panic
//! or DATABASE_ERROR, and the same instance works again once the cause is gone; no audit id handed
//! out is lost.
//!
//! Both faults are real, not simulated: the full disk is a small tmpfs filled up with a file, the
//! read-only file is `chattr +i` (which refuses writes even to root and to descriptors already
//! open). Each needs root; without it the test says so and does nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::*;
use kavach_core::accounts::human::{ClientInfo, SignUp};
use kavach_core::{AuthzRequest, CreateAgent, Kavach, KavachError, ManualClock};
use serde_json::json;

fn req(i: usize) -> AuthzRequest {
    AuthzRequest {
        action: "read".into(),
        resource: format!("doc:{i}"),
        ..Default::default()
    }
}

fn sign_up(email: &str) -> SignUp {
    serde_json::from_value(json!({ "email": email, "password": "a long enough password" })).unwrap()
}

async fn boot(path: &Path) -> (Arc<Kavach>, String) {
    let url = path.to_string_lossy().into_owned();
    let cfg = config(
        "sqlite",
        &url,
        json!({ "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 2000 } }),
    );
    let k = Kavach::open_with_clock(&cfg, None, ManualClock::new(NOON))
        .await
        .unwrap_or_else(|e| panic!("{}", explain(&e)));
    let agent: CreateAgent = serde_json::from_value(json!({
        "ownerId": "o", "name": "n", "type": "service", "permissions": [{ "resource": "doc:*", "actions": ["read"] }]
    }))
    .unwrap();
    let id = k.create_agent(agent).await.unwrap().agent.id;
    (k, id)
}

/// DB_UNAVAILABLE, HTTP 503, a message that names the cause and holds no path or driver text.
fn assert_unavailable(e: &KavachError, cause: &str) {
    assert_eq!(e.code(), "DB_UNAVAILABLE", "{}", explain(e));
    assert_eq!(e.http_status(), 503);
    let msg = e.to_string();
    assert!(msg.contains(cause), "{msg}");
    let tmp = std::env::temp_dir().to_string_lossy().into_owned();
    assert!(
        !msg.contains(&tmp) && !msg.contains(".db") && !msg.contains("(code"),
        "{msg}"
    );
}

fn stored_audit_ids(path: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut s = c.prepare("SELECT id FROM kavach_audit_logs").unwrap();
    let ids = s
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    ids
}

struct Tmpfs(PathBuf);
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_db_unavailable_and_recovers() {
    let dir = std::env::temp_dir().join(format!("kt_full_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        let _ = std::fs::remove_dir(&dir);
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let mnt = Tmpfs(dir);
    let db = mnt.0.join("k.db");
    let (k, agent) = boot(&db).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            k.authorize(&agent, &req(i))
                .await
                .unwrap()
                .audit_id
                .unwrap(),
        );
    }

    // Fill the disk.
    let filler = mnt.0.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 16 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    // Calls fail, once what space SQLite had left is used up, with a typed error.
    let mut failed = None;
    for i in 0..200_000 {
        match k.authorize(&agent, &req(i)).await {
            Ok(d) => ids.push(d.audit_id.unwrap()),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let e = failed.expect("writes fail on a full disk");
    assert_unavailable(&e, "full");
    // Through sqlx (sign-up) as well as the rusqlite writer.
    assert_unavailable(
        &k.sign_up(sign_up("full@example.com"), ClientInfo::default())
            .await
            .unwrap_err(),
        "full",
    );

    // The cause goes: the same instance writes again.
    std::fs::remove_file(&filler).unwrap();
    for i in 0..10 {
        ids.push(
            k.authorize(&agent, &req(i))
                .await
                .unwrap()
                .audit_id
                .unwrap(),
        );
    }
    k.sign_up(sign_up("full@example.com"), ClientInfo::default())
        .await
        .unwrap_or_else(|e| panic!("{}", explain(&e)));
    k.close().await;
    let stored = stored_audit_ids(&db);
    let missing: Vec<_> = ids.iter().filter(|id| !stored.contains(id)).collect();
    assert!(missing.is_empty(), "{} audit ids missing", missing.len());
}

struct Immutable(Vec<PathBuf>);
impl Immutable {
    fn set(paths: Vec<PathBuf>) -> Option<Self> {
        let ok = Command::new("chattr")
            .arg("+i")
            .args(&paths)
            .status()
            .is_ok_and(|s| s.success());
        // Back out whatever was set if the whole set failed.
        let me = Self(paths);
        ok.then_some(me)
    }
}
impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").args(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_file_is_db_unavailable_and_recovers() {
    let db = PathBuf::from(fresh_url("sqlite", "readonly").await);
    let (k, agent) = boot(&db).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            k.authorize(&agent, &req(i))
                .await
                .unwrap()
                .audit_id
                .unwrap(),
        );
    }
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let Some(guard) = Immutable::set(vec![db.clone(), wal]) else {
        eprintln!("skipped: chattr +i needs root and a file system that supports it");
        k.close().await;
        return;
    };
    let e = k.authorize(&agent, &req(0)).await.unwrap_err();
    assert_unavailable(&e, "SQLite database file");
    assert_unavailable(
        &k.sign_up(sign_up("ro@example.com"), ClientInfo::default())
            .await
            .unwrap_err(),
        "SQLite database file",
    );
    drop(guard);
    for i in 0..10 {
        ids.push(
            k.authorize(&agent, &req(i))
                .await
                .unwrap_or_else(|e| panic!("{}", explain(&e)))
                .audit_id
                .unwrap(),
        );
    }
    k.sign_up(sign_up("ro@example.com"), ClientInfo::default())
        .await
        .unwrap_or_else(|e| panic!("{}", explain(&e)));
    k.close().await;
    let stored = stored_audit_ids(&db);
    assert!(ids.iter().all(|id| stored.contains(id)));
}

/// 32 authorizations started together, their results in order.
async fn at_once(k: &Arc<Kavach>, agent: &str) -> Vec<Result<kavach_core::Decision, KavachError>> {
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (k, agent) = (k.clone(), agent.to_owned());
            tokio::spawn(async move { k.authorize(&agent, &req(i)).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// The database file renamed away (or deleted) under the running instance. In WAL mode SQLite goes
/// on writing into the unlinked file, so without a check every decision would be "allowed" and
/// then lost. Here each write is DB_UNAVAILABLE instead, on the inline path, the writer thread and
/// sqlx alike; no empty file is created at the path; and once the file is back the same instance
/// writes again, with every audit id it handed out stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_file_is_db_unavailable_and_recovers_when_put_back() {
    let db = PathBuf::from(fresh_url("sqlite", "vanished").await);
    let (k, agent) = boot(&db).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            k.authorize(&agent, &req(i))
                .await
                .unwrap()
                .audit_id
                .unwrap(),
        );
    }
    k.sign_up(sign_up("before@example.com"), ClientInfo::default())
        .await
        .unwrap_or_else(|e| panic!("{}", explain(&e)));

    let away = PathBuf::from(format!("{}.away", db.display()));
    std::fs::rename(&db, &away).unwrap();
    // One at a time (the inline path), then 32 at once (most queue for the writer thread).
    for i in 0..5 {
        let e = k.authorize(&agent, &req(i)).await.unwrap_err();
        assert_unavailable(&e, "SQLite database file");
    }
    for r in at_once(&k, &agent).await {
        assert_unavailable(&r.unwrap_err(), "SQLite database file");
    }
    // Through sqlx (sign-up) as well.
    assert_unavailable(
        &k.sign_up(sign_up("gone@example.com"), ClientInfo::default())
            .await
            .unwrap_err(),
        "SQLite database file",
    );
    assert!(
        !db.exists(),
        "no empty database was created where the file was"
    );

    // Put back: the same instance works again.
    std::fs::rename(&away, &db).unwrap();
    for i in 0..10 {
        ids.push(
            k.authorize(&agent, &req(i))
                .await
                .unwrap_or_else(|e| panic!("{}", explain(&e)))
                .audit_id
                .unwrap(),
        );
    }
    for r in at_once(&k, &agent).await {
        ids.push(
            r.unwrap_or_else(|e| panic!("{}", explain(&e)))
                .audit_id
                .unwrap(),
        );
    }
    k.sign_up(sign_up("back@example.com"), ClientInfo::default())
        .await
        .unwrap_or_else(|e| panic!("{}", explain(&e)));
    k.close().await;
    let stored = stored_audit_ids(&db);
    let missing: Vec<_> = ids.iter().filter(|id| !stored.contains(id)).collect();
    assert!(missing.is_empty(), "{} audit ids missing", missing.len());
}
