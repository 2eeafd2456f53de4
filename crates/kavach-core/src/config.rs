//! `createKavach(config)`: the configuration, parsed from JSON and checked before anything opens.

use serde::Deserialize;

use crate::error::{KavachError, Result};

/// The whole configuration. Unknown keys (plugins, emailAndPassword, ...) are accepted here and
/// handled by the parts that own them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KavachConfig {
    /// Where data lives.
    pub database: DatabaseConfig,
    /// At least 32 characters; signs and derives keys. Required outside development and test.
    #[serde(default)]
    pub secret: Option<String>,
    /// The app's public URL (decides cookie `Secure` and absolute URLs).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Do not run migrations on boot (run `kavach-cli migrate` instead).
    #[serde(default)]
    pub skip_migrations: Option<bool>,
    /// Agent settings.
    #[serde(default)]
    pub agents: AgentsConfig,
    /// Email and password sign-in.
    #[serde(default)]
    pub email_and_password: EmailPasswordConfig,
    /// Session lifetimes.
    #[serde(default)]
    pub session: SessionConfig,
    /// Where the HTTP API is mounted (default `/api/kavach`).
    #[serde(default)]
    pub base_path: Option<String>,
    /// Origins besides `baseUrl`'s that may call state-changing routes.
    #[serde(default)]
    pub trusted_origins: Vec<String>,
    /// Request headers set by a proxy the app trusts to carry the client's address
    /// (`['x-forwarded-for']`, `['x-real-ip']`, `['forwarded']`); empty: only the socket address.
    #[serde(default)]
    pub trusted_proxy_headers: Vec<String>,
    /// Largest request body the HTTP API reads, in bytes (default 1 MiB).
    #[serde(default)]
    pub max_body_size: Option<u64>,
    /// Limits on the credential routes.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// Sessions of the library the app migrates from (`cookieAuth(...)`).
    #[serde(default)]
    pub external_auth: Vec<crate::accounts::external::ExternalAuthEntry>,
    /// Plugin descriptions (`{ id, options }`) from `kavachos/plugins`.
    #[serde(default)]
    pub plugins: Vec<crate::accounts::external::ExternalAuthEntry>,
    /// `webhooks: [{ url, secret, events, retries?, backoff? }]` (checked by `events::parse`).
    #[serde(default)]
    pub webhooks: serde_json::Value,
    /// `user: { additionalFields }` (checked by `accounts::fields::parse`).
    #[serde(default)]
    pub user: serde_json::Value,
    /// `audit: { retentionDays? }`.
    #[serde(default)]
    pub audit: AuditConfig,
}

/// `audit: { retentionDays? }`: audit rows older than this many days are deleted in the background.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditConfig {
    #[serde(default)]
    pub retention_days: Option<serde_json::Value>,
}

/// `rateLimit: { enabled?, maxFailedSignIns?, failedSignInWindow?, maxCredentialRequestsPerIp?, credentialWindow?, storage?, url? }`
/// (windows in seconds).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitConfig {
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Failed sign-ins per account per window (default 10 per 900 s).
    #[serde(default)]
    pub max_failed_sign_ins: Option<u32>,
    #[serde(default)]
    pub failed_sign_in_window: Option<u32>,
    /// Credential requests per client IP per window (default 30 per 60 s).
    #[serde(default)]
    pub max_credential_requests_per_ip: Option<u32>,
    #[serde(default)]
    pub credential_window: Option<u32>,
    /// `'database'` (default) or `'redis'`.
    #[serde(default)]
    pub storage: Option<String>,
    /// `redis://` or `rediss://` URL, with `storage: 'redis'`.
    #[serde(default)]
    pub url: Option<String>,
}

/// `emailAndPassword: { enabled, minPasswordLength?, pbkdf2Iterations? }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailPasswordConfig {
    #[serde(default)]
    pub enabled: bool,
    /// At least 8 (the default); 12 meets ASVS level 2.
    #[serde(default)]
    pub min_password_length: Option<u32>,
    /// PBKDF2-HMAC-SHA256 iterations for new hashes (default 600,000; at least 1,000).
    #[serde(default)]
    pub pbkdf2_iterations: Option<u32>,
    /// Sign-up sends a verification email and sign-in waits for it.
    #[serde(default)]
    pub require_email_verification: bool,
    /// Seconds a password-reset link stays valid (default 3,600).
    #[serde(default)]
    pub reset_password_token_expires_in: Option<u32>,
}

/// `session: { expiresIn?, updateAge? }` in seconds.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionConfig {
    /// Lifetime of a session since its last refresh (default 7 days).
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// How old a session's refresh must be before a use slides its expiry (default 1 day).
    #[serde(default)]
    pub update_age: Option<u64>,
    /// The session cookie's name (default `kavach_session`).
    #[serde(default)]
    pub cookie_name: Option<String>,
}

/// `database: { provider, url, skipMigrations?, pool?, durability? }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseConfig {
    /// `sqlite` (default), `postgres` / `postgresql`, or `mysql` (MariaDB too).
    #[serde(default)]
    pub provider: Option<String>,
    /// A connection URL, or for SQLite a file path, `file:...`, `sqlite:...` or `:memory:`.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub skip_migrations: Option<bool>,
    #[serde(default)]
    pub pool: PoolConfig,
    /// SQLite only: `normal` (default; WAL, a committed row survives a process crash) or `full`
    /// (fsync on every commit; survives power loss).
    #[serde(default)]
    pub durability: Option<String>,
}

/// Pool sizes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolConfig {
    #[serde(default)]
    pub max_connections: Option<u32>,
    #[serde(default)]
    pub min_connections: Option<u32>,
    /// Seconds to wait for a connection before failing with `DB_UNREACHABLE`.
    #[serde(default)]
    pub acquire_timeout: Option<u64>,
}

/// `agents: { maxPerOwner?, tokenExpiry? }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentsConfig {
    /// Active agents one owner may hold (default 10).
    #[serde(default)]
    pub max_per_owner: Option<u32>,
    /// Default lifetime of a new agent when `create` gives no `expiresAt`: seconds, or a string such
    /// as `"30d"`, `"12h"`, `"15m"`, `"90s"`. Default: no expiry.
    #[serde(default)]
    pub token_expiry: Option<serde_json::Value>,
    /// `approvals: { expiresIn?, reuse? }`: how long a pending or approved approval lives (seconds,
    /// default 3600) and whether an approval is used once (`'once'`, default) or until it expires
    /// (`'ttl'`).
    #[serde(default)]
    pub approvals: Option<ApprovalsConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalsConfig {
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub reuse: Option<String>,
}

/// Which SQL dialect a database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    MySql,
}

/// Durability of SQLite commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Normal,
    Full,
}

/// The checked configuration the core runs on.
#[derive(Debug, Clone)]
pub struct Settings {
    pub dialect: Dialect,
    /// The connection URL or SQLite location, as given (never logged).
    pub url: String,
    pub run_migrations: bool,
    pub max_connections: Option<u32>,
    pub min_connections: Option<u32>,
    pub acquire_timeout_secs: u64,
    pub durability: Durability,
    pub max_agents_per_owner: u32,
    pub default_agent_ttl_ms: Option<i64>,
    /// How long an approval waits, and an approved one stays usable.
    pub approval_ttl_ms: i64,
    /// An approval allows every retry until it expires (`reuse: 'ttl'`), not just the first.
    pub approval_reusable: bool,
    pub email_password: bool,
    pub require_email_verification: bool,
    pub reset_token_ttl_ms: i64,
    pub min_password_length: usize,
    pub pbkdf2_iterations: u32,
    pub session_ttl_ms: i64,
    pub session_update_age_ms: i64,
    /// `scheme://host[:port]` of `baseUrl`, if set.
    pub base_origin: Option<String>,
    /// Without `baseUrl`, links in emails may use the request's origin: only under `NODE_ENV`
    /// development or test, since a request's Host is the sender's to choose.
    pub links_from_request: bool,
    /// Cookies get `Secure` (baseUrl is https).
    pub secure_cookies: bool,
    pub base_path: String,
    pub trusted_origins: Vec<String>,
    /// `trustedProxyHeaders`, lowercased, in the order given.
    pub trusted_proxy_headers: Vec<String>,
    pub cookie_name: String,
    pub max_body_bytes: usize,
    /// `(failed sign-ins per account, credential requests per IP)`, or `None` when turned off.
    pub rate_limits: Option<(
        crate::store::ratelimit::Limit,
        crate::store::ratelimit::Limit,
    )>,
    /// `rateLimit.url` when `rateLimit.storage` is `'redis'`; `None`: counters in the database.
    pub rate_limit_redis: Option<String>,
    pub cookie_auth: Vec<crate::accounts::external::CookieAuth>,
    /// `user.additionalFields`, checked.
    pub user_fields: Vec<crate::accounts::fields::FieldDef>,
    /// `audit.retentionDays`: audit rows older than this many days are pruned; `None` keeps all.
    pub audit_retention_days: Option<u32>,
}

/// `scheme://host[:port]` of an absolute http(s) URL, lowercased; `None` if it is not one.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    if host.is_empty() || host.contains('@') {
        return None;
    }
    let host = host.to_ascii_lowercase();
    let host = match (scheme.as_str(), host.rsplit_once(':')) {
        ("http", Some((h, "80"))) | ("https", Some((h, "443"))) => h.to_owned(),
        _ => host,
    };
    Some(format!("{scheme}://{host}"))
}

/// Deserializes an optional Unix-milliseconds timestamp given as an integer or an integral float
/// (JavaScript numbers arrive as floats once they pass 2^31).
pub fn de_opt_millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Option::<serde_json::Number>::deserialize(d)?;
    v.map(|n| {
        number_to_millis(&n)
            .ok_or_else(|| serde::de::Error::custom("expected a whole number of milliseconds"))
    })
    .transpose()
}

/// Like [`de_opt_millis`], but keeps an explicit `null` apart from an absent field.
pub fn de_opt_opt_millis<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<i64>>, D::Error> {
    de_opt_millis(d).map(Some)
}

fn number_to_millis(n: &serde_json::Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    // ±8.64e15 ms is the range of a JavaScript Date.
    (f.is_finite() && f.fract() == 0.0 && f.abs() <= 8.64e15).then_some(f as i64)
}

/// Parses `"30d"`, `"12h"`, `"15m"`, `"90s"` or a number of seconds into milliseconds.
pub fn parse_duration_ms(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n
            .as_f64()
            .filter(|s| *s > 0.0 && s.is_finite())
            .map(|s| (s * 1000.0) as i64),
        serde_json::Value::String(s) => {
            let s = s.trim();
            let unit = s.chars().last()?;
            let mult: i64 = match unit {
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => 86_400_000,
                _ => return None,
            };
            let n: i64 = s[..s.len() - 1].parse().ok().filter(|n| *n > 0)?;
            n.checked_mul(mult)
        }
        _ => None,
    }
}

impl KavachConfig {
    /// Parses the JSON the binding hands over.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| {
            // serde's message names the field and expected type; it never echoes values.
            KavachError::ConfigInvalid(format!("invalid configuration: {e}"))
        })
    }

    /// Checks everything that can be checked without a database. `node_env` is `NODE_ENV`.
    pub fn settings(&self, node_env: Option<&str>) -> Result<Settings> {
        let dialect = match self.database.provider.as_deref().unwrap_or("sqlite") {
            "sqlite" => Dialect::Sqlite,
            "postgres" | "postgresql" | "pg" => Dialect::Postgres,
            "mysql" | "mariadb" => Dialect::MySql,
            other => {
                return Err(KavachError::ConfigInvalid(format!(
                    "database.provider \"{other}\" is not supported: use \"sqlite\", \"postgres\" or \"mysql\""
                )))
            }
        };
        let url = match (&self.database.url, dialect) {
            (Some(u), _) if !u.trim().is_empty() => u.trim().to_owned(),
            (_, Dialect::Sqlite) => "kavach.db".to_owned(),
            _ => {
                return Err(KavachError::ConfigInvalid(
                    "database.url is required for postgres and mysql (it was empty or missing)"
                        .into(),
                ))
            }
        };
        match dialect {
            Dialect::Postgres
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) =>
            {
                return Err(KavachError::ConfigInvalid(
                    "database.url for postgres must start with postgres:// or postgresql://".into(),
                ))
            }
            Dialect::MySql if !(url.starts_with("mysql://") || url.starts_with("mariadb://")) => {
                return Err(KavachError::ConfigInvalid(
                    "database.url for mysql must start with mysql:// or mariadb://".into(),
                ))
            }
            _ => {}
        }
        let dev = matches!(node_env, Some("development") | Some("test"));
        match &self.secret {
            Some(s) if s.chars().count() < 32 => {
                return Err(KavachError::ConfigInvalid("secret must be at least 32 characters long".into()))
            }
            None if !dev => {
                return Err(KavachError::ConfigInvalid(
                    "secret is required (at least 32 characters) unless NODE_ENV is development or test".into(),
                ))
            }
            _ => {}
        }
        if let Some(b) = &self.base_url {
            if !(b.starts_with("http://") || b.starts_with("https://")) {
                return Err(KavachError::ConfigInvalid(
                    "baseUrl must start with http:// or https://".into(),
                ));
            }
        }
        let durability = match self.database.durability.as_deref() {
            None | Some("normal") => Durability::Normal,
            Some("full") => Durability::Full,
            Some(_) => {
                return Err(KavachError::ConfigInvalid(
                    "database.durability must be \"normal\" or \"full\"".into(),
                ))
            }
        };
        let pool = &self.database.pool;
        if pool.max_connections == Some(0) || pool.max_connections.is_some_and(|n| n > 1000) {
            return Err(KavachError::ConfigInvalid(
                "database.pool.maxConnections must be between 1 and 1000".into(),
            ));
        }
        if let (Some(min), Some(max)) = (pool.min_connections, pool.max_connections) {
            if min > max {
                return Err(KavachError::ConfigInvalid(
                    "database.pool.minConnections must not exceed maxConnections".into(),
                ));
            }
        }
        let max_agents_per_owner = match self.agents.max_per_owner {
            Some(0) => {
                return Err(KavachError::ConfigInvalid(
                    "agents.maxPerOwner must be at least 1".into(),
                ))
            }
            Some(n) => n,
            None => 10,
        };
        let default_agent_ttl_ms = match &self.agents.token_expiry {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(parse_duration_ms(v).ok_or_else(|| {
                KavachError::ConfigInvalid(
                    "agents.tokenExpiry must be a positive number of seconds or a string like \"30d\", \"12h\", \"15m\", \"90s\"".into(),
                )
            })?),
        };
        let approvals = self.agents.approvals.clone().unwrap_or_default();
        let approval_ttl_ms = match approvals.expires_in {
            None => 3_600_000,
            Some(n) if (1..=31_622_400).contains(&n) => (n as i64) * 1000,
            Some(_) => {
                return Err(KavachError::ConfigInvalid(
                    "agents.approvals.expiresIn must be between 1 second and 366 days".into(),
                ))
            }
        };
        let approval_reusable = match approvals.reuse.as_deref() {
            None | Some("once") => false,
            Some("ttl") => true,
            Some(_) => {
                return Err(KavachError::ConfigInvalid(
                    "agents.approvals.reuse must be 'once' or 'ttl'".into(),
                ))
            }
        };
        let ep = &self.email_and_password;
        let min_password_length = match ep.min_password_length {
            Some(n) if !(8..=128).contains(&n) => {
                return Err(KavachError::ConfigInvalid(
                    "emailAndPassword.minPasswordLength must be between 8 and 128".into(),
                ))
            }
            Some(n) => n as usize,
            None => 8,
        };
        let pbkdf2_iterations = match ep.pbkdf2_iterations {
            Some(n) if !(1_000..=10_000_000).contains(&n) => {
                return Err(KavachError::ConfigInvalid(
                    "emailAndPassword.pbkdf2Iterations must be between 1,000 and 10,000,000".into(),
                ))
            }
            Some(n) => n,
            None => crate::crypto::passwords::DEFAULT_ITERATIONS,
        };
        let session_ttl_ms = match self.session.expires_in {
            Some(0) => {
                return Err(KavachError::ConfigInvalid(
                    "session.expiresIn must be positive".into(),
                ))
            }
            Some(s) => i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX),
            None => 7 * 86_400_000,
        };
        let session_update_age_ms = match self.session.update_age {
            Some(s) => i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX),
            None => 86_400_000,
        };
        let base_origin = self.base_url.as_deref().and_then(origin_of);
        let base_path = match self.base_path.as_deref().map(|p| p.trim_end_matches('/')) {
            None => "/api/kavach".to_owned(),
            Some("") => String::new(),
            Some(p) if p.starts_with('/') && !p.contains(['?', '#', ' ']) => p.to_owned(),
            Some(_) => {
                return Err(KavachError::ConfigInvalid(
                    "basePath must start with /".into(),
                ))
            }
        };
        let mut trusted_origins = Vec::with_capacity(self.trusted_origins.len());
        for o in &self.trusted_origins {
            trusted_origins.push(origin_of(o).ok_or_else(|| {
                KavachError::ConfigInvalid(format!(
                    "trustedOrigins entry \"{o}\" is not an http(s) origin"
                ))
            })?);
        }
        let mut trusted_proxy_headers = Vec::with_capacity(self.trusted_proxy_headers.len());
        for h in &self.trusted_proxy_headers {
            let ok = !h.is_empty()
                && h.len() <= 64
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(KavachError::ConfigInvalid(format!(
                    "trustedProxyHeaders entry \"{}\" is not a header name",
                    h.escape_debug()
                )));
            }
            trusted_proxy_headers.push(h.to_ascii_lowercase());
        }
        let cookie_name = self
            .session
            .cookie_name
            .clone()
            .unwrap_or_else(|| "kavach_session".into());
        if cookie_name.is_empty()
            || !cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        {
            return Err(KavachError::ConfigInvalid(
                "session.cookieName may hold only letters, digits, _ - .".into(),
            ));
        }
        let max_body_bytes = match self.max_body_size {
            Some(0) => {
                return Err(KavachError::ConfigInvalid(
                    "maxBodySize must be positive".into(),
                ))
            }
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => 1024 * 1024,
        };
        let rl = &self.rate_limit;
        let limit = |max: Option<u32>,
                     default_max: u32,
                     secs: Option<u32>,
                     default_secs: u32,
                     what: &str| {
            let (max, secs) = (max.unwrap_or(default_max), secs.unwrap_or(default_secs));
            if max == 0 || secs == 0 {
                return Err(KavachError::ConfigInvalid(format!(
                    "rateLimit.{what} and its window must be positive"
                )));
            }
            Ok(crate::store::ratelimit::Limit {
                max,
                window_ms: i64::from(secs) * 1000,
            })
        };
        let rate_limits = if rl.enabled.unwrap_or(true) {
            Some((
                limit(
                    rl.max_failed_sign_ins,
                    10,
                    rl.failed_sign_in_window,
                    900,
                    "maxFailedSignIns",
                )?,
                limit(
                    rl.max_credential_requests_per_ip,
                    30,
                    rl.credential_window,
                    60,
                    "maxCredentialRequestsPerIp",
                )?,
            ))
        } else {
            None
        };
        let rate_limit_redis = match (rl.storage.as_deref(), rl.url.as_deref()) {
            (None | Some("database"), None) => None,
            (None | Some("database"), Some(_)) => {
                return Err(KavachError::ConfigInvalid(
                    "rateLimit.url is only for storage 'redis'".into(),
                ))
            }
            (Some("redis"), None) => {
                return Err(KavachError::ConfigInvalid(
                    "rateLimit.storage 'redis' needs rateLimit.url".into(),
                ))
            }
            (Some("redis"), Some(u)) => {
                if !(u.starts_with("redis://") || u.starts_with("rediss://"))
                    || redis::Client::open(u).is_err()
                {
                    return Err(KavachError::ConfigInvalid(
                        "rateLimit.url must be a redis:// or rediss:// URL".into(),
                    ));
                }
                Some(u.to_string())
            }
            (Some(_), _) => {
                return Err(KavachError::ConfigInvalid(
                    "rateLimit.storage must be 'database' or 'redis'".into(),
                ))
            }
        };
        let audit_retention_days =
            match &self.audit.retention_days {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => match v.as_f64() {
                    Some(d) if d.fract() == 0.0 && (1.0..=36_500.0).contains(&d) => Some(d as u32),
                    _ => return Err(KavachError::ConfigInvalid(
                        "audit.retentionDays must be a whole number of days between 1 and 36,500"
                            .into(),
                    )),
                },
            };
        let skip =
            self.skip_migrations.unwrap_or(false) || self.database.skip_migrations.unwrap_or(false);
        Ok(Settings {
            dialect,
            url,
            run_migrations: !skip,
            max_connections: pool.max_connections,
            min_connections: pool.min_connections,
            acquire_timeout_secs: pool.acquire_timeout.unwrap_or(10).clamp(1, 600),
            durability,
            max_agents_per_owner,
            approval_ttl_ms,
            approval_reusable,
            default_agent_ttl_ms,
            email_password: ep.enabled,
            require_email_verification: ep.require_email_verification,
            reset_token_ttl_ms: i64::from(
                ep.reset_password_token_expires_in.unwrap_or(3600).max(60),
            ) * 1000,
            min_password_length,
            pbkdf2_iterations,
            session_ttl_ms,
            session_update_age_ms,
            secure_cookies: base_origin
                .as_deref()
                .is_some_and(|o| o.starts_with("https://")),
            base_origin,
            links_from_request: dev,
            base_path,
            trusted_origins,
            trusted_proxy_headers,
            cookie_name,
            max_body_bytes,
            rate_limits,
            rate_limit_redis,
            cookie_auth: crate::accounts::external::parse(&self.external_auth)?,
            user_fields: crate::accounts::fields::parse(&self.user)?,
            audit_retention_days,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: serde_json::Value) -> KavachConfig {
        KavachConfig::from_json(&v.to_string()).unwrap()
    }

    #[test]
    fn defaults_to_sqlite_and_requires_secret_in_production() {
        let c = cfg(json!({"database": {"provider": "sqlite", "url": ":memory:"}}));
        assert_eq!(c.settings(None).unwrap_err().code(), "CONFIG_INVALID");
        let s = c.settings(Some("test")).unwrap();
        assert_eq!(s.dialect, Dialect::Sqlite);
        assert!(s.run_migrations);
        assert_eq!(s.max_agents_per_owner, 10);
    }

    #[test]
    fn rejects_bad_values() {
        let secret = "x".repeat(32);
        for bad in [
            json!({"database": {"provider": "oracle", "url": "x"}, "secret": secret}),
            json!({"database": {"provider": "postgres"}, "secret": secret}),
            json!({"database": {"provider": "postgres", "url": "mysql://x"}, "secret": secret}),
            json!({"database": {"provider": "sqlite"}, "secret": "short"}),
            json!({"database": {"provider": "sqlite", "durability": "maybe"}, "secret": secret}),
            json!({"database": {"provider": "sqlite"}, "secret": secret, "agents": {"tokenExpiry": "soon"}}),
            json!({"database": {"provider": "sqlite"}, "secret": secret, "baseUrl": "example.com"}),
        ] {
            assert_eq!(
                cfg(bad.clone()).settings(None).unwrap_err().code(),
                "CONFIG_INVALID",
                "{bad}"
            );
        }
        assert!(KavachConfig::from_json(r#"{"database": 3}"#).is_err());
    }

    #[test]
    fn audit_retention_days() {
        let secret = "x".repeat(32);
        let with = |v: serde_json::Value| {
            cfg(json!({"database": {"provider": "sqlite"}, "secret": secret, "audit": {"retentionDays": v}}))
                .settings(None)
        };
        assert_eq!(with(json!(30)).unwrap().audit_retention_days, Some(30));
        assert_eq!(with(json!(7.0)).unwrap().audit_retention_days, Some(7));
        assert_eq!(with(json!(null)).unwrap().audit_retention_days, None);
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("30"),
            json!(true),
            json!(36_501),
        ] {
            assert_eq!(
                with(bad.clone()).unwrap_err().code(),
                "CONFIG_INVALID",
                "{bad}"
            );
        }
        let unknown = KavachConfig::from_json(r#"{"database": {}, "audit": {"retentionDay": 3}}"#);
        assert!(unknown.is_err());
        let none = cfg(json!({"database": {"provider": "sqlite"}, "secret": secret}));
        assert_eq!(none.settings(None).unwrap().audit_retention_days, None);
    }

    #[test]
    fn skip_migrations_in_either_place() {
        let secret = "x".repeat(32);
        let a = cfg(
            json!({"database": {"provider": "sqlite"}, "secret": secret, "skipMigrations": true}),
        );
        let b = cfg(
            json!({"database": {"provider": "sqlite", "skipMigrations": true}, "secret": secret}),
        );
        assert!(!a.settings(None).unwrap().run_migrations);
        assert!(!b.settings(None).unwrap().run_migrations);
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("https://App.example.com/path?x").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            origin_of("http://localhost:3000").as_deref(),
            Some("http://localhost:3000")
        );
        assert_eq!(
            origin_of("https://a.com:443/").as_deref(),
            Some("https://a.com")
        );
        assert_eq!(origin_of("ftp://a.com"), None);
        assert_eq!(origin_of("https://user@evil.com"), None);
        assert_eq!(origin_of("null"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms(&json!("24h")), Some(86_400_000));
        assert_eq!(parse_duration_ms(&json!("30d")), Some(30 * 86_400_000));
        assert_eq!(parse_duration_ms(&json!(90)), Some(90_000));
        assert_eq!(parse_duration_ms(&json!("-3h")), None);
        assert_eq!(parse_duration_ms(&json!("3x")), None);
        assert_eq!(parse_duration_ms(&json!("")), None);
    }
}

#[cfg(test)]
mod millis_tests {
    #[derive(serde::Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "super::de_opt_millis")]
        at: Option<i64>,
    }

    #[test]
    fn accepts_integral_floats_only() {
        let p = |s: &str| serde_json::from_str::<T>(s).map(|t| t.at);
        assert_eq!(
            p(r#"{"at": 1795634067282.0}"#).unwrap(),
            Some(1_795_634_067_282)
        );
        assert_eq!(p(r#"{"at": 12}"#).unwrap(), Some(12));
        assert_eq!(p(r#"{}"#).unwrap(), None);
        assert_eq!(p(r#"{"at": null}"#).unwrap(), None);
        assert!(p(r#"{"at": 1.5}"#).is_err());
        assert!(p(r#"{"at": 1e300}"#).is_err());
        assert!(p(r#"{"at": "x"}"#).is_err());
    }
}
