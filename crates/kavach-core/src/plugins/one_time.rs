//! One-time secrets delivered to a person: a magic link's token, an emailed or texted code. Shared by
//! the plugins that send them (magic-link, email-otp, phone-number), over `kavach_one_time`.
//!
//! - Only a keyed hash is stored: HMAC-SHA256 under a key derived from the instance secret, bound to
//!   the purpose, so a 6-digit code read out of a database copy cannot be found by trying a million
//!   hashes without the key.
//! - One live secret per `(purpose, identifier)`: issuing replaces the earlier one.
//! - A secret works once under concurrency: the row is taken with a conditional `DELETE` and only
//!   the caller whose `DELETE` removed it wins.
//! - A code allows `max_attempts` tries: each try reserves an attempt with a conditional `UPDATE`
//!   before the comparison, so concurrent guesses cannot spend more tries than allowed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use serde_json::Value;
use sha2::Sha256;
use sqlx::Row;
use subtle::ConstantTimeEq;

use crate::config::Dialect;
use crate::crypto::token::new_id;
use crate::error::{KavachError, Result};
use crate::kavach::Kavach;
use crate::store::db::{sql_for, Pool, Ts};
use crate::{col_opt_str, col_str, on_pool};

/// Key used when the instance has no secret (allowed only under NODE_ENV development or test).
const DEV_KEY: &[u8] = b"kavachos/one-time/no-secret (development and test only)";

/// The HMAC key for one-time secrets, derived from the instance secret (`PluginEnv::secret`).
pub fn key(secret: Option<&str>) -> Vec<u8> {
    use sha2::Digest;
    let base = secret.map(str::as_bytes).unwrap_or(DEV_KEY);
    let mut h = Sha256::new();
    h.update(b"kavachos/one-time/v1\0");
    h.update(base);
    h.finalize().to_vec()
}

/// What redeeming or checking a secret found.
#[derive(Debug, Clone, PartialEq)]
pub enum Taken {
    /// The secret matched (and was consumed, unless only checked).
    Valid {
        identifier: String,
        data: Option<Value>,
    },
    /// No such live secret, a wrong code, or another caller took it first.
    Invalid,
    /// It existed but its time is up (it is removed).
    Expired,
    /// A code whose allowed tries are spent (it is void).
    TooManyAttempts,
}

/// The one-time secret store of an instance.
pub struct OneTime<'a> {
    pool: &'a Pool,
    dialect: Dialect,
    now_ms: i64,
    key: &'a [u8],
}

struct Row1 {
    id: String,
    identifier: String,
    secret_hash: String,
    attempts: i64,
    data: Option<String>,
    expires_at: i64,
}

impl<'a> OneTime<'a> {
    /// The store of `k`, hashing with `key` (from [`key`], computed once by the plugin's factory).
    pub fn new(k: &'a Kavach, key: &'a [u8]) -> Self {
        Self {
            pool: k.pool(),
            dialect: k.dialect(),
            now_ms: k.now_ms(),
            key,
        }
    }

    /// A link token: 32 random bytes, base64url.
    pub fn new_token() -> String {
        let mut b = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut b);
        URL_SAFE_NO_PAD.encode(b)
    }

    /// A code of `len` decimal digits, each uniform.
    pub fn new_code(len: usize) -> String {
        let mut rng = rand::thread_rng();
        (0..len)
            .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
            .collect()
    }

    fn hash(&self, purpose: &str, secret: &str) -> Result<String> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key)
            .map_err(|_| KavachError::Internal("could not key a one-time hash".into()))?;
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(secret.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    fn sql<'s>(&self, s: &'s str) -> std::borrow::Cow<'s, str> {
        sql_for(self.dialect, s)
    }

    /// Stores `secret` for `(purpose, identifier)` for `ttl_ms`, replacing any earlier one, with
    /// `data` (never a secret) to hand back when it is redeemed. Expired rows are swept on the way.
    pub async fn issue(
        &self,
        purpose: &str,
        identifier: &str,
        secret: &str,
        data: Option<&Value>,
        ttl_ms: i64,
    ) -> Result<()> {
        let data = data.map(Value::to_string);
        let hash = self.hash(purpose, secret)?;
        let now = self.now_ms;
        let sweep = self.sql(
            "DELETE FROM kavach_one_time WHERE (purpose = ? AND identifier = ?) OR expires_at <= ?",
        );
        let insert = self.sql(
            "INSERT INTO kavach_one_time (id, purpose, identifier, secret_hash, attempts, data, expires_at, created_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
        );
        on_pool!(self.pool, p => {
            let mut tx = p.begin().await?;
            sqlx::query(&sweep).bind(purpose).bind(identifier).bind(Ts(now)).execute(&mut *tx).await?;
            sqlx::query(&insert)
                .bind(new_id()).bind(purpose).bind(identifier).bind(&hash).bind(data.as_deref())
                .bind(Ts(now.saturating_add(ttl_ms))).bind(Ts(now))
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn find(&self, where_: &str, a: &str, b: &str) -> Result<Option<Row1>> {
        let text = format!(
            "SELECT id, identifier, secret_hash, attempts, data, expires_at FROM kavach_one_time WHERE purpose = ? AND {where_} = ?"
        );
        let sql = self.sql(&text);
        Ok(
            on_pool!(self.pool, p => match sqlx::query(&sql).bind(a).bind(b).fetch_optional(p).await? {
                None => None,
                Some(r) => Some(Row1 {
                    id: col_str!(r, "id")?,
                    identifier: col_str!(r, "identifier")?,
                    secret_hash: col_str!(r, "secret_hash")?,
                    attempts: r.try_get::<i64, _>("attempts")?,
                    data: col_opt_str!(r, "data")?,
                    expires_at: r.try_get::<Ts, _>("expires_at")?.0,
                }),
            }),
        )
    }

    /// Deletes the row `id`; true for the one caller that removed it.
    async fn take_row(&self, id: &str) -> Result<bool> {
        let sql = self.sql("DELETE FROM kavach_one_time WHERE id = ?");
        let n =
            on_pool!(self.pool, p => sqlx::query(&sql).bind(id).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    fn valid(row: Row1) -> Taken {
        Taken::Valid {
            identifier: row.identifier,
            data: row.data.and_then(|d| serde_json::from_str(&d).ok()),
        }
    }

    /// Redeems a link's secret: the row whose keyed hash matches is taken (deleted); of concurrent
    /// callers exactly one gets `Valid`.
    pub async fn take_secret(&self, purpose: &str, secret: &str) -> Result<Taken> {
        if secret.is_empty() || secret.len() > 512 {
            return Ok(Taken::Invalid);
        }
        let Some(row) = self
            .find("secret_hash", purpose, &self.hash(purpose, secret)?)
            .await?
        else {
            return Ok(Taken::Invalid);
        };
        if !self.take_row(&row.id).await? {
            return Ok(Taken::Invalid);
        }
        if row.expires_at <= self.now_ms {
            return Ok(Taken::Expired);
        }
        Ok(Self::valid(row))
    }

    /// Checks a code for `(purpose, identifier)`. Each call spends one of `max_attempts` tries,
    /// reserved before the comparison. A match is consumed when `consume` (exactly one concurrent
    /// caller wins), or left in place when only checked.
    pub async fn check_code(
        &self,
        purpose: &str,
        identifier: &str,
        code: &str,
        max_attempts: i64,
        consume: bool,
    ) -> Result<Taken> {
        if code.is_empty() || code.len() > 64 {
            return Ok(Taken::Invalid);
        }
        let now = self.now_ms;
        let reserve = self.sql(
            "UPDATE kavach_one_time SET attempts = attempts + 1 WHERE purpose = ? AND identifier = ? AND attempts < ? AND expires_at > ?",
        );
        let reserved = on_pool!(self.pool, p => sqlx::query(&reserve)
            .bind(purpose).bind(identifier).bind(max_attempts).bind(Ts(now))
            .execute(p).await?.rows_affected());
        let Some(row) = self.find("identifier", purpose, identifier).await? else {
            return Ok(Taken::Invalid);
        };
        if reserved == 0 {
            if row.expires_at <= now {
                self.take_row(&row.id).await?;
                return Ok(Taken::Expired);
            }
            if row.attempts >= max_attempts {
                return Ok(Taken::TooManyAttempts);
            }
            // Issued again between the two statements: this try counts as wrong.
            return Ok(Taken::Invalid);
        }
        let given = self.hash(purpose, code)?;
        let matches: bool = given.as_bytes().ct_eq(row.secret_hash.as_bytes()).into();
        if !matches {
            return Ok(Taken::Invalid);
        }
        if consume && !self.take_row(&row.id).await? {
            return Ok(Taken::Invalid);
        }
        Ok(Self::valid(row))
    }

    /// Removes the live secret of `(purpose, identifier)`, if any.
    pub async fn remove(&self, purpose: &str, identifier: &str) -> Result<()> {
        let sql = self.sql("DELETE FROM kavach_one_time WHERE purpose = ? AND identifier = ?");
        on_pool!(self.pool, p => {
            sqlx::query(&sql).bind(purpose).bind(identifier).execute(p).await?;
        });
        Ok(())
    }
}

/// The error a link's outcome answers (`INVALID_TOKEN`, `TOKEN_EXPIRED`).
pub fn link_error(t: &Taken) -> KavachError {
    match t {
        Taken::Expired => KavachError::refused("TOKEN_EXPIRED", 400, "the link has expired"),
        _ => KavachError::refused(
            "INVALID_TOKEN",
            400,
            "the link is invalid or was already used",
        ),
    }
}

/// The error a code's outcome answers (`INVALID_OTP`, `OTP_EXPIRED`, `TOO_MANY_ATTEMPTS`).
pub fn code_error(t: &Taken) -> KavachError {
    match t {
        Taken::Expired => KavachError::refused("OTP_EXPIRED", 400, "the code has expired"),
        Taken::TooManyAttempts => KavachError::refused(
            "TOO_MANY_ATTEMPTS",
            403,
            "too many wrong codes: request a new one",
        ),
        _ => KavachError::refused("INVALID_OTP", 400, "the code is invalid"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_digits_of_the_asked_length_and_tokens_are_long() {
        for len in [4, 6, 8] {
            let c = OneTime::new_code(len);
            assert_eq!(c.len(), len);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
        let t = OneTime::new_token();
        assert_eq!(t.len(), 43);
        assert_ne!(t, OneTime::new_token());
    }

    #[test]
    fn the_key_depends_on_the_secret() {
        assert_ne!(key(Some(&"a".repeat(32))), key(Some(&"b".repeat(32))));
        assert_eq!(key(None), key(None));
    }
}
