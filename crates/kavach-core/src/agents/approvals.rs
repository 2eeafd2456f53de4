//! Approvals: what `requireApproval` waits for. A request that needs a human's yes is filed once
//! (keyed by the SHA-256 of its action, resource and arguments) for the agent's owner, who approves
//! or denies it. An approved request then passes: once (`agents.approvals.reuse: 'once'`, the
//! default; the first retry takes it atomically) or until it expires (`'ttl'`).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::agents::authz::AuthRow;
use crate::agents::permission::AuthzRequest;
use crate::crypto::token::new_id;
use crate::error::{KavachError, Result};
use crate::kavach::Kavach;
use crate::store::db::{sql_for, BeginWrite, Ts};
use crate::{col_opt_str, col_str, on_pool};

/// An approval as callers see it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    pub id: String,
    pub agent_id: String,
    pub owner_id: String,
    pub action: String,
    pub resource: String,
    pub arguments: Option<serde_json::Value>,
    /// `pending`, `approved`, `denied`, `used` or `expired`.
    pub status: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub decided_at: Option<i64>,
    pub decided_by: Option<String>,
    pub used_at: Option<i64>,
}

/// `approvals.list(filter)`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalFilter {
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// What authorize does with a request that needs approval.
pub enum Gate {
    /// Approval `id` lets it through.
    Approved(String),
    /// It waits on approval `id` (filed now, or already waiting).
    Pending(String),
}

const STATUSES: [&str; 5] = ["pending", "approved", "denied", "used", "expired"];
const COLUMNS: &str = "id, agent_id, owner_id, action, resource, arguments, status, created_at, expires_at, decided_at, decided_by, used_at";

/// The SHA-256 of what is asked: the same action, resource and arguments hash the same.
fn request_hash(req: &AuthzRequest) -> String {
    let mut h = Sha256::new();
    h.update(req.action.as_bytes());
    h.update([0]);
    h.update(req.resource.as_bytes());
    h.update([0]);
    if let Some(args) = req.arguments.as_ref().filter(|a| !a.is_null()) {
        h.update(args.to_string().as_bytes());
    }
    hex::encode(h.finalize())
}

macro_rules! approval_from_row {
    ($r:expr, $now:expr) => {{
        let r = $r;
        let status = col_str!(r, "status")?;
        let expires_at = r.try_get::<Ts, _>("expires_at")?.0;
        let status = if (status == "pending" || status == "approved") && expires_at <= $now {
            "expired".to_owned()
        } else {
            status
        };
        Approval {
            id: col_str!(r, "id")?,
            agent_id: col_str!(r, "agent_id")?,
            owner_id: col_str!(r, "owner_id")?,
            action: col_str!(r, "action")?,
            resource: col_str!(r, "resource")?,
            arguments: col_opt_str!(r, "arguments")?.and_then(|a| serde_json::from_str(&a).ok()),
            status,
            created_at: r.try_get::<Ts, _>("created_at")?.0,
            expires_at,
            decided_at: r.try_get::<Option<Ts>, _>("decided_at")?.map(|t| t.0),
            decided_by: col_opt_str!(r, "decided_by")?,
            used_at: r.try_get::<Option<Ts>, _>("used_at")?.map(|t| t.0),
        }
    }};
}

impl Kavach {
    /// An approved request passes; otherwise the pending approval that waits for it.
    pub(crate) async fn approval_for(&self, agent: &AuthRow, req: &AuthzRequest) -> Result<Gate> {
        let now = self.now_ms();
        let hash = request_hash(req);
        let d = self.dialect();
        let approved = sql_for(d, "SELECT id FROM kavach_approvals WHERE agent_id = ? AND request_hash = ? AND status = 'approved' AND expires_at > ? ORDER BY created_at, id");
        let take = sql_for(d, "UPDATE kavach_approvals SET status = 'used', used_at = ? WHERE id = ? AND status = 'approved' AND expires_at > ?");
        let ids: Vec<String> = on_pool!(self.pool(), p => {
            let rows = sqlx::query(&approved).bind(&agent.id).bind(&hash).bind(Ts(now)).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(col_str!(r, "id")?);
            }
            out
        });
        for id in ids {
            if self.settings().approval_reusable {
                return Ok(Gate::Approved(id));
            }
            // Used once: of concurrent retries, the one whose UPDATE changes the row has it.
            let n = on_pool!(self.pool(), p => sqlx::query(&take).bind(Ts(now)).bind(&id).bind(Ts(now)).execute(p).await?.rows_affected());
            if n == 1 {
                return Ok(Gate::Approved(id));
            }
        }
        let waiting = sql_for(d, "SELECT id FROM kavach_approvals WHERE agent_id = ? AND request_hash = ? AND status = 'pending' AND expires_at > ? ORDER BY created_at, id LIMIT 1");
        let existing: Option<String> = on_pool!(self.pool(), p => match sqlx::query(&waiting).bind(&agent.id).bind(&hash).bind(Ts(now)).fetch_optional(p).await? {
            None => None,
            Some(r) => Some(col_str!(r, "id")?),
        });
        if let Some(id) = existing {
            return Ok(Gate::Pending(id));
        }
        let id = new_id();
        let expires_at = now + self.settings().approval_ttl_ms;
        let arguments = req
            .arguments
            .as_ref()
            .filter(|a| !a.is_null())
            .map(|a| a.to_string());
        let events: Vec<_> = self
            .emitter()
            .event("approval.requested", now, || {
                serde_json::json!({
                    "id": id,
                    "agentId": agent.id,
                    "ownerId": agent.owner_id,
                    "action": req.action,
                    "resource": req.resource,
                    "expiresAt": expires_at,
                })
            })
            .into_iter()
            .collect();
        let insert = sql_for(d, "INSERT INTO kavach_approvals (id, agent_id, owner_id, action, resource, arguments, request_hash, status, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)");
        on_pool!(self.pool(), p => {
            let mut tx = p.begin_write().await?;
            sqlx::query(&insert)
                .bind(&id).bind(&agent.id).bind(&agent.owner_id).bind(&req.action).bind(&req.resource)
                .bind(&arguments).bind(&hash).bind(Ts(now)).bind(Ts(expires_at))
                .execute(&mut *tx).await?;
            self.emitter().write(&mut *tx, &events).await?;
            tx.commit().await?;
        });
        self.emitter().committed(events);
        Ok(Gate::Pending(id))
    }

    /// `approvals.get(id)`.
    pub async fn get_approval(&self, id: &str) -> Result<Option<Approval>> {
        self.check_open()?;
        crate::error::check_plain("id", id, 255)?;
        if id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        let now = self.now_ms();
        let sql = sql_for(
            self.dialect(),
            &format!("SELECT {COLUMNS} FROM kavach_approvals WHERE id = ?"),
        )
        .into_owned();
        Ok(
            on_pool!(self.pool(), p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
                None => None,
                Some(r) => Some(approval_from_row!(&r, now)),
            }),
        )
    }

    /// `approvals.list({ ownerId?, agentId?, status?, limit? })`, newest first.
    pub async fn list_approvals(&self, f: ApprovalFilter) -> Result<Vec<Approval>> {
        self.check_open()?;
        for (field, v) in [("ownerId", &f.owner_id), ("agentId", &f.agent_id)] {
            if let Some(v) = v {
                crate::error::check_plain(field, v, 255)?;
            }
        }
        if let Some(s) = &f.status {
            if !STATUSES.contains(&s.as_str()) {
                return Err(KavachError::validation(
                    "status must be pending, approved, denied, used or expired",
                ));
            }
        }
        let now = self.now_ms();
        let mut sql = format!("SELECT {COLUMNS} FROM kavach_approvals WHERE 1 = 1");
        if f.owner_id.is_some() {
            sql.push_str(" AND owner_id = ?");
        }
        if f.agent_id.is_some() {
            sql.push_str(" AND agent_id = ?");
        }
        // `expired` is derived: a pending or approved row past its time.
        match f.status.as_deref() {
            None => {}
            Some("expired") => sql.push_str(
                " AND ((status IN ('pending', 'approved') AND expires_at <= ?) OR status = 'expired')",
            ),
            Some("pending") | Some("approved") => sql.push_str(" AND status = ? AND expires_at > ?"),
            Some(_) => sql.push_str(" AND status = ?"),
        }
        let limit = f.limit.unwrap_or(100).clamp(1, 1000);
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {limit}"));
        let sql = sql_for(self.dialect(), &sql).into_owned();
        let out = on_pool!(self.pool(), p => {
            let mut q = sqlx::query(&sql);
            if let Some(o) = &f.owner_id {
                q = q.bind(o);
            }
            if let Some(a) = &f.agent_id {
                q = q.bind(a);
            }
            match f.status.as_deref() {
                None => {}
                Some("expired") => q = q.bind(Ts(now)),
                Some(s @ ("pending" | "approved")) => q = q.bind(s).bind(Ts(now)),
                Some(s) => q = q.bind(s),
            }
            let rows = q.fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(approval_from_row!(r, now));
            }
            out
        });
        Ok(out)
    }

    /// Approves or denies a pending approval (`by`: who decided, recorded). `owner`, when given,
    /// must own the agent (the HTTP routes pass the signed-in user; another owner's approval is
    /// NOT_FOUND). A decided or expired approval is CONFLICT.
    pub async fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        by: Option<&str>,
        owner: Option<&str>,
    ) -> Result<Approval> {
        self.check_open()?;
        if by.is_some_and(|b| b.len() > 255 || b.chars().any(char::is_control)) {
            return Err(KavachError::validation("decidedBy must be printable text"));
        }
        let found = self
            .get_approval(id)
            .await?
            .filter(|a| owner.is_none_or(|o| o == a.owner_id))
            .ok_or_else(|| KavachError::NotFound(format!("approval {id} not found")))?;
        if found.status != "pending" {
            return Err(KavachError::Conflict(format!(
                "approval {id} is {}, not pending",
                found.status
            )));
        }
        let now = self.now_ms();
        let status = if approve { "approved" } else { "denied" };
        // An approved request stays usable for the configured time from now.
        let expires_at = if approve {
            now + self.settings().approval_ttl_ms
        } else {
            found.expires_at
        };
        let event = if approve {
            "approval.approved"
        } else {
            "approval.denied"
        };
        let events: Vec<_> = self
            .emitter()
            .event(event, now, || {
                serde_json::json!({
                    "id": found.id,
                    "agentId": found.agent_id,
                    "ownerId": found.owner_id,
                    "action": found.action,
                    "resource": found.resource,
                    "decidedBy": by,
                })
            })
            .into_iter()
            .collect();
        let sql = sql_for(self.dialect(), "UPDATE kavach_approvals SET status = ?, decided_at = ?, decided_by = ?, expires_at = ? WHERE id = ? AND status = 'pending' AND expires_at > ?");
        let n = on_pool!(self.pool(), p => {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(&sql)
                .bind(status).bind(Ts(now)).bind(by).bind(Ts(expires_at)).bind(id).bind(Ts(now))
                .execute(&mut *tx).await?.rows_affected();
            if n == 1 {
                self.emitter().write(&mut *tx, &events).await?;
            }
            tx.commit().await?;
            n
        });
        if n != 1 {
            return Err(KavachError::Conflict(format!(
                "approval {id} was decided or expired meanwhile"
            )));
        }
        self.emitter().committed(events);
        self.get_approval(id)
            .await?
            .ok_or_else(|| KavachError::NotFound(format!("approval {id} not found")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_request_hashes_the_same() {
        let a = AuthzRequest {
            action: "call".into(),
            resource: "mcp:tools:deploy".into(),
            arguments: Some(serde_json::json!({ "env": "prod" })),
            ip: Some("10.0.0.1".into()),
        };
        let same_but_ip = AuthzRequest {
            ip: None,
            ..a.clone()
        };
        assert_eq!(request_hash(&a), request_hash(&same_but_ip));
        let other_args = AuthzRequest {
            arguments: Some(serde_json::json!({ "env": "dev" })),
            ..a.clone()
        };
        assert_ne!(request_hash(&a), request_hash(&other_args));
        // The separator keeps "a:b" + "c" apart from "a" + "b:c".
        let x = AuthzRequest {
            action: "ab".into(),
            resource: "c".into(),
            ..Default::default()
        };
        let y = AuthzRequest {
            action: "a".into(),
            resource: "bc".into(),
            ..Default::default()
        };
        assert_ne!(request_hash(&x), request_hash(&y));
    }
}
