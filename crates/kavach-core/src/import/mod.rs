//! Importers from the libraries people migrate from: better-auth's database (any of the three
//! dialects, camelCase or snake_case columns) into kavachos's tables. Streaming (keyset pages of
//! `batch_size` rows, never the whole table), one transaction per batch, idempotent (rows are keyed
//! on their ids and inserted only when absent), with a report of counts and of each skipped row.

pub(crate) mod ba_crypto;
pub mod better_auth;
pub mod catalog;
pub mod clerk;
mod resets;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::config::{Dialect, KavachConfig};
use crate::error::{KavachError, Result};
use crate::store::db::{self, dialect_of, sql_for, Pool};
use crate::{col_opt_str, on_pool};
use sqlx::Row;

pub use better_auth::import_better_auth;

/// What to import from where.
#[derive(Clone)]
pub struct ImportOptions {
    /// The source database URL (SQLite: a path, `file:` or `sqlite:`).
    pub from: String,
    /// The kavachos database; `None` means the source itself (our tables beside theirs).
    pub to: Option<String>,
    /// Read and report, write nothing at all (not even our migrations).
    pub dry_run: bool,
    /// Rows per page and per transaction (default 1,000).
    pub batch_size: usize,
    /// The kavachos instance `secret`: what we keep encrypted (provider tokens, TOTP secrets) is
    /// sealed under it, so it must be the one `createKavach` runs with. Without it, provider
    /// tokens and two-factor enrollments are left out (and counted in the notes).
    pub secret: Option<String>,
    /// The source's own secret (`BETTER_AUTH_SECRET`), to open what better-auth encrypted: its
    /// two-factor secrets and backup codes, and OAuth tokens under `encryptOAuthTokens`.
    pub source_secret: Option<String>,
}

impl std::fmt::Debug for ImportOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportOptions")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("dry_run", &self.dry_run)
            .field("batch_size", &self.batch_size)
            .field("secret", &self.secret.as_ref().map(|_| "[set]"))
            .field(
                "source_secret",
                &self.source_secret.as_ref().map(|_| "[set]"),
            )
            .finish()
    }
}

impl ImportOptions {
    pub fn new(from: impl Into<String>) -> Self {
        Self {
            from: from.into(),
            to: None,
            dry_run: false,
            batch_size: 1000,
            secret: None,
            source_secret: None,
        }
    }

    /// Refuses secrets that cannot be the ones meant: ours as `createKavach` requires it.
    pub(crate) fn check_secrets(&self) -> Result<()> {
        if self.secret.as_ref().is_some_and(|s| s.chars().count() < 32) {
            return Err(KavachError::ConfigInvalid(
                "the import secret must be the kavachos secret createKavach runs with (at least 32 characters)".into(),
            ));
        }
        if self.source_secret.as_ref().is_some_and(|s| s.is_empty()) {
            return Err(KavachError::ConfigInvalid(
                "the source secret is empty: give better-auth's BETTER_AUTH_SECRET".into(),
            ));
        }
        Ok(())
    }
}

/// Counts for one kind of row.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TableCounts {
    /// `users`, `accounts`, `sessions`, `organizations`, `members`, `invitations`, `two-factor`.
    pub table: String,
    /// Rows read from the source.
    pub read: u64,
    /// Rows written (or, in a dry run, that would be written).
    pub imported: u64,
    /// Rows already in kavachos with the same id (a previous run): left as they are.
    pub unchanged: u64,
    /// Rows not imported, each reported with its reason.
    pub skipped: u64,
}

impl TableCounts {
    pub(crate) fn named(table: &str) -> Self {
        Self {
            table: table.to_owned(),
            ..Default::default()
        }
    }
}

/// A source row that was not imported, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SkippedRow {
    pub table: String,
    pub id: String,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// `better-auth`.
    pub source: String,
    /// `sqlite`, `postgres` or `mysql`.
    pub dialect: String,
    /// How the source's columns are named: `camelCase`, `snake_case`, ...
    pub naming: String,
    /// The source tables read, as the source names them.
    pub source_tables: Vec<String>,
    pub dry_run: bool,
    /// Our migrations applied to the target by this run.
    pub migrations_applied: Vec<i64>,
    pub tables: Vec<TableCounts>,
    /// Every skipped row (the first 10,000; `skipped_total` counts them all).
    pub skipped: Vec<SkippedRow>,
    pub skipped_total: u64,
    /// What was left out on purpose, or needs the operator's attention.
    pub notes: Vec<String>,
}

/// Progress, reported as the import goes.
#[derive(Debug)]
pub enum ImportEvent<'a> {
    /// A batch of `counts.table` was done; the counts are the totals so far.
    Batch(&'a TableCounts),
    /// A row was skipped.
    Skipped(&'a SkippedRow),
}

/// Receives progress; `&|_| {}` ignores it.
pub type OnEvent<'a> = &'a (dyn Fn(&ImportEvent<'_>) + Send + Sync);

const MAX_LISTED_SKIPS: usize = 10_000;

impl ImportReport {
    pub(crate) fn skip(&mut self, on: OnEvent<'_>, table: &str, id: &str, reason: String) {
        let row = SkippedRow {
            table: table.to_owned(),
            id: id.to_owned(),
            reason,
        };
        on(&ImportEvent::Skipped(&row));
        self.skipped_total += 1;
        if self.skipped.len() < MAX_LISTED_SKIPS {
            self.skipped.push(row);
        }
    }
}

/// `postgres`, `mysql` or `sqlite` for a database URL, the way `migrate_url` reads it.
pub fn provider_of(url: &str) -> &'static str {
    let u = url.trim();
    if u.starts_with("postgres://") || u.starts_with("postgresql://") {
        "postgres"
    } else if u.starts_with("mysql://") || u.starts_with("mariadb://") {
        "mysql"
    } else {
        "sqlite"
    }
}

fn settings_for(url: &str) -> Result<crate::config::Settings> {
    let config = KavachConfig::from_json(
        &serde_json::json!({ "database": { "provider": provider_of(url), "url": url, "pool": { "maxConnections": 2, "acquireTimeout": 10 } } })
            .to_string(),
    )?;
    config.settings(Some("development"))
}

/// Opens a database read-only where the driver allows it (SQLite: never created, never switched
/// to WAL). `None` for a SQLite file that does not exist when `missing_ok`.
pub(crate) async fn open_read_only(
    url: &str,
    what: &str,
    missing_ok: bool,
) -> Result<Option<Pool>> {
    let settings = settings_for(url)?;
    match settings.dialect {
        Dialect::Sqlite => {
            let loc = db::sqlite_location(&settings.url)?;
            if loc.ephemeral {
                return Err(KavachError::ConfigInvalid(format!(
                    "the {what} database cannot be :memory:"
                )));
            }
            if !loc.path.is_file() {
                if missing_ok {
                    return Ok(None);
                }
                return Err(KavachError::DbUnreachable(format!(
                    "the {what} SQLite database file does not exist"
                )));
            }
            let opts = SqliteConnectOptions::new()
                .filename(&loc.path)
                .read_only(true)
                .create_if_missing(false)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(2)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await
                .map_err(|_| {
                    KavachError::DbUnreachable(format!(
                        "the {what} SQLite database file could not be opened"
                    ))
                })?;
            // A file that is not a database at all fails here, not halfway through.
            sqlx::query("SELECT count(*) FROM sqlite_master")
                .fetch_one(&pool)
                .await
                .map_err(|_| {
                    KavachError::ImportSourceInvalid(format!(
                        "the {what} file is not a SQLite database"
                    ))
                })?;
            Ok(Some(Pool::Sqlite(pool)))
        }
        _ => Ok(Some(db::connect(&settings, None).await.map_err(
            |e| match e {
                KavachError::DbUnreachable(m) => {
                    KavachError::DbUnreachable(format!("{what} database: {m}"))
                }
                other => other,
            },
        )?)),
    }
}

/// Opens the target for writing (created if it is a SQLite file that does not exist yet).
pub(crate) async fn open_for_writing(url: &str) -> Result<Pool> {
    let settings = settings_for(url)?;
    let sqlite = match settings.dialect {
        Dialect::Sqlite => {
            let loc = db::sqlite_location(&settings.url)?;
            if loc.ephemeral {
                return Err(KavachError::ConfigInvalid(
                    "the target database cannot be :memory:".into(),
                ));
            }
            Some(loc)
        }
        _ => None,
    };
    db::connect(&settings, sqlite.as_ref()).await
}

pub(crate) async fn close(pool: &Pool) {
    crate::on_pool!(pool, p => p.close().await)
}

/// Parses a `PgConnectOptions`-style URL only to tell whether it is one (used by the CLI).
pub fn looks_like_url(url: &str) -> bool {
    match provider_of(url) {
        "postgres" => sqlx::postgres::PgConnectOptions::from_str(url).is_ok(),
        "mysql" => {
            sqlx::mysql::MySqlConnectOptions::from_str(&url.replacen("mariadb://", "mysql://", 1))
                .is_ok()
        }
        _ => !url.trim().is_empty(),
    }
}

// ---- shared by the importers ------------------------------------------------------------------

/// Runs a query with text binds and reads its columns as optional text.
pub(crate) async fn fetch_strings(
    pool: &Pool,
    sql: &str,
    binds: &[&str],
) -> Result<Vec<Vec<Option<String>>>> {
    let sql = sql_for(dialect_of(pool), sql);
    Ok(on_pool!(pool, p => {
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(*b);
        }
        let rows = q.fetch_all(p).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut cols = Vec::with_capacity(r.len());
            for i in 0..r.len() {
                cols.push(col_opt_str!(r, i)?);
            }
            out.push(cols);
        }
        out
    }))
}

pub(crate) fn placeholders(n: usize) -> String {
    vec!["?"; n.max(1)].join(", ")
}

/// Our users that hold one of `ids` or `emails`, as `(id, email)`: who is imported already, and who
/// owns an email that another id brings.
pub(crate) async fn users_by_id_or_email(
    pool: &Pool,
    ids: &[&str],
    emails: &[String],
) -> Result<Vec<(String, Option<String>)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = format!(
        "SELECT id, email FROM kavach_user WHERE id IN ({})",
        placeholders(ids.len())
    );
    if !emails.is_empty() {
        sql.push_str(&format!(" OR email IN ({})", placeholders(emails.len())));
    }
    let mut keys = ids.to_vec();
    keys.extend(emails.iter().map(String::as_str));
    Ok(fetch_strings(pool, &sql, &keys)
        .await?
        .into_iter()
        .filter_map(|mut r| {
            let email = r.get_mut(1).and_then(Option::take);
            Some((r.first_mut()?.take()?, email))
        })
        .collect())
}
