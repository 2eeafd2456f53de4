//! Permissions: resource patterns, actions and constraints, validated once and matched per call.
//!
//! Patterns split on `:`. `*` alone matches every resource; a `*` segment in the middle matches exactly
//! one (non-empty) segment; a trailing `*` matches one or more further segments. Actions match exactly
//! or through `*`. Every permission that matches is considered; a request is allowed if any allows it.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{KavachError, Result};

/// One grant: which actions on which resources, under which constraints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Permission {
    /// A resource pattern such as `mcp:github:*`.
    pub resource: String,
    /// The actions granted (`*` grants every action).
    pub actions: Vec<String>,
    /// Extra conditions, all of which must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Constraints>,
}

/// Conditions on a permission. Absent fields impose nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Constraints {
    /// At most this many allowed calls through this permission in any sliding hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls_per_hour: Option<u32>,
    /// Deny with `APPROVAL_REQUIRED`: a human must approve each call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_approval: Option<bool>,
    /// Allowed only between `start` and `end` (`HH:MM`, UTC, inclusive; may wrap midnight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_window: Option<TimeWindow>,
    /// The caller's IP must be one of these addresses or fall in one of these CIDR ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_allowlist: Option<Vec<String>>,
    /// Every string found in `arguments` (at any depth) must match every one of these regexes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_arg_patterns: Option<Vec<String>>,
    /// The agent's trust score (0-100, `trust.score`) must be at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_trust: Option<u32>,
}

/// A daily window in UTC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    /// `HH:MM`, 24-hour, UTC.
    pub start: String,
    /// `HH:MM`, 24-hour, UTC; may be earlier than `start` to wrap midnight.
    pub end: String,
}

/// Why a request was denied: the stable codes of the API contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyCode {
    NoPermission,
    AgentNotFound,
    AgentRevoked,
    AgentExpired,
    InvalidToken,
    RateLimited,
    ApprovalRequired,
    OutsideTimeWindow,
    IpNotAllowed,
    ArgumentRejected,
    TrustTooLow,
}

impl DenyCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoPermission => "NO_PERMISSION",
            Self::AgentNotFound => "AGENT_NOT_FOUND",
            Self::AgentRevoked => "AGENT_REVOKED",
            Self::AgentExpired => "AGENT_EXPIRED",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::RateLimited => "RATE_LIMITED",
            Self::ApprovalRequired => "APPROVAL_REQUIRED",
            Self::OutsideTimeWindow => "OUTSIDE_TIME_WINDOW",
            Self::IpNotAllowed => "IP_NOT_ALLOWED",
            Self::ArgumentRejected => "ARGUMENT_REJECTED",
            Self::TrustTooLow => "TRUST_TOO_LOW",
        }
    }
}

/// What is being asked: `action` on `resource`, with optional call arguments and caller IP.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzRequest {
    pub action: String,
    pub resource: String,
    #[serde(default)]
    pub arguments: Option<serde_json::Value>,
    #[serde(default)]
    pub ip: Option<String>,
}

impl AuthzRequest {
    pub fn validate(&self) -> Result<()> {
        if self.action.is_empty() || self.action.len() > 256 {
            return Err(KavachError::validation(
                "action must be a non-empty string of at most 256 characters",
            ));
        }
        if self.resource.is_empty() || self.resource.len() > 1024 {
            return Err(KavachError::validation(
                "resource must be a non-empty string of at most 1024 characters",
            ));
        }
        // Byte scans, no allocation: this runs on every decision.
        if crate::input::has_control(&self.action, false)
            || crate::input::has_control(&self.resource, false)
        {
            return Err(KavachError::validation(
                "action and resource must not contain control characters",
            ));
        }
        if let Some(ip) = &self.ip {
            crate::error::check_plain("ip", ip, 256)?;
        }
        if let Some(args) = &self.arguments {
            crate::input::check_value(args)?;
        }
        Ok(())
    }
}

/// A permission checked and compiled: regexes built, CIDRs parsed, window in minutes.
#[derive(Debug)]
pub struct CompiledPermission {
    pub resource: String,
    pub actions: Vec<String>,
    /// `(rate key, max calls per hour)`; the key names this grant in the audit log.
    pub rate: Option<(String, u32)>,
    require_approval: bool,
    window: Option<(u16, u16)>,
    ips: Option<Vec<IpNet>>,
    args: Option<Vec<Regex>>,
    /// `minTrust`: the score the agent needs.
    pub min_trust: Option<u32>,
}

/// A permission that matched and passed every constraint but its hourly rate limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCandidate {
    pub key: String,
    pub max: u32,
}

/// The outcome of matching a request against an agent's permissions, before any rate counting.
#[derive(Debug, Default, PartialEq)]
pub struct Evaluation {
    /// Some matching permission allows the call with no rate limit.
    pub allow_unlimited: bool,
    /// Matching permissions that allow the call if their hourly budget has room, in order.
    pub rate_candidates: Vec<RateCandidate>,
    /// The first reason a matching permission refused, or `NO_PERMISSION` when none matched.
    pub denial: Option<(DenyCode, String)>,
}

const MAX_PERMISSIONS: usize = 256;
const MAX_PATTERNS: usize = 32;
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// Does `pattern` cover `resource`? See the module docs for the rules.
pub fn resource_matches(pattern: &str, resource: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let mut pat = pattern.split(':').peekable();
    let mut res = resource.split(':');
    loop {
        match (pat.next(), res.next()) {
            (Some("*"), Some(seg)) => {
                if seg.is_empty() {
                    return false;
                }
                if pat.peek().is_none() {
                    // Trailing `*`: this segment and any further ones, none of them empty.
                    return res.all(|s| !s.is_empty());
                }
            }
            (Some(p), Some(r)) => {
                if p != r {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
    }
}

fn action_matches(actions: &[String], action: &str) -> bool {
    actions.iter().any(|a| a == "*" || a == action)
}

fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn parse_net(s: &str) -> Option<IpNet> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Some(net.trunc());
    }
    s.parse::<IpAddr>()
        .ok()
        .map(|ip| IpNet::from(canonical_ip(ip)))
}

/// `::ffff:1.2.3.4` (how Node reports IPv4 peers on dual-stack sockets) compares as `1.2.3.4`.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn rate_key(p: &Permission) -> String {
    let mut h = Sha256::new();
    h.update(p.resource.as_bytes());
    h.update(b"\n");
    h.update(p.actions.join(",").as_bytes());
    hex::encode(&h.finalize()[..16])
}

fn validate_pattern(pattern: &str) -> Result<()> {
    if pattern.is_empty() || pattern.len() > 1024 || crate::input::has_control(pattern, false) {
        return Err(KavachError::validation(
            "permission resource must be a non-empty pattern of at most 1024 printable characters",
        ));
    }
    if pattern != "*" && pattern.split(':').any(str::is_empty) {
        return Err(KavachError::validation(format!(
            "permission resource \"{pattern}\" has an empty segment"
        )));
    }
    Ok(())
}

impl CompiledPermission {
    /// Checks a permission and builds what matching needs. Every error is `VALIDATION_FAILED`.
    pub fn compile(p: &Permission) -> Result<Self> {
        validate_pattern(&p.resource)?;
        if p.actions.is_empty() {
            return Err(KavachError::validation(format!(
                "permission on \"{}\" lists no actions",
                p.resource
            )));
        }
        if p.actions
            .iter()
            .any(|a| a.is_empty() || a.len() > 256 || crate::input::has_control(a, false))
        {
            return Err(KavachError::validation(
                "actions must be non-empty strings without control characters",
            ));
        }
        let c = p.constraints.clone().unwrap_or_default();
        let rate = match c.max_calls_per_hour {
            Some(0) => {
                return Err(KavachError::validation(
                    "maxCallsPerHour must be at least 1",
                ));
            }
            Some(n) => Some((rate_key(p), n)),
            None => None,
        };
        let window = match &c.time_window {
            Some(w) => {
                let (Some(s), Some(e)) = (parse_hhmm(&w.start), parse_hhmm(&w.end)) else {
                    return Err(KavachError::validation(
                        "timeWindow start and end must be HH:MM (24-hour, UTC)",
                    ));
                };
                Some((s, e))
            }
            None => None,
        };
        let ips = match &c.ip_allowlist {
            Some(list) => {
                if list.len() > 1024 {
                    return Err(KavachError::validation("ipAllowlist has too many entries"));
                }
                let mut nets = Vec::with_capacity(list.len());
                for entry in list {
                    nets.push(parse_net(entry.trim()).ok_or_else(|| {
                        KavachError::validation(format!(
                            "ipAllowlist entry \"{entry}\" is not an IP address or CIDR range"
                        ))
                    })?);
                }
                Some(nets)
            }
            None => None,
        };
        let args = match &c.allowed_arg_patterns {
            Some(list) => {
                if list.len() > MAX_PATTERNS {
                    return Err(KavachError::validation(
                        "allowedArgPatterns has too many entries",
                    ));
                }
                let mut out = Vec::with_capacity(list.len());
                for pat in list {
                    let re = RegexBuilder::new(pat)
                        .size_limit(REGEX_SIZE_LIMIT)
                        .build()
                        .map_err(|_| {
                            KavachError::validation(format!(
                                "allowedArgPatterns entry \"{pat}\" is not a valid regular expression"
                            ))
                        })?;
                    out.push(re);
                }
                Some(out)
            }
            None => None,
        };
        if c.min_trust.is_some_and(|t| t > 100) {
            return Err(KavachError::validation(
                "minTrust must be between 0 and 100",
            ));
        }
        Ok(Self {
            min_trust: c.min_trust,
            resource: p.resource.clone(),
            actions: p.actions.clone(),
            rate,
            require_approval: c.require_approval.unwrap_or(false),
            window,
            ips,
            args,
        })
    }

    fn covers(&self, req: &AuthzRequest) -> bool {
        action_matches(&self.actions, &req.action)
            && resource_matches(&self.resource, &req.resource)
    }

    /// The first constraint (other than the rate limit) this request breaks, if any. `trust` is the
    /// agent's score when it was computed (a `minTrust` permission never allows without it).
    fn check(
        &self,
        req: &AuthzRequest,
        now_ms: i64,
        trust: Option<u32>,
    ) -> Option<(DenyCode, String)> {
        if let Some(min) = self.min_trust {
            match trust {
                Some(t) if t >= min => {}
                Some(t) => {
                    return Some((
                        DenyCode::TrustTooLow,
                        format!(
                            "the agent's trust score {t} is below the {min} this permission needs"
                        ),
                    ))
                }
                None => {
                    return Some((
                        DenyCode::TrustTooLow,
                        "this permission needs the agent's trust score".into(),
                    ))
                }
            }
        }
        if let Some(args) = &self.args {
            if let Some(value) = &req.arguments {
                if let Some((path, bad)) = first_rejected_string(value, args) {
                    return Some((
                        DenyCode::ArgumentRejected,
                        format!("argument \"{path}\" does not match allowed pattern #{bad}"),
                    ));
                }
            }
        }
        if self.require_approval {
            return Some((
                DenyCode::ApprovalRequired,
                "this action requires human approval before execution".into(),
            ));
        }
        if let Some((start, end)) = self.window {
            let minute = (now_ms.rem_euclid(86_400_000) / 60_000) as u16;
            let inside = if start <= end {
                minute >= start && minute <= end
            } else {
                minute >= start || minute <= end
            };
            if !inside {
                return Some((
                    DenyCode::OutsideTimeWindow,
                    format!(
                        "allowed only between {:02}:{:02} and {:02}:{:02} UTC",
                        start / 60,
                        start % 60,
                        end / 60,
                        end % 60
                    ),
                ));
            }
        }
        if let Some(nets) = &self.ips {
            let ip = req
                .ip
                .as_deref()
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
                .map(canonical_ip);
            match ip {
                None => {
                    return Some((
                        DenyCode::IpNotAllowed,
                        "this resource requires a caller IP in the allowlist, and none was given"
                            .into(),
                    ))
                }
                Some(ip) if !nets.iter().any(|n| n.contains(&ip)) => {
                    return Some((
                        DenyCode::IpNotAllowed,
                        format!("IP {ip} is not in the allowlist"),
                    ))
                }
                Some(_) => {}
            }
        }
        None
    }
}

fn first_rejected_string(value: &serde_json::Value, pats: &[Regex]) -> Option<(String, usize)> {
    fn walk(
        v: &serde_json::Value,
        path: &mut String,
        pats: &[Regex],
        depth: usize,
    ) -> Option<(String, usize)> {
        if depth > 64 {
            return Some((path.clone(), 0));
        }
        match v {
            serde_json::Value::String(s) => pats
                .iter()
                .position(|re| !re.is_match(s))
                .map(|i| (path.clone(), i)),
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    let r = walk(item, path, pats, depth + 1);
                    path.truncate(len);
                    if r.is_some() {
                        return r;
                    }
                }
                None
            }
            serde_json::Value::Object(map) => {
                for (k, item) in map {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    let r = walk(item, path, pats, depth + 1);
                    path.truncate(len);
                    if r.is_some() {
                        return r;
                    }
                }
                None
            }
            _ => None,
        }
    }
    let mut path = String::new();
    walk(value, &mut path, pats, 0)
        .map(|(p, i)| (if p.is_empty() { "arguments".into() } else { p }, i + 1))
}

/// Validates and compiles a whole permission list (what `agent.create` / `update` accept).
pub fn compile_all(perms: &[Permission]) -> Result<Vec<CompiledPermission>> {
    if perms.len() > MAX_PERMISSIONS {
        return Err(KavachError::validation(format!(
            "an agent may hold at most {MAX_PERMISSIONS} permissions"
        )));
    }
    perms.iter().map(CompiledPermission::compile).collect()
}

/// Matches `req` against every permission. Rate limits are left to the store, which counts atomically.
pub fn evaluate(perms: &[CompiledPermission], req: &AuthzRequest, now_ms: i64) -> Evaluation {
    evaluate_with_trust(perms, req, now_ms, None)
}

/// Whether some permission covering `req` needs the agent's trust score.
pub fn needs_trust(perms: &[CompiledPermission], req: &AuthzRequest) -> bool {
    perms.iter().any(|p| p.min_trust.is_some() && p.covers(req))
}

/// [`evaluate`], with the agent's trust score for `minTrust` permissions.
pub fn evaluate_with_trust(
    perms: &[CompiledPermission],
    req: &AuthzRequest,
    now_ms: i64,
    trust: Option<u32>,
) -> Evaluation {
    let mut ev = Evaluation::default();
    for p in perms.iter().filter(|p| p.covers(req)) {
        match p.check(req, now_ms, trust) {
            Some(denial) => {
                if ev.denial.is_none() {
                    ev.denial = Some(denial);
                }
            }
            None => match &p.rate {
                None => {
                    ev.allow_unlimited = true;
                    ev.rate_candidates.clear();
                    return ev;
                }
                Some((key, max)) => ev.rate_candidates.push(RateCandidate {
                    key: key.clone(),
                    max: *max,
                }),
            },
        }
    }
    if ev.denial.is_none() && ev.rate_candidates.is_empty() {
        ev.denial = Some((
            DenyCode::NoPermission,
            format!(
                "no permission grants \"{}\" on \"{}\"",
                req.action, req.resource
            ),
        ));
    }
    ev
}

/// A small content-addressed memo of compiled permission lists, keyed by their stored JSON text.
/// It holds no authorization state (status, tokens, expiry are read fresh on every call), so it can
/// never outlive a revoke: the same JSON always compiles to the same matcher.
#[derive(Default)]
pub struct CompiledCache {
    map: parking_lot::RwLock<std::collections::HashMap<String, Arc<Vec<CompiledPermission>>>>,
}

impl CompiledCache {
    const MAX_ENTRIES: usize = 4096;

    pub fn get_or_compile(&self, json: &str) -> Result<Arc<Vec<CompiledPermission>>> {
        if let Some(hit) = self.map.read().get(json) {
            return Ok(hit.clone());
        }
        let perms: Vec<Permission> = serde_json::from_str(json)
            .map_err(|_| KavachError::Internal("stored permissions are not valid JSON".into()))?;
        let compiled = Arc::new(compile_all(&perms)?);
        let mut map = self.map.write();
        if map.len() >= Self::MAX_ENTRIES {
            map.clear();
        }
        map.insert(json.to_owned(), compiled.clone());
        Ok(compiled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn perm(v: serde_json::Value) -> CompiledPermission {
        CompiledPermission::compile(&serde_json::from_value(v).unwrap()).unwrap()
    }
    fn req(action: &str, resource: &str) -> AuthzRequest {
        AuthzRequest {
            action: action.into(),
            resource: resource.into(),
            ..Default::default()
        }
    }
    const NOON: i64 = 12 * 3_600_000;

    #[test]
    fn wildcard_rules() {
        assert!(resource_matches("*", "anything:at:all"));
        assert!(resource_matches("mcp:github:*", "mcp:github:repos"));
        assert!(resource_matches("mcp:github:*", "mcp:github:repos:pulls"));
        assert!(!resource_matches("mcp:github:*", "mcp:github"));
        assert!(!resource_matches("mcp:github:*", "mcp:gitlab:repos"));
        assert!(resource_matches("tool:*:exec", "tool:shell:exec"));
        assert!(!resource_matches("tool:*:exec", "tool:a:b:exec"));
        assert!(!resource_matches("tool:*:exec", "tool:exec"));
        assert!(resource_matches("app:read", "app:read"));
        assert!(!resource_matches("app:read", "app:read:x"));
        assert!(!resource_matches("app:read:*", "app:read:"));
        assert!(!resource_matches("a:*:c", "a::c"));
    }

    #[test]
    fn seed_pattern_app_read() {
        let p = perm(json!({"resource": "app:read:*", "actions": ["read"]}));
        let ev = evaluate(
            std::slice::from_ref(&p),
            &req("read", "app:read:docs"),
            NOON,
        );
        assert!(ev.allow_unlimited);
        let ev = evaluate(
            std::slice::from_ref(&p),
            &req("write", "app:read:docs"),
            NOON,
        );
        assert_eq!(ev.denial.unwrap().0, DenyCode::NoPermission);
    }

    #[test]
    fn star_action() {
        let p = perm(json!({"resource": "x", "actions": ["*"]}));
        assert!(evaluate(&[p], &req("anything", "x"), NOON).allow_unlimited);
    }

    #[test]
    fn time_window_plain_and_wrapping() {
        let day = perm(
            json!({"resource": "*", "actions": ["*"], "constraints": {"timeWindow": {"start": "09:00", "end": "17:00"}}}),
        );
        assert!(evaluate(std::slice::from_ref(&day), &req("a", "r"), NOON).allow_unlimited);
        assert!(
            evaluate(
                std::slice::from_ref(&day),
                &req("a", "r"),
                17 * 3_600_000 + 59_000
            )
            .allow_unlimited
        );
        let ev = evaluate(std::slice::from_ref(&day), &req("a", "r"), 18 * 3_600_000);
        assert_eq!(ev.denial.unwrap().0, DenyCode::OutsideTimeWindow);
        let night = perm(
            json!({"resource": "*", "actions": ["*"], "constraints": {"timeWindow": {"start": "22:00", "end": "02:00"}}}),
        );
        assert!(
            evaluate(std::slice::from_ref(&night), &req("a", "r"), 23 * 3_600_000).allow_unlimited
        );
        assert!(evaluate(std::slice::from_ref(&night), &req("a", "r"), 3_600_000).allow_unlimited);
        // A later day at noon is still outside: only the time of day counts.
        let ev = evaluate(
            std::slice::from_ref(&night),
            &req("a", "r"),
            86_400_000 * 40 + NOON,
        );
        assert_eq!(ev.denial.unwrap().0, DenyCode::OutsideTimeWindow);
    }

    #[test]
    fn bad_time_window_is_rejected() {
        let p: Permission = serde_json::from_value(json!({"resource": "*", "actions": ["*"], "constraints": {"timeWindow": {"start": "9am", "end": "17:00"}}})).unwrap();
        assert_eq!(
            CompiledPermission::compile(&p).unwrap_err().code(),
            "VALIDATION_FAILED"
        );
    }

    #[test]
    fn ip_allowlist_v4_v6_cidr_and_mapped() {
        let p = perm(
            json!({"resource": "*", "actions": ["*"], "constraints": {"ipAllowlist": ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]}}),
        );
        let with_ip = |ip: Option<&str>| AuthzRequest {
            ip: ip.map(Into::into),
            ..req("a", "r")
        };
        let ps = std::slice::from_ref(&p);
        assert!(evaluate(ps, &with_ip(Some("10.1.2.3")), NOON).allow_unlimited);
        assert!(evaluate(ps, &with_ip(Some("::ffff:10.9.9.9")), NOON).allow_unlimited);
        assert!(evaluate(ps, &with_ip(Some("192.168.1.7")), NOON).allow_unlimited);
        assert!(evaluate(ps, &with_ip(Some("2001:db8:1::5")), NOON).allow_unlimited);
        for bad in [
            Some("192.168.1.8"),
            Some("11.0.0.1"),
            Some("2001:db9::1"),
            Some("not-an-ip"),
            None,
        ] {
            let ev = evaluate(ps, &with_ip(bad), NOON);
            assert_eq!(ev.denial.unwrap().0, DenyCode::IpNotAllowed, "{bad:?}");
        }
        let bad: Permission = serde_json::from_value(json!({"resource": "*", "actions": ["*"], "constraints": {"ipAllowlist": ["10.0.0.0/99"]}})).unwrap();
        assert!(CompiledPermission::compile(&bad).is_err());
    }

    #[test]
    fn arg_patterns_check_every_string_at_any_depth() {
        let p = perm(
            json!({"resource": "*", "actions": ["*"], "constraints": {"allowedArgPatterns": ["^[a-z/]+$"]}}),
        );
        let with_args = |v: serde_json::Value| AuthzRequest {
            arguments: Some(v),
            ..req("a", "r")
        };
        let ps = std::slice::from_ref(&p);
        assert!(evaluate(ps, &with_args(json!({"path": "/tmp/x", "n": 3})), NOON).allow_unlimited);
        let ev = evaluate(ps, &with_args(json!({"path": "/tmp/x; rm -rf /"})), NOON);
        assert_eq!(ev.denial.unwrap().0, DenyCode::ArgumentRejected);
        let ev = evaluate(
            ps,
            &with_args(json!({"opts": {"list": ["ok", "BAD"]}})),
            NOON,
        );
        let (code, reason) = ev.denial.unwrap();
        assert_eq!(code, DenyCode::ArgumentRejected);
        assert!(reason.contains("opts.list[1]"), "{reason}");
        assert!(evaluate(ps, &req("a", "r"), NOON).allow_unlimited);
        let bad: Permission = serde_json::from_value(json!({"resource": "*", "actions": ["*"], "constraints": {"allowedArgPatterns": ["(unclosed"]}})).unwrap();
        assert!(CompiledPermission::compile(&bad).is_err());
    }

    #[test]
    fn approval_always_denies() {
        let p = perm(
            json!({"resource": "*", "actions": ["*"], "constraints": {"requireApproval": true}}),
        );
        assert_eq!(
            evaluate(&[p], &req("a", "r"), NOON).denial.unwrap().0,
            DenyCode::ApprovalRequired
        );
    }

    #[test]
    fn rate_limited_permissions_become_candidates() {
        let p =
            perm(json!({"resource": "r", "actions": ["a"], "constraints": {"maxCallsPerHour": 2}}));
        let key = p.rate.clone().unwrap().0;
        let ev = evaluate(&[p], &req("a", "r"), NOON);
        assert!(!ev.allow_unlimited);
        assert_eq!(ev.rate_candidates, vec![RateCandidate { key, max: 2 }]);
        assert!(ev.denial.is_none());
        let zero: Permission = serde_json::from_value(
            json!({"resource": "r", "actions": ["a"], "constraints": {"maxCallsPerHour": 0}}),
        )
        .unwrap();
        assert!(CompiledPermission::compile(&zero).is_err());
    }

    #[test]
    fn any_matching_permission_may_allow() {
        let approval = perm(
            json!({"resource": "r:*", "actions": ["a"], "constraints": {"requireApproval": true}}),
        );
        let open = perm(json!({"resource": "r:x", "actions": ["a"]}));
        let ev = evaluate(&[approval, open], &req("a", "r:x"), NOON);
        assert!(ev.allow_unlimited);
        let approval = perm(
            json!({"resource": "r:*", "actions": ["a"], "constraints": {"requireApproval": true}}),
        );
        let ev = evaluate(&[approval], &req("a", "r:x"), NOON);
        assert_eq!(ev.denial.unwrap().0, DenyCode::ApprovalRequired);
    }

    #[test]
    fn unknown_constraint_fields_are_rejected() {
        let r: std::result::Result<Permission, _> = serde_json::from_value(
            json!({"resource": "r", "actions": ["a"], "constraints": {"maxCalls": 3}}),
        );
        assert!(r.is_err());
    }

    #[test]
    fn empty_pattern_segments_are_rejected() {
        for bad in ["", "a::b", ":a", "a:"] {
            let p = Permission {
                resource: bad.into(),
                actions: vec!["x".into()],
                constraints: None,
            };
            assert!(CompiledPermission::compile(&p).is_err(), "{bad:?}");
        }
    }

    fn segment() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,6}"
    }

    proptest! {
        /// A pattern never matches a resource with fewer segments than its fixed prefix.
        #[test]
        fn never_matches_shorter_than_fixed_prefix(
            fixed in prop::collection::vec(segment(), 1..5),
            tail_star in any::<bool>(),
            res in prop::collection::vec(segment(), 0..8),
        ) {
            let mut pattern = fixed.join(":");
            if tail_star { pattern.push_str(":*"); }
            let resource = res.join(":");
            if res.len() < fixed.len() + usize::from(tail_star) {
                prop_assert!(!resource_matches(&pattern, &resource));
            }
        }

        /// A pattern without `*` matches exactly itself.
        #[test]
        fn literal_patterns_match_only_themselves(a in prop::collection::vec(segment(), 1..5), b in prop::collection::vec(segment(), 1..5)) {
            let (pa, rb) = (a.join(":"), b.join(":"));
            prop_assert_eq!(resource_matches(&pa, &rb), pa == rb);
        }

        /// A trailing `*` matches every strict extension of its prefix and nothing else.
        #[test]
        fn trailing_star_is_strict_extension(prefix in prop::collection::vec(segment(), 1..4), res in prop::collection::vec(segment(), 1..7)) {
            let pattern = format!("{}:*", prefix.join(":"));
            let expected = res.len() > prefix.len() && res[..prefix.len()] == prefix[..];
            prop_assert_eq!(resource_matches(&pattern, &res.join(":")), expected);
        }

        /// A middle `*` stands for exactly one segment.
        #[test]
        fn middle_star_is_one_segment(a in segment(), b in segment(), mid in prop::collection::vec(segment(), 0..4)) {
            let pattern = format!("{a}:*:{b}");
            let resource = std::iter::once(a.clone()).chain(mid.iter().cloned()).chain(std::iter::once(b.clone())).collect::<Vec<_>>().join(":");
            prop_assert_eq!(resource_matches(&pattern, &resource), mid.len() == 1);
        }

        /// Arbitrary strings never panic the matcher.
        #[test]
        fn no_panic_on_any_input(p in ".{0,40}", r in ".{0,40}") {
            let _ = resource_matches(&p, &r);
        }
    }
}
