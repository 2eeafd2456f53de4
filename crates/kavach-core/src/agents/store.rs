//! Agents: create, read, list, update, revoke and rotate. Tokens are minted here and only their
//! SHA-256 reaches the database.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::agents::permission::{compile_all, Permission};
use crate::config::Dialect;
use crate::crypto::token::{mint_agent_token, new_id};
use crate::error::{KavachError, Result};
use crate::store::db::{sql_for, Pool, Ts};
use crate::{col_opt_str, col_str, on_pool};

/// The kinds of agent.
pub const AGENT_TYPES: [&str; 3] = ["autonomous", "delegated", "service"];

/// An agent as returned to callers (never with its token, except right after create/rotate).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `active`, `revoked` or `expired` (an active agent past its `expiresAt`).
    pub status: String,
    pub permissions: Vec<Permission>,
    pub metadata: Option<serde_json::Value>,
    /// The first characters of the token (`kv_` + 8), to tell tokens apart without revealing them.
    pub token_prefix: String,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An agent with the clear token, returned once.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentWithToken {
    #[serde(flatten)]
    pub agent: Agent,
    pub token: String,
}

/// `agent.create(input)`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAgent {
    pub owner_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub permissions: Vec<Permission>,
    /// Unix milliseconds.
    #[serde(default, deserialize_with = "crate::config::de_opt_millis")]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

/// `agent.update(id, patch)`: absent fields stay; `expiresAt: null` clears the expiry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateAgent {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub permissions: Option<Vec<Permission>>,
    #[serde(default, deserialize_with = "crate::config::de_opt_opt_millis")]
    pub expires_at: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    pub metadata: Option<Option<serde_json::Value>>,
}

fn double_option<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `agent.list(filter)`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentFilter {
    #[serde(default, alias = "userId")]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub offset: Option<u32>,
}

const MAX_METADATA_BYTES: usize = 64 * 1024;

fn check_text(field: &str, v: &str, max: usize) -> Result<()> {
    if v.trim().is_empty() || v.len() > max {
        return Err(KavachError::validation(format!(
            "{field} must be a non-empty string of at most {max} characters"
        )));
    }
    Ok(())
}

fn metadata_json(m: &Option<serde_json::Value>) -> Result<Option<String>> {
    match m {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v @ serde_json::Value::Object(_)) => {
            let s = v.to_string();
            if s.len() > MAX_METADATA_BYTES {
                return Err(KavachError::validation(
                    "metadata must be at most 64 KiB of JSON",
                ));
            }
            Ok(Some(s))
        }
        Some(_) => Err(KavachError::validation("metadata must be an object")),
    }
}

fn permissions_json(perms: &[Permission]) -> Result<String> {
    compile_all(perms)?;
    serde_json::to_string(perms)
        .map_err(|_| KavachError::Internal("could not encode permissions".into()))
}

macro_rules! select_agent {
    () => {
        "SELECT id, owner_id, name, type, status, token_prefix, permissions, metadata, expires_at, created_at, updated_at FROM kavach_agents"
    };
}

macro_rules! agent_from_row {
    ($row:expr, $now:expr) => {{
        let row = $row;
        let permissions: String = col_str!(row, "permissions")?;
        let metadata: Option<String> = col_opt_str!(row, "metadata")?;
        let expires_at: Option<Ts> = row.try_get("expires_at")?;
        let status: String = col_str!(row, "status")?;
        let expires_at = expires_at.map(|t| t.0);
        Agent {
            id: col_str!(row, "id")?,
            owner_id: col_str!(row, "owner_id")?,
            name: col_str!(row, "name")?,
            kind: col_str!(row, "type")?,
            status: effective_status(status, expires_at, $now),
            permissions: serde_json::from_str(&permissions).map_err(|_| {
                KavachError::Internal("stored permissions are not valid JSON".into())
            })?,
            metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()),
            token_prefix: col_str!(row, "token_prefix")?,
            expires_at,
            created_at: row.try_get::<Ts, _>("created_at")?.0,
            updated_at: row.try_get::<Ts, _>("updated_at")?.0,
        }
    }};
}

/// `active` agents past their expiry read as `expired`; the row is not rewritten.
pub fn effective_status(status: String, expires_at: Option<i64>, now_ms: i64) -> String {
    if status == "active" && expires_at.is_some_and(|e| e <= now_ms) {
        "expired".into()
    } else {
        status
    }
}

/// Agent persistence over any of the three databases.
pub struct AgentStore<'a> {
    pub pool: &'a Pool,
    pub dialect: Dialect,
}

impl AgentStore<'_> {
    fn sql<'s>(&self, s: &'s str) -> std::borrow::Cow<'s, str> {
        sql_for(self.dialect, s)
    }

    /// Creates an agent, enforcing the per-owner limit atomically.
    pub async fn create(
        &self,
        input: CreateAgent,
        now_ms: i64,
        max_per_owner: u32,
        default_ttl_ms: Option<i64>,
    ) -> Result<AgentWithToken> {
        check_text("ownerId", &input.owner_id, 255)?;
        check_text("name", &input.name, 255)?;
        if !AGENT_TYPES.contains(&input.kind.as_str()) {
            return Err(KavachError::validation(
                "type must be \"autonomous\", \"delegated\" or \"service\"",
            ));
        }
        let perms = permissions_json(&input.permissions)?;
        let metadata = metadata_json(&input.metadata)?;
        let expires_at = match input.expires_at {
            Some(e) if e <= now_ms => {
                return Err(KavachError::validation("expiresAt must be in the future"))
            }
            Some(e) => Some(e),
            None => default_ttl_ms.map(|ttl| now_ms.saturating_add(ttl)),
        };
        let minted = mint_agent_token();
        let id = new_id();
        // One statement inserts only while the owner is under the limit; the dialect lock around it
        // makes the count and the insert atomic against concurrent creates.
        let insert = self.sql(
            "INSERT INTO kavach_agents (id, owner_id, name, type, status, token_hash, token_prefix, permissions, metadata, expires_at, created_at, updated_at) \
             SELECT ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ? FROM (SELECT 1 AS one) AS seed \
             WHERE (SELECT COUNT(*) FROM kavach_agents WHERE owner_id = ? AND status = 'active' AND (expires_at IS NULL OR expires_at > ?)) < ?",
        );
        macro_rules! bind_insert {
            ($q:expr) => {
                $q.bind(&id)
                    .bind(&input.owner_id)
                    .bind(&input.name)
                    .bind(&input.kind)
                    .bind(&minted.hash)
                    .bind(&minted.prefix)
                    .bind(&perms)
                    .bind(&metadata)
                    .bind(expires_at.map(Ts))
                    .bind(Ts(now_ms))
                    .bind(Ts(now_ms))
                    .bind(&input.owner_id)
                    .bind(Ts(now_ms))
                    .bind(i64::from(max_per_owner))
            };
        }
        let inserted = match self.pool {
            Pool::Sqlite(p) => bind_insert!(sqlx::query(&insert))
                .execute(p)
                .await?
                .rows_affected(),
            Pool::Pg(p) => {
                let mut tx = p.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
                    .bind(&input.owner_id)
                    .execute(&mut *tx)
                    .await?;
                let n = bind_insert!(sqlx::query(&insert))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                n
            }
            Pool::My(p) => {
                let mut conn = p.acquire().await?;
                let lock = format!(
                    "kavach_owner_{}",
                    crate::crypto::token::hash_token(&input.owner_id)
                        .get(..40)
                        .unwrap_or("")
                );
                let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 10)")
                    .bind(&lock)
                    .fetch_one(&mut *conn)
                    .await?;
                if got != Some(1) {
                    return Err(KavachError::DbUnreachable(
                        "timed out waiting for a lock".into(),
                    ));
                }
                let r = bind_insert!(sqlx::query(&insert)).execute(&mut *conn).await;
                let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
                    .bind(&lock)
                    .execute(&mut *conn)
                    .await;
                r?.rows_affected()
            }
        };
        if inserted == 0 {
            return Err(KavachError::AgentLimitReached(format!(
                "this owner already has the maximum of {max_per_owner} active agents"
            )));
        }
        let agent = Agent {
            id,
            owner_id: input.owner_id,
            name: input.name,
            kind: input.kind,
            status: "active".into(),
            permissions: input.permissions,
            metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()),
            token_prefix: minted.prefix.clone(),
            expires_at,
            created_at: now_ms,
            updated_at: now_ms,
        };
        Ok(AgentWithToken {
            agent,
            token: minted.token,
        })
    }

    pub async fn get(&self, id: &str, now_ms: i64) -> Result<Option<Agent>> {
        if id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        let sql = self.sql(concat!(select_agent!(), " WHERE id = ?"));
        on_pool!(self.pool, p => {
            let row = sqlx::query(&sql).bind(id).fetch_optional(p).await?;
            match row {
                Some(r) => Ok(Some(agent_from_row!(&r, now_ms))),
                None => Ok(None),
            }
        })
    }

    pub async fn list(&self, f: AgentFilter, now_ms: i64) -> Result<Vec<Agent>> {
        if let Some(s) = &f.status {
            if !["active", "revoked", "expired"].contains(&s.as_str()) {
                return Err(KavachError::validation(
                    "status must be \"active\", \"revoked\" or \"expired\"",
                ));
            }
        }
        if let Some(t) = &f.kind {
            if !AGENT_TYPES.contains(&t.as_str()) {
                return Err(KavachError::validation(
                    "type must be \"autonomous\", \"delegated\" or \"service\"",
                ));
            }
        }
        let limit = i64::from(f.limit.unwrap_or(1000).min(10_000));
        let offset = i64::from(f.offset.unwrap_or(0));
        // The status filter is derived: `expired` means active past expiry.
        let sql = self.sql(
            concat!(select_agent!(), " WHERE (? IS NULL OR owner_id = ?) AND (? IS NULL OR type = ?) \
             AND (? IS NULL \
                  OR (? = 'revoked' AND status = 'revoked') \
                  OR (? = 'active' AND status = 'active' AND (expires_at IS NULL OR expires_at > ?)) \
                  OR (? = 'expired' AND status = 'active' AND expires_at IS NOT NULL AND expires_at <= ?)) \
             ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"),
        );
        on_pool!(self.pool, p => {
            let rows = sqlx::query(&sql)
                .bind(&f.owner_id).bind(&f.owner_id)
                .bind(&f.kind).bind(&f.kind)
                .bind(&f.status).bind(&f.status).bind(&f.status).bind(Ts(now_ms)).bind(&f.status).bind(Ts(now_ms))
                .bind(limit).bind(offset)
                .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(agent_from_row!(r, now_ms));
            }
            Ok(out)
        })
    }

    pub async fn update(&self, id: &str, patch: UpdateAgent, now_ms: i64) -> Result<Agent> {
        if let Some(n) = &patch.name {
            check_text("name", n, 255)?;
        }
        let perms = patch
            .permissions
            .as_deref()
            .map(permissions_json)
            .transpose()?;
        let (set_meta, meta) = match &patch.metadata {
            Some(m) => (true, metadata_json(m)?),
            None => (false, None),
        };
        let (set_exp, exp) = match patch.expires_at {
            Some(Some(e)) if e <= now_ms => {
                return Err(KavachError::validation("expiresAt must be in the future"))
            }
            Some(e) => (true, e),
            None => (false, None),
        };
        let sql = self.sql(
            "UPDATE kavach_agents SET name = COALESCE(?, name), permissions = COALESCE(?, permissions), \
             metadata = CASE WHEN ? THEN ? ELSE metadata END, expires_at = CASE WHEN ? THEN ? ELSE expires_at END, \
             updated_at = ? WHERE id = ?",
        );
        let n = on_pool!(self.pool, p => sqlx::query(&sql)
            .bind(&patch.name).bind(&perms)
            .bind(set_meta).bind(&meta)
            .bind(set_exp).bind(exp.map(Ts))
            .bind(Ts(now_ms)).bind(id)
            .execute(p).await?.rows_affected());
        if n == 0 {
            return Err(KavachError::NotFound(format!("agent {id} not found")));
        }
        self.get(id, now_ms)
            .await?
            .ok_or_else(|| KavachError::NotFound(format!("agent {id} not found")))
    }

    /// Marks the agent revoked (the row stays for the audit trail). Idempotent.
    pub async fn revoke(&self, id: &str, now_ms: i64) -> Result<()> {
        let sql =
            self.sql("UPDATE kavach_agents SET status = 'revoked', updated_at = ? WHERE id = ?");
        let n = on_pool!(self.pool, p => sqlx::query(&sql).bind(Ts(now_ms)).bind(id).execute(p).await?.rows_affected());
        if n == 0 && self.get(id, now_ms).await?.is_none() {
            return Err(KavachError::NotFound(format!("agent {id} not found")));
        }
        Ok(())
    }

    /// Issues a new token; the old one stops working with this single UPDATE.
    pub async fn rotate(&self, id: &str, now_ms: i64) -> Result<AgentWithToken> {
        let minted = mint_agent_token();
        let sql = self.sql(
            "UPDATE kavach_agents SET token_hash = ?, token_prefix = ?, updated_at = ? \
             WHERE id = ? AND status = 'active' AND (expires_at IS NULL OR expires_at > ?)",
        );
        let n = on_pool!(self.pool, p => sqlx::query(&sql)
            .bind(&minted.hash).bind(&minted.prefix).bind(Ts(now_ms)).bind(id).bind(Ts(now_ms))
            .execute(p).await?.rows_affected());
        let agent = self
            .get(id, now_ms)
            .await?
            .ok_or_else(|| KavachError::NotFound(format!("agent {id} not found")))?;
        if n == 0 {
            return Err(KavachError::Conflict(format!(
                "cannot rotate the token of an agent that is {}",
                agent.status
            )));
        }
        Ok(AgentWithToken {
            agent,
            token: minted.token,
        })
    }
}
