//! The audit trail: every decision on a known agent, queried with filters applied in SQL and
//! exported as JSON or CSV.

use serde::{Deserialize, Serialize};
use sqlx::{QueryBuilder, Row};

use crate::error::{KavachError, Result};
use crate::store::db::{Pool, Ts};
use crate::{col_opt_str, col_str, on_pool};

/// `audit.query(filter)`. Times are Unix milliseconds.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditFilter {
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "crate::config::de_opt_millis")]
    pub since: Option<i64>,
    #[serde(default, deserialize_with = "crate::config::de_opt_millis")]
    pub until: Option<i64>,
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    /// `allowed` or `denied`.
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub offset: Option<u32>,
}

/// One audited decision.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: String,
    pub agent_id: String,
    pub user_id: String,
    pub action: String,
    pub resource: String,
    pub parameters: Option<serde_json::Value>,
    /// `allowed` or `denied`.
    pub result: String,
    pub code: Option<String>,
    pub reason: Option<String>,
    pub ip: Option<String>,
    /// Time spent deciding, in milliseconds (microsecond precision).
    pub duration_ms: f64,
    /// Unix milliseconds.
    pub timestamp: i64,
    /// When a delegation allowed the call: the delegation ids, root first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegation_chain: Option<Vec<String>>,
}

/// Export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Csv,
}

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 10_000;
pub const MAX_EXPORT: u32 = 100_000;

impl AuditFilter {
    fn check(&self) -> Result<()> {
        if let Some(r) = &self.result {
            if r != "allowed" && r != "denied" {
                return Err(KavachError::validation(
                    "result must be \"allowed\" or \"denied\"",
                ));
            }
        }
        if let Some(a) = &self.actions {
            if a.len() > 100 {
                return Err(KavachError::validation(
                    "actions may list at most 100 actions",
                ));
            }
        }
        Ok(())
    }
}

/// Runs the query: filters in SQL, newest first, then limit/offset.
pub async fn query(pool: &Pool, f: &AuditFilter, max: u32) -> Result<Vec<AuditEntry>> {
    f.check()?;
    let limit = i64::from(f.limit.unwrap_or(DEFAULT_LIMIT).min(max));
    let offset = i64::from(f.offset.unwrap_or(0));
    on_pool!(pool, p => {
        let mut qb = QueryBuilder::new(
            "SELECT id, agent_id, user_id, action, resource, parameters, result, code, reason, ip, duration_us, created_at, delegation_chain FROM kavach_audit_logs WHERE 1 = 1",
        );
        if let Some(v) = &f.agent_id {
            qb.push(" AND agent_id = ").push_bind(v.clone());
        }
        if let Some(v) = &f.user_id {
            // Through the agents table, so that the agent index serves owner queries.
            qb.push(" AND agent_id IN (SELECT id FROM kavach_agents WHERE owner_id = ").push_bind(v.clone());
            qb.push(") AND user_id = ").push_bind(v.clone());
        }
        if let Some(v) = f.since {
            qb.push(" AND created_at >= ").push_bind(Ts(v));
        }
        if let Some(v) = f.until {
            qb.push(" AND created_at <= ").push_bind(Ts(v));
        }
        if let Some(r) = &f.result {
            qb.push(" AND result = ").push_bind(r.clone());
        }
        if let Some(actions) = &f.actions {
            if actions.is_empty() {
                return Ok(Vec::new());
            }
            qb.push(" AND action IN (");
            let mut sep = qb.separated(", ");
            for a in actions {
                sep.push_bind(a.clone());
            }
            qb.push(")");
        }
        qb.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
        let rows = qb.build().fetch_all(p).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let parameters: Option<String> = col_opt_str!(r, "parameters")?;
            let duration_us: i64 = r.try_get("duration_us")?;
            out.push(AuditEntry {
                id: col_str!(r, "id")?,
                agent_id: col_str!(r, "agent_id")?,
                user_id: col_str!(r, "user_id")?,
                action: col_str!(r, "action")?,
                resource: col_str!(r, "resource")?,
                parameters: parameters.and_then(|s| serde_json::from_str(&s).ok()),
                result: col_str!(r, "result")?,
                code: col_opt_str!(r, "code")?,
                reason: col_opt_str!(r, "reason")?,
                ip: col_opt_str!(r, "ip")?,
                duration_ms: duration_us as f64 / 1000.0,
                timestamp: r.try_get::<Ts, _>("created_at")?.0,
                delegation_chain: col_opt_str!(r, "delegation_chain")?
                    .and_then(|s| serde_json::from_str(&s).ok()),
            });
        }
        Ok(out)
    })
}

fn iso(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// RFC 4180 quoting, plus a leading `'` on cells a spreadsheet would run as a formula.
fn csv_cell(out: &mut String, v: &str) {
    let guarded = matches!(v.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r'));
    let needs_quotes = guarded || v.contains([',', '"', '\n', '\r']);
    if needs_quotes {
        out.push('"');
        if guarded {
            out.push('\'');
        }
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

/// Renders entries as a JSON array (timestamps in ISO 8601) or CSV with a header row.
pub fn render(entries: &[AuditEntry], format: ExportFormat) -> Result<String> {
    match format {
        ExportFormat::Json => {
            let items: Vec<serde_json::Value> = entries
                .iter()
                .map(|e| {
                    let mut v = serde_json::to_value(e).unwrap_or_default();
                    if let Some(obj) = v.as_object_mut() {
                        obj.insert(
                            "timestamp".into(),
                            serde_json::Value::String(iso(e.timestamp)),
                        );
                    }
                    v
                })
                .collect();
            serde_json::to_string_pretty(&items)
                .map_err(|_| KavachError::Internal("could not encode the export".into()))
        }
        ExportFormat::Csv => {
            let mut out = String::from(
                "id,agentId,userId,action,resource,result,code,reason,ip,durationMs,timestamp\n",
            );
            for e in entries {
                let cells = [
                    e.id.as_str(),
                    &e.agent_id,
                    &e.user_id,
                    &e.action,
                    &e.resource,
                    &e.result,
                    e.code.as_deref().unwrap_or(""),
                    e.reason.as_deref().unwrap_or(""),
                    e.ip.as_deref().unwrap_or(""),
                    &format!("{:.3}", e.duration_ms),
                    &iso(e.timestamp),
                ];
                for (i, c) in cells.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    csv_cell(&mut out, c);
                }
                out.push('\n');
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(reason: &str) -> AuditEntry {
        AuditEntry {
            id: "a".into(),
            agent_id: "g".into(),
            user_id: "u".into(),
            action: "read".into(),
            resource: "r:x".into(),
            parameters: None,
            result: "denied".into(),
            code: Some("NO_PERMISSION".into()),
            reason: Some(reason.into()),
            ip: None,
            duration_ms: 0.012,
            timestamp: 0,
            delegation_chain: None,
        }
    }

    #[test]
    fn csv_quotes_and_guards_formulas() {
        let out = render(
            &[entry("say \"hi\", then\nleave"), entry("=HYPERLINK(\"x\")")],
            ExportFormat::Csv,
        )
        .unwrap();
        let lines: Vec<&str> = out.split('\n').collect();
        assert_eq!(
            lines[0],
            "id,agentId,userId,action,resource,result,code,reason,ip,durationMs,timestamp"
        );
        assert!(out.contains("\"say \"\"hi\"\", then\nleave\""));
        assert!(out.contains("\"'=HYPERLINK(\"\"x\"\")\""));
        assert!(out.contains("1970-01-01T00:00:00.000Z"));
    }

    #[test]
    fn json_has_iso_timestamps() {
        let out = render(&[entry("x")], ExportFormat::Json).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v[0]["timestamp"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v[0]["agentId"], "g");
    }
}
