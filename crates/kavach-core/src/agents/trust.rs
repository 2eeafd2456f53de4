//! Trust scores: how far an agent's own record lets it be trusted, from its age and its audit trail
//! of the last 30 days, in one query. The formula (documented in README):
//!
//! ```text
//! score = 50
//!       + min(20, age in whole days)                 an agent earns trust by lasting
//!       + min(20, allowed decisions / 10)            and by a record of allowed calls
//!       - 30 * denied / decided                      the share of its calls that were denied
//!       - min(40, 5 * violations)                    broken constraints: ARGUMENT_REJECTED,
//!                                                    IP_NOT_ALLOWED, OUTSIDE_TIME_WINDOW,
//!                                                    HOOK_BLOCKED, TRUST_TOO_LOW
//!       - min(20, 2 * rate-limit hits)               RATE_LIMITED denials
//! clamped to 0..=100 and rounded; a revoked or expired agent scores 0.
//! ```
//!
//! Levels: `high` from 80, `medium` from 50, `low` from 20, else `untrusted`.

use serde::Serialize;
use sqlx::Row;

use crate::error::{KavachError, Result};
use crate::kavach::Kavach;
use crate::on_pool;
use crate::store::db::{sql_for, Ts};

/// How far back the audit trail counts.
pub const WINDOW_MS: i64 = 30 * 86_400_000;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TrustFactors {
    pub age_days: i64,
    pub decisions: i64,
    pub allowed: i64,
    pub denied: i64,
    pub violations: i64,
    pub rate_limited: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TrustScore {
    pub agent_id: String,
    pub score: u32,
    pub level: &'static str,
    pub factors: TrustFactors,
    pub computed_at: i64,
}

/// The formula above, on counted factors.
pub fn score_of(f: &TrustFactors, active: bool) -> u32 {
    if !active {
        return 0;
    }
    let mut s = 50.0_f64;
    s += (f.age_days.max(0) as f64).min(20.0);
    s += (f.allowed.max(0) as f64 / 10.0).min(20.0);
    if f.decisions > 0 {
        s -= 30.0 * f.denied as f64 / f.decisions as f64;
    }
    s -= (5.0 * f.violations as f64).min(40.0);
    s -= (2.0 * f.rate_limited as f64).min(20.0);
    s.clamp(0.0, 100.0).round() as u32
}

pub fn level_of(score: u32) -> &'static str {
    match score {
        80.. => "high",
        50.. => "medium",
        20.. => "low",
        _ => "untrusted",
    }
}

impl Kavach {
    /// `trust.score(agentId)`: NOT_FOUND for an unknown agent.
    pub async fn trust_score(&self, agent_id: &str) -> Result<TrustScore> {
        self.check_open()?;
        crate::error::check_plain("agentId", agent_id, 255)?;
        self.trust_score_of(agent_id).await
    }

    pub(crate) async fn trust_score_of(&self, agent_id: &str) -> Result<TrustScore> {
        let now = self.now_ms();
        let agent = self
            .get_agent(agent_id)
            .await?
            .ok_or_else(|| KavachError::NotFound(format!("agent {agent_id} not found")))?;
        // COUNT of a CASE without ELSE counts its matches, as BIGINT on every backend.
        let sql = sql_for(
            self.dialect(),
            "SELECT COUNT(*) AS decisions, \
             COUNT(CASE WHEN result = 'allowed' THEN 1 END) AS allowed, \
             COUNT(CASE WHEN result = 'denied' THEN 1 END) AS denied, \
             COUNT(CASE WHEN code IN ('ARGUMENT_REJECTED', 'IP_NOT_ALLOWED', 'OUTSIDE_TIME_WINDOW', 'HOOK_BLOCKED', 'TRUST_TOO_LOW') THEN 1 END) AS violations, \
             COUNT(CASE WHEN code = 'RATE_LIMITED' THEN 1 END) AS rate_limited \
             FROM kavach_audit_logs WHERE agent_id = ? AND created_at >= ?",
        );
        let (decisions, allowed, denied, violations, rate_limited) = on_pool!(self.pool(), p => {
            let r = sqlx::query(&sql).bind(agent_id).bind(Ts(now - WINDOW_MS)).fetch_one(p).await?;
            (
                r.try_get::<i64, _>("decisions")?,
                r.try_get::<i64, _>("allowed")?,
                r.try_get::<i64, _>("denied")?,
                r.try_get::<i64, _>("violations")?,
                r.try_get::<i64, _>("rate_limited")?,
            )
        });
        let factors = TrustFactors {
            age_days: (now - agent.created_at).max(0) / 86_400_000,
            decisions,
            allowed,
            denied,
            violations,
            rate_limited,
        };
        let score = score_of(&factors, agent.status == "active");
        Ok(TrustScore {
            agent_id: agent.id,
            score,
            level: level_of(score),
            factors,
            computed_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(age: i64, allowed: i64, denied: i64, violations: i64, rate: i64) -> TrustFactors {
        TrustFactors {
            age_days: age,
            decisions: allowed + denied,
            allowed,
            denied,
            violations,
            rate_limited: rate,
        }
    }

    #[test]
    fn the_formula() {
        assert_eq!(score_of(&f(0, 0, 0, 0, 0), true), 50, "a new agent");
        assert_eq!(score_of(&f(30, 500, 0, 0, 0), true), 90, "old, busy, clean");
        assert_eq!(score_of(&f(5, 10, 10, 0, 0), true), 41, "half denied");
        assert_eq!(score_of(&f(0, 0, 10, 10, 0), true), 0, "all violations");
        assert_eq!(score_of(&f(0, 10, 5, 0, 5), true), 31, "rate limited");
        assert_eq!(score_of(&f(30, 500, 0, 0, 0), false), 0, "revoked");
        assert_eq!(level_of(90), "high");
        assert_eq!(level_of(50), "medium");
        assert_eq!(level_of(20), "low");
        assert_eq!(level_of(19), "untrusted");
    }
}
