//! Connections and migrations for SQLite, PostgreSQL and MySQL/MariaDB through sqlx.
//!
//! One code path serves the three dialects: SQL is written with `?` placeholders and rewritten to
//! `$n` for PostgreSQL once, and [`Ts`] stores timestamps as the dialect's own type.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::error::BoxDynError;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Decode, Encode, Executor, MySql, Postgres, Sqlite, Type};

use crate::config::{Dialect, Durability, Settings};
use crate::error::{KavachError, Result};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");
static MYSQL_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/mysql");

/// A pool on one of the three databases.
#[derive(Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Pg(PgPool),
    My(MySqlPool),
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the URL: it may hold a password.
        f.write_str(match self {
            Pool::Sqlite(_) => "Pool::Sqlite",
            Pool::Pg(_) => "Pool::Pg",
            Pool::My(_) => "Pool::My",
        })
    }
}

/// Runs `$body` with `$p` bound to the concrete sqlx pool, whatever the dialect.
#[macro_export]
#[doc(hidden)]
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::store::db::Pool::Sqlite($p) => $body,
            $crate::store::db::Pool::Pg($p) => $body,
            $crate::store::db::Pool::My($p) => $body,
        }
    };
}

/// A point in time as Unix milliseconds, stored as INTEGER (SQLite), TIMESTAMPTZ (PostgreSQL) or
/// DATETIME(3) in UTC (MySQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ts(pub i64);

impl Ts {
    fn to_dt(self) -> Result<DateTime<Utc>, BoxDynError> {
        DateTime::<Utc>::from_timestamp_millis(self.0)
            .ok_or_else(|| "timestamp out of range".into())
    }
}

impl Type<Sqlite> for Ts {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}
impl<'q> Encode<'q, Sqlite> for Ts {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as sqlx::Database>::ArgumentBuffer<'q>,
    ) -> Result<sqlx::encode::IsNull, BoxDynError> {
        <i64 as Encode<'q, Sqlite>>::encode_by_ref(&self.0, buf)
    }
}
impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: <Sqlite as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Ts(<i64 as Decode<'r, Sqlite>>::decode(value)?))
    }
}

macro_rules! ts_via_chrono {
    ($db:ty) => {
        impl Type<$db> for Ts {
            fn type_info() -> <$db as sqlx::Database>::TypeInfo {
                <DateTime<Utc> as Type<$db>>::type_info()
            }
            fn compatible(ty: &<$db as sqlx::Database>::TypeInfo) -> bool {
                <DateTime<Utc> as Type<$db>>::compatible(ty)
            }
        }
        impl<'q> Encode<'q, $db> for Ts {
            fn encode_by_ref(
                &self,
                buf: &mut <$db as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, BoxDynError> {
                <DateTime<Utc> as Encode<'q, $db>>::encode_by_ref(&self.to_dt()?, buf)
            }
        }
        impl<'r> Decode<'r, $db> for Ts {
            fn decode(value: <$db as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(Ts(
                    <DateTime<Utc> as Decode<'r, $db>>::decode(value)?.timestamp_millis()
                ))
            }
        }
    };
}
ts_via_chrono!(Postgres);
ts_via_chrono!(MySql);

/// A text column. MySQL/MariaDB report `utf8mb4_bin` columns (our identifiers compare byte for byte)
/// as binary, which sqlx will not read as `String`; this reads either form as UTF-8 text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl Type<MySql> for Text {
    fn type_info() -> sqlx::mysql::MySqlTypeInfo {
        <String as Type<MySql>>::type_info()
    }
    fn compatible(ty: &sqlx::mysql::MySqlTypeInfo) -> bool {
        <String as Type<MySql>>::compatible(ty) || <Vec<u8> as Type<MySql>>::compatible(ty)
    }
}
impl<'r> Decode<'r, MySql> for Text {
    fn decode(value: sqlx::mysql::MySqlValueRef<'r>) -> Result<Self, BoxDynError> {
        let bytes = <&[u8] as Decode<'r, MySql>>::decode(value)?;
        Ok(Text(String::from_utf8(bytes.to_vec())?))
    }
}
macro_rules! text_as_string {
    ($db:ty) => {
        impl Type<$db> for Text {
            fn type_info() -> <$db as sqlx::Database>::TypeInfo {
                <String as Type<$db>>::type_info()
            }
            fn compatible(ty: &<$db as sqlx::Database>::TypeInfo) -> bool {
                <String as Type<$db>>::compatible(ty)
            }
        }
        impl<'r> Decode<'r, $db> for Text {
            fn decode(value: <$db as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(Text(<String as Decode<'r, $db>>::decode(value)?))
            }
        }
    };
}
text_as_string!(Sqlite);
text_as_string!(Postgres);

/// Reads a text column as `String` (see [`Text`]).
#[macro_export]
#[doc(hidden)]
macro_rules! col_str {
    ($row:expr, $col:expr) => {
        $row.try_get::<$crate::store::db::Text, _>($col)
            .map(|t| t.0)
    };
}

/// Reads a nullable text column as `Option<String>`.
#[macro_export]
#[doc(hidden)]
macro_rules! col_opt_str {
    ($row:expr, $col:expr) => {
        $row.try_get::<Option<$crate::store::db::Text>, _>($col)
            .map(|t| t.map(|t| t.0))
    };
}

/// Rewrites `?` placeholders to `$1, $2, ...` for PostgreSQL (our SQL has no `?` inside literals).
pub fn sql_for(dialect: Dialect, sql: &str) -> Cow<'_, str> {
    if dialect != Dialect::Postgres || !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    Cow::Owned(out)
}

/// Where a SQLite database lives, resolved from the configured URL.
#[derive(Debug, Clone)]
pub struct SqliteLocation {
    /// The file on disk.
    pub path: PathBuf,
    /// `:memory:` was asked for: the file is private to this instance and removed at close.
    pub ephemeral: bool,
}

/// Resolves `:memory:`, `file:...`, `sqlite:...` or a plain path.
pub fn sqlite_location(url: &str) -> Result<SqliteLocation> {
    let trimmed = url.trim();
    let memory = matches!(
        trimmed,
        ":memory:" | "sqlite::memory:" | "sqlite://:memory:" | "file::memory:"
    );
    if memory {
        // An in-memory SQLite database is private to one connection, and kavachos reads on several
        // connections at once; a private temporary file in WAL mode gives the same semantics
        // (nothing survives close()) with real concurrency.
        let path = std::env::temp_dir().join(format!("kavach-mem-{}.db", uuid::Uuid::now_v7()));
        return Ok(SqliteLocation {
            path,
            ephemeral: true,
        });
    }
    let rest = trimmed
        .strip_prefix("sqlite://")
        .or_else(|| trimmed.strip_prefix("sqlite:"))
        .or_else(|| trimmed.strip_prefix("file://"))
        .or_else(|| trimmed.strip_prefix("file:"))
        .unwrap_or(trimmed);
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() {
        return Err(KavachError::ConfigInvalid(
            "database.url names no SQLite file".into(),
        ));
    }
    Ok(SqliteLocation {
        path: PathBuf::from(path),
        ephemeral: false,
    })
}

/// Opens the pool for `settings`; fails with `DB_UNREACHABLE` or `CONFIG_INVALID`, never a raw driver string.
pub async fn connect(settings: &Settings, sqlite: Option<&SqliteLocation>) -> Result<Pool> {
    let acquire = Duration::from_secs(settings.acquire_timeout_secs);
    match settings.dialect {
        Dialect::Sqlite => {
            let loc = sqlite.ok_or_else(|| KavachError::Internal("no SQLite location".into()))?;
            if let Some(parent) = loc.path.parent() {
                if !parent.as_os_str().is_empty() && !parent.exists() {
                    return Err(KavachError::ConfigInvalid(
                        "the folder of the SQLite database file does not exist".into(),
                    ));
                }
            }
            let opts = sqlite_options(&loc.path, settings.durability);
            // Several processes booting on one new file race to create it and to switch it to WAL.
            // Switching takes an exclusive lock, and SQLite answers SQLITE_BUSY at once (no busy
            // handler) to a connection that would deadlock waiting for it; so the whole open is
            // retried on BUSY/LOCKED until `acquire` has passed.
            let deadline = std::time::Instant::now() + acquire.max(Duration::from_secs(10));
            let mut pause = Duration::from_millis(2);
            let pool = loop {
                let tried = SqlitePoolOptions::new()
                    .max_connections(settings.max_connections.unwrap_or(4))
                    .min_connections(settings.min_connections.unwrap_or(0))
                    .acquire_timeout(acquire)
                    .test_before_acquire(false)
                    // SQLite may end a transaction by itself (a full disk, an I/O error); sqlx's
                    // ROLLBACK then fails and leaves the connection counting a transaction that is
                    // gone, so every later BEGIN on it fails. Such a connection is dropped here,
                    // which is what lets the pool recover once the disk has room again.
                    //
                    // A connection whose file was deleted or replaced under the process is dropped
                    // too (in WAL mode SQLite would go on writing into the unlinked file): the pool
                    // then opens the path again, which is DB_UNAVAILABLE while nothing is there
                    // (no file is created after boot) and works again once the file is back.
                    .before_acquire(|conn, _| {
                        Box::pin(async move {
                            use sqlx::TransactionManager;
                            if sqlx::sqlite::SqliteTransactionManager::get_transaction_depth(conn)
                                != 0
                            {
                                return Ok(false);
                            }
                            let mut handle = conn.lock_handle().await?;
                            let db = handle.as_raw_handle().as_ptr().cast();
                            Ok(!crate::store::sqlite_fast::file_has_moved(db))
                        })
                    })
                    .connect_with(opts.clone())
                    .await;
                match tried {
                    Ok(pool) => break pool,
                    Err(e) if sqlite_busy(&e) && std::time::Instant::now() < deadline => {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_millis(50));
                    }
                    Err(e) => {
                        return Err(match e {
                            sqlx::Error::Database(_) | sqlx::Error::Io(_) => {
                                KavachError::DbUnreachable(
                                    "the SQLite database file could not be opened".into(),
                                )
                            }
                            other => KavachError::from(other),
                        })
                    }
                }
            };
            // The file exists now: a connection opened later must find it, never create an
            // empty database where the real one was deleted.
            pool.set_connect_options(opts.create_if_missing(false));
            Ok(Pool::Sqlite(pool))
        }
        Dialect::Postgres => {
            let opts = PgConnectOptions::from_str(&settings.url).map_err(|_| {
                KavachError::ConfigInvalid("database.url is not a valid PostgreSQL URL".into())
            })?;
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections.unwrap_or(10))
                .min_connections(settings.min_connections.unwrap_or(0))
                .acquire_timeout(acquire)
                .test_before_acquire(false)
                .connect_with(opts)
                .await
                .map_err(unreachable_err)?;
            Ok(Pool::Pg(pool))
        }
        Dialect::MySql => {
            let url = settings.url.replacen("mariadb://", "mysql://", 1);
            let opts = MySqlConnectOptions::from_str(&url).map_err(|_| {
                KavachError::ConfigInvalid("database.url is not a valid MySQL URL".into())
            })?;
            let pool = MySqlPoolOptions::new()
                .max_connections(settings.max_connections.unwrap_or(10))
                .min_connections(settings.min_connections.unwrap_or(0))
                .acquire_timeout(acquire)
                .test_before_acquire(false)
                .connect_with(opts)
                .await
                .map_err(unreachable_err)?;
            Ok(Pool::My(pool))
        }
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED, extended codes included: another connection holds a lock that
/// will be released.
pub(crate) fn sqlite_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| matches!(c & 0xff, 5 | 6)),
        _ => false,
    }
}

fn unreachable_err(e: sqlx::Error) -> KavachError {
    let what = match &e {
        sqlx::Error::Database(_) => {
            "the server refused the connection (check the user, password and database name)"
        }
        sqlx::Error::Io(_) => "could not connect to the server",
        sqlx::Error::PoolTimedOut => "timed out connecting to the server",
        sqlx::Error::Tls(_) => "TLS negotiation failed",
        _ => "could not open a connection",
    };
    KavachError::DbUnreachable(what.into())
}

/// A transaction that will write. On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken up
/// front and waited for (busy_timeout), where a deferred transaction that read first would fail at
/// once when another writer (another process, the webhook worker) holds it as it upgrades.
pub trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
           + Send;
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Sqlite>, sqlx::Error>> + Send
    {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Postgres>, sqlx::Error>>
           + Send {
        self.begin()
    }
}

impl BeginWrite for MySqlPool {
    type Db = MySql;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, MySql>, sqlx::Error>> + Send
    {
        self.begin()
    }
}

/// Connection options shared by the sqlx pool (SQLite side).
pub fn sqlite_options(path: &Path, durability: Durability) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match durability {
            Durability::Normal => SqliteSynchronous::Normal,
            Durability::Full => SqliteSynchronous::Full,
        })
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
}

const MIGRATIONS_TABLE_SQLITE: &str = "CREATE TABLE IF NOT EXISTS kavach_migrations (
    version INTEGER PRIMARY KEY, description TEXT NOT NULL, checksum TEXT NOT NULL, installed_at INTEGER NOT NULL)";
const MIGRATIONS_TABLE_PG: &str = "CREATE TABLE IF NOT EXISTS kavach_migrations (
    version BIGINT PRIMARY KEY, description TEXT NOT NULL, checksum TEXT NOT NULL, installed_at TIMESTAMPTZ NOT NULL)";
const MIGRATIONS_TABLE_MYSQL: &str = "CREATE TABLE IF NOT EXISTS kavach_migrations (
    version BIGINT NOT NULL PRIMARY KEY, description VARCHAR(255) NOT NULL, checksum CHAR(96) NOT NULL,
    installed_at DATETIME(3) NOT NULL) ENGINE=InnoDB";
/// Any fixed number works as long as it is kavachos's own: it names the migration lock.
const PG_LOCK_KEY: i64 = 0x6b61_7661_6368_0001;
const MYSQL_LOCK_NAME: &str = "kavachos_migrations";

/// What a migration run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this run, in order.
    pub applied: Vec<i64>,
    /// The newest version now in the database.
    pub current: i64,
}

fn migrator(d: Dialect) -> &'static sqlx::migrate::Migrator {
    match d {
        Dialect::Sqlite => &SQLITE_MIGRATIONS,
        Dialect::Postgres => &POSTGRES_MIGRATIONS,
        Dialect::MySql => &MYSQL_MIGRATIONS,
    }
}

/// The versions embedded for a dialect, in order.
pub fn embedded_versions(d: Dialect) -> Vec<i64> {
    migrator(d).iter().map(|m| m.version).collect()
}

fn check_applied(
    applied: &[(i64, String)],
    dialect: Dialect,
) -> Result<Vec<&'static sqlx::migrate::Migration>> {
    let all: Vec<_> = migrator(dialect).iter().collect();
    for (version, checksum) in applied {
        match all.iter().find(|m| m.version == *version) {
            Some(m) if hex::encode(&*m.checksum) != *checksum => {
                return Err(KavachError::MigrationFailed(format!(
                    "migration {version} was changed after it was applied"
                )))
            }
            None => {
                return Err(KavachError::MigrationFailed(format!(
                    "the database has migration {version}, which this version of kavachos does not know (is it newer?)"
                )))
            }
            _ => {}
        }
    }
    Ok(all
        .into_iter()
        .filter(|m| !applied.iter().any(|(v, _)| *v == m.version))
        .collect())
}

fn mig_err(what: &'static str) -> impl Fn(sqlx::Error) -> KavachError {
    move |e| match crate::error::unavailable_kind(&e) {
        Some(_) => KavachError::DbUnreachable("lost the database during migrations".into()),
        None => KavachError::MigrationFailed(what.into()),
    }
}

async fn migrate_sqlite(conn: &mut sqlx::SqliteConnection, now_ms: i64) -> Result<Vec<i64>> {
    let mut applied_now = Vec::new();
    (&mut *conn)
        .execute(MIGRATIONS_TABLE_SQLITE)
        .await
        .map_err(mig_err("could not create kavach_migrations"))?;
    let applied: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, checksum FROM kavach_migrations")
            .fetch_all(&mut *conn)
            .await?;
    for m in check_applied(&applied, Dialect::Sqlite)? {
        (&mut *conn)
            .execute(&*m.sql)
            .await
            .map_err(mig_err("a migration statement failed"))?;
        sqlx::query("INSERT INTO kavach_migrations (version, description, checksum, installed_at) VALUES (?, ?, ?, ?)")
            .bind(m.version)
            .bind(&*m.description)
            .bind(hex::encode(&*m.checksum))
            .bind(now_ms)
            .execute(&mut *conn)
            .await?;
        applied_now.push(m.version);
    }
    Ok(applied_now)
}

async fn migrate_pg(conn: &mut sqlx::PgConnection, now_ms: i64) -> Result<Vec<i64>> {
    let mut applied_now = Vec::new();
    (&mut *conn)
        .execute(MIGRATIONS_TABLE_PG)
        .await
        .map_err(mig_err("could not create kavach_migrations"))?;
    let applied: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, checksum FROM kavach_migrations")
            .fetch_all(&mut *conn)
            .await?;
    for m in check_applied(&applied, Dialect::Postgres)? {
        // PostgreSQL DDL is transactional: each migration commits whole or not at all.
        let mut tx = conn.begin().await?;
        (&mut *tx)
            .execute(&*m.sql)
            .await
            .map_err(mig_err("a migration statement failed"))?;
        sqlx::query("INSERT INTO kavach_migrations (version, description, checksum, installed_at) VALUES ($1, $2, $3, $4)")
            .bind(m.version)
            .bind(&*m.description)
            .bind(hex::encode(&*m.checksum))
            .bind(Ts(now_ms))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        applied_now.push(m.version);
    }
    Ok(applied_now)
}

/// The statements of a MySQL migration file: `--` comment lines dropped, split on `;` (the files
/// hold no string literal with one).
fn mysql_statements(sql: &str) -> Vec<String> {
    let body: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    body.split(';')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

async fn migrate_mysql(conn: &mut sqlx::MySqlConnection, now_ms: i64) -> Result<Vec<i64>> {
    let mut applied_now = Vec::new();
    (&mut *conn)
        .execute(MIGRATIONS_TABLE_MYSQL)
        .await
        .map_err(mig_err("could not create kavach_migrations"))?;
    let applied: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, checksum FROM kavach_migrations")
            .fetch_all(&mut *conn)
            .await?;
    for m in check_applied(&applied, Dialect::MySql)? {
        // No transactional DDL here: every statement is written to be safe to run again, and the
        // version is recorded only after all of them ran, so a killed process leaves a migration
        // that the next boot simply repeats.
        for statement in mysql_statements(&m.sql) {
            match (&mut *conn).execute(statement.as_str()).await {
                Ok(_) => {}
                // `ADD COLUMN` / `ADD INDEX` already done by a run that was cut off (MySQL has no
                // `ADD COLUMN IF NOT EXISTS`; MariaDB has, but one form serves both).
                Err(sqlx::Error::Database(e))
                    if matches!(
                        e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                            .map(|e| e.number()),
                        Some(1060 | 1061)
                    ) => {}
                Err(e) => return Err(mig_err("a migration statement failed")(e)),
            }
        }
        sqlx::query("INSERT INTO kavach_migrations (version, description, checksum, installed_at) VALUES (?, ?, ?, ?)")
            .bind(m.version)
            .bind(&*m.description)
            .bind(hex::encode(&*m.checksum))
            .bind(Ts(now_ms))
            .execute(&mut *conn)
            .await?;
        applied_now.push(m.version);
    }
    Ok(applied_now)
}

/// Applies every pending migration, serialized across processes by the database's own lock.
pub fn migrate(pool: &Pool, now_ms: i64) -> crate::BoxFut<'_, Result<MigrationReport>> {
    Box::pin(migrate_inner(pool, now_ms))
}

async fn migrate_inner(pool: &Pool, now_ms: i64) -> Result<MigrationReport> {
    let applied = match pool {
        Pool::Sqlite(p) => {
            let mut conn = p.acquire().await?;
            // BEGIN IMMEDIATE takes SQLite's write lock up front: a second process waits (busy_timeout)
            // and then sees the versions the first one recorded. SQLite DDL is transactional, so a
            // process killed midway leaves nothing half-applied.
            // busy_timeout waits out another process's migrations; a BUSY that SQLite answers
            // without waiting (a lock it would deadlock on) is tried again until the deadline.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                match (&mut *conn).execute("BEGIN IMMEDIATE").await {
                    Ok(_) => break,
                    Err(e) if sqlite_busy(&e) && std::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err(e) => return Err(mig_err("could not take the SQLite write lock")(e)),
                }
            }
            match migrate_sqlite(&mut conn, now_ms).await {
                Ok(v) => {
                    (&mut *conn)
                        .execute("COMMIT")
                        .await
                        .map_err(mig_err("could not commit the migrations"))?;
                    v
                }
                Err(e) => {
                    let _ = (&mut *conn).execute("ROLLBACK").await;
                    return Err(e);
                }
            }
        }
        Pool::Pg(p) => {
            let mut conn = p.acquire().await?;
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(PG_LOCK_KEY)
                .execute(&mut *conn)
                .await
                .map_err(mig_err("could not take the migration lock"))?;
            let result = migrate_pg(&mut conn, now_ms).await;
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(PG_LOCK_KEY)
                .execute(&mut *conn)
                .await;
            result?
        }
        Pool::My(p) => {
            let mut conn = p.acquire().await?;
            let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 120)")
                .bind(MYSQL_LOCK_NAME)
                .fetch_one(&mut *conn)
                .await
                .map_err(mig_err("could not take the migration lock"))?;
            if got != Some(1) {
                return Err(KavachError::MigrationFailed(
                    "timed out waiting for another process's migrations".into(),
                ));
            }
            let result = migrate_mysql(&mut conn, now_ms).await;
            let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
                .bind(MYSQL_LOCK_NAME)
                .execute(&mut *conn)
                .await;
            result?
        }
    };
    let current = migrator(dialect_of(pool))
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    Ok(MigrationReport { applied, current })
}

/// Whether every embedded migration is recorded (used when `skipMigrations` is set).
pub async fn pending_migrations(pool: &Pool) -> Result<Vec<i64>> {
    let rows: std::result::Result<Vec<i64>, sqlx::Error> = on_pool!(pool, p => sqlx::query_scalar("SELECT version FROM kavach_migrations").fetch_all(p).await);
    let applied = match rows {
        Ok(v) => v,
        Err(sqlx::Error::Database(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    Ok(migrator(dialect_of(pool))
        .iter()
        .map(|m| m.version)
        .filter(|v| !applied.contains(v))
        .collect())
}

pub fn dialect_of(pool: &Pool) -> Dialect {
    match pool {
        Pool::Sqlite(_) => Dialect::Sqlite,
        Pool::Pg(_) => Dialect::Postgres,
        Pool::My(_) => Dialect::MySql,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_placeholders() {
        assert_eq!(
            sql_for(Dialect::Postgres, "a = ? AND b = ?"),
            "a = $1 AND b = $2"
        );
        assert_eq!(sql_for(Dialect::MySql, "a = ?"), "a = ?");
    }

    #[test]
    fn sqlite_locations() {
        assert!(sqlite_location(":memory:").unwrap().ephemeral);
        assert_eq!(
            sqlite_location("file:/tmp/a.db").unwrap().path,
            PathBuf::from("/tmp/a.db")
        );
        assert_eq!(
            sqlite_location("sqlite:///tmp/a.db?mode=rwc").unwrap().path,
            PathBuf::from("/tmp/a.db")
        );
        assert_eq!(
            sqlite_location("./data/x.db").unwrap().path,
            PathBuf::from("./data/x.db")
        );
    }

    #[test]
    fn migrations_are_embedded_in_step() {
        let v = |d| migrator(d).iter().map(|m| m.version).collect::<Vec<_>>();
        assert_eq!(v(Dialect::Sqlite), v(Dialect::Postgres));
        assert_eq!(v(Dialect::Sqlite), v(Dialect::MySql));
        assert!(!v(Dialect::Sqlite).is_empty());
    }
}
