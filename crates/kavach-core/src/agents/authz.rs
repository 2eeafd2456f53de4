//! The authorization decision and its audit row: what every store commits before a call resolves.

use serde::Serialize;

use crate::agents::permission::AuthzRequest;
use crate::agents::permission::{evaluate_with_trust, CompiledCache, DenyCode, RateCandidate};
use crate::crypto::token::new_id;
use crate::error::Result;

/// What the caller gets back: `{ allowed, reason, code, auditId }`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub allowed: bool,
    /// A stable code on denials (`NO_PERMISSION`, `AGENT_REVOKED`, ...); `None` when allowed.
    pub code: Option<&'static str>,
    /// A human sentence on denials.
    pub reason: Option<String>,
    /// The audit row's id; `None` only when no known agent was reached (unknown token or id).
    pub audit_id: Option<String>,
    /// With `APPROVAL_REQUIRED`: the pending approval a human can approve (`approvals.approve`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
}

impl Decision {
    fn unaudited(code: DenyCode, reason: &str) -> Self {
        Decision {
            allowed: false,
            code: Some(code.as_str()),
            reason: Some(reason.into()),
            audit_id: None,
            approval_id: None,
        }
    }
    pub fn invalid_token() -> Self {
        Self::unaudited(DenyCode::InvalidToken, "the agent token is not valid")
    }
    pub fn agent_not_found() -> Self {
        Self::unaudited(DenyCode::AgentNotFound, "no agent has this id")
    }
}

/// The columns the hot path reads for one agent.
#[derive(Debug, Clone)]
pub struct AuthRow {
    pub id: String,
    pub owner_id: String,
    pub status: String,
    pub expires_at: Option<i64>,
    pub permissions: String,
    /// It was ever given a delegation (`kavach_agents.delegated`): a denial is then decided
    /// again on its live links. Never set, it costs a denial no extra read.
    pub delegated: bool,
}

/// One row of `kavach_audit_logs`.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: String,
    pub agent_id: String,
    pub user_id: String,
    pub action: String,
    pub resource: String,
    pub parameters: Option<String>,
    pub allowed: bool,
    pub code: Option<&'static str>,
    pub reason: Option<String>,
    pub rate_key: Option<String>,
    pub ip: Option<String>,
    pub duration_us: i64,
    pub created_at: i64,
    /// When delegated permissions decided: the chain of delegation ids, root first, as JSON.
    pub delegation_chain: Option<String>,
}

impl AuditRow {
    pub fn result(&self) -> &'static str {
        if self.allowed {
            "allowed"
        } else {
            "denied"
        }
    }
    pub fn decision(&self) -> Decision {
        Decision {
            allowed: self.allowed,
            code: self.code,
            reason: self.reason.clone(),
            audit_id: Some(self.id.clone()),
            approval_id: None,
        }
    }
}

/// An audit row still to be written, with the hourly budgets that decide it when it is not yet final.
#[derive(Debug)]
pub struct PendingAudit {
    pub row: AuditRow,
    /// Non-empty: the call is allowed through the first of these with room left in its sliding hour,
    /// else denied `RATE_LIMITED`. Counted inside the transaction that inserts the row.
    pub rate: Vec<RateCandidate>,
    /// A `minTrust` permission covers the call and no trust score was given: decide again with it.
    pub needs_trust: bool,
}

pub const HOUR_MS: i64 = 3_600_000;

impl PendingAudit {
    /// Whether the decision waits on a lookup the inline path does not make: an approval.
    pub fn awaits_approval(&self) -> bool {
        self.rate.is_empty() && self.row.code == Some(DenyCode::ApprovalRequired.as_str())
    }

    /// Turns an `APPROVAL_REQUIRED` denial into an allowed call on approval `id`.
    pub fn approve(&mut self, id: &str) {
        self.row.allowed = true;
        self.row.code = None;
        self.row.reason = Some(format!("approved ({id})"));
    }

    /// Turns the decision into a denial by the app's `beforeAuthorize` hook.
    pub fn block(&mut self, reason: String) {
        self.rate.clear();
        self.row.allowed = false;
        self.row.code = Some("HOOK_BLOCKED");
        self.row.reason = Some(reason);
        self.row.rate_key = None;
    }

    /// Settles a rate-limited row. `count(key)` returns the allowed calls through `key` in the last hour,
    /// as seen inside the writing transaction (so earlier rows of the same batch count too).
    pub fn settle(&mut self, mut count: impl FnMut(&str) -> Result<i64>) -> Result<()> {
        if self.rate.is_empty() {
            return Ok(());
        }
        for cand in &self.rate {
            if count(&cand.key)? < i64::from(cand.max) {
                self.row.allowed = true;
                self.row.code = None;
                self.row.reason = None;
                self.row.rate_key = Some(cand.key.clone());
                return Ok(());
            }
        }
        let max = self.rate.first().map(|c| c.max).unwrap_or(0);
        self.row.allowed = false;
        self.row.code = Some(DenyCode::RateLimited.as_str());
        self.row.reason = Some(format!("rate limit reached: at most {max} calls per hour"));
        Ok(())
    }
}

/// Decides a request for a loaded agent and returns the audit row to commit (not yet settled if
/// rate-limited). `started` is a monotonic instant used only for `duration_us`; `trust` is the
/// agent's score, computed by the caller when a `minTrust` permission covers the request.
pub fn decide(
    agent: &AuthRow,
    req: &AuthzRequest,
    cache: &CompiledCache,
    now_ms: i64,
    started: std::time::Instant,
    trust: Option<u32>,
) -> Result<PendingAudit> {
    let mut rate = Vec::new();
    let mut needs_trust = false;
    let (allowed, code, reason) = if agent.status == "revoked" {
        (
            false,
            Some(DenyCode::AgentRevoked),
            Some("the agent has been revoked".to_owned()),
        )
    } else if agent.status != "active" {
        (
            false,
            Some(DenyCode::AgentRevoked),
            Some(format!("the agent is {}", agent.status)),
        )
    } else if agent.expires_at.is_some_and(|e| e <= now_ms) {
        (
            false,
            Some(DenyCode::AgentExpired),
            Some("the agent has expired".to_owned()),
        )
    } else {
        let perms = cache.get_or_compile(&agent.permissions)?;
        needs_trust = trust.is_none() && crate::agents::permission::needs_trust(&perms, req);
        let ev = evaluate_with_trust(&perms, req, now_ms, trust);
        if ev.allow_unlimited {
            (true, None, None)
        } else if !ev.rate_candidates.is_empty() {
            rate = ev.rate_candidates;
            (false, None, None)
        } else {
            let (c, r) = ev
                .denial
                .unwrap_or((DenyCode::NoPermission, "no permission matched".into()));
            (false, Some(c), Some(r))
        }
    };
    let parameters = match &req.arguments {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(v.to_string()),
    };
    Ok(PendingAudit {
        row: AuditRow {
            id: new_id(),
            agent_id: agent.id.clone(),
            user_id: agent.owner_id.clone(),
            action: req.action.clone(),
            resource: req.resource.clone(),
            parameters,
            allowed,
            code: code.map(DenyCode::as_str),
            reason,
            rate_key: None,
            ip: req.ip.clone(),
            duration_us: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
            created_at: now_ms,
            delegation_chain: None,
        },
        rate,
        needs_trust,
    })
}
