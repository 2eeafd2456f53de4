//! Agents: create, read, list, update, revoke and rotate. Tokens are minted here and only their
//! SHA-256 reaches the database.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::agents::permission::{compile_all, Permission};
use crate::config::Dialect;
use crate::crypto::token::{mint_agent_token, new_id};
use crate::error::{KavachError, Result};
use crate::events::Emitter;
use crate::store::db::BeginWrite;
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
    crate::error::check_plain(field, v, max)?;
    if v.trim().is_empty() {
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
            crate::input::check_value(v)?;
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
    pub emitter: &'a Emitter,
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
        let agent = Agent {
            id: new_id(),
            owner_id: input.owner_id,
            name: input.name,
            kind: input.kind,
            status: "active".into(),
            permissions: input.permissions,
            metadata: metadata
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok()),
            token_prefix: minted.prefix.clone(),
            expires_at,
            created_at: now_ms,
            updated_at: now_ms,
        };
        let events: Vec<_> = self
            .emitter
            .event("agent.created", now_ms, || serde_json::json!(agent))
            .into_iter()
            .collect();
        let outbox = self.emitter.needs_outbox(&events);
        // One statement inserts only while the owner is under the limit; the dialect lock around it
        // makes the count and the insert atomic against concurrent creates. The event's outbox rows
        // go into the same transaction.
        let insert = self.sql(
            "INSERT INTO kavach_agents (id, owner_id, name, type, status, token_hash, token_prefix, permissions, metadata, expires_at, created_at, updated_at) \
             SELECT ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ? FROM (SELECT 1 AS one) AS seed \
             WHERE (SELECT COUNT(*) FROM kavach_agents WHERE owner_id = ? AND status = 'active' AND (expires_at IS NULL OR expires_at > ?)) < ?",
        );
        macro_rules! bind_insert {
            ($q:expr) => {
                $q.bind(&agent.id)
                    .bind(&agent.owner_id)
                    .bind(&agent.name)
                    .bind(&agent.kind)
                    .bind(&minted.hash)
                    .bind(&minted.prefix)
                    .bind(&perms)
                    .bind(&metadata)
                    .bind(expires_at.map(Ts))
                    .bind(Ts(now_ms))
                    .bind(Ts(now_ms))
                    .bind(&agent.owner_id)
                    .bind(Ts(now_ms))
                    .bind(i64::from(max_per_owner))
            };
        }
        let inserted = match self.pool {
            Pool::Sqlite(p) if !outbox => bind_insert!(sqlx::query(&insert))
                .execute(p)
                .await?
                .rows_affected(),
            Pool::Sqlite(p) => {
                let mut tx = p.begin_write().await?;
                let n = bind_insert!(sqlx::query(&insert))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n > 0 {
                    self.emitter.write(&mut *tx, &events).await?;
                }
                tx.commit().await?;
                n
            }
            Pool::Pg(p) => {
                let mut tx = p.begin_write().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
                    .bind(&agent.owner_id)
                    .execute(&mut *tx)
                    .await?;
                let n = bind_insert!(sqlx::query(&insert))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n > 0 {
                    self.emitter.write(&mut *tx, &events).await?;
                }
                tx.commit().await?;
                n
            }
            Pool::My(p) => {
                let mut conn = p.acquire().await?;
                let lock = format!(
                    "kavach_owner_{}",
                    crate::crypto::token::hash_token(&agent.owner_id)
                        .get(..40)
                        .unwrap_or("")
                );
                let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 10)")
                    .bind(&lock)
                    .fetch_one(&mut *conn)
                    .await?;
                if got != Some(1) {
                    return Err(KavachError::DbUnavailable(
                        "timed out waiting for a lock".into(),
                    ));
                }
                let r = async {
                    use sqlx::Connection;
                    let mut tx = conn.begin().await?;
                    let n = bind_insert!(sqlx::query(&insert))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if n > 0 && outbox {
                        self.emitter.write(&mut *tx, &events).await?;
                    }
                    tx.commit().await?;
                    Ok::<u64, KavachError>(n)
                }
                .await;
                let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
                    .bind(&lock)
                    .execute(&mut *conn)
                    .await;
                r?
            }
        };
        if inserted == 0 {
            return Err(KavachError::AgentLimitReached(format!(
                "this owner already has the maximum of {max_per_owner} active agents"
            )));
        }
        self.emitter.committed(events);
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
        if let Some(o) = &f.owner_id {
            crate::error::check_plain("ownerId", o, 255)?;
        }
        if let Some(t) = &f.kind {
            crate::error::check_plain("type", t, 64)?;
        }
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

    /// Marks the agent revoked (the row stays for the audit trail). Idempotent: `Some(owner id)` when
    /// this call revoked it, `None` when it was revoked already.
    pub async fn revoke(&self, id: &str, now_ms: i64) -> Result<Option<String>> {
        let update = self.sql(
            "UPDATE kavach_agents SET status = 'revoked', updated_at = ? WHERE id = ? AND status <> 'revoked'",
        );
        let owner_sql = self.sql("SELECT owner_id FROM kavach_agents WHERE id = ?");
        let (owner, events) = on_pool!(self.pool, p => {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(&update).bind(Ts(now_ms)).bind(id).execute(&mut *tx).await?.rows_affected();
            let owner = if n > 0 {
                let row = sqlx::query(&owner_sql).bind(id).fetch_one(&mut *tx).await?;
                Some(col_str!(row, 0)?)
            } else {
                None
            };
            let events: Vec<_> = owner
                .as_ref()
                .and_then(|o| {
                    self.emitter.event("agent.revoked", now_ms, || {
                        serde_json::json!({ "id": id, "ownerId": o })
                    })
                })
                .into_iter()
                .collect();
            self.emitter.write(&mut *tx, &events).await?;
            tx.commit().await?;
            (owner, events)
        });
        if owner.is_none() && self.get(id, now_ms).await?.is_none() {
            return Err(KavachError::NotFound(format!("agent {id} not found")));
        }
        self.emitter.committed(events);
        Ok(owner)
    }

    /// Issues a new token; the old one stops working with this single UPDATE.
    pub async fn rotate(&self, id: &str, now_ms: i64) -> Result<AgentWithToken> {
        let minted = mint_agent_token();
        let update = self.sql(
            "UPDATE kavach_agents SET token_hash = ?, token_prefix = ?, updated_at = ? \
             WHERE id = ? AND status = 'active' AND (expires_at IS NULL OR expires_at > ?)",
        );
        let select = self.sql(concat!(select_agent!(), " WHERE id = ?"));
        let (n, agent, events) = on_pool!(self.pool, p => {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(&update)
                .bind(&minted.hash).bind(&minted.prefix).bind(Ts(now_ms)).bind(id).bind(Ts(now_ms))
                .execute(&mut *tx).await?.rows_affected();
            let agent = match sqlx::query(&select).bind(id).fetch_optional(&mut *tx).await? {
                Some(r) => Some(agent_from_row!(&r, now_ms)),
                None => None,
            };
            let events: Vec<_> = match (&agent, n) {
                (Some(a), 1..) => self
                    .emitter
                    .event("agent.rotated", now_ms, || serde_json::json!(a))
                    .into_iter()
                    .collect(),
                _ => Vec::new(),
            };
            self.emitter.write(&mut *tx, &events).await?;
            tx.commit().await?;
            (n, agent, events)
        });
        let agent = agent.ok_or_else(|| KavachError::NotFound(format!("agent {id} not found")))?;
        if n == 0 {
            return Err(KavachError::Conflict(format!(
                "cannot rotate the token of an agent that is {}",
                agent.status
            )));
        }
        self.emitter.committed(events);
        Ok(AgentWithToken {
            agent,
            token: minted.token,
        })
    }
}
