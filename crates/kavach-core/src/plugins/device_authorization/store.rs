//! `kavach_device_code`: the pending device authorizations. Both codes are stored as keyed hashes
//! only (HMAC-SHA256 under a key derived from the instance secret, as `plugins/one_time.rs`
//! does), so a copy of the table lets nobody poll for a token or approve a request.
//!
//! Every change of state is one conditional statement, so concurrent callers cannot both win:
//! a poll records itself with a compare-and-swap on `last_polled_at`, the lookup claims a code
//! only while nobody has (`user_id IS NULL`), approve and deny only move a `pending` row, and the
//! token is issued to the one caller whose `DELETE ... AND status = 'approved'` removed the row.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::Row;

use crate::crypto::token::new_id;
use crate::error::{KavachError, Result};
use crate::kavach::Kavach;
use crate::store::db::{sql_for, Ts};
use crate::{col_opt_str, col_str, on_pool};

/// One row of `kavach_device_code`.
#[derive(Debug, Clone)]
pub struct DeviceCode {
    pub id: String,
    pub user_id: Option<String>,
    pub client_id: String,
    pub scope: Option<String>,
    /// `pending`, `approved` or `denied`.
    pub status: String,
    /// Milliseconds a device must wait between two polls (grows by 5 s with each `slow_down`).
    pub interval_ms: i64,
    pub last_polled_at: Option<i64>,
    pub expires_at: i64,
}

/// A keyed hash of a code: HMAC-SHA256 over `kind \0 code`, hex.
pub fn hash(key: &[u8], kind: &str, code: &str) -> Result<String> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .map_err(|_| KavachError::Internal("could not key a device code hash".into()))?;
    mac.update(kind.as_bytes());
    mac.update(b"\0");
    mac.update(code.as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

const COLUMNS: &str =
    "id, user_id, client_id, scope, status, polling_interval, last_polled_at, expires_at";

/// What a new authorization request stores.
pub struct NewCode<'a> {
    pub device_hash: &'a str,
    pub user_hash: &'a str,
    pub user_id: Option<&'a str>,
    pub client_id: &'a str,
    pub scope: Option<&'a str>,
    pub interval_ms: i64,
    pub expires_at: i64,
}

/// Stores a new request; `Ok(false)` when one of its codes' hashes is already taken (the caller
/// draws new codes). Expired rows are swept on the way.
pub async fn insert(k: &Kavach, c: &NewCode<'_>) -> Result<bool> {
    let d = k.dialect();
    let now = k.now_ms();
    let sweep = sql_for(d, "DELETE FROM kavach_device_code WHERE expires_at <= ?");
    let insert = sql_for(
        d,
        "INSERT INTO kavach_device_code (id, device_code_hash, user_code_hash, user_id, client_id, scope, status, polling_interval, last_polled_at, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, NULL, ?, ?)",
    );
    on_pool!(k.pool(), p => {
        sqlx::query(&sweep).bind(Ts(now)).execute(p).await?;
        let r = sqlx::query(&insert)
            .bind(new_id()).bind(c.device_hash).bind(c.user_hash).bind(c.user_id)
            .bind(c.client_id).bind(c.scope).bind(c.interval_ms)
            .bind(Ts(c.expires_at)).bind(Ts(now))
            .execute(p).await;
        match r {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    })
}

/// The row whose `column` (`device_code_hash` or `user_code_hash`) is `hash`.
pub async fn find(k: &Kavach, column: &str, hash: &str) -> Result<Option<DeviceCode>> {
    let column = match column {
        "device_code_hash" => "device_code_hash",
        _ => "user_code_hash",
    };
    let text = format!("SELECT {COLUMNS} FROM kavach_device_code WHERE {column} = ?");
    let sql = sql_for(k.dialect(), &text);
    Ok(
        on_pool!(k.pool(), p => match sqlx::query(&sql).bind(hash).fetch_optional(p).await? {
            None => None,
            Some(r) => Some(DeviceCode {
                id: col_str!(r, "id")?,
                user_id: col_opt_str!(r, "user_id")?,
                client_id: col_str!(r, "client_id")?,
                scope: col_opt_str!(r, "scope")?,
                status: col_str!(r, "status")?,
                interval_ms: r.try_get::<i64, _>("polling_interval")?,
                last_polled_at: r.try_get::<Option<Ts>, _>("last_polled_at")?.map(|t| t.0),
                expires_at: r.try_get::<Ts, _>("expires_at")?.0,
            }),
        }),
    )
}

async fn execute(k: &Kavach, sql: &str, binds: &[Bind<'_>]) -> Result<u64> {
    let sql = sql_for(k.dialect(), sql);
    Ok(on_pool!(k.pool(), p => {
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = match b {
                Bind::Str(s) => q.bind(*s),
                Bind::Ts(t) => q.bind(Ts(*t)),
            };
        }
        q.execute(p).await?.rows_affected()
    }))
}

enum Bind<'a> {
    Str(&'a str),
    Ts(i64),
}

/// Records a poll at `now` if nobody else recorded one since `seen` (the `last_polled_at` read
/// with the row); true for the one caller that did.
pub async fn record_poll(k: &Kavach, row: &DeviceCode, now: i64) -> Result<bool> {
    let n = match row.last_polled_at {
        None => {
            execute(
                k,
                "UPDATE kavach_device_code SET last_polled_at = ? WHERE id = ? AND last_polled_at IS NULL",
                &[Bind::Ts(now), Bind::Str(&row.id)],
            )
            .await?
        }
        Some(seen) => {
            execute(
                k,
                "UPDATE kavach_device_code SET last_polled_at = ? WHERE id = ? AND last_polled_at = ?",
                &[Bind::Ts(now), Bind::Str(&row.id), Bind::Ts(seen)],
            )
            .await?
        }
    };
    Ok(n == 1)
}

/// A poll that came too early (RFC 8628 3.5): the interval grows by 5 seconds for this and every
/// later poll, counted from now.
pub async fn slow_down(k: &Kavach, id: &str, now: i64) -> Result<()> {
    execute(
        k,
        "UPDATE kavach_device_code SET polling_interval = polling_interval + 5000, last_polled_at = ? WHERE id = ?",
        &[Bind::Ts(now), Bind::Str(id)],
    )
    .await?;
    Ok(())
}

/// Deletes the row `id` if its status is still `status`; true for the one caller that did.
pub async fn take(k: &Kavach, id: &str, status: &str) -> Result<bool> {
    let n = execute(
        k,
        "DELETE FROM kavach_device_code WHERE id = ? AND status = ?",
        &[Bind::Str(id), Bind::Str(status)],
    )
    .await?;
    Ok(n == 1)
}

/// Deletes the row `id` whatever its state (an expired code).
pub async fn remove(k: &Kavach, id: &str) -> Result<()> {
    execute(
        k,
        "DELETE FROM kavach_device_code WHERE id = ?",
        &[Bind::Str(id)],
    )
    .await?;
    Ok(())
}

/// Binds a pending, unclaimed, live request to `user_id` (the user-code page's lookup).
pub async fn claim(k: &Kavach, id: &str, user_id: &str, now: i64) -> Result<bool> {
    let n = execute(
        k,
        "UPDATE kavach_device_code SET user_id = ? WHERE id = ? AND status = 'pending' AND user_id IS NULL AND expires_at > ?",
        &[Bind::Str(user_id), Bind::Str(id), Bind::Ts(now)],
    )
    .await?;
    Ok(n == 1)
}

/// Moves a pending, live request of `user_id` to `status` (`approved` or `denied`).
pub async fn decide(k: &Kavach, id: &str, user_id: &str, status: &str, now: i64) -> Result<bool> {
    let n = execute(
        k,
        "UPDATE kavach_device_code SET status = ? WHERE id = ? AND user_id = ? AND status = 'pending' AND expires_at > ?",
        &[
            Bind::Str(status),
            Bind::Str(id),
            Bind::Str(user_id),
            Bind::Ts(now),
        ],
    )
    .await?;
    Ok(n == 1)
}
