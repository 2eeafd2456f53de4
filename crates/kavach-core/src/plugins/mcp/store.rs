//! The MCP server's rows: clients, grants, single-use codes and refresh tokens, revoked access
//! token ids. Secrets (client secrets, codes, refresh tokens) are stored only as their SHA-256.

use sqlx::Row;

use crate::crypto::token::hash_token;
use crate::error::Result;
use crate::kavach::Kavach;
use crate::store::db::{sql_for, Ts};
use crate::{col_opt_str, col_str, on_pool};

/// A registered client.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    /// SHA-256 hex of the secret; `None` for a public client (`token_endpoint_auth_method: none`).
    pub secret_hash: Option<String>,
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub auth_method: String,
    /// The registration response (RFC 7591), without the secret.
    pub metadata: serde_json::Value,
}

/// A user's consent for a client, held by the agent that acts for it.
#[derive(Debug, Clone)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub agent_id: String,
    pub scope: String,
    pub revoked: bool,
}

/// A code or refresh token row, once taken.
#[derive(Debug, Clone)]
pub struct Taken {
    pub grant_id: String,
    pub client_id: String,
    pub scope: String,
    pub resource: Option<String>,
    /// Codes only.
    pub redirect_uri: Option<String>,
    pub code_challenge: Option<String>,
    pub expires_at: i64,
}

/// How taking a single-use secret went.
pub enum Take {
    /// This caller used it first.
    Fresh(Taken),
    /// It was used before: a replay (the grant is to be revoked).
    Replayed {
        grant_id: String,
    },
    Unknown,
}

fn q<'s>(k: &Kavach, s: &'s str) -> std::borrow::Cow<'s, str> {
    sql_for(k.dialect(), s)
}

pub async fn insert_client(k: &Kavach, c: &Client) -> Result<()> {
    let sql = q(k, "INSERT INTO kavach_mcp_clients (client_id, secret_hash, name, redirect_uris, auth_method, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    let uris = serde_json::to_string(&c.redirect_uris).unwrap_or_else(|_| "[]".into());
    let meta = c.metadata.to_string();
    let now = k.now_ms();
    on_pool!(k.pool(), p => {
        sqlx::query(&sql)
            .bind(&c.client_id).bind(&c.secret_hash).bind(&c.name).bind(&uris)
            .bind(&c.auth_method).bind(&meta).bind(Ts(now))
            .execute(p).await?;
    });
    Ok(())
}

pub async fn client(k: &Kavach, client_id: &str) -> Result<Option<Client>> {
    if client_id.is_empty() || client_id.len() > 64 {
        return Ok(None);
    }
    let sql = q(k, "SELECT client_id, secret_hash, name, redirect_uris, auth_method, metadata FROM kavach_mcp_clients WHERE client_id = ?");
    let row = on_pool!(k.pool(), p => match sqlx::query(&sql).bind(client_id).fetch_optional(p).await? {
        None => None,
        Some(r) => Some((
            col_str!(r, "client_id")?,
            col_opt_str!(r, "secret_hash")?,
            col_opt_str!(r, "name")?,
            col_str!(r, "redirect_uris")?,
            col_str!(r, "auth_method")?,
            col_str!(r, "metadata")?,
        )),
    });
    Ok(row.map(
        |(client_id, secret_hash, name, uris, auth_method, meta)| Client {
            client_id,
            secret_hash,
            name,
            redirect_uris: serde_json::from_str(&uris).unwrap_or_default(),
            auth_method,
            metadata: serde_json::from_str(&meta).unwrap_or(serde_json::Value::Null),
        },
    ))
}

fn grant_from(
    id: String,
    client_id: String,
    user_id: String,
    agent_id: String,
    scope: String,
    revoked: bool,
) -> Grant {
    Grant {
        id,
        client_id,
        user_id,
        agent_id,
        scope,
        revoked,
    }
}

/// The newest grant of `user_id` for `client_id`, live or not.
pub async fn latest_grant(k: &Kavach, user_id: &str, client_id: &str) -> Result<Option<Grant>> {
    let sql = q(k, "SELECT id, client_id, user_id, agent_id, scope, revoked_at FROM kavach_mcp_grants WHERE user_id = ? AND client_id = ? ORDER BY created_at DESC, id DESC LIMIT 1");
    Ok(
        on_pool!(k.pool(), p => match sqlx::query(&sql).bind(user_id).bind(client_id).fetch_optional(p).await? {
            None => None,
            Some(r) => Some(grant_from(
                col_str!(r, "id")?,
                col_str!(r, "client_id")?,
                col_str!(r, "user_id")?,
                col_str!(r, "agent_id")?,
                col_str!(r, "scope")?,
                r.try_get::<Option<Ts>, _>("revoked_at")?.is_some(),
            )),
        }),
    )
}

pub async fn grant(k: &Kavach, id: &str) -> Result<Option<Grant>> {
    let sql = q(k, "SELECT id, client_id, user_id, agent_id, scope, revoked_at FROM kavach_mcp_grants WHERE id = ?");
    Ok(
        on_pool!(k.pool(), p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            None => None,
            Some(r) => Some(grant_from(
                col_str!(r, "id")?,
                col_str!(r, "client_id")?,
                col_str!(r, "user_id")?,
                col_str!(r, "agent_id")?,
                col_str!(r, "scope")?,
                r.try_get::<Option<Ts>, _>("revoked_at")?.is_some(),
            )),
        }),
    )
}

pub async fn insert_grant(k: &Kavach, g: &Grant) -> Result<()> {
    let sql = q(k, "INSERT INTO kavach_mcp_grants (id, client_id, user_id, agent_id, scope, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, NULL)");
    let now = k.now_ms();
    on_pool!(k.pool(), p => {
        sqlx::query(&sql)
            .bind(&g.id).bind(&g.client_id).bind(&g.user_id).bind(&g.agent_id).bind(&g.scope).bind(Ts(now))
            .execute(p).await?;
    });
    Ok(())
}

pub async fn set_grant_scope(k: &Kavach, id: &str, scope: &str) -> Result<()> {
    let sql = q(k, "UPDATE kavach_mcp_grants SET scope = ? WHERE id = ?");
    on_pool!(k.pool(), p => {
        sqlx::query(&sql).bind(scope).bind(id).execute(p).await?;
    });
    Ok(())
}

/// Revokes a grant: every token of it stops working at once.
pub async fn revoke_grant(k: &Kavach, id: &str) -> Result<bool> {
    let sql = q(
        k,
        "UPDATE kavach_mcp_grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
    );
    let now = k.now_ms();
    Ok(
        on_pool!(k.pool(), p => sqlx::query(&sql).bind(Ts(now)).bind(id).execute(p).await?.rows_affected())
            > 0,
    )
}

/// Stores a code (its SHA-256) for a grant; expired codes are swept on the way.
#[allow(clippy::too_many_arguments)]
pub async fn insert_code(
    k: &Kavach,
    code: &str,
    grant_id: &str,
    client_id: &str,
    redirect_uri: &str,
    code_challenge: &str,
    scope: &str,
    resource: Option<&str>,
    ttl_ms: i64,
) -> Result<()> {
    let now = k.now_ms();
    let sweep = q(k, "DELETE FROM kavach_mcp_codes WHERE expires_at < ?");
    let sql = q(k, "INSERT INTO kavach_mcp_codes (id, grant_id, client_id, redirect_uri, code_challenge, scope, resource, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)");
    on_pool!(k.pool(), p => {
        sqlx::query(&sweep).bind(Ts(now - 86_400_000)).execute(p).await?;
        sqlx::query(&sql)
            .bind(hash_token(code)).bind(grant_id).bind(client_id).bind(redirect_uri)
            .bind(code_challenge).bind(scope).bind(resource).bind(Ts(now + ttl_ms))
            .execute(p).await?;
    });
    Ok(())
}

/// Takes a code once: an atomic `used_at IS NULL` update decides, so concurrent redemptions
/// get one winner.
pub async fn take_code(k: &Kavach, code: &str) -> Result<Take> {
    let id = hash_token(code);
    let now = k.now_ms();
    let mark = q(
        k,
        "UPDATE kavach_mcp_codes SET used_at = ? WHERE id = ? AND used_at IS NULL",
    );
    let select = q(k, "SELECT grant_id, client_id, redirect_uri, code_challenge, scope, resource, expires_at FROM kavach_mcp_codes WHERE id = ?");
    let won = on_pool!(k.pool(), p => sqlx::query(&mark).bind(Ts(now)).bind(&id).execute(p).await?.rows_affected())
        == 1;
    let row = on_pool!(k.pool(), p => match sqlx::query(&select).bind(&id).fetch_optional(p).await? {
        None => None,
        Some(r) => Some(Taken {
            grant_id: col_str!(r, "grant_id")?,
            client_id: col_str!(r, "client_id")?,
            redirect_uri: Some(col_str!(r, "redirect_uri")?),
            code_challenge: Some(col_str!(r, "code_challenge")?),
            scope: col_str!(r, "scope")?,
            resource: col_opt_str!(r, "resource")?,
            expires_at: r.try_get::<Ts, _>("expires_at")?.0,
        }),
    });
    Ok(match (row, won) {
        (None, _) => Take::Unknown,
        (Some(t), true) => Take::Fresh(t),
        (Some(t), false) => Take::Replayed {
            grant_id: t.grant_id,
        },
    })
}

/// Stores a refresh token (its SHA-256); expired ones are swept on the way.
pub async fn insert_refresh(
    k: &Kavach,
    token: &str,
    grant_id: &str,
    client_id: &str,
    scope: &str,
    resource: Option<&str>,
    ttl_ms: i64,
) -> Result<()> {
    let now = k.now_ms();
    let sweep = q(
        k,
        "DELETE FROM kavach_mcp_refresh_tokens WHERE expires_at < ?",
    );
    let sql = q(k, "INSERT INTO kavach_mcp_refresh_tokens (id, grant_id, client_id, scope, resource, expires_at, used_at, created_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)");
    on_pool!(k.pool(), p => {
        sqlx::query(&sweep).bind(Ts(now)).execute(p).await?;
        sqlx::query(&sql)
            .bind(hash_token(token)).bind(grant_id).bind(client_id).bind(scope).bind(resource)
            .bind(Ts(now + ttl_ms)).bind(Ts(now))
            .execute(p).await?;
    });
    Ok(())
}

/// Takes a refresh token once (rotation): a second use is a replay.
pub async fn take_refresh(k: &Kavach, token: &str) -> Result<Take> {
    let id = hash_token(token);
    let now = k.now_ms();
    let mark = q(
        k,
        "UPDATE kavach_mcp_refresh_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL",
    );
    let select = q(k, "SELECT grant_id, client_id, scope, resource, expires_at FROM kavach_mcp_refresh_tokens WHERE id = ?");
    let won = on_pool!(k.pool(), p => sqlx::query(&mark).bind(Ts(now)).bind(&id).execute(p).await?.rows_affected())
        == 1;
    let row = on_pool!(k.pool(), p => match sqlx::query(&select).bind(&id).fetch_optional(p).await? {
        None => None,
        Some(r) => Some(Taken {
            grant_id: col_str!(r, "grant_id")?,
            client_id: col_str!(r, "client_id")?,
            scope: col_str!(r, "scope")?,
            resource: col_opt_str!(r, "resource")?,
            expires_at: r.try_get::<Ts, _>("expires_at")?.0,
            redirect_uri: None,
            code_challenge: None,
        }),
    });
    Ok(match (row, won) {
        (None, _) => Take::Unknown,
        (Some(t), true) => Take::Fresh(t),
        (Some(t), false) => Take::Replayed {
            grant_id: t.grant_id,
        },
    })
}

/// The grant a refresh token belongs to, if it is known and `client_id`'s (revocation).
pub async fn refresh_grant(k: &Kavach, token: &str, client_id: &str) -> Result<Option<String>> {
    let sql = q(
        k,
        "SELECT grant_id FROM kavach_mcp_refresh_tokens WHERE id = ? AND client_id = ?",
    );
    Ok(
        on_pool!(k.pool(), p => match sqlx::query(&sql).bind(hash_token(token)).bind(client_id).fetch_optional(p).await? {
            None => None,
            Some(r) => Some(col_str!(r, "grant_id")?),
        }),
    )
}

/// Revokes one access token by its `jti` until it would have expired anyway.
pub async fn revoke_jti(k: &Kavach, jti: &str, expires_at_ms: i64) -> Result<()> {
    let now = k.now_ms();
    let sweep = q(k, "DELETE FROM kavach_mcp_revoked WHERE expires_at < ?");
    let exists = q(k, "SELECT jti FROM kavach_mcp_revoked WHERE jti = ?");
    let insert = q(
        k,
        "INSERT INTO kavach_mcp_revoked (jti, expires_at) VALUES (?, ?)",
    );
    on_pool!(k.pool(), p => {
        sqlx::query(&sweep).bind(Ts(now)).execute(p).await?;
        if sqlx::query(&exists).bind(jti).fetch_optional(p).await?.is_none() {
            // Two revocations at once: the second insert's duplicate key is the same outcome.
            if let Err(e) = sqlx::query(&insert).bind(jti).bind(Ts(expires_at_ms)).execute(p).await {
                match &e {
                    sqlx::Error::Database(d) if d.is_unique_violation() => {}
                    _ => return Err(e.into()),
                }
            }
        }
    });
    Ok(())
}

/// What an access token's request needs to know in one round trip: whether its grant is live,
/// its agent's status and expiry, and whether the token itself was revoked.
pub struct Liveness {
    pub grant_revoked: bool,
    pub agent_status: String,
    pub agent_expires_at: Option<i64>,
    pub jti_revoked: bool,
}

pub async fn liveness(k: &Kavach, grant_id: &str, jti: &str) -> Result<Option<Liveness>> {
    let sql = q(k, "SELECT g.revoked_at AS grant_revoked_at, a.status AS agent_status, a.expires_at AS agent_expires_at, (SELECT COUNT(*) FROM kavach_mcp_revoked r WHERE r.jti = ?) AS jti_revoked FROM kavach_mcp_grants g JOIN kavach_agents a ON a.id = g.agent_id WHERE g.id = ?");
    Ok(
        on_pool!(k.pool(), p => match sqlx::query(&sql).bind(jti).bind(grant_id).fetch_optional(p).await? {
            None => None,
            Some(r) => Some(Liveness {
                grant_revoked: r.try_get::<Option<Ts>, _>("grant_revoked_at")?.is_some(),
                agent_status: col_str!(r, "agent_status")?,
                agent_expires_at: r.try_get::<Option<Ts>, _>("agent_expires_at")?.map(|t| t.0),
                jti_revoked: r.try_get::<i64, _>("jti_revoked")? > 0,
            }),
        }),
    )
}
