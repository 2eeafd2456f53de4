//! Delegation chains: an agent hands a subset of what it may do to another agent.
//!
//! A link's permissions must be covered by the delegator's own permissions (the link is then a
//! root, depth 1) or by one live link the delegator received (depth one more than it, at most its
//! `maxDepth`, never outliving it). `authorize` looks at the links an agent received when its own
//! permissions do not allow a call; a link counts only while it, every link above it and every
//! delegating agent are live, so revoking or expiring a link (or revoking an agent) cuts everything
//! below it on the next call, in every process. The audit row names the chain that allowed the call.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::agents::authz::{AuthRow, PendingAudit};
use crate::agents::permission::{
    compile_all, evaluate, AuthzRequest, Constraints, DenyCode, Permission,
};
use crate::crypto::token::new_id;
use crate::error::{KavachError, Result};
use crate::kavach::Kavach;
use crate::store::db::{sql_for, BeginWrite, Ts};
use crate::{col_opt_str, col_str, on_pool};

pub const DEFAULT_MAX_DEPTH: u32 = 3;
pub const MAX_DEPTH: u32 = 10;

/// `delegation.create(input)`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateDelegation {
    pub from_agent_id: String,
    pub to_agent_id: String,
    pub permissions: Vec<Permission>,
    /// Unix milliseconds.
    #[serde(default, deserialize_with = "crate::config::de_opt_millis")]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub max_depth: Option<u32>,
}

/// A delegation link as callers see it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delegation {
    pub id: String,
    pub from_agent_id: String,
    pub to_agent_id: String,
    pub permissions: Vec<Permission>,
    pub depth: u32,
    pub max_depth: u32,
    pub parent_id: Option<String>,
    pub expires_at: Option<i64>,
    /// `active`, `revoked` or `expired` (of the link itself; a cut above it shows on its parent).
    pub status: String,
    pub created_at: i64,
}

/// One stored link with what its liveness needs.
struct Link {
    d: Delegation,
    revoked: bool,
    from_status: String,
    from_expires_at: Option<i64>,
    permissions_json: String,
}

impl Link {
    fn live(&self, now: i64) -> bool {
        !self.revoked
            && self.d.expires_at.is_none_or(|e| e > now)
            && self.from_status == "active"
            && self.from_expires_at.is_none_or(|e| e > now)
    }
}

const LINK_SELECT: &str = "SELECT d.id, d.from_agent_id, d.to_agent_id, d.permissions, d.depth, d.max_depth, d.parent_id, d.expires_at, d.revoked_at, d.created_at, a.status AS from_status, a.expires_at AS from_expires_at FROM kavach_delegations d JOIN kavach_agents a ON a.id = d.from_agent_id";

macro_rules! link_from_row {
    ($r:expr, $now:expr) => {{
        let r = $r;
        let permissions_json = col_str!(r, "permissions")?;
        let revoked = r.try_get::<Option<Ts>, _>("revoked_at")?.is_some();
        let expires_at = r.try_get::<Option<Ts>, _>("expires_at")?.map(|t| t.0);
        let status = if revoked {
            "revoked"
        } else if expires_at.is_some_and(|e| e <= $now) {
            "expired"
        } else {
            "active"
        };
        Link {
            d: Delegation {
                id: col_str!(r, "id")?,
                from_agent_id: col_str!(r, "from_agent_id")?,
                to_agent_id: col_str!(r, "to_agent_id")?,
                permissions: serde_json::from_str(&permissions_json).unwrap_or_default(),
                depth: u32::try_from(r.try_get::<i64, _>("depth")?).unwrap_or(0),
                max_depth: u32::try_from(r.try_get::<i64, _>("max_depth")?).unwrap_or(0),
                parent_id: col_opt_str!(r, "parent_id")?,
                expires_at,
                status: status.to_owned(),
                created_at: r.try_get::<Ts, _>("created_at")?.0,
            },
            revoked,
            from_status: col_str!(r, "from_status")?,
            from_expires_at: r.try_get::<Option<Ts>, _>("from_expires_at")?.map(|t| t.0),
            permissions_json,
        }
    }};
}

/// Does every resource `inner` matches also match `outer`? (Conservative: `false` when unsure.)
pub fn pattern_covers(outer: &str, inner: &str) -> bool {
    if outer == "*" {
        return true;
    }
    if inner == "*" {
        return false;
    }
    let o: Vec<&str> = outer.split(':').collect();
    let i: Vec<&str> = inner.split(':').collect();
    for (n, seg) in o.iter().enumerate() {
        let last = n + 1 == o.len();
        let Some(inner_seg) = i.get(n) else {
            return false;
        };
        let inner_trailing = *inner_seg == "*" && n + 1 == i.len();
        if *seg == "*" && last {
            // Outer takes this segment and any further ones.
            return true;
        }
        if *seg == "*" {
            // One segment: the inner one must be exactly one too.
            if inner_trailing {
                return false;
            }
            continue;
        }
        if *inner_seg != *seg {
            return false;
        }
    }
    i.len() == o.len()
}

/// Is `inner` (a permission being delegated) a subset of `outer` (one the delegator holds)?
pub fn permission_covers(outer: &Permission, inner: &Permission) -> bool {
    let actions = outer.actions.iter().any(|a| a == "*")
        || inner
            .actions
            .iter()
            .all(|a| a != "*" && outer.actions.contains(a));
    // Constraints may only stay the same: a delegated permission is never looser.
    let constraints = match &outer.constraints {
        None => true,
        Some(c) if *c == Constraints::default() => true,
        Some(c) => inner.constraints.as_ref() == Some(c),
    };
    actions && constraints && pattern_covers(&outer.resource, &inner.resource)
}

fn all_covered(have: &[Permission], want: &[Permission]) -> bool {
    want.iter()
        .all(|w| have.iter().any(|h| permission_covers(h, w)))
}

fn refused(code: &'static str, message: impl Into<String>) -> KavachError {
    KavachError::Delegation {
        code,
        message: message.into(),
    }
}

impl Kavach {
    async fn links(&self, sql_tail: &str, key: &str) -> Result<Vec<Link>> {
        let now = self.now_ms();
        let sql = sql_for(self.dialect(), &format!("{LINK_SELECT} {sql_tail}")).into_owned();
        Ok(on_pool!(self.pool(), p => {
            let rows = sqlx::query(&sql).bind(key).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(link_from_row!(r, now));
            }
            out
        }))
    }

    /// Whether `link` and every link above it are live (bounded by the depth limit).
    async fn chain_of(&self, link: &Link) -> Result<Option<Vec<String>>> {
        let now = self.now_ms();
        if !link.live(now) {
            return Ok(None);
        }
        let mut chain = vec![link.d.id.clone()];
        let mut parent = link.d.parent_id.clone();
        while let Some(id) = parent {
            if chain.len() > MAX_DEPTH as usize {
                return Ok(None);
            }
            let Some(up) = self.links("WHERE d.id = ?", &id).await?.into_iter().next() else {
                return Ok(None);
            };
            if !up.live(now) {
                return Ok(None);
            }
            chain.push(up.d.id.clone());
            parent = up.d.parent_id.clone();
        }
        chain.reverse();
        Ok(Some(chain))
    }

    /// `delegation.create(...)`: checks that the link is a subset of what the delegator holds,
    /// and the depth; answers the link.
    pub async fn create_delegation(&self, input: CreateDelegation) -> Result<Delegation> {
        self.check_open()?;
        crate::error::check_plain("fromAgentId", &input.from_agent_id, 255)?;
        crate::error::check_plain("toAgentId", &input.to_agent_id, 255)?;
        let now = self.now_ms();
        if input.from_agent_id == input.to_agent_id {
            return Err(KavachError::validation(
                "an agent cannot delegate to itself",
            ));
        }
        if input.permissions.is_empty() {
            return Err(KavachError::validation("delegate at least one permission"));
        }
        compile_all(&input.permissions)?;
        let max_depth = input.max_depth.unwrap_or(DEFAULT_MAX_DEPTH);
        if !(1..=MAX_DEPTH).contains(&max_depth) {
            return Err(KavachError::validation(format!(
                "maxDepth must be between 1 and {MAX_DEPTH}"
            )));
        }
        if input.expires_at.is_some_and(|e| e <= now) {
            return Err(KavachError::validation("expiresAt must be in the future"));
        }
        let from = self.get_agent(&input.from_agent_id).await?.ok_or_else(|| {
            KavachError::NotFound(format!("agent {} not found", input.from_agent_id))
        })?;
        let to = self.get_agent(&input.to_agent_id).await?.ok_or_else(|| {
            KavachError::NotFound(format!("agent {} not found", input.to_agent_id))
        })?;
        if from.status != "active" || to.status != "active" {
            return Err(KavachError::Conflict(
                "both agents must be active to delegate".into(),
            ));
        }
        let (parent, depth, max_depth, expires_at) =
            if all_covered(&from.permissions, &input.permissions) {
                (None, 1, max_depth, input.expires_at)
            } else {
                // From a link the delegator received: the first live one that covers it all.
                let mut found = None;
                for link in self.links("WHERE d.to_agent_id = ?", &from.id).await? {
                    if all_covered(&link.d.permissions, &input.permissions)
                        && self.chain_of(&link).await?.is_some()
                    {
                        found = Some(link);
                        break;
                    }
                }
                let Some(p) = found else {
                    return Err(refused(
                        "DELEGATION_NOT_SUBSET",
                        "an agent can delegate only permissions it holds, never wider ones",
                    ));
                };
                let depth = p.d.depth + 1;
                if depth > p.d.max_depth {
                    return Err(refused(
                        "DELEGATION_DEPTH_EXCEEDED",
                        format!("this chain may be at most {} links deep", p.d.max_depth),
                    ));
                }
                let expires_at = match (input.expires_at, p.d.expires_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                (
                    Some(p.d.id),
                    depth,
                    max_depth.min(p.d.max_depth),
                    expires_at,
                )
            };
        let id = new_id();
        let json = serde_json::to_string(&input.permissions)
            .map_err(|_| KavachError::Internal("could not encode permissions".into()))?;
        let sql = sql_for(self.dialect(), "INSERT INTO kavach_delegations (id, from_agent_id, to_agent_id, permissions, depth, max_depth, parent_id, expires_at, revoked_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)");
        // The flag authorize reads with the agent: only an agent that was ever given a link pays
        // for looking at links when its own permissions refuse.
        let flag = sql_for(
            self.dialect(),
            "UPDATE kavach_agents SET delegated = 1 WHERE id = ? AND delegated = 0",
        );
        on_pool!(self.pool(), p => {
            let mut tx = p.begin_write().await?;
            sqlx::query(&sql)
                .bind(&id).bind(&from.id).bind(&to.id).bind(&json)
                .bind(i64::from(depth)).bind(i64::from(max_depth)).bind(&parent)
                .bind(expires_at.map(Ts)).bind(Ts(now))
                .execute(&mut *tx).await?;
            sqlx::query(&flag).bind(&to.id).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(Delegation {
            id,
            from_agent_id: from.id,
            to_agent_id: to.id,
            permissions: input.permissions,
            depth,
            max_depth,
            parent_id: parent,
            expires_at,
            status: "active".into(),
            created_at: now,
        })
    }

    /// `delegation.revoke(id)`: the link and every link below it (idempotent).
    pub async fn revoke_delegation(&self, id: &str) -> Result<()> {
        self.check_open()?;
        crate::error::check_plain("id", id, 255)?;
        let now = self.now_ms();
        if self.links("WHERE d.id = ?", id).await?.is_empty() {
            return Err(KavachError::NotFound(format!("delegation {id} not found")));
        }
        let sql = sql_for(
            self.dialect(),
            "UPDATE kavach_delegations SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        )
        .into_owned();
        let children = sql_for(
            self.dialect(),
            "SELECT id FROM kavach_delegations WHERE parent_id = ?",
        )
        .into_owned();
        // The authorize check already ignores everything below a revoked link; marking them too
        // keeps `list` honest.
        let mut todo = vec![id.to_owned()];
        let mut seen = 0;
        while let Some(next) = todo.pop() {
            seen += 1;
            if seen > 10_000 {
                break;
            }
            let kids: Vec<String> = on_pool!(self.pool(), p => {
                sqlx::query(&sql).bind(Ts(now)).bind(&next).execute(p).await?;
                let rows = sqlx::query(&children).bind(&next).fetch_all(p).await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    out.push(col_str!(r, "id")?);
                }
                out
            });
            todo.extend(kids);
        }
        Ok(())
    }

    /// `delegation.list({ agentId })`: the links an agent gave and received.
    pub async fn list_delegations(&self, agent_id: &str) -> Result<Vec<Delegation>> {
        self.check_open()?;
        crate::error::check_plain("agentId", agent_id, 255)?;
        let mut out: Vec<Delegation> = self
            .links(
                "WHERE d.from_agent_id = ? ORDER BY d.created_at, d.id",
                agent_id,
            )
            .await?
            .into_iter()
            .map(|l| l.d)
            .collect();
        out.extend(
            self.links(
                "WHERE d.to_agent_id = ? ORDER BY d.created_at, d.id",
                agent_id,
            )
            .await?
            .into_iter()
            .map(|l| l.d),
        );
        Ok(out)
    }

    /// For a call the agent's own permissions refuse: decides it again on the live links it
    /// received. An allow (or a rate-limited allow) through a link replaces the denial and names
    /// the chain; otherwise the denial stands.
    pub(crate) async fn through_delegation(
        &self,
        agent: &AuthRow,
        req: &AuthzRequest,
        pending: &mut PendingAudit,
    ) -> Result<()> {
        let now = self.now_ms();
        for link in self.links("WHERE d.to_agent_id = ?", &agent.id).await? {
            let perms = self.compiled().get_or_compile(&link.permissions_json)?;
            let ev = evaluate(&perms, req, now);
            if !ev.allow_unlimited && ev.rate_candidates.is_empty() {
                continue;
            }
            let Some(chain) = self.chain_of(&link).await? else {
                continue;
            };
            let chain = serde_json::to_string(&chain)
                .map_err(|_| KavachError::Internal("could not encode the chain".into()))?;
            pending.row.delegation_chain = Some(chain);
            if ev.allow_unlimited {
                pending.row.allowed = true;
                pending.row.code = None;
                pending.row.reason = None;
            } else {
                pending.rate = ev.rate_candidates;
                pending.row.code = None;
                pending.row.reason = None;
            }
            return Ok(());
        }
        Ok(())
    }
}

/// Whether a denial is one a delegated permission could turn into an allow (not a dead agent).
pub fn delegable_denial(p: &PendingAudit) -> bool {
    !p.row.allowed
        && p.rate.is_empty()
        && !matches!(
            p.row.code,
            Some(c) if c == DenyCode::AgentRevoked.as_str() || c == DenyCode::AgentExpired.as_str()
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(resource: &str, actions: &[&str]) -> Permission {
        Permission {
            resource: resource.into(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            constraints: None,
        }
    }

    #[test]
    fn patterns_cover_only_narrower_ones() {
        assert!(pattern_covers("*", "anything:at:all"));
        assert!(pattern_covers("mcp:github:*", "mcp:github:repos"));
        assert!(pattern_covers("mcp:github:*", "mcp:github:repos:*"));
        assert!(pattern_covers("mcp:github:*", "mcp:github:*"));
        assert!(pattern_covers("mcp:*:repos", "mcp:github:repos"));
        assert!(pattern_covers("mcp:github:repos", "mcp:github:repos"));
        assert!(!pattern_covers("mcp:github:repos", "mcp:github:*"));
        assert!(!pattern_covers("mcp:github:*", "mcp:*"));
        assert!(!pattern_covers("mcp:github:*", "mcp:gitlab:repos"));
        assert!(!pattern_covers("mcp:*:repos", "mcp:*"));
        assert!(!pattern_covers("mcp:github:*", "*"));
        assert!(!pattern_covers("mcp:github", "mcp:github:repos"));
        assert!(!pattern_covers("mcp:github:*", "mcp:github"));
    }

    #[test]
    fn permissions_cover_narrower_actions_and_never_looser_constraints() {
        let wide = perm("docs:*", &["read", "write"]);
        assert!(permission_covers(&wide, &perm("docs:a", &["read"])));
        assert!(!permission_covers(&wide, &perm("docs:a", &["delete"])));
        assert!(!permission_covers(&wide, &perm("docs:a", &["*"])));
        assert!(permission_covers(
            &perm("docs:*", &["*"]),
            &perm("docs:a", &["delete"])
        ));
        let gated = Permission {
            constraints: Some(Constraints {
                require_approval: Some(true),
                ..Default::default()
            }),
            ..perm("deploy:*", &["run"])
        };
        assert!(!permission_covers(&gated, &perm("deploy:prod", &["run"])));
        assert!(permission_covers(
            &gated,
            &Permission {
                resource: "deploy:prod".into(),
                ..gated.clone()
            }
        ));
    }
}
