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

/// Rows per page of a streamed export.
pub const PAGE_ROWS: u64 = 1000;

/// Where a keyset page starts: strictly after (older than) this row.
#[derive(Debug, Clone)]
enum After {
    /// PostgreSQL and MySQL: this `(created_at, id)`, walked on the `(created_at, id)` index.
    Time(i64, String),
    /// SQLite, one agent's rows: this `(created_at, rowid)`, walked on the agent index
    /// `(agent_id, created_at)`, whose entries end in the rowid.
    Row(i64, i64),
    /// SQLite, any other filter: this rowid. SQLite keeps no index on `created_at` alone (one
    /// more index page in every audited call's commit, +15-20% on an inline authorize), so such
    /// an export walks the table itself newest first in the order rows were written.
    Rowid(i64),
}

/// How a page is read and ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// `audit.query`: `created_at DESC, id DESC` with `offset`.
    Query,
    /// An export page on `(created_at, id)` (PostgreSQL, MySQL).
    Time,
    /// An export page of one agent on SQLite: `(created_at, rowid)` on the agent index.
    AgentRow,
    /// An export page on SQLite without an agent: the table by rowid, newest written first.
    Rowid,
}

impl Walk {
    fn export(pool: &Pool, f: &AuditFilter) -> Walk {
        match pool {
            Pool::Sqlite(_) if f.agent_id.is_some() => Walk::AgentRow,
            Pool::Sqlite(_) => Walk::Rowid,
            _ => Walk::Time,
        }
    }
}

/// Runs the query: filters in SQL, newest first, then limit/offset.
pub async fn query(pool: &Pool, f: &AuditFilter, max: u32) -> Result<Vec<AuditEntry>> {
    f.check()?;
    let limit = i64::from(f.limit.unwrap_or(DEFAULT_LIMIT).min(max));
    let offset = i64::from(f.offset.unwrap_or(0));
    Ok(page(pool, f, None, offset, limit, Walk::Query).await?.0)
}

/// One page newest first: the filter's conditions, then either `offset` (first page) or the keyset
/// condition after the last row of the page before (see [`After`] and [`Walk`]), so no page
/// re-reads the rows before it. Answers the rows and, on SQLite's export walks, the last row's
/// rowid.
async fn page(
    pool: &Pool,
    f: &AuditFilter,
    after: Option<&After>,
    offset: i64,
    limit: i64,
    walk: Walk,
) -> Result<(Vec<AuditEntry>, Option<i64>)> {
    if f.actions.as_ref().is_some_and(Vec::is_empty) {
        return Ok((Vec::new(), None));
    }
    let by_row = matches!(walk, Walk::AgentRow | Walk::Rowid);
    on_pool!(pool, p => {
        let mut qb = QueryBuilder::new(
            "SELECT id, agent_id, user_id, action, resource, parameters, result, code, reason, ip, duration_us, created_at, delegation_chain",
        );
        qb.push(match walk {
            // NOT INDEXED: the planner would otherwise take the agent index for an owner's
            // agents and sort every row before the keyset on each page.
            Walk::Rowid => ", rowid AS k_row FROM kavach_audit_logs NOT INDEXED WHERE 1 = 1",
            Walk::AgentRow => ", rowid AS k_row FROM kavach_audit_logs WHERE 1 = 1",
            Walk::Query | Walk::Time => " FROM kavach_audit_logs WHERE 1 = 1",
        });
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
            qb.push(" AND action IN (");
            let mut sep = qb.separated(", ");
            for a in actions {
                sep.push_bind(a.clone());
            }
            qb.push(")");
        }
        match after {
            Some(After::Time(ts, id)) => {
                // The plain bound lets the planner range-scan the time index; the OR breaks ties.
                qb.push(" AND created_at <= ").push_bind(Ts(*ts));
                qb.push(" AND (created_at < ").push_bind(Ts(*ts));
                qb.push(" OR id < ").push_bind(id.clone()).push(")");
            }
            Some(After::Row(ts, row)) => {
                qb.push(" AND created_at <= ").push_bind(Ts(*ts));
                qb.push(" AND (created_at < ").push_bind(Ts(*ts));
                qb.push(" OR rowid < ").push_bind(*row).push(")");
            }
            Some(After::Rowid(row)) => {
                qb.push(" AND rowid < ").push_bind(*row);
            }
            None => {}
        }
        qb.push(match walk {
            Walk::Rowid => " ORDER BY rowid DESC LIMIT ",
            Walk::AgentRow => " ORDER BY created_at DESC, rowid DESC LIMIT ",
            Walk::Query | Walk::Time => " ORDER BY created_at DESC, id DESC LIMIT ",
        })
        .push_bind(limit);
        if offset > 0 {
            qb.push(" OFFSET ").push_bind(offset);
        }
        let rows = qb.build().fetch_all(p).await?;
        let last_row = match rows.last() {
            Some(r) if by_row => Some(r.try_get::<i64, _>("k_row")?),
            _ => None,
        };
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
        Ok((out, last_row))
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

const CSV_HEADER: &str =
    "id,agentId,userId,action,resource,result,code,reason,ip,durationMs,timestamp\n";

fn head(format: ExportFormat) -> &'static str {
    match format {
        ExportFormat::Json => "[",
        ExportFormat::Csv => CSV_HEADER,
    }
}

fn tail(format: ExportFormat, rows: u64) -> &'static str {
    match format {
        ExportFormat::Json if rows == 0 => "]\n",
        ExportFormat::Json => "\n]\n",
        ExportFormat::Csv => "",
    }
}

/// An entry as exported in JSON: the timestamp in ISO 8601.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonRow<'a> {
    id: &'a str,
    agent_id: &'a str,
    user_id: &'a str,
    action: &'a str,
    resource: &'a str,
    parameters: Option<&'a serde_json::Value>,
    result: &'a str,
    code: Option<&'a str>,
    reason: Option<&'a str>,
    ip: Option<&'a str>,
    duration_ms: f64,
    timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    delegation_chain: Option<&'a Vec<String>>,
}

/// Appends one entry: for JSON an array element (with its separator when `first` is false), the
/// timestamp in ISO 8601; for CSV one record.
fn push_row(out: &mut String, e: &AuditEntry, format: ExportFormat, first: bool) -> Result<()> {
    match format {
        ExportFormat::Json => {
            let row = JsonRow {
                id: &e.id,
                agent_id: &e.agent_id,
                user_id: &e.user_id,
                action: &e.action,
                resource: &e.resource,
                parameters: e.parameters.as_ref(),
                result: &e.result,
                code: e.code.as_deref(),
                reason: e.reason.as_deref(),
                ip: e.ip.as_deref(),
                duration_ms: e.duration_ms,
                timestamp: iso(e.timestamp),
                delegation_chain: e.delegation_chain.as_ref(),
            };
            out.push_str(if first { "\n" } else { ",\n" });
            out.push_str(
                &serde_json::to_string(&row)
                    .map_err(|_| KavachError::Internal("could not encode the export".into()))?,
            );
        }
        ExportFormat::Csv => {
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
                csv_cell(out, c);
            }
            out.push('\n');
        }
    }
    Ok(())
}

/// Renders entries as a JSON array (one element a line, timestamps in ISO 8601) or CSV with a
/// header row: the same text a streamed export of these rows gives.
pub fn render(entries: &[AuditEntry], format: ExportFormat) -> Result<String> {
    let mut out = String::from(head(format));
    for (i, e) in entries.iter().enumerate() {
        push_row(&mut out, e, format, i == 0)?;
    }
    out.push_str(tail(format, entries.len() as u64));
    Ok(out)
}

/// The error of an export past its cap.
pub fn too_large() -> KavachError {
    KavachError::refused(
        "EXPORT_TOO_LARGE",
        413,
        format!("the export has more than {MAX_EXPORT} rows: narrow the filter or stream it (stream: true)"),
    )
}

/// An export read a page at a time: each [`AuditExport::next_chunk`] runs one keyset query of at
/// most [`PAGE_ROWS`] rows and returns their text, so memory stays flat whatever the row count.
/// The chunks, joined, are exactly what [`render`] gives for the same rows.
pub struct AuditExport {
    pool: Pool,
    filter: AuditFilter,
    format: ExportFormat,
    /// More rows than this is `EXPORT_TOO_LARGE` (the string form); `None` streams them all.
    cap: Option<u64>,
    /// What is left of the filter's `limit`, if it set one.
    left: Option<u64>,
    sent: u64,
    after: Option<After>,
    started: bool,
    done: bool,
}

impl std::fmt::Debug for AuditExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditExport")
            .field("format", &self.format)
            .field("rows", &self.sent)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl AuditExport {
    /// Checks the filter; nothing runs until the first chunk. The filter's `limit` (if any) caps
    /// the rows and its `offset` skips the newest ones.
    pub fn new(
        pool: Pool,
        filter: AuditFilter,
        format: ExportFormat,
        cap: Option<u64>,
    ) -> Result<Self> {
        filter.check()?;
        Ok(Self {
            pool,
            left: filter.limit.map(u64::from),
            filter,
            format,
            cap,
            sent: 0,
            after: None,
            started: false,
            done: false,
        })
    }

    /// The same export with another cap.
    pub fn with_cap(mut self, cap: Option<u64>) -> Self {
        self.cap = cap;
        self
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.sent
    }

    /// The next piece of the export (the first carries the header, the last the closing), or
    /// `None` once it is all out.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let mut out = String::new();
        if !self.started {
            out.push_str(head(self.format));
        }
        let want = self.left.map_or(PAGE_ROWS, |l| l.min(PAGE_ROWS));
        let offset = if self.started {
            0
        } else {
            i64::from(self.filter.offset.unwrap_or(0))
        };
        let (rows, last_row) = if want == 0 {
            (Vec::new(), None)
        } else {
            let limit = i64::try_from(want).unwrap_or(i64::MAX);
            page(
                &self.pool,
                &self.filter,
                self.after.as_ref(),
                offset,
                limit,
                Walk::export(&self.pool, &self.filter),
            )
            .await?
        };
        self.started = true;
        for e in &rows {
            if self.cap.is_some_and(|c| self.sent >= c) {
                self.done = true;
                return Err(too_large());
            }
            push_row(&mut out, e, self.format, self.sent == 0)?;
            self.sent += 1;
        }
        if let Some(l) = self.left.as_mut() {
            *l = l.saturating_sub(rows.len() as u64);
        }
        match rows.last() {
            Some(last) if rows.len() as u64 == want && self.left != Some(0) => {
                self.after = Some(match (Walk::export(&self.pool, &self.filter), last_row) {
                    (Walk::Rowid, Some(row)) => After::Rowid(row),
                    (_, Some(row)) => After::Row(last.timestamp, row),
                    (_, None) => After::Time(last.timestamp, last.id.clone()),
                });
            }
            _ => {
                out.push_str(tail(self.format, self.sent));
                self.done = true;
            }
        }
        Ok(Some(out.into_bytes()))
    }

    /// The whole export as one string (for the capped, non-streamed form).
    pub async fn collect(mut self) -> Result<String> {
        let mut out = Vec::new();
        while let Some(chunk) = self.next_chunk().await? {
            out.extend_from_slice(&chunk);
        }
        String::from_utf8(out)
            .map_err(|_| KavachError::Internal("could not encode the export".into()))
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
