//! The oauth plugin's rows: the single-use authorization state (`kavach_oauth_state`) and the
//! provider links (`kavach_account`, whose tokens are sealed with `accounts::provider_tokens`, the
//! same store the importers write).

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

use super::oauth_error;
use crate::accounts::human::{user_from_row, User};
use crate::accounts::provider_tokens::{self, TokenKind};
use crate::crypto::token::{hash_token, new_id};
use crate::error::{KavachError, Result};
use crate::kavach::Kavach;
use crate::store::db::{sql_for, BeginWrite, Ts};
use crate::{col_opt_str, col_str, on_pool};

/// How long a started sign-in may take at the provider.
pub const STATE_TTL_MS: i64 = 600_000;

/// What a started authorization remembers until its callback (sealed at rest).
#[derive(Debug, Serialize, Deserialize)]
pub struct StateData {
    /// The PKCE verifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub callback: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_callback: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_user_callback: Option<String>,
    /// Linking: the signed-in user the provider account is added to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_user: Option<String>,
}

fn state_label(id: &str) -> String {
    format!("oauth-state:{id}")
}

/// Stores a new state; expired ones are swept on the way.
pub async fn put_state(
    k: &Kavach,
    secret: &str,
    state: &str,
    provider_id: &str,
    data: &StateData,
) -> Result<()> {
    let now = k.now_ms();
    let id = hash_token(state);
    let plain = serde_json::to_vec(data)
        .map_err(|_| KavachError::Internal("could not encode the OAuth state".into()))?;
    let sealed = crate::crypto::sealed::seal(secret.as_bytes(), &state_label(&id), &plain)?;
    let sweep = sql_for(
        k.dialect(),
        "DELETE FROM kavach_oauth_state WHERE expires_at < ?",
    );
    let insert = sql_for(k.dialect(), "INSERT INTO kavach_oauth_state (id, provider_id, data, expires_at, created_at) VALUES (?, ?, ?, ?, ?)");
    on_pool!(k.pool(), p => {
        sqlx::query(&sweep).bind(Ts(now)).execute(p).await?;
        sqlx::query(&insert)
            .bind(&id).bind(provider_id).bind(&sealed).bind(Ts(now + STATE_TTL_MS)).bind(Ts(now))
            .execute(p).await?;
    });
    Ok(())
}

/// Takes the state once: the first caller to delete the row gets it; a replay, an unknown or an
/// expired state, or one started for another provider, is `OAUTH_STATE_INVALID`.
pub async fn take_state(
    k: &Kavach,
    secret: &str,
    state: &str,
    provider_id: &str,
) -> Result<StateData> {
    let invalid = || {
        oauth_error(
            "OAUTH_STATE_INVALID",
            "this sign-in is unknown, expired or already used; start again",
        )
    };
    let id = hash_token(state);
    let select = sql_for(
        k.dialect(),
        "SELECT provider_id, data, expires_at FROM kavach_oauth_state WHERE id = ?",
    );
    let delete = sql_for(k.dialect(), "DELETE FROM kavach_oauth_state WHERE id = ?");
    let row: Option<(String, String, i64)> = on_pool!(k.pool(), p => {
        match sqlx::query(&select).bind(&id).fetch_optional(p).await? {
            None => None,
            Some(r) => Some((col_str!(r, "provider_id")?, col_str!(r, "data")?, r.try_get::<Ts, _>("expires_at")?.0)),
        }
    });
    let (pid, sealed, expires_at) = row.ok_or_else(invalid)?;
    let deleted =
        on_pool!(k.pool(), p => sqlx::query(&delete).bind(&id).execute(p).await?.rows_affected());
    if deleted != 1 || expires_at <= k.now_ms() || pid != provider_id {
        return Err(invalid());
    }
    let plain = crate::crypto::sealed::open(secret.as_bytes(), &state_label(&id), &sealed)
        .map_err(|_| invalid())?;
    serde_json::from_slice(&plain).map_err(|_| invalid())
}

/// A `kavach_account` row (tokens still sealed).
#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: String,
    pub user_id: String,
    pub provider_id: String,
    pub provider_account_id: String,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub expires_at: Option<i64>,
    pub scope: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl AccountRow {
    /// As `listAccounts` shows it (better-auth's shape; never a token).
    pub fn public(&self) -> serde_json::Value {
        json!({
            "id": self.id,
            "providerId": self.provider_id,
            "accountId": self.provider_account_id,
            "userId": self.user_id,
            "scopes": scopes_of(self.scope.as_deref()),
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        })
    }
}

pub fn scopes_of(scope: Option<&str>) -> Vec<&str> {
    scope
        .unwrap_or("")
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .collect()
}

const ACCOUNT_COLUMNS: &str = "id, user_id, provider_id, provider_account_id, access_token, refresh_token, expires_at, scope, created_at, updated_at";

macro_rules! account_from_row {
    ($r:expr) => {{
        let r = $r;
        AccountRow {
            id: col_str!(r, "id")?,
            user_id: col_str!(r, "user_id")?,
            provider_id: col_str!(r, "provider_id")?,
            provider_account_id: col_str!(r, "provider_account_id")?,
            access_token: col_opt_str!(r, "access_token")?,
            refresh_token: col_opt_str!(r, "refresh_token")?,
            expires_at: r.try_get::<Option<Ts>, _>("expires_at")?.map(|t| t.0),
            scope: col_opt_str!(r, "scope")?,
            created_at: r.try_get::<Ts, _>("created_at")?.0,
            updated_at: r.try_get::<Ts, _>("updated_at")?.0,
        }
    }};
}

pub async fn account_by_subject(
    k: &Kavach,
    provider_id: &str,
    subject: &str,
) -> Result<Option<AccountRow>> {
    let sql = sql_for(
        k.dialect(),
        &format!("SELECT {ACCOUNT_COLUMNS} FROM kavach_account WHERE provider_id = ? AND provider_account_id = ?"),
    )
    .into_owned();
    Ok(on_pool!(k.pool(), p => {
        match sqlx::query(&sql).bind(provider_id).bind(subject).fetch_optional(p).await? {
            None => None,
            Some(r) => Some(account_from_row!(&r)),
        }
    }))
}

pub async fn accounts_of(k: &Kavach, user_id: &str) -> Result<Vec<AccountRow>> {
    let sql = sql_for(
        k.dialect(),
        &format!("SELECT {ACCOUNT_COLUMNS} FROM kavach_account WHERE user_id = ? ORDER BY created_at, id"),
    )
    .into_owned();
    let mut out = Vec::new();
    on_pool!(k.pool(), p => {
        for r in sqlx::query(&sql).bind(user_id).fetch_all(p).await? {
            out.push(account_from_row!(&r));
        }
    });
    Ok(out)
}

pub async fn user_by_email(k: &Kavach, email: &str) -> Result<Option<User>> {
    let sql = sql_for(
        k.dialect(),
        concat!(
            "SELECT ",
            crate::user_columns!(),
            " FROM kavach_user WHERE email = ?"
        ),
    );
    Ok(on_pool!(k.pool(), p => {
        match sqlx::query(&sql).bind(email).fetch_optional(p).await? {
            None => None,
            Some(r) => Some(user_from_row!(&r, "")),
        }
    }))
}

/// The provider's tokens, as the account row stores them (sealed for `account_id`).
pub struct SealedTokens {
    pub access: Option<String>,
    pub refresh: Option<String>,
    pub expires_at: Option<i64>,
    pub scope: Option<String>,
}

pub fn seal_tokens(
    secret: &str,
    account_id: &str,
    access: &str,
    refresh: Option<&str>,
    expires_at: Option<i64>,
    scope: Option<String>,
) -> Result<SealedTokens> {
    Ok(SealedTokens {
        access: Some(provider_tokens::seal(
            secret,
            account_id,
            TokenKind::Access,
            access,
        )?),
        refresh: refresh
            .map(|r| provider_tokens::seal(secret, account_id, TokenKind::Refresh, r))
            .transpose()?,
        expires_at,
        scope,
    })
}

/// Replaces an account's tokens; a refresh token the provider did not send again is kept.
pub async fn update_tokens(k: &Kavach, account_id: &str, t: &SealedTokens) -> Result<()> {
    let sql = sql_for(k.dialect(), "UPDATE kavach_account SET access_token = ?, refresh_token = COALESCE(?, refresh_token), expires_at = ?, scope = COALESCE(?, scope), updated_at = ? WHERE id = ?");
    let now = k.now_ms();
    on_pool!(k.pool(), p => sqlx::query(&sql)
        .bind(&t.access).bind(&t.refresh).bind(t.expires_at.map(Ts)).bind(&t.scope).bind(Ts(now)).bind(account_id)
        .execute(p).await?.rows_affected());
    Ok(())
}

/// Adds a link for an existing user. A link the provider account already has (a race with another
/// callback) is `OAUTH_ACCOUNT_IN_USE`.
pub async fn insert_account(
    k: &Kavach,
    account_id: &str,
    user_id: &str,
    provider_id: &str,
    subject: &str,
    t: &SealedTokens,
    mark_verified: bool,
) -> Result<()> {
    let now = k.now_ms();
    let insert = sql_for(k.dialect(), "INSERT INTO kavach_account (id, user_id, provider_id, provider_account_id, access_token, refresh_token, expires_at, scope, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    let verify = sql_for(
        k.dialect(),
        "UPDATE kavach_user SET email_verified = ?, updated_at = ? WHERE id = ? AND email_verified = ?",
    );
    let in_use = |e: sqlx::Error| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => oauth_error(
            "OAUTH_ACCOUNT_IN_USE",
            "this provider account is linked to another user",
        ),
        other => other.into(),
    };
    on_pool!(k.pool(), p => {
        let mut tx = p.begin_write().await?;
        sqlx::query(&insert)
            .bind(account_id).bind(user_id).bind(provider_id).bind(subject)
            .bind(&t.access).bind(&t.refresh).bind(t.expires_at.map(Ts)).bind(&t.scope)
            .bind(Ts(now)).bind(Ts(now))
            .execute(&mut *tx).await.map_err(in_use)?;
        if mark_verified {
            sqlx::query(&verify).bind(true).bind(Ts(now)).bind(user_id).bind(false).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// Creates a user and its first link in one transaction, with `user.created` and `auth.sign-up`.
/// An email taken meanwhile is `USER_EXISTS`; a link taken meanwhile `OAUTH_ACCOUNT_IN_USE`.
pub async fn create_user(
    k: &Kavach,
    user: &User,
    account_id: &str,
    provider_id: &str,
    subject: &str,
    t: &SealedTokens,
) -> Result<()> {
    let now = user.created_at;
    let insert_user = sql_for(k.dialect(), crate::accounts::human::INSERT_USER);
    let insert_account = sql_for(k.dialect(), "INSERT INTO kavach_account (id, user_id, provider_id, provider_account_id, access_token, refresh_token, expires_at, scope, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    let emitter = k.emitter();
    let events: Vec<_> = [
        emitter.event("user.created", now, || json!(user)),
        emitter.event(
            "auth.sign-up",
            now,
            || json!({ "userId": user.id, "email": user.email, "providerId": provider_id }),
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    let taken = |e: sqlx::Error| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => KavachError::UserExists,
        other => other.into(),
    };
    on_pool!(k.pool(), p => {
        let mut tx = p.begin_write().await?;
        crate::bind_user!(sqlx::query(&insert_user), user)
            .execute(&mut *tx).await.map_err(taken)?;
        sqlx::query(&insert_account)
            .bind(account_id).bind(&user.id).bind(provider_id).bind(subject)
            .bind(&t.access).bind(&t.refresh).bind(t.expires_at.map(Ts)).bind(&t.scope)
            .bind(Ts(now)).bind(Ts(now))
            .execute(&mut *tx).await.map_err(taken)?;
        emitter.write(&mut *tx, &events).await?;
        tx.commit().await.map_err(taken)?;
    });
    emitter.committed(events);
    Ok(())
}

/// Removes one of `user_id`'s links, never the last one (the user's rows are locked while
/// counting, so two removals at once cannot both pass).
pub async fn unlink(
    k: &Kavach,
    user_id: &str,
    provider_id: &str,
    account_id: Option<&str>,
) -> Result<()> {
    let lock = sql_for(
        k.dialect(),
        "SELECT id FROM kavach_user WHERE id = ? FOR UPDATE",
    );
    let count = sql_for(
        k.dialect(),
        "SELECT COUNT(*) FROM kavach_account WHERE user_id = ?",
    );
    let find = sql_for(k.dialect(), "SELECT id, provider_account_id FROM kavach_account WHERE user_id = ? AND provider_id = ? ORDER BY created_at, id");
    let delete = sql_for(k.dialect(), "DELETE FROM kavach_account WHERE id = ?");
    let sqlite = matches!(k.pool(), crate::store::db::Pool::Sqlite(_));
    on_pool!(k.pool(), p => {
        let mut tx = p.begin_write().await?;
        if !sqlite {
            sqlx::query(&lock).bind(user_id).fetch_optional(&mut *tx).await?;
        }
        let n: i64 = sqlx::query(&count).bind(user_id).fetch_one(&mut *tx).await?.try_get(0)?;
        let mut ids = Vec::new();
        for r in sqlx::query(&find).bind(user_id).bind(provider_id).fetch_all(&mut *tx).await? {
            ids.push((col_str!(r, "id")?, col_str!(r, "provider_account_id")?));
        }
        // `accountId` is the provider's id of the account (better-auth's listAccounts shape).
        let target = match account_id {
            Some(a) => ids.into_iter().find(|(_, sub)| sub == a),
            None => ids.into_iter().next(),
        }
        .map(|(id, _)| id)
        .ok_or_else(|| KavachError::NotFound("account not found".into()))?;
        if n <= 1 {
            return Err(oauth_error(
                "FAILED_TO_UNLINK_LAST_ACCOUNT",
                "this is the user's last way to sign in",
            ));
        }
        sqlx::query(&delete).bind(&target).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(())
}

/// A fresh account id (the label its sealed tokens are bound to).
pub fn new_account_id() -> String {
    new_id()
}
