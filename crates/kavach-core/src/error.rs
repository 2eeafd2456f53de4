//! The one error type of kavachos: stable SCREAMING_SNAKE codes, safe messages.
//!
//! Messages never carry SQL, driver text, file paths, secrets or tokens: the driver detail goes to
//! `source` (kept out of `Display`) so that a log of the error stays clean.

use std::fmt;

/// Every failure kavachos reports. `code()` is the stable contract; the message is for people.
#[derive(Debug, thiserror::Error)]
pub enum KavachError {
    /// The configuration passed to `createKavach` is unusable.
    #[error("{0}")]
    ConfigInvalid(String),
    /// Boot could not reach the database (connect, pool or I/O failure).
    #[error("the database is unreachable: {0}")]
    DbUnreachable(String),
    /// A call after boot found the database down or unusable for now: refused, reset or terminated
    /// connections, pool timeouts, a server shutting down or starting up; on SQLite a full disk, a
    /// read-only, unopenable or failing file. Retrying later may succeed.
    #[error("the database is unavailable: {0}")]
    DbUnavailable(String),
    /// The embedded migrations could not be applied.
    #[error("migrations failed: {0}")]
    MigrationFailed(String),
    /// Input that fails validation (shape, length, format).
    #[error("{0}")]
    ValidationFailed(String),
    /// A named thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The owner reached `agents.maxPerOwner` active agents.
    #[error("{0}")]
    AgentLimitReached(String),
    /// The operation is not allowed in the current state (e.g. rotating a revoked agent).
    #[error("{0}")]
    Conflict(String),
    /// The database is locked by another writer and the call chose not to wait.
    #[error("the database is busy; try again")]
    Busy,
    /// Sign-up for an email that already has an account.
    #[error("a user with this email already exists")]
    UserExists,
    /// A reset or verification token that is unknown, used or expired.
    #[error("this link is invalid or has expired")]
    InvalidToken,
    /// Sign-in of an account whose email is not verified yet (with `requireEmailVerification`).
    #[error("verify your email address first")]
    EmailNotVerified,
    /// Wrong email or password (never says which).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The change would leave an organization without an owner.
    #[error("an organization must keep at least one owner")]
    LastOwner,
    /// A wrong, reused or malformed two-factor code (TOTP or backup code).
    #[error("the code is invalid")]
    InvalidCode,
    /// A sign-in waiting for its second factor that is unknown, expired or out of attempts.
    #[error("this sign-in has expired; sign in again")]
    TwoFactorTokenInvalid,
    /// Too many wrong second-factor codes for this account: retry after this many seconds.
    #[error("too many attempts; try again later")]
    TooManyAttempts(u64),
    /// The rate-limit storage (Redis) cannot be reached: the request is refused, never let through.
    #[error("the rate-limit storage is unavailable: {0}")]
    RateLimitUnavailable(String),
    /// The account needs its second factor: use the two-factor sign-in flow.
    #[error("a second factor is required to sign in")]
    TwoFactorRequired,
    /// Sign-in of a banned user (checked after the password, so it is no oracle for passwords).
    #[error("this account is banned")]
    UserBanned,
    /// A `before*` hook of the app refused the change (its reason).
    #[error("{0}")]
    HookBlocked(String),
    /// The call needs a signed-in session and the request carries none.
    #[error("sign in first")]
    Unauthorized,
    /// A JWT that is malformed, unsigned by a key of ours, tampered with, or for another issuer or
    /// audience (the message says which, never the token).
    #[error("{0}")]
    JwtInvalid(&'static str),
    /// A JWT past its `exp`.
    #[error("the token has expired")]
    JwtExpired,
    /// `jwt({ customClaims })` threw or rejected: no token is issued.
    #[error("jwt customClaims failed")]
    JwtClaimsFailed,
    /// `jwt({ customClaims })` answered something other than an object of extra claims.
    #[error("{0}")]
    JwtClaimsInvalid(String),
    /// The instance was closed.
    #[error("this kavachos instance is closed")]
    Closed,
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The invitation passed its expiry.
    #[error("this invitation has expired")]
    InvitationExpired,
    /// An import source that is not what the importer reads (not a better-auth database, a
    /// malformed export file).
    #[error("{0}")]
    ImportSourceInvalid(String),
    /// An OAuth sign-in, link or token call that cannot go on; `code` says why
    /// (`OAUTH_STATE_INVALID`, `OAUTH_CODE_INVALID`, `OAUTH_ID_TOKEN_INVALID`, ...).
    #[error("{message}")]
    OAuth { code: &'static str, message: String },
    /// An MCP access token that does not pass (`INVALID_TOKEN`: missing, malformed, expired,
    /// revoked, for another resource) or lacks a scope (`INSUFFICIENT_SCOPE`).
    #[error("{message}")]
    McpToken { code: &'static str, message: String },
    /// A delegation that would widen what the delegator holds (`DELEGATION_NOT_SUBSET`) or make
    /// its chain deeper than allowed (`DELEGATION_DEPTH_EXCEEDED`).
    #[error("{message}")]
    Delegation { code: &'static str, message: String },
    /// A refusal of a plugin's own, with its stable code and HTTP status (`INVALID_OTP` 400,
    /// `OTP_EXPIRED` 400, `TOO_MANY_ATTEMPTS` 403, `USERNAME_TAKEN` 409, ...): the sign-in methods'
    /// codes, made with [`KavachError::refused`].
    #[error("{message}")]
    Refused {
        code: &'static str,
        status: u16,
        message: String,
    },
    /// A database operation failed for a reason that is not the caller's.
    #[error("a database operation failed")]
    Database(#[source] DbCause),
    /// An internal invariant failed; never expected.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The driver error behind [`KavachError::Database`]; shown only through `source()`.
pub struct DbCause(pub String);

impl fmt::Debug for DbCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DbCause(..)")
    }
}
impl fmt::Display for DbCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for DbCause {}

impl KavachError {
    /// The stable code JS switches on (`err.code`) and HTTP returns in `{ error: { code } }`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ConfigInvalid(_) => "CONFIG_INVALID",
            Self::DbUnreachable(_) => "DB_UNREACHABLE",
            Self::DbUnavailable(_) => "DB_UNAVAILABLE",
            Self::MigrationFailed(_) => "MIGRATION_FAILED",
            Self::ValidationFailed(_) => "VALIDATION_FAILED",
            Self::NotFound(_) => "NOT_FOUND",
            Self::AgentLimitReached(_) => "AGENT_LIMIT_REACHED",
            Self::Conflict(_) => "CONFLICT",
            Self::Closed => "CLOSED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::InvitationExpired => "INVITATION_EXPIRED",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::JwtInvalid(_) => "INVALID_TOKEN",
            Self::JwtExpired => "TOKEN_EXPIRED",
            Self::JwtClaimsFailed => "JWT_CLAIMS_FAILED",
            Self::JwtClaimsInvalid(_) => "JWT_CLAIMS_INVALID",
            Self::Busy => "DATABASE_BUSY",
            Self::UserExists => "USER_EXISTS",
            Self::LastOwner => "LAST_OWNER",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            Self::InvalidCode => "INVALID_CODE",
            Self::TwoFactorTokenInvalid => "INVALID_TWO_FACTOR_TOKEN",
            Self::TwoFactorRequired => "TWO_FACTOR_REQUIRED",
            Self::TooManyAttempts(_) => "RATE_LIMITED",
            Self::RateLimitUnavailable(_) => "RATE_LIMIT_UNAVAILABLE",
            Self::UserBanned => "USER_BANNED",
            Self::HookBlocked(_) => "HOOK_BLOCKED",
            Self::ImportSourceInvalid(_) => "IMPORT_SOURCE_INVALID",
            Self::OAuth { code, .. } => code,
            Self::McpToken { code, .. } => code,
            Self::Delegation { code, .. } => code,
            Self::Refused { code, .. } => code,
            Self::Database(_) => "DATABASE_ERROR",
            Self::Internal(_) => "INTERNAL_ERROR",
        }
    }

    /// The HTTP status this error maps to.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::ConfigInvalid(_) | Self::ValidationFailed(_) | Self::ImportSourceInvalid(_) => {
                400
            }
            Self::NotFound(_) => 404,
            Self::UserExists | Self::LastOwner => 409,
            Self::InvalidCredentials => 401,
            Self::InvalidToken => 400,
            Self::EmailNotVerified | Self::Forbidden(_) => 403,
            Self::InvitationExpired => 410,
            Self::InvalidCode | Self::TwoFactorTokenInvalid | Self::TwoFactorRequired => 401,
            Self::TooManyAttempts(_) => 429,
            Self::RateLimitUnavailable(_) => 503,
            Self::UserBanned | Self::HookBlocked(_) => 403,
            Self::OAuth { .. } => 400,
            Self::McpToken { code, .. } if *code == "INSUFFICIENT_SCOPE" => 403,
            Self::McpToken { .. } => 401,
            Self::Delegation { .. } => 403,
            Self::Refused { status, .. } => *status,
            Self::Unauthorized | Self::JwtInvalid(_) | Self::JwtExpired => 401,
            Self::JwtClaimsFailed | Self::JwtClaimsInvalid(_) => 500,
            Self::AgentLimitReached(_) | Self::Conflict(_) => 409,
            Self::DbUnreachable(_) | Self::DbUnavailable(_) | Self::Closed | Self::Busy => 503,
            Self::MigrationFailed(_) | Self::Database(_) | Self::Internal(_) => 500,
        }
    }

    /// The error as boot reports it: a database that is down is `DB_UNREACHABLE` there.
    pub(crate) fn at_boot(self) -> Self {
        match self {
            Self::DbUnavailable(m) => Self::DbUnreachable(m),
            other => other,
        }
    }

    /// A copy of a database failure for each caller that shared one batch: the code is kept, the
    /// driver text stays in the cause.
    pub(crate) fn for_each_caller(&self) -> Self {
        match self {
            Self::DbUnavailable(m) => Self::DbUnavailable(m.clone()),
            Self::Busy => Self::Busy,
            Self::Closed => Self::Closed,
            Self::Database(c) => Self::Database(DbCause(c.0.clone())),
            other => Self::Database(DbCause(other.to_string())),
        }
    }

    pub(crate) fn validation(msg: impl Into<String>) -> Self {
        Self::ValidationFailed(msg.into())
    }

    /// A [`KavachError::Refused`]: a plugin's own code and HTTP status (a 4xx).
    pub fn refused(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self::Refused {
            code,
            status,
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for KavachError {
    fn from(e: sqlx::Error) -> Self {
        match unavailable_kind(&e) {
            Some(what) => KavachError::DbUnavailable(what.into()),
            None => KavachError::Database(DbCause(e.to_string())),
        }
    }
}

impl From<rusqlite::Error> for KavachError {
    fn from(e: rusqlite::Error) -> Self {
        let code = match &e {
            rusqlite::Error::SqliteFailure(f, _) => f.extended_code,
            _ => return KavachError::Database(DbCause(e.to_string())),
        };
        match code & 0xff {
            5 | 6 => KavachError::Busy,
            _ => match sqlite_unavailable(code) {
                Some(what) => KavachError::DbUnavailable(what.into()),
                None => KavachError::Database(DbCause(e.to_string())),
            },
        }
    }
}

/// Why a driver error means "the database is down or unusable right now" rather than a failed
/// statement; `None` for everything else. Covers what a server restart or kill surfaces mid-call:
/// the socket closing (I/O), the server's own goodbye (PostgreSQL 57P01 and kin, MariaDB 1053,
/// 1927, ...), refusals while it starts, and the pool giving up.
pub(crate) fn unavailable_kind(e: &sqlx::Error) -> Option<&'static str> {
    Some(match e {
        sqlx::Error::Io(_) => "the connection to the database failed",
        sqlx::Error::PoolTimedOut => "timed out waiting for a database connection",
        sqlx::Error::PoolClosed => "the database pool is closed",
        sqlx::Error::Tls(_) => "the TLS handshake with the database failed",
        sqlx::Error::WorkerCrashed => "the database worker stopped",
        sqlx::Error::Database(d) => return database_unavailable(d.as_ref()),
        _ => return None,
    })
}

fn database_unavailable(d: &dyn sqlx::error::DatabaseError) -> Option<&'static str> {
    if let Some(my) = d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return match my.number() {
            // ER_CON_COUNT_ERROR, ER_TOO_MANY_USER_CONNECTIONS
            1040 | 1203 => Some("the database has no free connections"),
            // ER_SERVER_SHUTDOWN, ER_NORMAL_SHUTDOWN, ER_SHUTDOWN_COMPLETE, ER_CONNECTION_KILLED,
            // ER_QUERY_INTERRUPTED by a shutdown, ER_CLIENT_INTERACTION_TIMEOUT
            1053 | 1077 | 1079 | 1927 | 4031 => Some("the database server ended the connection"),
            // ER_NET_* (read/write errors and interruptions), ER_ABORTING_CONNECTION
            1152 | 1158..=1161 => Some("the connection to the database failed"),
            // CR_CONNECTION_ERROR, CR_CONN_HOST_ERROR, CR_SERVER_GONE_ERROR, CR_SERVER_LOST,
            // CR_SERVER_LOST_EXTENDED
            2002 | 2003 | 2006 | 2013 | 2055 => Some("the connection to the database failed"),
            _ if my.code().is_some_and(|s| s.starts_with("08")) => {
                Some("the connection to the database failed")
            }
            _ => None,
        };
    }
    if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return d
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .and_then(sqlite_unavailable);
    }
    // PostgreSQL: SQLSTATE.
    let state = d.code()?;
    match state.as_ref() {
        "57P01" | "57P02" => Some("the database server ended the connection"),
        "57P03" => Some("the database server is starting up or shutting down"),
        "53300" => Some("the database has no free connections"),
        s if s.starts_with("08") => Some("the connection to the database failed"),
        _ => None,
    }
}

/// SQLite result codes (extended codes included) that say the file cannot be used right now.
fn sqlite_unavailable(code: i32) -> Option<&'static str> {
    match code & 0xff {
        13 => Some("the disk holding the SQLite database is full"),
        // SQLITE_READONLY_DBMOVED: the file was deleted or renamed under the open connection.
        8 if code == 1032 => Some("the SQLite database file was moved or deleted"),
        8 => Some("the SQLite database file is read-only"),
        14 => Some("the SQLite database file cannot be opened"),
        10 => Some("disk I/O error on the SQLite database file"),
        _ => None,
    }
}

/// VALIDATION_FAILED when an id or name holds a NUL or another control character, or is longer
/// than `max`: decided before any SQL (PostgreSQL refuses NUL in text).
pub fn check_plain(field: &str, v: &str, max: usize) -> Result<()> {
    if v.len() > max || crate::input::has_control(v, false) {
        return Err(KavachError::validation(format!(
            "{field} must be printable text of at most {max} bytes"
        )));
    }
    Ok(())
}

pub type Result<T, E = KavachError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_hide_driver_text() {
        let e = KavachError::Database(DbCause("syntax error near SELECT secret".into()));
        assert_eq!(e.to_string(), "a database operation failed");
        assert_eq!(format!("{e:?}"), "Database(DbCause(..))");
        assert_eq!(e.code(), "DATABASE_ERROR");
    }

    #[test]
    fn a_database_that_is_down_is_db_unavailable_after_boot_and_db_unreachable_at_boot() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        for e in [
            KavachError::from(sqlx::Error::Io(io)),
            KavachError::from(sqlx::Error::PoolTimedOut),
        ] {
            assert_eq!((e.code(), e.http_status()), ("DB_UNAVAILABLE", 503));
            assert_eq!(e.at_boot().code(), "DB_UNREACHABLE");
        }
        assert_eq!(
            KavachError::from(sqlx::Error::RowNotFound).code(),
            "DATABASE_ERROR"
        );
    }

    #[test]
    fn sqlite_file_faults_are_typed() {
        let lite = |code: i32| {
            KavachError::from(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                Some("/srv/secret/path.db".into()),
            ))
        };
        for (code, says) in [
            (13, "full"),                      // SQLITE_FULL
            (8, "read-only"),                  // SQLITE_READONLY
            (1032, "moved or deleted"),        // SQLITE_READONLY_DBMOVED
            (14, "cannot be opened"),          // SQLITE_CANTOPEN
            (10 | (3 << 8), "disk I/O error"), // SQLITE_IOERR_WRITE
        ] {
            let e = lite(code);
            assert_eq!(e.code(), "DB_UNAVAILABLE", "{code}");
            assert!(e.to_string().contains(says), "{e}");
            assert!(!e.to_string().contains("/srv"), "{e}");
        }
        assert_eq!(lite(5).code(), "DATABASE_BUSY");
        assert_eq!(lite(19).code(), "DATABASE_ERROR"); // a constraint: not the file's fault
        let copy = lite(13).for_each_caller();
        assert_eq!(copy.code(), "DB_UNAVAILABLE");
    }
}
