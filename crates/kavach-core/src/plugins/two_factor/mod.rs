//! The twoFactor() plugin: TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, ±1 step) with the secret
//! stored encrypted, single-use backup codes stored as SHA-256, sign-ins that wait for the second
//! factor, and trusted devices.
//!
//! - The TOTP secret (20 random bytes) is sealed with XChaCha20-Poly1305 under a key derived from the
//!   instance `secret` (HMAC-SHA256 with a fixed label); the user id is the associated data, so a
//!   sealed secret copied onto another user's row does not open.
//! - A code is accepted at most once: the last accepted time step is kept, and acceptance is one
//!   conditional UPDATE (`last_step < step`), so two concurrent uses of one code succeed once.
//! - A backup code is one row; using it is one DELETE, so it works exactly once.
//! - A pending sign-in is a random token (its SHA-256 stored) valid for 5 minutes and 5 attempts;
//!   an attempt is reserved before the code is checked, so concurrent guesses cannot exceed 5.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::accounts::human::{ClientInfo, SignedIn, User, CREDENTIAL_PROVIDER};
use crate::config::Dialect;
use crate::crypto::passwords::{burn_verification, verify_password, Verified};
use crate::crypto::token::{hash_token, new_id};
use crate::error::{KavachError, Result};
use crate::http::{ok, ok_value, parse_body};
use crate::kavach::Kavach;
use crate::route;
use crate::store::db::BeginWrite;
use crate::store::db::{sql_for, Pool, Ts};
use crate::store::ratelimit;
use crate::{col_opt_str, col_str, on_pool};

/// The cookie holding a sign-in that waits for its second factor.
pub const PENDING_COOKIE: &str = "kavach_2fa";
/// The cookie of a device that skips the second factor.
pub const TRUSTED_COOKIE: &str = "kavach_trusted_device";
/// How long a sign-in waits for its second factor.
pub const PENDING_TTL_MS: i64 = 5 * 60_000;
/// Wrong codes that end a pending sign-in.
pub const MAX_ATTEMPTS: i64 = 5;
/// RFC 6238 time step, in seconds.
pub const STEP_SECONDS: u64 = 30;
/// Digits of a code.
pub const DIGITS: usize = 6;
const SECRET_BYTES: usize = 20;
/// The sealing label of a user's TOTP secret (followed by the user id).
const SEAL_LABEL: &str = "two-factor:totp-secret:";
/// Backup code characters (no 0/O, 1/I): 32 symbols, so `byte & 31` picks one without bias.
const BACKUP_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const BACKUP_LEN: usize = 10;

/// `twoFactor(options)` of `kavachos/plugins`, running.
#[derive(Debug)]
pub struct TwoFactorPlugin {
    pub settings: TwoFactorSettings,
}

/// The registry's factory.
pub fn plugin(
    options: &serde_json::Value,
    env: &crate::plugin::PluginEnv<'_>,
) -> Result<std::sync::Arc<dyn crate::plugin::Plugin>> {
    Ok(std::sync::Arc::new(TwoFactorPlugin {
        settings: parse_options(options, env.secret)?,
    }))
}

impl crate::plugin::Plugin for TwoFactorPlugin {
    fn id(&self) -> &'static str {
        "two-factor"
    }

    fn routes(&self) -> &'static [crate::plugin::Route] {
        ROUTES
    }

    fn namespace(&self) -> Option<&'static str> {
        Some("twoFactor")
    }

    fn call<'a>(
        &'a self,
        k: &'a Kavach,
        op: &'a str,
        input: serde_json::Value,
    ) -> crate::BoxFut<'a, Result<serde_json::Value>> {
        Box::pin(calls::call(k, op, input))
    }

    /// An account whose second factor is on gets no session until `verify` has its code, unless
    /// the request comes from a device it trusts.
    fn on_sign_in<'a>(
        &'a self,
        k: &'a Kavach,
        user: &'a User,
        ctx: &'a crate::plugin::SignInContext,
    ) -> crate::BoxFut<'a, Result<Option<crate::plugin::Interruption>>> {
        Box::pin(async move {
            let store = k.two_factor_store()?;
            if !store.is_enabled(&user.id).await? {
                return Ok(None);
            }
            let now = k.now_ms();
            if let Some(t) = ctx.cookie(TRUSTED_COOKIE) {
                if store.is_trusted(&user.id, t, now).await? {
                    return Ok(None);
                }
            }
            let token = store.create_pending(&user.id, now).await?;
            Ok(Some(crate::plugin::Interruption {
                data: json!({ "twoFactorRequired": true, "twoFactorToken": token }),
                body: json!({ "twoFactorRequired": true }),
                set_cookie: Some(k.plugin_cookie(PENDING_COOKIE, &token, PENDING_TTL_MS / 1000)),
            }))
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

mod calls;

/// The checked `twoFactor({ issuer?, trustDeviceDays?, backupCodeCount? })`.
#[derive(Clone)]
pub struct TwoFactorSettings {
    pub issuer: String,
    /// 0: devices are never trusted.
    pub trust_device_days: u32,
    pub backup_code_count: usize,
    /// The instance secret the TOTP secrets are sealed under.
    secret: String,
}

impl std::fmt::Debug for TwoFactorSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoFactorSettings")
            .field("issuer", &self.issuer)
            .field("trust_device_days", &self.trust_device_days)
            .field("backup_code_count", &self.backup_code_count)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    trust_device_days: Option<u32>,
    #[serde(default)]
    backup_code_count: Option<u32>,
}

/// Checks `twoFactor()`'s options; the key comes from `secret`.
pub fn parse_options(
    options: &serde_json::Value,
    secret: Option<&str>,
) -> Result<TwoFactorSettings> {
    let o: Options = match options {
        serde_json::Value::Null => Options::default(),
        v => serde_json::from_value(v.clone())
            .map_err(|e| KavachError::ConfigInvalid(format!("invalid twoFactor() options: {e}")))?,
    };
    let issuer = o.issuer.unwrap_or_else(|| "kavachos".into());
    if issuer.trim().is_empty() || issuer.len() > 64 || issuer.contains(':') {
        return Err(KavachError::ConfigInvalid(
            "twoFactor({ issuer }) must be 1 to 64 characters without ':'".into(),
        ));
    }
    let trust_device_days = o.trust_device_days.unwrap_or(30);
    if trust_device_days > 365 {
        return Err(KavachError::ConfigInvalid(
            "twoFactor({ trustDeviceDays }) must be between 0 and 365".into(),
        ));
    }
    let backup_code_count = o.backup_code_count.unwrap_or(10);
    if !(1..=50).contains(&backup_code_count) {
        return Err(KavachError::ConfigInvalid(
            "twoFactor({ backupCodeCount }) must be between 1 and 50".into(),
        ));
    }
    // A secret nobody set would make the stored TOTP secrets readable by anyone with the database.
    let secret = secret.ok_or_else(|| {
        KavachError::ConfigInvalid(
            "twoFactor() needs secret (at least 32 characters): TOTP secrets are encrypted with a key derived from it".into(),
        )
    })?;
    Ok(TwoFactorSettings {
        issuer,
        trust_device_days,
        backup_code_count: backup_code_count as usize,
        secret: secret.to_owned(),
    })
}

// ---- crypto -------------------------------------------------------------------------------------

/// Seals a TOTP secret with [`crate::crypto::sealed`] under the instance secret, bound to `user_id`.
pub fn seal(secret: &str, user_id: &str, plaintext: &[u8]) -> Result<String> {
    crate::crypto::sealed::seal(
        secret.as_bytes(),
        &format!("{SEAL_LABEL}{user_id}"),
        plaintext,
    )
}

/// Opens what [`seal`] made; fails for another secret, another user or a changed byte.
pub fn open(secret: &str, user_id: &str, sealed: &str) -> Result<Vec<u8>> {
    crate::crypto::sealed::open(secret.as_bytes(), &format!("{SEAL_LABEL}{user_id}"), sealed)
        .map_err(|_| {
            KavachError::Internal(
            "the stored two-factor secret could not be decrypted (was the instance secret changed?)"
                .into(),
        )
        })
}

// ---- TOTP ---------------------------------------------------------------------------------------

fn totp(secret: &[u8], digits: usize) -> TOTP {
    // Unchecked only because RFC 6238's own test vectors use 8 digits; secrets here are 20 bytes.
    TOTP::new_unchecked(Algorithm::SHA1, digits, 1, STEP_SECONDS, secret.to_vec())
}

/// The code of time step `step` (RFC 6238 with SHA-1), through totp-rs with an explicit time.
pub fn code_at_step(secret: &[u8], digits: usize, step: u64) -> String {
    totp(secret, digits).generate(step.saturating_mul(STEP_SECONDS))
}

/// The time step of `now_ms`.
pub fn step_of(now_ms: i64) -> i64 {
    now_ms.div_euclid(1000).div_euclid(STEP_SECONDS as i64)
}

/// The time step (the current one or one either side) whose code is `code`, if any. Every candidate
/// is compared in constant time.
pub fn matching_step(secret: &[u8], digits: usize, code: &str, now_ms: i64) -> Option<i64> {
    let now = step_of(now_ms);
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        let Ok(s) = u64::try_from(step) else { continue };
        let expected = code_at_step(secret, digits, s);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = Some(step);
        }
    }
    found
}

/// `otpauth://totp/<issuer>:<account>?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30`.
pub fn otpauth_uri(issuer: &str, account: &str, secret_base32: &str) -> String {
    let issuer = percent(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={secret_base32}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        percent(account)
    )
}

fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn base32(secret: &[u8]) -> String {
    totp(secret, DIGITS).get_secret_base32()
}

/// A 6-digit code as typed (spaces allowed), or `None`.
fn normalize_code(code: &str) -> Option<String> {
    let c: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (c.len() == DIGITS && c.bytes().all(|b| b.is_ascii_digit())).then_some(c)
}

// ---- backup codes -------------------------------------------------------------------------------

/// A fresh backup code, `XXXXX-XXXXX` (50 random bits).
pub fn new_backup_code() -> String {
    let mut bytes = [0u8; BACKUP_LEN];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let chars: String = bytes
        .iter()
        .map(|b| BACKUP_ALPHABET[usize::from(b & 31)] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// The SHA-256 of a backup code as typed (case, dashes and spaces ignored), or `None` if it cannot
/// be one. Ours use [`BACKUP_ALPHABET`]; codes imported from better-auth (`xxxxx-xxxxx` over
/// a-z, A-Z, 0-9) are any ten ASCII letters and digits, so those are accepted too.
pub fn backup_code_hash(code: &str) -> Option<String> {
    let c: String = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (c.len() == BACKUP_LEN && c.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| hash_token(&c))
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

// ---- public shapes ------------------------------------------------------------------------------

/// What `enable` answers: the URI for the authenticator app, the base32 secret, the backup codes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Enrollment {
    #[serde(rename = "totpURI")]
    pub totp_uri: String,
    pub secret: String,
    pub backup_codes: Vec<String>,
}

/// `verify({ code } | { backupCode }, trustDevice?)`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyTwoFactor {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub backup_code: Option<String>,
    #[serde(default)]
    pub trust_device: Option<bool>,
}

/// A completed two-factor sign-in; `trusted_device_token` when the device was trusted.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TwoFactorSignedIn {
    #[serde(flatten)]
    pub signed_in: SignedIn,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_device_token: Option<String>,
}

// ---- storage ------------------------------------------------------------------------------------

struct State {
    secret: String,
    enabled: bool,
}

/// Two-factor persistence over any of the three databases.
pub struct TwoFactorStore<'a> {
    pub pool: &'a Pool,
    pub dialect: Dialect,
    pub opts: &'a TwoFactorSettings,
}

impl TwoFactorStore<'_> {
    fn sql<'s>(&self, s: &'s str) -> std::borrow::Cow<'s, str> {
        sql_for(self.dialect, s)
    }

    async fn state(&self, user_id: &str) -> Result<Option<State>> {
        let sql = self.sql("SELECT secret, enabled FROM kavach_two_factor WHERE user_id = ?");
        Ok(
            on_pool!(self.pool, p => match sqlx::query(&sql).bind(user_id).fetch_optional(p).await? {
                None => None,
                Some(r) => Some(State { secret: col_str!(r, "secret")?, enabled: r.try_get::<bool, _>("enabled")? }),
            }),
        )
    }

    pub async fn is_enabled(&self, user_id: &str) -> Result<bool> {
        Ok(self.state(user_id).await?.is_some_and(|s| s.enabled))
    }

    fn fresh_backup_codes(&self) -> (Vec<String>, Vec<String>) {
        let codes: Vec<String> = (0..self.opts.backup_code_count)
            .map(|_| new_backup_code())
            .collect();
        let hashes = codes.iter().filter_map(|c| backup_code_hash(c)).collect();
        (codes, hashes)
    }

    /// Starts (or restarts) an enrollment that is not active yet; refused while 2FA is on.
    async fn enroll(
        &self,
        user_id: &str,
        sealed: &str,
        hashes: &[String],
        now_ms: i64,
    ) -> Result<()> {
        let del_pending =
            self.sql("DELETE FROM kavach_two_factor WHERE user_id = ? AND enabled = ?");
        let insert = self.sql(
            "INSERT INTO kavach_two_factor (user_id, secret, enabled, last_step, created_at, updated_at) VALUES (?, ?, ?, NULL, ?, ?)",
        );
        let del_codes = self.sql("DELETE FROM kavach_two_factor_backup WHERE user_id = ?");
        let ins_code = self.sql(
            "INSERT INTO kavach_two_factor_backup (id, user_id, code_hash, created_at) VALUES (?, ?, ?, ?)",
        );
        let r: std::result::Result<(), sqlx::Error> = on_pool!(self.pool, p => async {
            let mut tx = p.begin_write().await?;
            sqlx::query(&del_pending).bind(user_id).bind(false).execute(&mut *tx).await?;
            sqlx::query(&insert).bind(user_id).bind(sealed).bind(false).bind(Ts(now_ms)).bind(Ts(now_ms)).execute(&mut *tx).await?;
            sqlx::query(&del_codes).bind(user_id).execute(&mut *tx).await?;
            for h in hashes {
                sqlx::query(&ins_code).bind(new_id()).bind(user_id).bind(h).bind(Ts(now_ms)).execute(&mut *tx).await?;
            }
            tx.commit().await
        }.await);
        match r {
            Ok(()) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(already_enabled()),
            Err(e) => Err(e.into()),
        }
    }

    /// Accepts `step` for the user once: later codes only. `activate` also turns 2FA on.
    async fn accept_step(
        &self,
        user_id: &str,
        step: i64,
        activate: bool,
        now_ms: i64,
    ) -> Result<bool> {
        let sql = self.sql(
            "UPDATE kavach_two_factor SET last_step = ?, enabled = ?, updated_at = ? \
             WHERE user_id = ? AND enabled = ? AND (last_step IS NULL OR last_step < ?)",
        );
        let n = on_pool!(self.pool, p => sqlx::query(&sql)
            .bind(step).bind(true).bind(Ts(now_ms)).bind(user_id).bind(!activate).bind(step)
            .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// The code checked against the user's secret, and its step spent (never twice).
    async fn check_code(
        &self,
        user_id: &str,
        state: &State,
        code: &str,
        activate: bool,
        now_ms: i64,
    ) -> Result<bool> {
        let Some(code) = normalize_code(code) else {
            return Ok(false);
        };
        let secret = open(&self.opts.secret, user_id, &state.secret)?;
        match matching_step(&secret, DIGITS, &code, now_ms) {
            Some(step) => self.accept_step(user_id, step, activate, now_ms).await,
            None => Ok(false),
        }
    }

    /// Spends a backup code: true exactly once per code.
    async fn use_backup(&self, user_id: &str, code: &str) -> Result<bool> {
        let Some(hash) = backup_code_hash(code) else {
            return Ok(false);
        };
        let sql =
            self.sql("DELETE FROM kavach_two_factor_backup WHERE user_id = ? AND code_hash = ?");
        let n = on_pool!(self.pool, p => sqlx::query(&sql).bind(user_id).bind(&hash).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    async fn replace_backups(&self, user_id: &str, hashes: &[String], now_ms: i64) -> Result<()> {
        let del = self.sql("DELETE FROM kavach_two_factor_backup WHERE user_id = ?");
        let ins = self.sql(
            "INSERT INTO kavach_two_factor_backup (id, user_id, code_hash, created_at) VALUES (?, ?, ?, ?)",
        );
        on_pool!(self.pool, p => {
            let mut tx = p.begin_write().await?;
            sqlx::query(&del).bind(user_id).execute(&mut *tx).await?;
            for h in hashes {
                sqlx::query(&ins).bind(new_id()).bind(user_id).bind(h).bind(Ts(now_ms)).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Removes everything two-factor of a user (secret, codes, trusted devices, pending sign-ins).
    async fn remove(&self, user_id: &str) -> Result<()> {
        let stmts = [
            self.sql("DELETE FROM kavach_two_factor_backup WHERE user_id = ?"),
            self.sql("DELETE FROM kavach_two_factor_trusted WHERE user_id = ?"),
            self.sql("DELETE FROM kavach_two_factor_pending WHERE user_id = ?"),
            self.sql("DELETE FROM kavach_two_factor WHERE user_id = ?"),
        ];
        on_pool!(self.pool, p => {
            let mut tx = p.begin_write().await?;
            for s in &stmts {
                sqlx::query(s).bind(user_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn create_pending(&self, user_id: &str, now_ms: i64) -> Result<String> {
        let token = new_token();
        let sweep =
            self.sql("DELETE FROM kavach_two_factor_pending WHERE user_id = ? AND expires_at <= ?");
        let insert = self.sql(
            "INSERT INTO kavach_two_factor_pending (id, user_id, token_hash, attempts, expires_at, created_at) VALUES (?, ?, ?, 0, ?, ?)",
        );
        on_pool!(self.pool, p => {
            sqlx::query(&sweep).bind(user_id).bind(Ts(now_ms)).execute(p).await?;
            sqlx::query(&insert)
                .bind(new_id()).bind(user_id).bind(hash_token(&token))
                .bind(Ts(now_ms.saturating_add(PENDING_TTL_MS))).bind(Ts(now_ms))
                .execute(p).await?;
        });
        Ok(token)
    }

    /// Takes one attempt of a pending sign-in: `(id, user_id, attempts used now)`.
    async fn reserve_attempt(&self, token: &str, now_ms: i64) -> Result<(String, String, i64)> {
        if token.is_empty() || token.len() > 256 {
            return Err(KavachError::TwoFactorTokenInvalid);
        }
        let select = self.sql(
            "SELECT id, user_id, attempts, expires_at FROM kavach_two_factor_pending WHERE token_hash = ?",
        );
        let found: Option<(String, String, i64, i64)> = on_pool!(self.pool, p => {
            match sqlx::query(&select).bind(hash_token(token)).fetch_optional(p).await? {
                None => None,
                Some(r) => Some((col_str!(r, "id")?, col_str!(r, "user_id")?, r.try_get::<i64, _>("attempts")?, r.try_get::<Ts, _>("expires_at")?.0)),
            }
        });
        let Some((id, user_id, attempts, expires_at)) = found else {
            return Err(KavachError::TwoFactorTokenInvalid);
        };
        if expires_at <= now_ms || attempts >= MAX_ATTEMPTS {
            self.drop_pending(&id).await?;
            return Err(KavachError::TwoFactorTokenInvalid);
        }
        let take = self.sql(
            "UPDATE kavach_two_factor_pending SET attempts = attempts + 1 WHERE id = ? AND attempts < ?",
        );
        let n = on_pool!(self.pool, p => sqlx::query(&take).bind(&id).bind(MAX_ATTEMPTS).execute(p).await?.rows_affected());
        if n == 0 {
            return Err(KavachError::TwoFactorTokenInvalid);
        }
        let count = self.sql("SELECT attempts FROM kavach_two_factor_pending WHERE id = ?");
        let used: Option<i64> = on_pool!(self.pool, p => match sqlx::query(&count).bind(&id).fetch_optional(p).await? {
            None => None,
            Some(r) => Some(r.try_get::<i64, _>("attempts")?),
        });
        let used = used.ok_or(KavachError::TwoFactorTokenInvalid)?;
        Ok((id, user_id, used))
    }

    async fn drop_pending(&self, id: &str) -> Result<bool> {
        let sql = self.sql("DELETE FROM kavach_two_factor_pending WHERE id = ?");
        let n =
            on_pool!(self.pool, p => sqlx::query(&sql).bind(id).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    async fn trust(&self, user_id: &str, now_ms: i64) -> Result<String> {
        let token = new_token();
        let ttl = i64::from(self.opts.trust_device_days) * 86_400_000;
        let sweep =
            self.sql("DELETE FROM kavach_two_factor_trusted WHERE user_id = ? AND expires_at <= ?");
        let insert = self.sql(
            "INSERT INTO kavach_two_factor_trusted (id, user_id, token_hash, expires_at, created_at) VALUES (?, ?, ?, ?, ?)",
        );
        on_pool!(self.pool, p => {
            sqlx::query(&sweep).bind(user_id).bind(Ts(now_ms)).execute(p).await?;
            sqlx::query(&insert)
                .bind(new_id()).bind(user_id).bind(hash_token(&token))
                .bind(Ts(now_ms.saturating_add(ttl))).bind(Ts(now_ms))
                .execute(p).await?;
        });
        Ok(token)
    }

    async fn is_trusted(&self, user_id: &str, token: &str, now_ms: i64) -> Result<bool> {
        if self.opts.trust_device_days == 0 || token.is_empty() || token.len() > 256 {
            return Ok(false);
        }
        let sql = self.sql(
            "SELECT expires_at FROM kavach_two_factor_trusted WHERE token_hash = ? AND user_id = ?",
        );
        let expires: Option<i64> = on_pool!(self.pool, p => match sqlx::query(&sql).bind(hash_token(token)).bind(user_id).fetch_optional(p).await? {
            None => None,
            Some(r) => Some(r.try_get::<Ts, _>("expires_at")?.0),
        });
        Ok(expires.is_some_and(|e| e > now_ms))
    }

    /// Re-checks the user's password (PBKDF2 off the async threads).
    async fn check_password(&self, user_id: &str, password: String, iterations: u32) -> Result<()> {
        let sql =
            self.sql("SELECT password FROM kavach_account WHERE user_id = ? AND provider_id = ?");
        let stored: Option<Option<String>> = on_pool!(self.pool, p => match sqlx::query(&sql).bind(user_id).bind(CREDENTIAL_PROVIDER).fetch_optional(p).await? {
            None => None,
            Some(r) => Some(col_opt_str!(r, "password")?),
        });
        let verdict = tokio::task::spawn_blocking(move || match stored {
            Some(Some(stored)) if password.len() <= 1024 => {
                verify_password(&password, &stored, iterations)
            }
            _ => {
                burn_verification(&password, iterations);
                Verified::NoMatch
            }
        })
        .await
        .map_err(|_| KavachError::Internal("a hashing task failed".into()))?;
        match verdict {
            Verified::Match { .. } => Ok(()),
            _ => Err(KavachError::InvalidCredentials),
        }
    }
}

fn already_enabled() -> KavachError {
    KavachError::Conflict("two-factor authentication is already on; disable it first".into())
}

fn not_set_up() -> KavachError {
    KavachError::Conflict("two-factor authentication is not set up for this user".into())
}

// ---- the instance's calls -----------------------------------------------------------------------

impl Kavach {
    fn two_factor_store(&self) -> Result<TwoFactorStore<'_>> {
        self.check_open()?;
        match self.plugin::<TwoFactorPlugin>() {
            Some(plugin) => Ok(TwoFactorStore {
                pool: self.pool(),
                dialect: self.dialect(),
                opts: &plugin.settings,
            }),
            None => Err(KavachError::ConfigInvalid(
                "two-factor calls need the twoFactor() plugin in plugins".into(),
            )),
        }
    }

    /// Completes a pending sign-in with a TOTP code or a backup code.
    pub async fn two_factor_verify(
        &self,
        pending_token: &str,
        input: VerifyTwoFactor,
        client: ClientInfo,
    ) -> Result<TwoFactorSignedIn> {
        let store = self.two_factor_store()?;
        let (code, backup) = match (&input.code, &input.backup_code) {
            (Some(c), None) => (Some(c.as_str()), None),
            (None, Some(b)) => (None, Some(b.as_str())),
            _ => return Err(KavachError::validation("send either code or backupCode")),
        };
        let now = self.now_ms();
        let (pending_id, user_id, attempts) = store.reserve_attempt(pending_token, now).await?;
        // Wrong codes also count per account across pending sign-ins (the failed sign-in limit), so
        // someone holding the password cannot guess codes through an endless series of sign-ins.
        let limit = self
            .settings()
            .rate_limits
            .map(|(per_account, _)| per_account);
        let limit_key = format!("2fa:{user_id}");
        if let Some(limit) = limit {
            if let Some(retry) = ratelimit::blocked(self.limiter(), &limit_key, limit, now).await? {
                return Err(KavachError::TooManyAttempts(retry.0));
            }
        }
        let accepted = match (code, backup) {
            (Some(c), _) => match store.state(&user_id).await? {
                Some(state) if state.enabled => {
                    store.check_code(&user_id, &state, c, false, now).await?
                }
                _ => false,
            },
            (_, Some(b)) => {
                store.is_enabled(&user_id).await? && store.use_backup(&user_id, b).await?
            }
            _ => false,
        };
        if !accepted {
            if attempts >= MAX_ATTEMPTS {
                store.drop_pending(&pending_id).await?;
            }
            if let Some(limit) = limit {
                ratelimit::hit(self.limiter(), &limit_key, limit, now).await?;
            }
            return Err(KavachError::InvalidCode);
        }
        if !store.drop_pending(&pending_id).await? {
            // Completed by a concurrent request with another valid code.
            return Err(KavachError::TwoFactorTokenInvalid);
        }
        let humans = self.humans();
        let user = humans
            .user_by_id(&user_id)
            .await?
            .ok_or(KavachError::TwoFactorTokenInvalid)?;
        let (session, token) = humans.create_session(&user.id, client, now, true).await?;
        let trusted_device_token =
            if input.trust_device == Some(true) && store.opts.trust_device_days > 0 {
                Some(store.trust(&user.id, now).await?)
            } else {
                None
            };
        Ok(TwoFactorSignedIn {
            signed_in: SignedIn {
                user,
                session,
                token,
            },
            trusted_device_token,
        })
    }

    /// Starts enrollment after re-checking the password; 2FA is on only after [`Kavach::two_factor_activate`].
    pub async fn two_factor_enable(&self, user_id: &str, password: String) -> Result<Enrollment> {
        let store = self.two_factor_store()?;
        let user = self
            .humans()
            .user_by_id(user_id)
            .await?
            .ok_or(KavachError::InvalidCredentials)?;
        store
            .check_password(user_id, password, self.settings().pbkdf2_iterations)
            .await?;
        if store.is_enabled(user_id).await? {
            return Err(already_enabled());
        }
        let mut secret = [0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let sealed = seal(&store.opts.secret, user_id, &secret)?;
        let (codes, hashes) = store.fresh_backup_codes();
        store
            .enroll(user_id, &sealed, &hashes, self.now_ms())
            .await?;
        let b32 = base32(&secret);
        Ok(Enrollment {
            totp_uri: otpauth_uri(&store.opts.issuer, &user.email, &b32),
            secret: b32,
            backup_codes: codes,
        })
    }

    /// Turns 2FA on once the authenticator app proves it has the secret.
    pub async fn two_factor_activate(&self, user_id: &str, code: &str) -> Result<()> {
        let store = self.two_factor_store()?;
        let state = store.state(user_id).await?.ok_or_else(not_set_up)?;
        if state.enabled {
            return Err(already_enabled());
        }
        if store
            .check_code(user_id, &state, code, true, self.now_ms())
            .await?
        {
            Ok(())
        } else {
            Err(KavachError::InvalidCode)
        }
    }

    /// Turns 2FA off (password re-checked): secret, backup codes and trusted devices are deleted.
    pub async fn two_factor_disable(&self, user_id: &str, password: String) -> Result<()> {
        let store = self.two_factor_store()?;
        store
            .check_password(user_id, password, self.settings().pbkdf2_iterations)
            .await?;
        store.remove(user_id).await
    }

    pub async fn two_factor_status(&self, user_id: &str) -> Result<bool> {
        self.two_factor_store()?.is_enabled(user_id).await
    }

    /// A new set of backup codes (password re-checked); the old ones stop working.
    pub async fn two_factor_backup_codes(
        &self,
        user_id: &str,
        password: String,
    ) -> Result<Vec<String>> {
        let store = self.two_factor_store()?;
        store
            .check_password(user_id, password, self.settings().pbkdf2_iterations)
            .await?;
        if store.state(user_id).await?.is_none() {
            return Err(not_set_up());
        }
        let (codes, hashes) = store.fresh_backup_codes();
        store
            .replace_backups(user_id, &hashes, self.now_ms())
            .await?;
        Ok(codes)
    }
}

// ---- HTTP ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: String,
}

impl Kavach {
    fn plugin_cookie(&self, name: &str, value: &str, max_age: i64) -> String {
        format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
            if self.settings().secure_cookies {
                "; Secure"
            } else {
                ""
            }
        )
    }
}

/// The plugin's HTTP routes.
const ROUTES: &[crate::plugin::Route] = &[
    route!("GET", "/two-factor/status", |k, req, p| {
        let user = k.session_user(req).await?;
        ok_value(json!({ "enabled": k.two_factor_status(&user.id).await? }))
    }),
    route!("POST", "/two-factor/enable", |k, req, p| {
        let user = k.session_user(req).await?;
        let b: PasswordBody = parse_body(req)?;
        k.limit_ip(req).await?;
        ok(&k.two_factor_enable(&user.id, b.password).await?)
    }),
    route!("POST", "/two-factor/activate", |k, req, p| {
        let user = k.session_user(req).await?;
        let b: CodeBody = parse_body(req)?;
        k.limit_ip(req).await?;
        k.two_factor_activate(&user.id, &b.code).await?;
        ok_value(json!({ "enabled": true }))
    }),
    route!("POST", "/two-factor/disable", |k, req, p| {
        let user = k.session_user(req).await?;
        let b: PasswordBody = parse_body(req)?;
        k.limit_ip(req).await?;
        k.two_factor_disable(&user.id, b.password).await?;
        let mut r = ok_value(json!({ "enabled": false }))?;
        r.headers
            .push(("set-cookie".into(), k.plugin_cookie(TRUSTED_COOKIE, "", 0)));
        Ok(r)
    }),
    route!("POST", "/two-factor/backup-codes", |k, req, p| {
        let user = k.session_user(req).await?;
        let b: PasswordBody = parse_body(req)?;
        k.limit_ip(req).await?;
        let codes = k.two_factor_backup_codes(&user.id, b.password).await?;
        ok_value(json!({ "backupCodes": codes }))
    }),
    route!("POST", "/two-factor/verify", |k, req, p| {
        let token = req
            .cookie(PENDING_COOKIE)
            .filter(|t| !t.is_empty())
            .ok_or(KavachError::TwoFactorTokenInvalid)?;
        let b: VerifyTwoFactor = parse_body(req)?;
        k.limit_ip(req).await?;
        let done = match k.two_factor_verify(token, b, req.client()).await {
            Ok(d) => d,
            Err(KavachError::TooManyAttempts(s)) => {
                return Err(crate::http::too_many(ratelimit::RetryAfter(s)))
            }
            Err(e) => return Err(e.into()),
        };
        let mut r = ok_value(json!({
            "user": done.signed_in.user,
            "session": done.signed_in.session,
        }))?;
        r.headers
            .push(("set-cookie".into(), k.session_cookie(&done.signed_in.token)));
        r.headers
            .push(("set-cookie".into(), k.plugin_cookie(PENDING_COOKIE, "", 0)));
        if let Some(t) = &done.trusted_device_token {
            let days = i64::from(
                k.plugin::<TwoFactorPlugin>()
                    .map_or(0, |p| p.settings.trust_device_days),
            );
            r.headers.push((
                "set-cookie".into(),
                k.plugin_cookie(TRUSTED_COOKIE, t, days * 86_400),
            ));
        }
        Ok(r)
    }),
];

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    fn at(secs: i64) -> i64 {
        secs * 1000
    }

    #[test]
    fn rfc6238_appendix_b_sha1() {
        // (Unix time, 8-digit TOTP) from RFC 6238 Appendix B, SHA-1 rows.
        for (t, expected) in [
            (59_i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            let step = step_of(at(t));
            assert_eq!(code_at_step(RFC_SECRET, 8, step as u64), expected, "T={t}");
            assert_eq!(
                matching_step(RFC_SECRET, 8, expected, at(t)),
                Some(step),
                "T={t}"
            );
        }
        // The 6-digit code is the last six digits of the same truncation.
        assert_eq!(
            code_at_step(RFC_SECRET, 6, step_of(at(59)) as u64),
            "287082"
        );
    }

    #[test]
    fn window_is_one_step_either_side() {
        let now = at(1_111_111_111);
        let step = step_of(now);
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = code_at_step(RFC_SECRET, DIGITS, (step + offset) as u64);
            assert_eq!(
                matching_step(RFC_SECRET, DIGITS, &code, now) == Some(step + offset),
                accepted,
                "offset {offset}"
            );
        }
        assert_eq!(matching_step(RFC_SECRET, DIGITS, "12345", now), None);
        assert_eq!(normalize_code(" 287 082 "), Some("287082".into()));
        assert_eq!(normalize_code("28708a"), None);
        assert_eq!(normalize_code("2870821"), None);
    }

    #[test]
    fn sealed_secrets_round_trip_and_fail_with_another_key_or_user() {
        let key = "k".repeat(32);
        let other = "j".repeat(32);
        let sealed = seal(&key, "user-1", RFC_SECRET).unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("12345678901234567890"));
        assert_eq!(open(&key, "user-1", &sealed).unwrap(), RFC_SECRET);
        assert_ne!(
            seal(&key, "user-1", RFC_SECRET).unwrap(),
            sealed,
            "fresh nonce"
        );
        assert_eq!(
            open(&other, "user-1", &sealed).unwrap_err().code(),
            "INTERNAL_ERROR"
        );
        assert!(open(&key, "user-2", &sealed).is_err(), "bound to the user");
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(open(&key, "user-1", std::str::from_utf8(&tampered).unwrap()).is_err());
        assert!(open(&key, "user-1", "v1.").is_err());
        assert!(open(&key, "user-1", "plain").is_err());
        // The error says nothing about the secret or the key.
        let msg = open(&other, "user-1", &sealed).unwrap_err().to_string();
        assert!(!msg.contains(&sealed));
    }

    #[test]
    fn backup_codes_shape_and_normalization() {
        let c = new_backup_code();
        assert_eq!(c.len(), 11);
        assert_eq!(&c[5..6], "-");
        assert_ne!(c, new_backup_code());
        let h = backup_code_hash(&c).unwrap();
        assert_eq!(backup_code_hash(&c.to_lowercase()), Some(h.clone()));
        assert_eq!(backup_code_hash(&c.replace('-', " ")), Some(h.clone()));
        assert_eq!(h.len(), 64);
        // better-auth's codes (imported) use 0-9 and both cases; case is folded like ours.
        assert_eq!(
            backup_code_hash("aB3x0-Zq19k"),
            backup_code_hash("AB3X0ZQ19K")
        );
        assert_eq!(backup_code_hash("ABCDE-FGHI!"), None);
        assert_eq!(backup_code_hash("ABCD"), None);
    }

    #[test]
    fn otpauth_uri_shape() {
        let secret = [7u8; SECRET_BYTES];
        let b32 = base32(&secret);
        assert_eq!(b32.len(), 32);
        let uri = otpauth_uri("My App", "ada@example.com", &b32);
        assert_eq!(
            uri,
            format!("otpauth://totp/My%20App:ada%40example.com?secret={b32}&issuer=My%20App&algorithm=SHA1&digits=6&period=30")
        );
    }

    #[test]
    fn options() {
        let entry = |options: serde_json::Value| options;
        let secret = "s".repeat(32);
        let s = parse_options(&entry(json!({})), Some(&secret)).unwrap();
        assert_eq!(
            (s.issuer.as_str(), s.trust_device_days, s.backup_code_count),
            ("kavachos", 30, 10)
        );
        assert!(!format!("{s:?}").contains("key"));
        for bad in [
            json!({ "issuer": "a:b" }),
            json!({ "trustDeviceDays": -1 }),
            json!({ "backupCodeCount": 0 }),
            json!({ "nope": 1 }),
        ] {
            assert_eq!(
                parse_options(&entry(bad.clone()), Some(&secret))
                    .unwrap_err()
                    .code(),
                "CONFIG_INVALID",
                "{bad}"
            );
        }
        assert_eq!(
            parse_options(&entry(json!({})), None).unwrap_err().code(),
            "CONFIG_INVALID"
        );
    }
}
