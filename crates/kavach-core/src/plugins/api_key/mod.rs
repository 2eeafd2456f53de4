//! The apiKey() plugin (better-auth 1.7's api-key, `apiKeys()` is the same plugin): keys a user
//! creates for scripts and servers, verified by the app (`verify`) or, with
//! `enableSessionForAPIKeys`, accepted as that user's session from the `x-api-key` header.
//!
//! - A key is 64 random letters (after its prefix); only its SHA-256 is stored (`disableKeyHashing`
//!   is accepted for compatibility and ignored), its first characters kept as `start` for display.
//! - Every check reads the key and its user in one joined query. A key with neither a use count
//!   (`remaining`) nor a rate limit is then answered without a write; otherwise one conditional
//!   UPDATE spends the use and the rate-limit slot, guarded in SQL (`remaining > 0` or a refill due,
//!   the window's count under its max, the key enabled and unexpired), so concurrent requests in
//!   any number of processes never exceed either. Nothing about a key's validity is cached: a key
//!   disabled or deleted in one process is refused by the next read of every other.
//! - On SQLite the no-write case is read on the calling thread (the same path as sessions).

use std::collections::BTreeMap;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;

use crate::accounts::human::{Session, User};
use crate::config::Dialect;
use crate::crypto::token::{hash_token, new_id};
use crate::error::{check_plain, KavachError, Result};
use crate::http::HttpRequest;
use crate::kavach::Kavach;
use crate::store::db::{sql_for, Pool, Ts};
use crate::{col_opt_str, col_str, on_pool};

mod calls;
mod routes;

/// Key characters: a-z and A-Z, as better-auth's default generator.
const ALPHABET: &[u8; 52] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// The longest key (prefix included) a lookup hashes; anything longer is not a key of ours.
const MAX_KEY_LEN: usize = 512;

/// `apiKey(options)` of `kavachos/plugins`, running.
#[derive(Debug)]
pub struct ApiKeyPlugin {
    pub settings: ApiKeySettings,
    update_sql: String,
    select_by_hash_sql: String,
}

/// The registry's factory.
pub fn plugin(
    options: &Value,
    env: &crate::plugin::PluginEnv<'_>,
) -> Result<std::sync::Arc<dyn crate::plugin::Plugin>> {
    let _ = env;
    let settings = parse_options(options)?;
    Ok(std::sync::Arc::new(ApiKeyPlugin {
        update_sql: spend_sql(settings.rate_limit.enabled),
        select_by_hash_sql: format!("{SELECT_KEY} WHERE k.key_hash = ?"),
        settings,
    }))
}

impl crate::plugin::Plugin for ApiKeyPlugin {
    fn id(&self) -> &'static str {
        "api-key"
    }

    fn routes(&self) -> &'static [crate::plugin::Route] {
        routes::ROUTES
    }

    fn namespace(&self) -> Option<&'static str> {
        Some("apiKeys")
    }

    fn call<'a>(
        &'a self,
        k: &'a Kavach,
        op: &'a str,
        input: Value,
    ) -> crate::BoxFut<'a, Result<Value>> {
        Box::pin(calls::call(k, op, input))
    }

    fn session_from_headers<'a>(
        &'a self,
        k: &'a Kavach,
        req: &'a HttpRequest,
    ) -> crate::BoxFut<'a, Result<Option<(Session, User)>>> {
        Box::pin(async move {
            let Some(key) = self.key_of(req) else {
                return Ok(None);
            };
            let store = k.api_key_store()?;
            match store.check(key, None, k.now_ms()).await {
                Ok((row, user)) => Ok(Some(key_session(k, &row, user, req))),
                Err(e) => session_failure(e),
            }
        })
    }

    fn session_from_headers_inline(
        &self,
        k: &Kavach,
        req: &HttpRequest,
    ) -> Option<Result<Option<(Session, User)>>> {
        let Some(key) = self.key_of(req) else {
            return Some(Ok(None));
        };
        if !plausible_key(key) {
            return Some(Ok(None));
        }
        let now = k.now_ms();
        let found = k.with_sqlite_reader(|conn| sqlite_read(conn, &hash_token(key)))?;
        Some(match found {
            Err(e) => Err(e),
            Ok(None) => Ok(None),
            Ok(Some((row, user))) => match evaluate(&row, &user, None, &self.settings, now) {
                // A use or a rate-limit slot to spend: the async path writes it.
                Ok(true) => return None,
                Ok(false) => Ok(Some(key_session(k, &row, user, req))),
                Err(e) => session_failure(e),
            },
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl ApiKeyPlugin {
    /// The key a request carries in one of `apiKeyHeaders`, if the plugin makes sessions of keys.
    fn key_of<'r>(&self, req: &'r HttpRequest) -> Option<&'r str> {
        if !self.settings.enable_session {
            return None;
        }
        self.settings
            .headers
            .iter()
            .find_map(|h| req.header_value(h))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }
}

/// A failed key as a session: none, except that a spent or rate-limited key answers 429.
fn session_failure(e: KavachError) -> Result<Option<(Session, User)>> {
    match e.code() {
        "RATE_LIMITED" | "USAGE_EXCEEDED" => Err(e),
        "INVALID_API_KEY" | "KEY_DISABLED" | "KEY_EXPIRED" | "KEY_NOT_FOUND" | "USER_BANNED" => {
            Ok(None)
        }
        _ => Err(e),
    }
}

/// The session a key stands for (better-auth's: the key's id, its expiry or a session's).
fn key_session(k: &Kavach, row: &KeyRow, user: User, req: &HttpRequest) -> (Session, User) {
    let now = k.now_ms();
    (
        Session {
            id: row.id.clone(),
            user_id: row.user_id.clone(),
            expires_at: row
                .expires_at
                .unwrap_or_else(|| now.saturating_add(k.settings().session_ttl_ms)),
            ip_address: req.client_ip.clone(),
            user_agent: req.header_value("user-agent").map(str::to_owned),
            created_at: now,
            updated_at: now,
            active_organization_id: None,
            impersonated_by: None,
        },
        user,
    )
}

// ---- options ------------------------------------------------------------------------------------

/// `{ resource: [actions] }`.
pub type Permissions = BTreeMap<String, Vec<String>>;

/// The checked `apiKey({ ... })`.
#[derive(Debug, Clone)]
pub struct ApiKeySettings {
    /// Lowercased header names a key may come in (`apiKeyHeaders`, default `x-api-key`).
    pub headers: Vec<String>,
    pub default_key_length: usize,
    pub default_prefix: Option<String>,
    pub min_prefix: usize,
    pub max_prefix: usize,
    pub min_name: usize,
    pub max_name: usize,
    pub require_name: bool,
    pub enable_metadata: bool,
    pub enable_session: bool,
    pub start_chars: Option<usize>,
    pub default_permissions: Option<Permissions>,
    pub expiration: Expiration,
    pub rate_limit: RateLimit,
}

#[derive(Debug, Clone)]
pub struct Expiration {
    /// Milliseconds; `None`: keys do not expire unless asked to.
    pub default_expires_in: Option<i64>,
    pub disable_custom: bool,
    /// Days.
    pub min_days: f64,
    pub max_days: f64,
}

#[derive(Debug, Clone)]
pub struct RateLimit {
    pub enabled: bool,
    pub time_window: i64,
    pub max_requests: i64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    api_key_headers: Option<Value>,
    default_key_length: Option<u32>,
    default_prefix: Option<String>,
    maximum_prefix_length: Option<u32>,
    minimum_prefix_length: Option<u32>,
    maximum_name_length: Option<u32>,
    minimum_name_length: Option<u32>,
    require_name: Option<bool>,
    enable_metadata: Option<bool>,
    #[serde(rename = "enableSessionForAPIKeys")]
    enable_session_for_api_keys: Option<bool>,
    /// Accepted for better-auth compatibility; keys are stored hashed whatever it says.
    disable_key_hashing: Option<bool>,
    key_expiration: Option<ExpirationOptions>,
    rate_limit: Option<RateLimitOptions>,
    permissions: Option<PermissionOptions>,
    starting_characters_config: Option<StartOptions>,
    /// Only `"database"`.
    storage: Option<String>,
    /// Only `"user"`.
    references: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExpirationOptions {
    default_expires_in: Option<Value>,
    disable_custom_expires_time: Option<bool>,
    min_expires_in: Option<f64>,
    max_expires_in: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RateLimitOptions {
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "int::opt")]
    time_window: Option<i64>,
    #[serde(default, deserialize_with = "int::opt")]
    max_requests: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PermissionOptions {
    default_permissions: Option<Permissions>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StartOptions {
    should_store: Option<bool>,
    characters_length: Option<u32>,
}

fn bad(msg: &str) -> KavachError {
    KavachError::ConfigInvalid(format!("apiKey({msg})"))
}

/// Checks `apiKey()`'s options.
pub fn parse_options(options: &Value) -> Result<ApiKeySettings> {
    let o: Options = match options {
        Value::Null => Options::default(),
        v => serde_json::from_value(v.clone())
            .map_err(|e| KavachError::ConfigInvalid(format!("invalid apiKey() options: {e}")))?,
    };
    let _ = o.disable_key_hashing;
    if o.storage.as_deref().is_some_and(|s| s != "database") {
        return Err(bad("{ storage }) supports only 'database'"));
    }
    if o.references.as_deref().is_some_and(|s| s != "user") {
        return Err(bad("{ references }) supports only 'user'"));
    }
    let headers = match o.api_key_headers {
        None => vec!["x-api-key".to_owned()],
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(bad(
                    "{ apiKeyHeaders }) must be a header name or a list of them",
                )),
            })
            .collect::<Result<Vec<_>>>()?,
        Some(_) => {
            return Err(bad(
                "{ apiKeyHeaders }) must be a header name or a list of them",
            ))
        }
    };
    if headers.is_empty()
        || headers.iter().any(|h| {
            h.is_empty()
                || h.len() > 64
                || !h
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    {
        return Err(bad("{ apiKeyHeaders }) must be valid header names"));
    }
    let headers = headers
        .into_iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let default_key_length = o.default_key_length.unwrap_or(64) as usize;
    if !(32..=256).contains(&default_key_length) {
        return Err(bad("{ defaultKeyLength }) must be between 32 and 256"));
    }
    let max_prefix = o.maximum_prefix_length.unwrap_or(32) as usize;
    let min_prefix = o.minimum_prefix_length.unwrap_or(1) as usize;
    let max_name = o.maximum_name_length.unwrap_or(32) as usize;
    let min_name = o.minimum_name_length.unwrap_or(1) as usize;
    if min_prefix > max_prefix || max_prefix > 64 {
        return Err(bad(
            "{ minimumPrefixLength, maximumPrefixLength }) must be a range up to 64",
        ));
    }
    if min_name > max_name || max_name > 255 {
        return Err(bad(
            "{ minimumNameLength, maximumNameLength }) must be a range up to 255",
        ));
    }
    if let Some(p) = &o.default_prefix {
        if !valid_prefix(p) || p.len() > max_prefix {
            return Err(bad("{ defaultPrefix }) must be letters, digits, '_' or '-', within maximumPrefixLength"));
        }
    }
    let e = o.key_expiration.unwrap_or_default();
    let default_expires_in = match &e.default_expires_in {
        None | Some(Value::Null) => None,
        Some(v) => Some(crate::config::parse_duration_ms(v).ok_or_else(|| {
            bad("{ keyExpiration: { defaultExpiresIn } }) must be seconds or a duration like '30d'")
        })?),
    };
    let min_days = e.min_expires_in.unwrap_or(1.0);
    let max_days = e.max_expires_in.unwrap_or(365.0);
    if !(min_days.is_finite() && max_days.is_finite() && min_days >= 0.0 && min_days <= max_days) {
        return Err(bad(
            "{ keyExpiration: { minExpiresIn, maxExpiresIn } }) must be a range of days",
        ));
    }
    let r = o.rate_limit.unwrap_or_default();
    let rate_limit = RateLimit {
        enabled: r.enabled.unwrap_or(true),
        time_window: r.time_window.unwrap_or(86_400_000),
        max_requests: r.max_requests.unwrap_or(10),
    };
    if rate_limit.time_window <= 0 || rate_limit.max_requests <= 0 {
        return Err(bad(
            "{ rateLimit: { timeWindow, maxRequests } }) must be positive",
        ));
    }
    let s = o.starting_characters_config.unwrap_or_default();
    let start_chars = match s.should_store.unwrap_or(true) {
        true => Some(s.characters_length.unwrap_or(6).min(32) as usize),
        false => None,
    };
    let default_permissions = o.permissions.and_then(|p| p.default_permissions);
    if let Some(p) = &default_permissions {
        check_permissions(p).map_err(|_| {
            bad("{ permissions: { defaultPermissions } }) must be { resource: [actions] }")
        })?;
    }
    Ok(ApiKeySettings {
        headers,
        default_key_length,
        default_prefix: o.default_prefix,
        min_prefix,
        max_prefix,
        min_name,
        max_name,
        require_name: o.require_name.unwrap_or(false),
        enable_metadata: o.enable_metadata.unwrap_or(false),
        enable_session: o.enable_session_for_api_keys.unwrap_or(false),
        start_chars,
        default_permissions,
        expiration: Expiration {
            default_expires_in,
            disable_custom: e.disable_custom_expires_time.unwrap_or(false),
            min_days,
            max_days,
        },
        rate_limit,
    })
}

fn valid_prefix(p: &str) -> bool {
    !p.is_empty()
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_permissions(p: &Permissions) -> Result<()> {
    if p.len() > 100 {
        return Err(KavachError::validation(
            "permissions: at most 100 resources",
        ));
    }
    for (resource, actions) in p {
        check_plain("permissions resource", resource, 128)?;
        if actions.len() > 100 {
            return Err(KavachError::validation(
                "permissions: at most 100 actions per resource",
            ));
        }
        for a in actions {
            check_plain("permissions action", a, 128)?;
        }
    }
    Ok(())
}

/// Whether `held` grants every action of every resource `wanted` names.
pub fn permits(held: &Permissions, wanted: &Permissions) -> bool {
    wanted.iter().all(|(resource, actions)| {
        held.get(resource)
            .is_some_and(|have| actions.iter().all(|a| have.contains(a)))
    })
}

// ---- keys ---------------------------------------------------------------------------------------

/// `prefix` followed by `len` random letters (uniform: bytes of 208 and above are redrawn).
pub fn new_key(prefix: Option<&str>, len: usize) -> String {
    let mut out = String::with_capacity(prefix.map_or(0, str::len) + len);
    if let Some(p) = prefix {
        out.push_str(p);
    }
    let mut buf = [0u8; 64];
    let mut n = 0;
    while n < len {
        rand::rngs::OsRng.fill_bytes(&mut buf);
        for b in buf {
            if n == len {
                break;
            }
            if b < 208 {
                out.push(ALPHABET[usize::from(b % 52)] as char);
                n += 1;
            }
        }
    }
    out
}

fn plausible_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && !key.chars().any(char::is_control)
}

// ---- rows ---------------------------------------------------------------------------------------

/// A stored key, never its hash.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub start: Option<String>,
    pub prefix: Option<String>,
    pub enabled: bool,
    pub expires_at: Option<i64>,
    pub remaining: Option<i64>,
    pub refill_amount: Option<i64>,
    pub refill_interval: Option<i64>,
    pub last_refill_at: Option<i64>,
    pub rate_limit_enabled: bool,
    pub rate_limit_time_window: Option<i64>,
    pub rate_limit_max: Option<i64>,
    pub request_count: i64,
    pub window_start: Option<i64>,
    pub last_request: Option<i64>,
    pub permissions: Option<String>,
    pub metadata: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// better-auth's ApiKey object (without `key`), times as Unix milliseconds.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: String,
    pub name: Option<String>,
    pub start: Option<String>,
    pub prefix: Option<String>,
    pub user_id: String,
    pub reference_id: String,
    pub enabled: bool,
    pub expires_at: Option<i64>,
    pub remaining: Option<i64>,
    pub refill_amount: Option<i64>,
    pub refill_interval: Option<i64>,
    pub last_refill_at: Option<i64>,
    pub rate_limit_enabled: bool,
    pub rate_limit_time_window: Option<i64>,
    pub rate_limit_max: Option<i64>,
    pub request_count: i64,
    pub last_request: Option<i64>,
    pub permissions: Option<Value>,
    pub metadata: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl KeyRow {
    pub fn public(&self) -> ApiKey {
        let json = |s: &Option<String>| {
            s.as_deref()
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
                .filter(|v| !v.is_null())
        };
        ApiKey {
            id: self.id.clone(),
            name: self.name.clone(),
            start: self.start.clone(),
            prefix: self.prefix.clone(),
            user_id: self.user_id.clone(),
            reference_id: self.user_id.clone(),
            enabled: self.enabled,
            expires_at: self.expires_at,
            remaining: self.remaining,
            refill_amount: self.refill_amount,
            refill_interval: self.refill_interval,
            last_refill_at: self.last_refill_at,
            rate_limit_enabled: self.rate_limit_enabled,
            rate_limit_time_window: self.rate_limit_time_window,
            rate_limit_max: self.rate_limit_max,
            request_count: self.request_count,
            last_request: self.last_request,
            permissions: json(&self.permissions),
            metadata: json(&self.metadata),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    fn refill_due(&self, now: i64) -> bool {
        match (self.refill_amount, self.refill_interval) {
            (Some(_), Some(interval)) => {
                now.saturating_sub(self.last_refill_at.unwrap_or(self.created_at)) > interval
            }
            _ => false,
        }
    }

    fn rate_limited(&self, global: bool) -> Option<(i64, i64)> {
        match (
            global && self.rate_limit_enabled,
            self.rate_limit_time_window,
            self.rate_limit_max,
        ) {
            (true, Some(w), Some(m)) => Some((w, m)),
            _ => None,
        }
    }
}

fn refused(code: &'static str, status: u16, msg: &str) -> KavachError {
    KavachError::refused(code, status, msg)
}

/// Checks a key read with its user at `now`: an error if it may not be used, else whether using
/// it spends something (a use, a rate-limit slot), i.e. needs the guarded UPDATE.
fn evaluate(
    row: &KeyRow,
    user: &User,
    wanted: Option<&Permissions>,
    settings: &ApiKeySettings,
    now: i64,
) -> Result<bool> {
    if !row.enabled {
        return Err(refused("KEY_DISABLED", 401, "API Key is disabled"));
    }
    if row.expires_at.is_some_and(|e| e <= now) {
        return Err(refused("KEY_EXPIRED", 401, "API Key has expired"));
    }
    if user.is_banned(now) {
        return Err(refused("USER_BANNED", 401, "User is banned"));
    }
    if let Some(wanted) = wanted {
        let held: Option<Permissions> = row
            .permissions
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok());
        if !held.is_some_and(|h| permits(&h, wanted)) {
            return Err(refused("KEY_NOT_FOUND", 401, "API Key not found"));
        }
    }
    if let Some(r) = row.remaining {
        if r <= 0 && !row.refill_due(now) {
            return Err(refused(
                "USAGE_EXCEEDED",
                429,
                "API Key has reached its usage limit",
            ));
        }
    }
    let limited = row.rate_limited(settings.rate_limit.enabled);
    if let Some((window, max)) = limited {
        if let Some(start) = row.window_start {
            let elapsed = now.saturating_sub(start);
            if elapsed <= window && row.request_count >= max {
                let secs = (window - elapsed).max(1).div_euclid(1000) + 1;
                return Err(KavachError::TooManyAttempts(secs as u64));
            }
        }
    }
    Ok(row.remaining.is_some() || limited.is_some())
}

/// The one guarded UPDATE that spends a use and a rate-limit slot. Placeholders, in order:
/// now x6 (request_count, window_start x2, remaining, last_refill_at), now (last_request),
/// updated_at (Ts), id, now (Ts, expiry), now (refill), now (window). MySQL assigns left to right
/// with the new values, so every assignment reads only columns not assigned before it (the
/// nullness of `remaining` never changes).
fn spend_sql(rate_limit_on: bool) -> String {
    let rl = if rate_limit_on {
        "(rate_limit_enabled = TRUE AND rate_limit_time_window IS NOT NULL AND rate_limit_max IS NOT NULL)"
    } else {
        "(1 = 0)"
    };
    let fresh = "(window_start IS NULL OR ? - window_start > rate_limit_time_window)";
    let refill = "(refill_amount IS NOT NULL AND refill_interval IS NOT NULL AND ? - last_refill_at > refill_interval)";
    format!(
        "UPDATE kavach_api_key SET \
         request_count = CASE WHEN NOT {rl} THEN request_count WHEN {fresh} THEN 1 ELSE request_count + 1 END, \
         window_start = CASE WHEN NOT {rl} THEN window_start WHEN {fresh} THEN ? ELSE window_start END, \
         remaining = CASE WHEN remaining IS NULL THEN NULL WHEN {refill} THEN refill_amount - 1 ELSE remaining - 1 END, \
         last_refill_at = CASE WHEN remaining IS NOT NULL AND {refill} THEN ? ELSE last_refill_at END, \
         last_request = ?, updated_at = ? \
         WHERE id = ? AND enabled = TRUE AND (expires_at IS NULL OR expires_at > ?) \
         AND (remaining IS NULL OR remaining > 0 OR {refill}) \
         AND (NOT {rl} OR {fresh} OR request_count < rate_limit_max)"
    )
}

const SELECT_KEY: &str = "SELECT k.id AS k_id, k.user_id AS k_user_id, k.name AS k_name, k.key_start AS k_key_start, \
     k.prefix AS k_prefix, k.enabled AS k_enabled, k.expires_at AS k_expires_at, k.remaining AS k_remaining, \
     k.refill_amount AS k_refill_amount, k.refill_interval AS k_refill_interval, k.last_refill_at AS k_last_refill_at, \
     k.rate_limit_enabled AS k_rate_limit_enabled, k.rate_limit_time_window AS k_rate_limit_time_window, \
     k.rate_limit_max AS k_rate_limit_max, k.request_count AS k_request_count, k.window_start AS k_window_start, \
     k.last_request AS k_last_request, k.permissions AS k_permissions, k.metadata AS k_metadata, \
     k.created_at AS k_created_at, k.updated_at AS k_updated_at, \
     u.id AS u_id, u.email AS u_email, u.name AS u_name, u.email_verified AS u_email_verified, u.image AS u_image, \
     u.created_at AS u_created_at, u.updated_at AS u_updated_at, u.role AS u_role, u.banned AS u_banned, \
     u.ban_reason AS u_ban_reason, u.ban_expires AS u_ban_expires, u.username AS u_username, \
     u.display_username AS u_display_username, u.phone_number AS u_phone_number, \
     u.phone_number_verified AS u_phone_number_verified, u.is_anonymous AS u_is_anonymous, \
     u.additional_fields AS u_additional_fields \
     FROM kavach_api_key k JOIN kavach_user u ON u.id = k.user_id";

macro_rules! key_from_row {
    ($r:expr) => {{
        let r = $r;
        KeyRow {
            id: col_str!(r, "k_id")?,
            user_id: col_str!(r, "k_user_id")?,
            name: col_opt_str!(r, "k_name")?,
            start: col_opt_str!(r, "k_key_start")?,
            prefix: col_opt_str!(r, "k_prefix")?,
            enabled: r.try_get::<bool, _>("k_enabled")?,
            expires_at: r.try_get::<Option<Ts>, _>("k_expires_at")?.map(|t| t.0),
            remaining: r.try_get::<Option<i64>, _>("k_remaining")?,
            refill_amount: r.try_get::<Option<i64>, _>("k_refill_amount")?,
            refill_interval: r.try_get::<Option<i64>, _>("k_refill_interval")?,
            last_refill_at: r.try_get::<Option<i64>, _>("k_last_refill_at")?,
            rate_limit_enabled: r.try_get::<bool, _>("k_rate_limit_enabled")?,
            rate_limit_time_window: r.try_get::<Option<i64>, _>("k_rate_limit_time_window")?,
            rate_limit_max: r.try_get::<Option<i64>, _>("k_rate_limit_max")?,
            request_count: r.try_get::<i64, _>("k_request_count")?,
            window_start: r.try_get::<Option<i64>, _>("k_window_start")?,
            last_request: r.try_get::<Option<i64>, _>("k_last_request")?,
            permissions: col_opt_str!(r, "k_permissions")?,
            metadata: col_opt_str!(r, "k_metadata")?,
            created_at: r.try_get::<Ts, _>("k_created_at")?.0,
            updated_at: r.try_get::<Ts, _>("k_updated_at")?.0,
        }
    }};
}

/// The same joined read on a rusqlite connection (the SQLite inline path), by column position.
const SQLITE_SELECT_BY_HASH: &str = "SELECT k.id, k.user_id, k.name, k.key_start, k.prefix, k.enabled, k.expires_at, \
     k.remaining, k.refill_amount, k.refill_interval, k.last_refill_at, k.rate_limit_enabled, \
     k.rate_limit_time_window, k.rate_limit_max, k.request_count, k.window_start, k.last_request, \
     k.permissions, k.metadata, k.created_at, k.updated_at, \
     u.id, u.email, u.name, u.email_verified, u.image, u.created_at, u.updated_at, u.role, u.banned, \
     u.ban_reason, u.ban_expires, u.username, u.display_username, u.phone_number, \
     u.phone_number_verified, u.is_anonymous, u.additional_fields \
     FROM kavach_api_key k JOIN kavach_user u ON u.id = k.user_id WHERE k.key_hash = ?1";

fn sqlite_read(conn: &rusqlite::Connection, hash: &str) -> Result<Option<(KeyRow, User)>> {
    use rusqlite::OptionalExtension;
    let mut stmt = conn.prepare_cached(SQLITE_SELECT_BY_HASH)?;
    Ok(stmt
        .query_row([hash], |r| {
            Ok((
                KeyRow {
                    id: r.get(0)?,
                    user_id: r.get(1)?,
                    name: r.get(2)?,
                    start: r.get(3)?,
                    prefix: r.get(4)?,
                    enabled: r.get(5)?,
                    expires_at: r.get(6)?,
                    remaining: r.get(7)?,
                    refill_amount: r.get(8)?,
                    refill_interval: r.get(9)?,
                    last_refill_at: r.get(10)?,
                    rate_limit_enabled: r.get(11)?,
                    rate_limit_time_window: r.get(12)?,
                    rate_limit_max: r.get(13)?,
                    request_count: r.get(14)?,
                    window_start: r.get(15)?,
                    last_request: r.get(16)?,
                    permissions: r.get(17)?,
                    metadata: r.get(18)?,
                    created_at: r.get(19)?,
                    updated_at: r.get(20)?,
                },
                User {
                    id: r.get(21)?,
                    email: r.get(22)?,
                    name: r.get(23)?,
                    email_verified: r.get(24)?,
                    image: r.get(25)?,
                    created_at: r.get(26)?,
                    updated_at: r.get(27)?,
                    role: r.get(28)?,
                    banned: r.get(29)?,
                    ban_reason: r.get(30)?,
                    ban_expires: r.get(31)?,
                    username: r.get(32)?,
                    display_username: r.get(33)?,
                    phone_number: r.get(34)?,
                    phone_number_verified: r.get(35)?,
                    is_anonymous: r.get(36)?,
                    additional: crate::accounts::human::parse_additional(r.get(37)?),
                },
            ))
        })
        .optional()?)
}

// ---- storage ------------------------------------------------------------------------------------

/// What `create` stores.
#[derive(Debug, Default, Clone)]
pub struct NewKey {
    pub user_id: String,
    pub name: Option<String>,
    pub prefix: Option<String>,
    pub expires_at: Option<i64>,
    pub remaining: Option<i64>,
    pub refill_amount: Option<i64>,
    pub refill_interval: Option<i64>,
    pub rate_limit_enabled: bool,
    pub rate_limit_time_window: Option<i64>,
    pub rate_limit_max: Option<i64>,
    pub permissions: Option<Permissions>,
    pub metadata: Option<Value>,
}

/// What `update` changes (`Some(None)` clears a nullable field).
#[derive(Debug, Default, Clone)]
pub struct KeyPatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub expires_at: Option<Option<i64>>,
    pub remaining: Option<Option<i64>>,
    pub refill_amount: Option<Option<i64>>,
    pub refill_interval: Option<Option<i64>>,
    pub rate_limit_enabled: Option<bool>,
    pub rate_limit_time_window: Option<Option<i64>>,
    pub rate_limit_max: Option<Option<i64>>,
    pub permissions: Option<Option<Permissions>>,
    pub metadata: Option<Option<Value>>,
}

/// API-key persistence over any of the three databases.
pub struct ApiKeyStore<'a> {
    pub pool: &'a Pool,
    pub dialect: Dialect,
    pub plugin: &'a ApiKeyPlugin,
}

impl ApiKeyStore<'_> {
    fn sql<'s>(&self, s: &'s str) -> std::borrow::Cow<'s, str> {
        sql_for(self.dialect, s)
    }

    fn opts(&self) -> &ApiKeySettings {
        &self.plugin.settings
    }

    async fn read_by_hash(&self, hash: &str) -> Result<Option<(KeyRow, User)>> {
        let sql = self.sql(&self.plugin.select_by_hash_sql);
        Ok(
            on_pool!(self.pool, p => match sqlx::query(&sql).bind(hash).fetch_optional(p).await? {
                None => None,
                Some(r) => Some((key_from_row!(&r), crate::accounts::human::user_from_row!(&r, "u_"))),
            }),
        )
    }

    pub async fn by_id(&self, id: &str) -> Result<Option<KeyRow>> {
        let sql = format!("{SELECT_KEY} WHERE k.id = ?");
        let sql = self.sql(&sql);
        Ok(
            on_pool!(self.pool, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
                None => None,
                Some(r) => Some(key_from_row!(&r)),
            }),
        )
    }

    pub async fn list(&self, user_id: &str) -> Result<Vec<KeyRow>> {
        let sql = format!("{SELECT_KEY} WHERE k.user_id = ? ORDER BY k.created_at DESC, k.id DESC");
        let sql = self.sql(&sql);
        let rows: Vec<KeyRow> = on_pool!(self.pool, p => {
            let mut out = Vec::new();
            for r in sqlx::query(&sql).bind(user_id).fetch_all(p).await? {
                out.push(key_from_row!(&r));
            }
            out
        });
        Ok(rows)
    }

    /// Spends what using the key costs, guarded in SQL: whether the row allowed it.
    async fn spend(&self, id: &str, now: i64) -> Result<bool> {
        let sql = self.sql(&self.plugin.update_sql);
        let n = on_pool!(self.pool, p => sqlx::query(&sql)
            .bind(now) // request_count: fresh window
            .bind(now) // window_start: fresh window
            .bind(now) // window_start value
            .bind(now) // remaining: refill
            .bind(now) // last_refill_at: refill
            .bind(now) // last_refill_at value
            .bind(now) // last_request
            .bind(Ts(now))
            .bind(id)
            .bind(Ts(now))
            .bind(now) // guard: refill
            .bind(now) // guard: fresh window
            .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Verifies `key` at `now` (and `wanted` permissions): the key as it is after this use and
    /// its user, or why not.
    pub async fn check(
        &self,
        key: &str,
        wanted: Option<&Permissions>,
        now: i64,
    ) -> Result<(KeyRow, User)> {
        let invalid = || refused("INVALID_API_KEY", 401, "Invalid API key.");
        if !plausible_key(key) {
            return Err(invalid());
        }
        let hash = hash_token(key);
        // A lost race (the window rolled, a refill landed) is decided again on a fresh read.
        for _ in 0..8 {
            let (row, user) = self.read_by_hash(&hash).await?.ok_or_else(invalid)?;
            if !evaluate(&row, &user, wanted, self.opts(), now)? {
                return Ok((row, user));
            }
            if self.spend(&row.id, now).await? {
                return Ok((row, user));
            }
        }
        Err(KavachError::TooManyAttempts(1))
    }

    pub async fn insert(&self, new: &NewKey, now: i64) -> Result<(KeyRow, String)> {
        let opts = self.opts();
        let prefix = new.prefix.clone().or_else(|| opts.default_prefix.clone());
        let key = new_key(prefix.as_deref(), opts.default_key_length);
        let start = opts
            .start_chars
            .map(|n| key.chars().take(n).collect::<String>());
        let permissions = new
            .permissions
            .as_ref()
            .or(opts.default_permissions.as_ref())
            .map(|p| serde_json::to_string(p).unwrap_or_default());
        let metadata = new.metadata.as_ref().map(Value::to_string);
        let row = KeyRow {
            id: new_id(),
            user_id: new.user_id.clone(),
            name: new.name.clone(),
            start,
            prefix,
            enabled: true,
            expires_at: new.expires_at,
            remaining: new.remaining,
            refill_amount: new.refill_amount,
            refill_interval: new.refill_interval,
            last_refill_at: new.remaining.map(|_| now),
            rate_limit_enabled: new.rate_limit_enabled,
            rate_limit_time_window: new.rate_limit_time_window,
            rate_limit_max: new.rate_limit_max,
            request_count: 0,
            window_start: None,
            last_request: None,
            permissions,
            metadata,
            created_at: now,
            updated_at: now,
        };
        let sql = self.sql(
            "INSERT INTO kavach_api_key (id, user_id, name, key_start, prefix, key_hash, enabled, expires_at, \
             remaining, refill_amount, refill_interval, last_refill_at, rate_limit_enabled, rate_limit_time_window, \
             rate_limit_max, request_count, window_start, last_request, permissions, metadata, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, NULL, ?, ?, ?, ?)",
        );
        let hash = hash_token(&key);
        on_pool!(self.pool, p => sqlx::query(&sql)
            .bind(&row.id).bind(&row.user_id).bind(&row.name).bind(&row.start).bind(&row.prefix)
            .bind(&hash).bind(true).bind(row.expires_at.map(Ts))
            .bind(row.remaining).bind(row.refill_amount).bind(row.refill_interval).bind(row.last_refill_at)
            .bind(row.rate_limit_enabled).bind(row.rate_limit_time_window).bind(row.rate_limit_max)
            .bind(&row.permissions).bind(&row.metadata).bind(Ts(now)).bind(Ts(now))
            .execute(p).await?.rows_affected());
        Ok((row, key))
    }

    pub async fn update(&self, id: &str, patch: &KeyPatch, now: i64) -> Result<bool> {
        let mut sets: Vec<&str> = Vec::new();
        macro_rules! set {
            ($field:expr, $col:literal) => {
                if $field.is_some() {
                    sets.push(concat!($col, " = ?"));
                }
            };
        }
        set!(patch.name, "name");
        set!(patch.enabled, "enabled");
        set!(patch.expires_at, "expires_at");
        set!(patch.remaining, "remaining");
        set!(patch.refill_amount, "refill_amount");
        set!(patch.refill_interval, "refill_interval");
        set!(patch.rate_limit_enabled, "rate_limit_enabled");
        set!(patch.rate_limit_time_window, "rate_limit_time_window");
        set!(patch.rate_limit_max, "rate_limit_max");
        set!(patch.permissions, "permissions");
        set!(patch.metadata, "metadata");
        if patch.remaining.is_some() {
            sets.push("last_refill_at = ?");
        }
        sets.push("updated_at = ?");
        let sql = format!("UPDATE kavach_api_key SET {} WHERE id = ?", sets.join(", "));
        let sql = self.sql(&sql);
        let permissions = patch.permissions.as_ref().map(|p| {
            p.as_ref()
                .map(|p| serde_json::to_string(p).unwrap_or_default())
        });
        let metadata = patch
            .metadata
            .as_ref()
            .map(|m| m.as_ref().map(Value::to_string));
        let n = on_pool!(self.pool, p => {
            let mut q = sqlx::query(&sql);
            if let Some(v) = &patch.name { q = q.bind(v); }
            if let Some(v) = patch.enabled { q = q.bind(v); }
            if let Some(v) = patch.expires_at { q = q.bind(v.map(Ts)); }
            if let Some(v) = patch.remaining { q = q.bind(v); }
            if let Some(v) = patch.refill_amount { q = q.bind(v); }
            if let Some(v) = patch.refill_interval { q = q.bind(v); }
            if let Some(v) = patch.rate_limit_enabled { q = q.bind(v); }
            if let Some(v) = patch.rate_limit_time_window { q = q.bind(v); }
            if let Some(v) = patch.rate_limit_max { q = q.bind(v); }
            if let Some(v) = &permissions { q = q.bind(v.clone()); }
            if let Some(v) = &metadata { q = q.bind(v.clone()); }
            if patch.remaining.is_some() { q = q.bind(now); }
            q.bind(Ts(now)).bind(id).execute(p).await?.rows_affected()
        });
        Ok(n == 1)
    }

    pub async fn delete(&self, id: &str) -> Result<bool> {
        let sql = self.sql("DELETE FROM kavach_api_key WHERE id = ?");
        let n =
            on_pool!(self.pool, p => sqlx::query(&sql).bind(id).execute(p).await?.rows_affected());
        Ok(n == 1)
    }
}

// ---- the instance's calls -----------------------------------------------------------------------

/// `create`'s input (JS: every field; HTTP: the client's fields only).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInput {
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// Seconds.
    #[serde(default)]
    pub expires_in: Option<f64>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub permissions: Option<Permissions>,
    #[serde(default, deserialize_with = "int::opt")]
    pub remaining: Option<i64>,
    #[serde(default, deserialize_with = "int::opt")]
    pub refill_amount: Option<i64>,
    #[serde(default, deserialize_with = "int::opt")]
    pub refill_interval: Option<i64>,
    #[serde(default)]
    pub rate_limit_enabled: Option<bool>,
    #[serde(default, deserialize_with = "int::opt")]
    pub rate_limit_time_window: Option<i64>,
    #[serde(default, deserialize_with = "int::opt")]
    pub rate_limit_max: Option<i64>,
    /// better-auth's multi-configuration id: only the default one exists here.
    #[serde(default)]
    pub config_id: Option<String>,
}

impl CreateInput {
    fn server_only(&self) -> bool {
        self.permissions.is_some()
            || self.remaining.is_some()
            || self.refill_amount.is_some()
            || self.refill_interval.is_some()
            || self.rate_limit_enabled.is_some()
            || self.rate_limit_time_window.is_some()
            || self.rate_limit_max.is_some()
    }
}

/// `update`'s input.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateInput {
    pub key_id: String,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default, with = "nullable")]
    pub expires_in: Option<Option<f64>>,
    #[serde(default, with = "nullable")]
    pub metadata: Option<Option<Value>>,
    #[serde(default, with = "nullable")]
    pub permissions: Option<Option<Permissions>>,
    #[serde(default, deserialize_with = "int::nullable")]
    pub remaining: Option<Option<i64>>,
    #[serde(default, deserialize_with = "int::nullable")]
    pub refill_amount: Option<Option<i64>>,
    #[serde(default, deserialize_with = "int::nullable")]
    pub refill_interval: Option<Option<i64>>,
    #[serde(default)]
    pub rate_limit_enabled: Option<bool>,
    #[serde(default, deserialize_with = "int::nullable")]
    pub rate_limit_time_window: Option<Option<i64>>,
    #[serde(default, deserialize_with = "int::nullable")]
    pub rate_limit_max: Option<Option<i64>>,
    #[serde(default)]
    pub config_id: Option<String>,
}

impl UpdateInput {
    fn server_only(&self) -> bool {
        self.permissions.is_some()
            || self.remaining.is_some()
            || self.refill_amount.is_some()
            || self.refill_interval.is_some()
            || self.rate_limit_enabled.is_some()
            || self.rate_limit_time_window.is_some()
            || self.rate_limit_max.is_some()
    }
}

/// Whole numbers as JavaScript sends them (a number beyond 32 bits crosses as a float).
mod int {
    use serde::{de::Error, Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        I(i64),
        F(f64),
    }

    fn whole<E: Error>(n: Num) -> Result<i64, E> {
        match n {
            Num::I(i) => Ok(i),
            Num::F(f)
                if f.is_finite() && f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_991.0 =>
            {
                Ok(f as i64)
            }
            Num::F(_) => Err(E::custom("expected a whole number")),
        }
    }

    pub fn opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<Num>::deserialize(d)?.map(whole).transpose()
    }

    /// Absent: `None`; `null`: `Some(None)`.
    pub fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
        Option::<Num>::deserialize(d)?
            .map(whole)
            .transpose()
            .map(Some)
    }
}

/// Absent: `None`; `null`: `Some(None)`.
mod nullable {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// What `verify` answers (better-auth's `{ valid, error, key }`).
#[derive(Debug, Serialize)]
pub struct Verified {
    pub valid: bool,
    pub error: Option<Value>,
    pub key: Option<ApiKey>,
}

fn bad_request(code: &'static str, msg: &str) -> KavachError {
    refused(code, 400, msg)
}

fn not_found() -> KavachError {
    refused("KEY_NOT_FOUND", 404, "API Key not found")
}

impl Kavach {
    fn api_key_store(&self) -> Result<ApiKeyStore<'_>> {
        self.check_open()?;
        match self.plugin::<ApiKeyPlugin>() {
            Some(plugin) => Ok(ApiKeyStore {
                pool: self.pool(),
                dialect: self.dialect(),
                plugin,
            }),
            None => Err(KavachError::ConfigInvalid(
                "apiKeys calls need the apiKey() plugin in plugins".into(),
            )),
        }
    }

    /// Creates a key for `user_id`; the answer carries the key itself, the only time it is shown.
    /// `server` allows the server-only fields (permissions, remaining, refill, rate limit).
    pub async fn api_key_create(
        &self,
        user_id: &str,
        input: CreateInput,
        server: bool,
    ) -> Result<Value> {
        let store = self.api_key_store()?;
        let o = store.opts().clone();
        check_plain("userId", user_id, 255)?;
        if !server && input.server_only() {
            return Err(bad_request(
                "SERVER_ONLY_PROPERTY",
                "The property you're trying to set can only be set from the server auth instance only.",
            ));
        }
        if input.config_id.as_deref().is_some_and(|c| c != "default") {
            return Err(bad_request(
                "NO_DEFAULT_API_KEY_CONFIGURATION_FOUND",
                "only the default api-key configuration exists",
            ));
        }
        if let Some(m) = &input.metadata {
            if !o.enable_metadata {
                return Err(bad_request("METADATA_DISABLED", "Metadata is disabled."));
            }
            if !m.is_object() {
                return Err(bad_request(
                    "INVALID_METADATA_TYPE",
                    "metadata must be an object or undefined",
                ));
            }
            if m.to_string().len() > 16 * 1024 {
                return Err(KavachError::validation("metadata is larger than 16 KiB"));
            }
        }
        match (input.refill_amount, input.refill_interval) {
            (Some(_), None) => {
                return Err(bad_request(
                    "REFILL_AMOUNT_AND_INTERVAL_REQUIRED",
                    "refillAmount is required when refillInterval is provided",
                ))
            }
            (None, Some(_)) => {
                return Err(bad_request(
                    "REFILL_INTERVAL_AND_AMOUNT_REQUIRED",
                    "refillInterval is required when refillAmount is provided",
                ))
            }
            (Some(a), Some(i)) if a < 1 || i < 1 => {
                return Err(KavachError::validation(
                    "refillAmount and refillInterval must be positive",
                ))
            }
            _ => {}
        }
        if input.remaining.is_some_and(|r| r < 0) {
            return Err(bad_request(
                "INVALID_REMAINING",
                "The remaining count is either too large or too small.",
            ));
        }
        if input.rate_limit_time_window.is_some_and(|w| w < 1)
            || input.rate_limit_max.is_some_and(|m| m < 1)
        {
            return Err(KavachError::validation(
                "rateLimitTimeWindow and rateLimitMax must be positive",
            ));
        }
        let now = self.now_ms();
        let expires_at = match input.expires_in {
            Some(secs) => Some(self.api_key_expiry(&o, secs, now)?),
            None => o
                .expiration
                .default_expires_in
                .map(|ms| now.saturating_add(ms)),
        };
        if let Some(p) = &input.prefix {
            if !valid_prefix(p) {
                return Err(KavachError::validation(
                    "prefix must be letters, digits, '_' or '-'",
                ));
            }
            if p.len() < o.min_prefix || p.len() > o.max_prefix {
                return Err(bad_request(
                    "INVALID_PREFIX_LENGTH",
                    "The prefix length is either too large or too small.",
                ));
            }
        }
        match &input.name {
            Some(n) => check_name(&o, n)?,
            None if o.require_name => {
                return Err(bad_request("NAME_REQUIRED", "API Key name is required."))
            }
            None => {}
        }
        if let Some(p) = &input.permissions {
            check_permissions(p)?;
        }
        if self.humans().user_by_id(user_id).await?.is_none() {
            return Err(refused(
                "UNAUTHORIZED_SESSION",
                401,
                "Unauthorized or invalid session",
            ));
        }
        let new = NewKey {
            user_id: user_id.to_owned(),
            name: input.name,
            prefix: input.prefix,
            expires_at,
            remaining: input.remaining.or(input.refill_amount),
            refill_amount: input.refill_amount,
            refill_interval: input.refill_interval,
            rate_limit_enabled: input.rate_limit_enabled.unwrap_or(o.rate_limit.enabled),
            rate_limit_time_window: Some(
                input
                    .rate_limit_time_window
                    .unwrap_or(o.rate_limit.time_window),
            ),
            rate_limit_max: Some(input.rate_limit_max.unwrap_or(o.rate_limit.max_requests)),
            permissions: input.permissions,
            metadata: input.metadata,
        };
        let (row, key) = store.insert(&new, now).await?;
        let mut v = serde_json::to_value(row.public())
            .map_err(|_| KavachError::Internal("could not encode a key".into()))?;
        v["key"] = Value::String(key);
        Ok(v)
    }

    fn api_key_expiry(&self, o: &ApiKeySettings, secs: f64, now: i64) -> Result<i64> {
        if o.expiration.disable_custom {
            return Err(bad_request(
                "KEY_DISABLED_EXPIRATION",
                "Custom key expiration values are disabled.",
            ));
        }
        if !secs.is_finite() || secs < 1.0 {
            return Err(KavachError::validation(
                "expiresIn must be a number of seconds, at least 1",
            ));
        }
        let days = secs / 86_400.0;
        if days < o.expiration.min_days {
            return Err(bad_request(
                "EXPIRES_IN_IS_TOO_SMALL",
                "The expiresIn is smaller than the predefined minimum value.",
            ));
        }
        if days > o.expiration.max_days {
            return Err(bad_request(
                "EXPIRES_IN_IS_TOO_LARGE",
                "The expiresIn is larger than the predefined maximum value.",
            ));
        }
        Ok(now.saturating_add((secs * 1000.0) as i64))
    }

    /// `verify({ key, permissions? })`: `{ valid, error, key }`; a valid use is spent.
    pub async fn api_key_verify(
        &self,
        key: &str,
        wanted: Option<&Permissions>,
    ) -> Result<Verified> {
        let store = self.api_key_store()?;
        let now = self.now_ms();
        match store.check(key, wanted, now).await {
            Ok((row, _)) => {
                // The counters as this use left them.
                let row = if row.remaining.is_some()
                    || row.rate_limited(store.opts().rate_limit.enabled).is_some()
                {
                    store.by_id(&row.id).await?.unwrap_or(row)
                } else {
                    row
                };
                Ok(Verified {
                    valid: true,
                    error: None,
                    key: Some(row.public()),
                })
            }
            Err(e) => {
                let mut error = json!({ "code": e.code(), "message": e.to_string() });
                match &e {
                    KavachError::TooManyAttempts(secs) => {
                        error["message"] = json!("Rate limit exceeded.");
                        error["details"] = json!({ "tryAgainIn": secs.saturating_mul(1000) });
                    }
                    KavachError::Refused { .. } => {}
                    _ => return Err(e),
                }
                Ok(Verified {
                    valid: false,
                    error: Some(error),
                    key: None,
                })
            }
        }
    }

    /// The key `id` if it belongs to `user_id` (else KEY_NOT_FOUND, 404).
    pub async fn api_key_get(&self, id: &str, user_id: Option<&str>) -> Result<ApiKey> {
        let store = self.api_key_store()?;
        check_plain("keyId", id, 255)?;
        match store.by_id(id).await? {
            Some(r) if user_id.is_none_or(|u| u == r.user_id) => Ok(r.public()),
            _ => Err(not_found()),
        }
    }

    pub async fn api_key_list(&self, user_id: &str) -> Result<Vec<ApiKey>> {
        let store = self.api_key_store()?;
        check_plain("userId", user_id, 255)?;
        Ok(store
            .list(user_id)
            .await?
            .iter()
            .map(KeyRow::public)
            .collect())
    }

    pub async fn api_key_update(
        &self,
        input: UpdateInput,
        user_id: Option<&str>,
        server: bool,
    ) -> Result<ApiKey> {
        let store = self.api_key_store()?;
        let o = store.opts().clone();
        if !server && input.server_only() {
            return Err(bad_request(
                "SERVER_ONLY_PROPERTY",
                "The property you're trying to set can only be set from the server auth instance only.",
            ));
        }
        let owner = user_id.or(input.user_id.as_deref());
        let current = self.api_key_get(&input.key_id, owner).await?;
        let now = self.now_ms();
        let mut patch = KeyPatch::default();
        if let Some(n) = &input.name {
            check_name(&o, n)?;
            patch.name = Some(n.clone());
        }
        patch.enabled = input.enabled;
        if let Some(e) = input.expires_in {
            patch.expires_at = Some(match e {
                None => None,
                Some(secs) => Some(self.api_key_expiry(&o, secs, now)?),
            });
        }
        if let Some(m) = input.metadata {
            if !o.enable_metadata {
                return Err(bad_request("METADATA_DISABLED", "Metadata is disabled."));
            }
            if m.as_ref().is_some_and(|m| !m.is_object()) {
                return Err(bad_request(
                    "INVALID_METADATA_TYPE",
                    "metadata must be an object or undefined",
                ));
            }
            patch.metadata = Some(m);
        }
        if let Some(Some(p)) = &input.permissions {
            check_permissions(p)?;
        }
        patch.permissions = input.permissions;
        if input.remaining.is_some_and(|r| r.is_some_and(|r| r < 0)) {
            return Err(bad_request(
                "INVALID_REMAINING",
                "The remaining count is either too large or too small.",
            ));
        }
        patch.remaining = input.remaining;
        let amount = input.refill_amount.unwrap_or(current.refill_amount);
        let interval = input.refill_interval.unwrap_or(current.refill_interval);
        match (amount, interval) {
            (Some(_), None) => {
                return Err(bad_request(
                    "REFILL_AMOUNT_AND_INTERVAL_REQUIRED",
                    "refillAmount is required when refillInterval is provided",
                ))
            }
            (None, Some(_)) => {
                return Err(bad_request(
                    "REFILL_INTERVAL_AND_AMOUNT_REQUIRED",
                    "refillInterval is required when refillAmount is provided",
                ))
            }
            _ => {}
        }
        patch.refill_amount = input.refill_amount;
        patch.refill_interval = input.refill_interval;
        patch.rate_limit_enabled = input.rate_limit_enabled;
        patch.rate_limit_time_window = input.rate_limit_time_window;
        patch.rate_limit_max = input.rate_limit_max;
        let nothing = patch.name.is_none()
            && patch.enabled.is_none()
            && patch.expires_at.is_none()
            && patch.metadata.is_none()
            && patch.permissions.is_none()
            && patch.remaining.is_none()
            && patch.refill_amount.is_none()
            && patch.refill_interval.is_none()
            && patch.rate_limit_enabled.is_none()
            && patch.rate_limit_time_window.is_none()
            && patch.rate_limit_max.is_none();
        if nothing {
            return Err(bad_request("NO_VALUES_TO_UPDATE", "No values to update."));
        }
        if !store.update(&current.id, &patch, now).await? {
            return Err(not_found());
        }
        store
            .by_id(&current.id)
            .await?
            .map(|r| r.public())
            .ok_or_else(not_found)
    }

    pub async fn api_key_delete(&self, id: &str, user_id: Option<&str>) -> Result<()> {
        let store = self.api_key_store()?;
        let key = self.api_key_get(id, user_id).await?;
        if store.delete(&key.id).await? {
            Ok(())
        } else {
            Err(not_found())
        }
    }
}

fn check_name(o: &ApiKeySettings, n: &str) -> Result<()> {
    check_plain("name", n, 1024)?;
    let len = n.chars().count();
    if len < o.min_name || len > o.max_name {
        return Err(bad_request(
            "INVALID_NAME_LENGTH",
            "The name length is either too large or too small.",
        ));
    }
    Ok(())
}

/// For the HTTP answers: the times ISO 8601 as everywhere in the API (`ok` turns createdAt,
/// updatedAt and expiresAt; these two are the key's own).
fn iso_extra(v: &mut Value) {
    if let Some(key) = v.get_mut("key").filter(|k| k.is_object()) {
        iso_extra(key);
    }
    for k in ["lastRefillAt", "lastRequest"] {
        if let Some(ms) = v.get(k).and_then(Value::as_i64) {
            if let Some(d) = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms) {
                v[k] = json!(d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_letters_after_the_prefix() {
        let k = new_key(Some("proj_"), 64);
        assert!(k.starts_with("proj_"));
        assert_eq!(k.len(), 69);
        assert!(k[5..].bytes().all(|b| b.is_ascii_alphabetic()));
        assert_ne!(new_key(None, 64), new_key(None, 64));
    }

    #[test]
    fn permissions_must_all_be_held() {
        let held: Permissions =
            serde_json::from_value(json!({ "files": ["read", "write"], "users": ["read"] }))
                .unwrap();
        let ok: Permissions = serde_json::from_value(json!({ "files": ["read"] })).unwrap();
        let more: Permissions =
            serde_json::from_value(json!({ "files": ["read", "delete"] })).unwrap();
        let other: Permissions = serde_json::from_value(json!({ "billing": ["read"] })).unwrap();
        assert!(permits(&held, &ok));
        assert!(!permits(&held, &more));
        assert!(!permits(&held, &other));
    }

    #[test]
    fn options() {
        let s = parse_options(&Value::Null).unwrap();
        assert_eq!(s.headers, vec!["x-api-key"]);
        assert_eq!((s.default_key_length, s.rate_limit.max_requests), (64, 10));
        let s = parse_options(
            &json!({ "apiKeyHeaders": ["X-Key", "x-other"], "disableKeyHashing": true }),
        )
        .unwrap();
        assert_eq!(s.headers, vec!["x-key", "x-other"]);
        for bad in [
            json!({ "apiKeyHeaders": "bad header" }),
            json!({ "defaultKeyLength": 8 }),
            json!({ "storage": "secondary-storage" }),
            json!({ "nope": 1 }),
        ] {
            assert_eq!(
                parse_options(&bad).unwrap_err().code(),
                "CONFIG_INVALID",
                "{bad}"
            );
        }
    }
}
