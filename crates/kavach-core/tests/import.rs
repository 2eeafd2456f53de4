//! The better-auth importer on a snake_case, plural-table source (a Drizzle/Prisma mapping) on
//! every backend, into a separate kavachos database; then sign-in with the better-auth scrypt hash.

mod common;

use common::*;
use kavach_core::accounts::human::{ClientInfo, SignIn};
use kavach_core::import::{import_better_auth, ImportOptions, ImportReport};
use kavach_core::{Kavach, ManualClock};
use sqlx::Executor;

/// Made by better-auth 1.7's own `hashPassword` for "correct horse battery staple".
const BA_HASH: &str = "188b5306771390a150008390c69f5ea8:3c8c137212f31f6dc2e6499546d84891b2c96547a10636ef3a458c8c517dde35ff9b44bbe26a0c61544102cd2cf546bce464cf3eaeee063b02ade3dca6084d9a";

async fn exec_all(backend: &str, url: &str, statements: &[String]) {
    match backend {
        "sqlite" => {
            let c = rusqlite::Connection::open(url).unwrap();
            for s in statements {
                c.execute_batch(s).unwrap();
            }
        }
        "postgres" => {
            let p = sqlx::PgPool::connect(url).await.unwrap();
            for s in statements {
                p.execute(s.as_str()).await.unwrap();
            }
            p.close().await;
        }
        _ => {
            let p = sqlx::MySqlPool::connect(url).await.unwrap();
            for s in statements {
                p.execute(s.as_str()).await.unwrap();
            }
            p.close().await;
        }
    }
}

/// A fresh source database holding `statements`, a fresh separate target, and the import options
/// from the one to the other.
async fn source_and_target(
    backend: &str,
    tag: &str,
    statements: &[String],
) -> (ImportOptions, String) {
    let source = fresh_url(backend, &format!("{tag}src")).await;
    let target = fresh_url(backend, &format!("{tag}tgt")).await;
    exec_all(backend, &source, statements).await;
    let mut options = ImportOptions::new(source);
    options.to = Some(target.clone());
    (options, target)
}

/// A time value as the backend's column stores it: seconds in an INTEGER on SQLite (Drizzle's
/// `mode: 'timestamp'`), a TIMESTAMP literal elsewhere.
fn at(backend: &str, ms: i64) -> String {
    if backend == "sqlite" {
        (ms / 1000).to_string()
    } else {
        let dt = chrono::DateTime::from_timestamp_millis(ms).unwrap();
        format!("'{}'", dt.format("%Y-%m-%d %H:%M:%S%.3f"))
    }
}

fn schema(backend: &str) -> Vec<String> {
    let (t, ts, b) = match backend {
        "sqlite" => ("TEXT", "INTEGER", "INTEGER"),
        "postgres" => ("TEXT", "TIMESTAMP(3)", "BOOLEAN"),
        _ => ("VARCHAR(255)", "DATETIME(3)", "TINYINT(1)"),
    };
    vec![
        format!("CREATE TABLE users (id {t} PRIMARY KEY, name TEXT NOT NULL, email {t} NOT NULL, email_verified {b} NOT NULL, image TEXT, created_at {ts} NOT NULL, updated_at {ts} NOT NULL)"),
        format!("CREATE TABLE accounts (id {t} PRIMARY KEY, account_id TEXT NOT NULL, provider_id TEXT NOT NULL, user_id {t} NOT NULL, access_token TEXT, password TEXT, created_at {ts} NOT NULL, updated_at {ts} NOT NULL)"),
        format!("CREATE TABLE sessions (id {t} PRIMARY KEY, expires_at {ts} NOT NULL, token {t} NOT NULL, created_at {ts} NOT NULL, updated_at {ts} NOT NULL, ip_address TEXT, user_agent TEXT, user_id {t} NOT NULL)"),
    ]
}

fn rows(backend: &str) -> Vec<String> {
    let yes = if backend == "postgres" { "true" } else { "1" };
    let day = 86_400_000;
    let (c, live, dead) = (
        at(backend, NOON - day),
        at(backend, NOON + day),
        at(backend, NOON - 1),
    );
    vec![
        format!("INSERT INTO users VALUES ('u1', 'Ada', 'Ada@Example.com', {yes}, NULL, {c}, {c})"),
        format!("INSERT INTO users VALUES ('u2', 'Bad', 'not-an-email', {yes}, NULL, {c}, {c})"),
        format!("INSERT INTO users VALUES ('u3', '  ', 'ada@example.COM', {yes}, NULL, {c}, {c})"),
        format!("INSERT INTO accounts VALUES ('a1', 'u1', 'credential', 'u1', NULL, '{BA_HASH}', {c}, {c})"),
        format!("INSERT INTO accounts VALUES ('a2', 'u2', 'credential', 'u2', NULL, '{BA_HASH}', {c}, {c})"),
        format!("INSERT INTO accounts VALUES ('a3', '99', 'github', 'u1', 'gho_x', NULL, {c}, {c})"),
        format!("INSERT INTO sessions VALUES ('s1', {live}, 'rawtokenrawtokenrawtokenrawtoken', {c}, {c}, '10.0.0.1', 'ua', 'u1')"),
        format!("INSERT INTO sessions VALUES ('s2', {dead}, 'deadtokendeadtokendeadtokendeadt', {c}, {c}, NULL, NULL, 'u1')"),
    ]
}

fn signed(secret: &str, token: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(token.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("{token}.{sig}")
}

fn counts(r: &ImportReport, table: &str) -> (u64, u64, u64, u64) {
    let t = r.tables.iter().find(|t| t.table == table).unwrap();
    (t.read, t.imported, t.unchanged, t.skipped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snake_case_source_into_a_separate_target_on_every_backend() {
    for backend in backends() {
        let statements = [schema(backend), rows(backend)].concat();
        let (mut options, target) = source_and_target(backend, "ba", &statements).await;
        options.batch_size = 2; // several pages and transactions even for a handful of rows
        let first = import_better_auth(&options, NOON, &|_| {})
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)));
        assert_eq!(first.naming, "snake_case", "{backend}");
        assert_eq!(first.source_tables, ["users", "accounts", "sessions"]);
        assert_eq!(counts(&first, "users"), (3, 1, 0, 2), "{backend}");
        assert_eq!(counts(&first, "accounts"), (3, 2, 0, 1), "{backend}");
        assert_eq!(counts(&first, "sessions"), (2, 1, 0, 0), "{backend}");
        let reasons: Vec<(&str, &str)> = first
            .skipped
            .iter()
            .map(|s| (s.id.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                ("u2", "its email is not a valid address"),
                // u1 came in an earlier batch (batch_size 2), so it is in kavachos by now.
                ("u3", "its email (compared case-insensitively) already belongs to another user in kavachos"),
                ("a2", "its user was not imported"),
            ],
            "{backend}"
        );
        assert!(first
            .notes
            .iter()
            .any(|n| n.contains("1 expired session(s)")));
        assert!(first.notes.iter().any(|n| n.contains("1 OAuth account(s)")));

        // The source keeps only its own tables: our migrations ran on the target.
        let again = import_better_auth(&options, NOON, &|_| {}).await.unwrap();
        assert!(again.migrations_applied.is_empty());
        assert_eq!(counts(&again, "users"), (3, 0, 1, 2), "{backend}");
        assert_eq!(counts(&again, "accounts"), (3, 0, 2, 1), "{backend}");
        assert_eq!(counts(&again, "sessions"), (2, 0, 1, 0), "{backend}");

        let clock = ManualClock::new(NOON);
        let cfg = config(
            backend,
            &target,
            serde_json::json!({
                "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 2000 },
                "externalAuth": [{ "id": "cookie-auth", "options": { "secret": "old-secret" } }],
            }),
        );
        let k = Kavach::open_with_clock(&cfg, None, clock).await.unwrap();
        let wrong = k
            .sign_in(
                SignIn {
                    email: "ada@example.com".into(),
                    password: "correct horse".into(),
                },
                ClientInfo::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(wrong.code(), "INVALID_CREDENTIALS");
        let ok = k
            .sign_in(
                SignIn {
                    email: "ADA@example.com".into(),
                    password: "correct horse battery staple".into(),
                },
                ClientInfo::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)));
        assert_eq!(ok.user.id, "u1");
        assert!(ok.user.email_verified);
        assert_eq!(ok.user.name.as_deref(), Some("Ada"));
        assert_eq!(
            ok.user.created_at,
            NOON - 86_400_000,
            "{backend}: seconds and timestamps both read as ms"
        );
        // Replaced by PBKDF2 in that sign-in, and verifies as PBKDF2 next time.
        let next = k
            .sign_in(
                SignIn {
                    email: "ada@example.com".into(),
                    password: "correct horse battery staple".into(),
                },
                ClientInfo::default(),
            )
            .await;
        assert!(next.is_ok());
        // The imported session answers its better-auth cookie (signed with the old secret).
        let cookie = signed("old-secret", "rawtokenrawtokenrawtokenrawtoken");
        let s = k
            .external_session([("better-auth.session_token", cookie.as_str())].into_iter())
            .await
            .unwrap();
        assert_eq!(
            s.map(|(s, u)| (s.id, u.id)),
            Some(("s1".into(), "u1".into())),
            "{backend}"
        );
        k.close().await;
    }
}

/// Made by better-auth 1.7.25's `symmetricEncrypt` with [`BA_SECRET`]: a TOTP secret as its
/// two-factor plugin stores it, and a JSON list of backup codes in the versioned envelope.
const BA_SECRET: &str = "better-auth-secret-better-auth-secret-42";
const BA_TOTP: &str = "6d8579dbc8e9fdd220d76305d3f47721f8dcc3ecbf2d9c9536c32cb0a9731a4cccb9adaf1d7baa340e27de5924dd39862b24348a6c44e6067c79b583992767eef8dba22f6c3847dc";
const BA_TOTP_PLAIN: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const BA_BACKUP: &str = "$ba$2$e0e2ec30096abd614bcf09fedde9e6ee0e16721827dfcbdf2f889b46335d929b0a3f9ffef9b91ad55f54c9b22653519c31fef7e54362beab8bfd78804fa27eeaf05f2d6027";
const OUR_SECRET: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

fn two_factor_schema(backend: &str) -> Vec<String> {
    let (t, ts, b) = match backend {
        "sqlite" => ("TEXT", "INTEGER", "INTEGER"),
        "postgres" => ("TEXT", "TIMESTAMP(3)", "BOOLEAN"),
        _ => ("VARCHAR(255)", "DATETIME(3)", "TINYINT(1)"),
    };
    vec![
        format!("CREATE TABLE users (id {t} PRIMARY KEY, name TEXT NOT NULL, email {t} NOT NULL, email_verified {b} NOT NULL, two_factor_enabled {b}, created_at {ts} NOT NULL, updated_at {ts} NOT NULL)"),
        format!("CREATE TABLE accounts (id {t} PRIMARY KEY, account_id TEXT NOT NULL, provider_id TEXT NOT NULL, user_id {t} NOT NULL, access_token TEXT, refresh_token TEXT, id_token TEXT, access_token_expires_at {ts}, password TEXT, created_at {ts} NOT NULL, updated_at {ts} NOT NULL)"),
        format!("CREATE TABLE sessions (id {t} PRIMARY KEY, expires_at {ts} NOT NULL, token {t} NOT NULL, created_at {ts} NOT NULL, updated_at {ts} NOT NULL, user_id {t} NOT NULL)"),
        format!("CREATE TABLE two_factors (id {t} PRIMARY KEY, secret TEXT NOT NULL, backup_codes TEXT NOT NULL, user_id {t} NOT NULL, verified {b})"),
    ]
}

fn two_factor_rows(backend: &str) -> Vec<String> {
    let (yes, no) = if backend == "postgres" {
        ("true", "false")
    } else {
        ("1", "0")
    };
    let c = at(backend, NOON - 86_400_000);
    let exp = at(backend, NOON + 3_600_000);
    vec![
        format!("INSERT INTO users VALUES ('u1', 'Ada', 'ada@example.com', {yes}, {yes}, {c}, {c})"),
        format!("INSERT INTO users VALUES ('u2', 'Bob', 'bob@example.com', {yes}, {no}, {c}, {c})"),
        format!("INSERT INTO accounts VALUES ('a1', 'u1', 'credential', 'u1', NULL, NULL, NULL, NULL, '{BA_HASH}', {c}, {c})"),
        format!("INSERT INTO accounts VALUES ('a2', 'u2', 'credential', 'u2', NULL, NULL, NULL, NULL, '{BA_HASH}', {c}, {c})"),
        // A plain GitHub token, and one better-auth encrypted (account.encryptOAuthTokens).
        format!("INSERT INTO accounts VALUES ('a3', '99', 'github', 'u1', 'gho_plain', 'ghr_refresh', 'eyJ.id.token', {exp}, NULL, {c}, {c})"),
        format!("INSERT INTO accounts VALUES ('a4', '77', 'google', 'u2', '{BA_TOTP}', NULL, NULL, NULL, NULL, {c}, {c})"),
        // u1's active enrollment; u2 started one and never confirmed it.
        format!("INSERT INTO two_factors VALUES ('t1', '{BA_TOTP}', '{BA_BACKUP}', 'u1', {yes})"),
        format!("INSERT INTO two_factors VALUES ('t2', '{BA_TOTP}', '[]', 'u2', {no})"),
    ]
}

/// A sign-in with the password the source's hash is of: the pending second-factor token, if asked.
async fn pending(k: &Kavach, email: &str) -> Option<String> {
    use kavach_core::accounts::human::SignInOutcome;
    let creds = SignIn {
        email: email.into(),
        password: "correct horse battery staple".into(),
    };
    match k
        .sign_in_flow(creds, ClientInfo::default(), &Default::default())
        .await
        .unwrap()
    {
        SignInOutcome::Interrupted(held) => held.data["twoFactorToken"].as_str().map(str::to_owned),
        SignInOutcome::Complete(_) => None,
    }
}

/// A provider token column of one of our account rows, as stored.
async fn stored_token(k: &Kavach, account: &str, column: &str) -> String {
    let sql = format!("SELECT {column} FROM kavach_account WHERE id = '{account}'");
    one_text(k, &sql).await.unwrap_or_default()
}

async fn one_text(k: &Kavach, sql: &str) -> Option<String> {
    match k.pool() {
        kavach_core::store::db::Pool::Sqlite(p) => {
            sqlx::query_scalar(sql).fetch_one(p).await.unwrap()
        }
        kavach_core::store::db::Pool::Pg(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        kavach_core::store::db::Pool::My(p) => {
            sqlx::query_scalar::<_, Option<kavach_core::store::db::Text>>(sql)
                .fetch_one(p)
                .await
                .unwrap()
                .map(|t| t.0)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_factor_and_provider_tokens_come_across_sealed_on_every_backend() {
    use kavach_core::accounts::provider_tokens::{self, TokenKind};
    use kavach_core::plugins::two_factor::{code_at_step, step_of, VerifyTwoFactor, DIGITS};
    for backend in backends() {
        let statements = [two_factor_schema(backend), two_factor_rows(backend)].concat();
        let (mut options, target) = source_and_target(backend, "ba2", &statements).await;

        // Without secrets: nothing secret comes across, and the report says what to give.
        options.dry_run = true;
        let bare = import_better_auth(&options, NOON, &|_| {}).await.unwrap();
        assert!(bare.tables.iter().all(|t| t.table != "two-factor"));
        assert!(
            bare.notes
                .iter()
                .any(|n| n.contains("2 two-factor enrollment(s) were NOT imported")),
            "{:?}",
            bare.notes
        );
        assert!(
            bare.notes.iter().any(|n| n.contains(
                "2 OAuth account(s) had provider access/refresh tokens: they were not copied"
            )),
            "{:?}",
            bare.notes
        );

        // A wrong source secret: the enrollment is reported, never imported as garbage.
        options.secret = Some(OUR_SECRET.into());
        options.source_secret = Some("not-the-better-auth-secret".into());
        let wrong = import_better_auth(&options, NOON, &|_| {}).await.unwrap();
        assert_eq!(counts(&wrong, "two-factor"), (2, 0, 0, 1), "{backend}");
        assert!(wrong
            .skipped
            .iter()
            .any(|s| s.id == "t1" && s.reason.contains("did not open with the source secret")));

        // A short secret cannot be the kavachos one.
        options.secret = Some("short".into());
        let e = import_better_auth(&options, NOON, &|_| {})
            .await
            .unwrap_err();
        assert_eq!(e.code(), "CONFIG_INVALID");

        // A real run without secrets copies the accounts without their tokens ...
        options.dry_run = false;
        options.secret = None;
        options.source_secret = None;
        let plain = import_better_auth(&options, NOON, &|_| {}).await.unwrap();
        assert_eq!(counts(&plain, "accounts"), (4, 4, 0, 0), "{backend}");
        // ... and a run with them brings the tokens to those accounts, and the enrollment.
        options.secret = Some(OUR_SECRET.into());
        options.source_secret = Some(BA_SECRET.into());
        let first = import_better_auth(&options, NOON, &|_| {})
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)));
        assert_eq!(counts(&first, "two-factor"), (2, 1, 0, 0), "{backend}");
        assert_eq!(counts(&first, "accounts"), (4, 0, 4, 0), "{backend}");
        assert!(first.notes.iter().any(|n| n.contains("2 OAuth account(s) copied by an earlier run without the kavachos secret got their provider tokens now")), "{:?}", first.notes);
        assert!(
            first
                .notes
                .iter()
                .any(|n| n.contains("1 two-factor enrollment(s) were never confirmed")),
            "{:?}",
            first.notes
        );
        assert!(
            plain
                .notes
                .iter()
                .any(|n| n.contains("1 OAuth account(s) had an id token")),
            "{:?}",
            plain.notes
        );

        let clock = ManualClock::new(NOON);
        let cfg = config(
            backend,
            &target,
            serde_json::json!({
                "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 2000 },
                "plugins": [{ "id": "two-factor" }],
            }),
        );
        let k = Kavach::open_with_clock(&cfg, None, clock).await.unwrap();

        // Provider tokens: never in clear, and they open under our secret for their own row.
        let stored = stored_token(&k, "a3", "access_token").await;
        assert!(!stored.contains("gho_plain"));
        assert_eq!(
            provider_tokens::open(OUR_SECRET, "a3", TokenKind::Access, &stored).unwrap(),
            "gho_plain"
        );
        let refresh = stored_token(&k, "a3", "refresh_token").await;
        assert_eq!(
            provider_tokens::open(OUR_SECRET, "a3", TokenKind::Refresh, &refresh).unwrap(),
            "ghr_refresh"
        );
        let opened = stored_token(&k, "a4", "access_token").await;
        assert_eq!(
            provider_tokens::open(OUR_SECRET, "a4", TokenKind::Access, &opened).unwrap(),
            BA_TOTP_PLAIN,
            "better-auth's encryption opened, ours applied"
        );
        assert!(provider_tokens::open(OUR_SECRET, "a3", TokenKind::Access, &opened).is_err());

        // u1 now needs the second factor, and the better-auth authenticator app's code passes.
        assert!(
            pending(&k, "bob@example.com").await.is_none(),
            "{backend}: an unconfirmed enrollment is not imported"
        );
        let t = pending(&k, "ada@example.com").await.expect("2FA required");
        let code = code_at_step(BA_TOTP_PLAIN.as_bytes(), DIGITS, step_of(NOON) as u64);
        let done = k
            .two_factor_verify(
                &t,
                VerifyTwoFactor {
                    code: Some(code),
                    ..Default::default()
                },
                ClientInfo::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)));
        assert_eq!(done.signed_in.user.id, "u1");
        // A better-auth backup code (mixed case, 0/O/1/I) works once.
        let backup = |c: &str| VerifyTwoFactor {
            backup_code: Some(c.into()),
            ..Default::default()
        };
        let t = pending(&k, "ada@example.com").await.unwrap();
        k.two_factor_verify(&t, backup("0O1Il-zz9yx"), ClientInfo::default())
            .await
            .unwrap();
        let t = pending(&k, "ada@example.com").await.unwrap();
        let again = k
            .two_factor_verify(&t, backup("0O1Il-zz9yx"), ClientInfo::default())
            .await
            .unwrap_err();
        assert_eq!(again.code(), "INVALID_CODE");

        // A second import changes nothing: the spent code stays spent.
        let second = import_better_auth(&options, NOON, &|_| {}).await.unwrap();
        assert_eq!(counts(&second, "two-factor"), (2, 0, 1, 0), "{backend}");
        assert!(
            !second
                .notes
                .iter()
                .any(|n| n.contains("got their provider tokens now")),
            "{:?}",
            second.notes
        );
        let left = one_text(
            &k,
            "SELECT CAST(COUNT(*) AS CHAR) FROM kavach_two_factor_backup WHERE user_id = 'u1'",
        )
        .await;
        assert_eq!(left.as_deref(), Some("1"), "{backend}");

        // Another secret than the one these rows were sealed under is refused before any copy,
        // in a dry run too.
        for dry_run in [true, false] {
            let mut wrong = options.clone();
            wrong.dry_run = dry_run;
            wrong.secret = Some("y".repeat(32));
            let e = import_better_auth(&wrong, NOON, &|_| {}).await.unwrap_err();
            assert_eq!(e.code(), "CONFIG_INVALID", "{backend}");
            assert!(e
                .to_string()
                .contains("does not open what this database already keeps encrypted"));
            assert!(!e.to_string().contains(&"y".repeat(32)));
        }
        k.close().await;
    }
}

/// better-auth with `advanced.database.generateId: "serial"`: integer ids everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_integer_ids_on_every_backend() {
    for backend in backends() {
        let (pk, int, t, ts, b) = match backend {
            "sqlite" => (
                "INTEGER PRIMARY KEY",
                "INTEGER",
                "TEXT",
                "INTEGER",
                "INTEGER",
            ),
            "postgres" => (
                "SERIAL PRIMARY KEY",
                "INTEGER",
                "TEXT",
                "TIMESTAMP(3)",
                "BOOLEAN",
            ),
            _ => (
                "INT AUTO_INCREMENT PRIMARY KEY",
                "INT",
                "VARCHAR(255)",
                "DATETIME(3)",
                "TINYINT(1)",
            ),
        };
        let yes = if backend == "postgres" { "true" } else { "1" };
        let c = at(backend, NOON - 86_400_000);
        let mut stmts = vec![
            format!("CREATE TABLE \"user\" (id {pk}, name TEXT NOT NULL, email {t} NOT NULL, \"emailVerified\" {b} NOT NULL, \"createdAt\" {ts} NOT NULL, \"updatedAt\" {ts} NOT NULL)"),
            format!("CREATE TABLE account (id {pk}, \"accountId\" TEXT NOT NULL, \"providerId\" TEXT NOT NULL, \"userId\" {int} NOT NULL, password TEXT, \"createdAt\" {ts} NOT NULL, \"updatedAt\" {ts} NOT NULL)"),
            format!("CREATE TABLE session (id {pk}, \"expiresAt\" {ts} NOT NULL, token {t} NOT NULL, \"createdAt\" {ts} NOT NULL, \"updatedAt\" {ts} NOT NULL, \"userId\" {int} NOT NULL)"),
            format!("CREATE TABLE organization (id {pk}, name TEXT NOT NULL, slug {t} NOT NULL, \"createdAt\" {ts} NOT NULL)"),
            format!("CREATE TABLE member (id {pk}, \"organizationId\" {int} NOT NULL, \"userId\" {int} NOT NULL, role TEXT NOT NULL, \"createdAt\" {ts} NOT NULL)"),
        ];
        // 12 users, so that keyset pages cross from "1".."9" to "10".."12".
        for i in 1..=12 {
            stmts.push(format!("INSERT INTO \"user\" (id, name, email, \"emailVerified\", \"createdAt\", \"updatedAt\") VALUES ({i}, 'U{i}', 'u{i}@example.com', {yes}, {c}, {c})"));
            stmts.push(format!("INSERT INTO account (id, \"accountId\", \"providerId\", \"userId\", password, \"createdAt\", \"updatedAt\") VALUES ({i}, '{i}', 'credential', {i}, '{BA_HASH}', {c}, {c})"));
        }
        stmts.push(format!("INSERT INTO organization (id, name, slug, \"createdAt\") VALUES (1, 'Acme', 'acme', {c})"));
        stmts.push(format!("INSERT INTO member (id, \"organizationId\", \"userId\", role, \"createdAt\") VALUES (1, 1, 11, 'owner', {c})"));
        if backend == "mysql" {
            for s in &mut stmts {
                *s = s.replace('"', "`");
            }
        }
        let (mut options, target) = source_and_target(backend, "baser", &stmts).await;
        options.batch_size = 5;
        let r = import_better_auth(&options, NOON, &|_| {})
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)));
        assert_eq!(counts(&r, "users"), (12, 12, 0, 0), "{backend}");
        assert_eq!(counts(&r, "accounts"), (12, 12, 0, 0), "{backend}");
        assert_eq!(counts(&r, "organizations"), (1, 1, 0, 0), "{backend}");
        assert_eq!(counts(&r, "members"), (1, 1, 0, 0), "{backend}");
        let again = import_better_auth(&options, NOON, &|_| {}).await.unwrap();
        assert_eq!(counts(&again, "users"), (12, 0, 12, 0), "{backend}");

        let cfg = config(
            backend,
            &target,
            serde_json::json!({ "emailAndPassword": { "enabled": true, "pbkdf2Iterations": 2000 } }),
        );
        let k = Kavach::open_with_clock(&cfg, None, ManualClock::new(NOON))
            .await
            .unwrap();
        let ok = k
            .sign_in(
                SignIn {
                    email: "u11@example.com".into(),
                    password: "correct horse battery staple".into(),
                },
                ClientInfo::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("{backend}: {}", explain(&e)));
        assert_eq!(ok.user.id, "11");
        let owner = one_text(
            &k,
            "SELECT owner_id FROM kavach_organizations WHERE id = '1'",
        )
        .await;
        assert_eq!(owner.as_deref(), Some("11"), "{backend}");
        k.close().await;
    }
}
