//! The HTTP API (`kavach.handler(request)`): routing, JSON in and out, cookies, Origin checks. The
//! framework shims only convert their request into [`HttpRequest`] and the answer back.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::agents::{AgentFilter, CreateAgent, UpdateAgent};
use crate::audit::{AuditFilter, ExportFormat};
use crate::error::KavachError;
use crate::human::{ClientInfo, SignIn, SignUp, User};
use crate::kavach::Kavach;
use crate::orgs::{CreateOrganization, InviteInput, MemberInput, MemberRef};
use crate::permission::AuthzRequest;
use crate::ratelimit;
use crate::token::{hash_token, AGENT_TOKEN_PREFIX};

/// A request, as a shim hands it over.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    /// The path inside the mount, e.g. `/auth/sign-in`.
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    /// Header names in any case; repeated headers may appear several times.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `scheme://host` of the URL the request was sent to (used when no `baseUrl` is configured).
    pub url_origin: Option<String>,
    /// The peer address the shim knows.
    pub client_ip: Option<String>,
}

/// The answer: status, headers (several `set-cookie` allowed), body bytes.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A failure shaped as `{ error: { code, message } }`.
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }
    pub(crate) fn unauthorized() -> Self {
        Self::new(401, "UNAUTHORIZED", "sign in first")
    }
    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(404, "NOT_FOUND", format!("{what} not found"))
    }
}

impl From<KavachError> for ApiError {
    fn from(e: KavachError) -> Self {
        let message = match &e {
            // Driver detail never leaves the process.
            KavachError::Database(_) | KavachError::Internal(_) => {
                "the request could not be completed".to_owned()
            }
            other => other.to_string(),
        };
        Self::new(e.http_status(), e.code(), message)
    }
}

pub(crate) type ApiResult = Result<HttpResponse, ApiError>;

pub(crate) fn too_many(retry: ratelimit::RetryAfter) -> ApiError {
    let mut e = ApiError::new(429, "RATE_LIMITED", "too many attempts; try again later");
    e.headers.push(("retry-after".into(), retry.0.to_string()));
    e
}

fn json_response(status: u16, body: &Value) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![
            (
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            ),
            ("cache-control".into(), "no-store".into()),
        ],
        body: body.to_string().into_bytes(),
    }
}

/// Keys whose values are Unix milliseconds inside the core and ISO 8601 strings over HTTP.
const TIME_KEYS: [&str; 5] = [
    "createdAt",
    "updatedAt",
    "expiresAt",
    "timestamp",
    "banExpires",
];

fn iso_times(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                match item {
                    Value::Number(n) if TIME_KEYS.contains(&k.as_str()) => {
                        if let Some(d) = n
                            .as_i64()
                            .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
                        {
                            *item = Value::String(
                                d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                            );
                        }
                    }
                    // Permissions, metadata and call arguments are the caller's own data.
                    _ if matches!(k.as_str(), "metadata" | "parameters" | "permissions") => {}
                    other => iso_times(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(iso_times),
        _ => {}
    }
}

pub(crate) fn ok<T: serde::Serialize>(v: &T) -> ApiResult {
    let mut body = serde_json::to_value(v)
        .map_err(|_| ApiError::new(500, "INTERNAL_ERROR", "could not encode the response"))?;
    iso_times(&mut body);
    Ok(json_response(200, &body))
}

fn error_response(e: ApiError) -> HttpResponse {
    let mut r = json_response(
        e.status,
        &json!({ "error": { "code": e.code, "message": e.message } }),
    );
    r.headers.extend(e.headers);
    r
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every `(name, value)` pair of the Cookie headers.
    pub fn cookies(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
    }

    pub(crate) fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim_matches('"'))
    }

    fn bearer(&self) -> Option<&str> {
        let v = self.header("authorization")?;
        let (scheme, token) = v.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }

    pub(crate) fn query_map(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    pub(crate) fn client(&self) -> ClientInfo {
        ClientInfo {
            ip: self.client_ip.clone(),
            user_agent: self.header("user-agent").map(str::to_owned),
            origin: self.url_origin.clone(),
        }
    }
}

/// The session token a request carries: the cookie, or a Bearer value that is not an agent token.
pub fn session_token<'a>(req: &'a HttpRequest, cookie_name: &str) -> Option<&'a str> {
    req.cookie(cookie_name)
        .filter(|t| !t.is_empty())
        .or_else(|| req.bearer().filter(|t| !t.starts_with(AGENT_TOKEN_PREFIX)))
}

pub(crate) fn parse_body<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    if req.body.is_empty() {
        return serde_json::from_str("{}")
            .map_err(|e| ApiError::new(400, "VALIDATION_FAILED", e.to_string()));
    }
    let ct = req.header("content-type").unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the body as application/json",
        ));
    }
    let value: Value = serde_json::from_slice(&req.body)
        .map_err(|_| ApiError::new(400, "INVALID_JSON", "the body is not valid JSON"))?;
    serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            400,
            "VALIDATION_FAILED",
            format!("invalid request body: {e}"),
        )
    })
}

const STATE_CHANGING: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];

/// Which methods a known route accepts (for 405), or `None` for an unknown path.
fn allowed_methods(segs: &[&str]) -> Option<&'static [&'static str]> {
    Some(match segs {
        ["auth", "sign-up" | "sign-in" | "sign-out"] => &["POST"],
        ["auth", "session"] => &["GET"],
        ["auth", "forgot-password" | "reset-password" | "change-password" | "send-verification-email"] => {
            &["POST"]
        }
        ["auth", "verify-email"] => &["GET", "POST"],
        ["agents"] => &["GET", "POST"],
        ["agents", _] => &["GET", "PATCH", "DELETE"],
        ["agents", _, "rotate"] => &["POST"],
        ["authorize"] | ["authorize", "token"] => &["POST"],
        ["audit"] | ["audit", "export"] => &["GET"],
        ["organizations"] => &["GET", "POST"],
        ["organizations", "active"] => &["POST"],
        ["organizations", _] => &["GET", "PATCH", "DELETE"],
        ["organizations", _, "members"] => &["GET", "POST"],
        ["organizations", _, "members", _] => &["PATCH", "DELETE"],
        ["organizations", _, "invitations"] => &["GET", "POST"],
        ["organizations", _, "invitations", _] => &["DELETE"],
        ["organizations", _, "has-permission"] => &["POST"],
        ["invitations"] => &["GET"],
        ["invitations", _] => &["GET"],
        ["invitations", _, "accept" | "decline"] => &["POST"],
        ["two-factor", "status"] => &["GET"],
        ["two-factor", "enable" | "activate" | "disable" | "backup-codes" | "verify"] => &["POST"],
        ["admin", "users"] => &["GET"],
        ["admin", "users", _] => &["GET", "DELETE"],
        ["admin", "users", _, "ban" | "unban" | "role" | "impersonate"] => &["POST"],
        ["admin", "stop-impersonating"] => &["POST"],
        ["jwt", "token"] | ["jwks"] => &["GET"],
        _ => return None,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ForgotBody {
    email: String,
    #[serde(default)]
    redirect_to: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResetBody {
    token: String,
    new_password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ChangeBody {
    current_password: String,
    new_password: String,
    #[serde(default)]
    revoke_other_sessions: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResendBody {
    #[serde(default, rename = "callbackURL")]
    callback_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrgBody {
    name: String,
    #[serde(default)]
    slug: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MemberBody {
    #[serde(default)]
    user_id: Option<String>,
    role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    email: String,
    role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ActiveOrgBody {
    organization_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PermissionBody {
    permission: crate::orgs::PermissionList,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SignOutBody {
    #[serde(default)]
    all: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    #[serde(default)]
    token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizeBody {
    #[serde(rename = "agentId")]
    agent_id: String,
    action: String,
    resource: String,
    #[serde(default)]
    arguments: Option<Value>,
    #[serde(default)]
    ip: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizeTokenBody {
    #[serde(default)]
    token: Option<String>,
    action: String,
    resource: String,
    #[serde(default)]
    arguments: Option<Value>,
    #[serde(default)]
    ip: Option<String>,
}

fn audit_filter(q: &[(String, String)], owner: &str) -> Result<AuditFilter, ApiError> {
    let mut f = AuditFilter {
        user_id: Some(owner.to_owned()),
        ..Default::default()
    };
    let num = |v: &str, what: &str| -> Result<i64, ApiError> {
        v.parse::<i64>().or_else(|_| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|d| d.timestamp_millis())
                .map_err(|_| {
                    ApiError::new(
                        400,
                        "VALIDATION_FAILED",
                        format!("{what} must be a number of milliseconds or an ISO date"),
                    )
                })
        })
    };
    for (k, v) in q {
        match k.as_str() {
            "agentId" => f.agent_id = Some(v.clone()),
            "since" => f.since = Some(num(v, "since")?),
            "until" => f.until = Some(num(v, "until")?),
            "actions" => {
                f.actions = Some(
                    v.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                )
            }
            "result" => f.result = Some(v.clone()),
            "limit" | "offset" => {
                let n = v.parse::<u32>().map_err(|_| {
                    ApiError::new(
                        400,
                        "VALIDATION_FAILED",
                        format!("{k} must be a whole number"),
                    )
                })?;
                if k == "limit" {
                    f.limit = Some(n)
                } else {
                    f.offset = Some(n)
                }
            }
            "format" => {}
            other => {
                return Err(ApiError::new(
                    400,
                    "VALIDATION_FAILED",
                    format!("unknown query parameter \"{other}\""),
                ))
            }
        }
    }
    Ok(f)
}

impl Kavach {
    pub(crate) fn session_cookie(&self, token: &str) -> String {
        let s = self.settings();
        format!(
            "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=34560000{}",
            s.cookie_name,
            token,
            if s.secure_cookies { "; Secure" } else { "" }
        )
    }

    pub(crate) fn clear_cookie(&self) -> String {
        let s = self.settings();
        format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
            s.cookie_name,
            if s.secure_cookies { "; Secure" } else { "" }
        )
    }

    fn check_origin(&self, req: &HttpRequest) -> Result<(), ApiError> {
        let s = self.settings();
        match req.header("origin") {
            None => {
                // A browser always sends Origin on a cross-site state change; a cookie without one is refused.
                if req.cookie(&s.cookie_name).is_some() {
                    return Err(ApiError::new(
                        403,
                        "INVALID_ORIGIN",
                        "a request carrying a session cookie must send Origin",
                    ));
                }
                Ok(())
            }
            Some(_) => match self.allowed_origin(req) {
                Some(_) => Ok(()),
                None => Err(ApiError::new(
                    403,
                    "INVALID_ORIGIN",
                    "this Origin may not call this route",
                )),
            },
        }
    }

    /// Counts a credential request against the client's IP (when the shim knows it).
    pub(crate) async fn limit_ip(&self, req: &HttpRequest) -> Result<(), ApiError> {
        let (Some((_, per_ip)), Some(ip)) = (self.settings().rate_limits, req.client_ip.as_deref())
        else {
            return Ok(());
        };
        match ratelimit::hit(self.pool(), &format!("ip:{ip}"), per_ip, self.now_ms()).await? {
            Some(retry) => Err(too_many(retry)),
            None => Ok(()),
        }
    }

    /// The request's live session and its user, or 401.
    pub(crate) async fn session_and_user(
        &self,
        req: &HttpRequest,
    ) -> Result<(crate::human::Session, User), ApiError> {
        let token =
            session_token(req, &self.settings().cookie_name).ok_or_else(ApiError::unauthorized)?;
        self.get_session(token)
            .await?
            .ok_or_else(ApiError::unauthorized)
    }

    pub(crate) async fn session_user(&self, req: &HttpRequest) -> Result<User, ApiError> {
        Ok(self.session_and_user(req).await?.1)
    }

    async fn owned_agent(&self, id: &str, owner: &str) -> Result<crate::agents::Agent, ApiError> {
        match self.get_agent(id).await? {
            Some(a) if a.owner_id == owner => Ok(a),
            _ => Err(ApiError::not_found("agent")),
        }
    }

    /// The request's Origin when it is one allowed to call this API.
    fn allowed_origin(&self, req: &HttpRequest) -> Option<String> {
        let s = self.settings();
        let origin = crate::config::origin_of(req.header("origin")?.trim())?;
        let own = s.base_origin.as_deref().or(req.url_origin.as_deref());
        if own == Some(origin.as_str()) || s.trusted_origins.contains(&origin) {
            return Some(origin);
        }
        // Without baseUrl, a same-origin request is one whose Origin names the host it was sent to:
        // Next.js hands route handlers a localhost URL whatever the Host. A cross-site page cannot
        // choose the Host (nor, without a preflight we refuse, an X-Forwarded-Host) its request
        // carries. Links in emails never come from these headers.
        if s.base_origin.is_none() {
            let host = req
                .header("x-forwarded-host")
                .or_else(|| req.header("host"))?
                .split(',')
                .next()?
                .trim();
            let (_, origin_host) = origin.split_once("://")?;
            if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
                return Some(origin);
            }
        }
        None
    }

    /// Answers one request of the HTTP API. Never fails: every problem is a JSON error response.
    pub async fn handle(&self, mut req: HttpRequest) -> HttpResponse {
        // A session of the library the app migrated from becomes a kavachos session on first use:
        // the request then carries the new cookie, and the response sets it.
        let mut upgraded = None;
        if !self.settings().cookie_auth.is_empty()
            && session_token(&req, &self.settings().cookie_name).is_none()
        {
            if let Ok(Some((old, _))) = self.external_session(req.cookies()).await {
                if let Ok((_, token)) = self.replace_imported_session(&old, req.client()).await {
                    req.headers.push((
                        "cookie".into(),
                        format!("{}={}", self.settings().cookie_name, token),
                    ));
                    upgraded = Some(self.session_cookie(&token));
                }
            }
        }
        let req = req;
        let mut response = if req.method.eq_ignore_ascii_case("OPTIONS") {
            self.preflight(&req)
        } else {
            match self.route(&req).await {
                Ok(r) => r,
                Err(e) => error_response(e),
            }
        };
        if let Some(cookie) = upgraded {
            // First, so that a cookie the route itself sets (sign-out clears it) wins.
            response.headers.insert(0, ("set-cookie".into(), cookie));
        }
        if let Some(origin) = self.allowed_origin(&req) {
            response
                .headers
                .push(("access-control-allow-origin".into(), origin));
            response
                .headers
                .push(("access-control-allow-credentials".into(), "true".into()));
            response.headers.push(("vary".into(), "Origin".into()));
        }
        response
    }

    fn preflight(&self, req: &HttpRequest) -> HttpResponse {
        let path = req.path.trim_matches('/');
        let segs: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').collect()
        };
        match allowed_methods(&segs) {
            None => error_response(ApiError::new(404, "NOT_FOUND", "no such route")),
            Some(methods) => {
                let list = format!("{}, OPTIONS", methods.join(", "));
                let mut headers = vec![("allow".to_owned(), list.clone())];
                if self.allowed_origin(req).is_some() {
                    headers.push(("access-control-allow-methods".into(), list));
                    headers.push((
                        "access-control-allow-headers".into(),
                        "content-type, authorization".into(),
                    ));
                    headers.push(("access-control-max-age".into(), "600".into()));
                }
                HttpResponse {
                    status: 204,
                    headers,
                    body: Vec::new(),
                }
            }
        }
    }

    async fn route(&self, req: &HttpRequest) -> ApiResult {
        let path = req.path.trim_matches('/');
        let segs: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').collect()
        };
        let method = req.method.to_ascii_uppercase();
        if matches!(segs.as_slice(), ["jwt", ..] | ["jwks"]) && self.settings().jwt.is_none() {
            // Plugin routes exist only when the plugin is on (not even as a 405).
            return Err(ApiError::new(404, "NOT_FOUND", "no such route"));
        }
        let Some(allowed) = allowed_methods(&segs) else {
            return Err(ApiError::new(404, "NOT_FOUND", "no such route"));
        };
        if !allowed.contains(&method.as_str()) {
            let mut e = ApiError::new(
                405,
                "METHOD_NOT_ALLOWED",
                format!("use {}", allowed.join(" or ")),
            );
            e.headers.push(("allow".into(), allowed.join(", ")));
            return Err(e);
        }
        if matches!(segs.first(), Some(&"organizations" | &"invitations"))
            && self.settings().organization.is_none()
        {
            // Plugin routes exist only when the plugin is on.
            return Err(ApiError::new(404, "NOT_FOUND", "no such route"));
        }
        if segs.first() == Some(&"admin") && self.settings().admin.is_none() {
            return Err(ApiError::new(404, "NOT_FOUND", "no such route"));
        }
        if req.body.len() > self.settings().max_body_bytes {
            return Err(ApiError::new(
                413,
                "PAYLOAD_TOO_LARGE",
                "the request body is too large",
            ));
        }
        if STATE_CHANGING.contains(&method.as_str()) {
            self.check_origin(req)?;
        }
        match (method.as_str(), segs.as_slice()) {
            (m, ["jwt", ..] | ["jwks"]) => self.route_jwt(req, m, &segs).await,
            ("POST", ["auth", "sign-up"]) => {
                let input: SignUp = parse_body(req)?;
                self.limit_ip(req).await?;
                let signed = self.sign_up(input, req.client()).await?;
                let mut r = ok(&json!({ "user": signed.user, "session": signed.session }))?;
                if let Some(token) = &signed.token {
                    r.headers
                        .push(("set-cookie".into(), self.session_cookie(token)));
                }
                Ok(r)
            }
            ("POST", ["auth", "sign-in"]) => {
                let input: SignIn = parse_body(req)?;
                self.limit_ip(req).await?;
                // Failed sign-ins count per account (keyed by a hash: attempted emails are not stored).
                let account_key = format!(
                    "signin:{}",
                    &hash_token(&input.email.trim().to_lowercase())[..32]
                );
                if let Some((per_account, _)) = self.settings().rate_limits {
                    if let Some(retry) =
                        ratelimit::blocked(self.pool(), &account_key, per_account, self.now_ms())
                            .await?
                    {
                        return Err(too_many(retry));
                    }
                }
                let trusted = req.cookie(crate::two_factor::TRUSTED_COOKIE);
                let signed = match self.sign_in_flow(input, req.client(), trusted).await {
                    Ok(crate::two_factor::SignInOutcome::Complete(s)) => s,
                    Ok(crate::two_factor::SignInOutcome::TwoFactorRequired {
                        two_factor_token,
                        ..
                    }) => return self.two_factor_required_response(&two_factor_token),
                    Err(KavachError::InvalidCredentials) => {
                        if let Some((per_account, _)) = self.settings().rate_limits {
                            ratelimit::hit(self.pool(), &account_key, per_account, self.now_ms())
                                .await?;
                        }
                        return Err(KavachError::InvalidCredentials.into());
                    }
                    Err(e) => return Err(e.into()),
                };
                let mut r = ok(&json!({ "user": signed.user, "session": signed.session }))?;
                r.headers
                    .push(("set-cookie".into(), self.session_cookie(&signed.token)));
                Ok(r)
            }
            ("POST", ["auth", "sign-out"]) => {
                // `{ "all": true }` ends every session of the user, on every device.
                let b: SignOutBody = parse_body(req)?;
                if let Some(token) = session_token(req, &self.settings().cookie_name) {
                    if b.all {
                        if let Some((_, user)) = self.get_session(token).await? {
                            self.revoke_user_sessions(&user.id).await?;
                        }
                    }
                    self.sign_out(token).await?;
                }
                let mut r = ok(&json!({ "success": true }))?;
                r.headers.push(("set-cookie".into(), self.clear_cookie()));
                Ok(r)
            }
            ("GET", ["auth", "session"]) => {
                let token = session_token(req, &self.settings().cookie_name);
                match token {
                    Some(t) => match self.get_session(t).await? {
                        Some((session, user)) => ok(&json!({ "user": user, "session": session })),
                        None => {
                            let mut e = ApiError::unauthorized();
                            if req.cookie(&self.settings().cookie_name).is_some() {
                                e.headers.push(("set-cookie".into(), self.clear_cookie()));
                            }
                            Err(e)
                        }
                    },
                    None => Err(ApiError::unauthorized()),
                }
            }
            ("POST", ["auth", "forgot-password"]) => {
                let b: ForgotBody = parse_body(req)?;
                self.limit_ip(req).await?;
                self.forgot_password(
                    &b.email,
                    b.redirect_to.as_deref(),
                    req.url_origin.as_deref(),
                )
                .await?;
                // The same answer whether or not the email has an account.
                ok(&json!({ "success": true }))
            }
            ("POST", ["auth", "reset-password"]) => {
                let b: ResetBody = parse_body(req)?;
                self.limit_ip(req).await?;
                self.reset_password(&b.token, b.new_password).await?;
                ok(&json!({ "success": true }))
            }
            ("POST", ["auth", "change-password"]) => {
                let (session, user) = self.session_and_user(req).await?;
                let b: ChangeBody = parse_body(req)?;
                self.limit_ip(req).await?;
                let revoke = b.revoke_other_sessions.unwrap_or(true);
                self.change_password(
                    &user,
                    &session.id,
                    b.current_password,
                    b.new_password,
                    revoke,
                )
                .await?;
                ok(&json!({ "success": true }))
            }
            ("POST", ["auth", "send-verification-email"]) => {
                let user = self.session_user(req).await?;
                let b: ResendBody = parse_body(req)?;
                self.limit_ip(req).await?;
                self.send_verification_email(
                    &user,
                    req.url_origin.as_deref(),
                    b.callback_url.as_deref(),
                )
                .await?;
                ok(&json!({ "success": true }))
            }
            (method, ["auth", "verify-email"]) => {
                let q = req.query_map();
                let query_token = q.iter().find(|(k, _)| k == "token").map(|(_, v)| v.clone());
                let token = match method {
                    "GET" => query_token,
                    _ => parse_body::<VerifyBody>(req)?.token.or(query_token),
                }
                .ok_or_else(|| ApiError::new(400, "VALIDATION_FAILED", "token is required"))?;
                let user = self.verify_email(&token).await?;
                let callback = q
                    .iter()
                    .find(|(k, _)| k == "callbackURL")
                    .map(|(_, v)| v.clone());
                match (method, callback) {
                    ("GET", Some(cb)) => {
                        let cb = crate::human::same_origin_path(&cb)?;
                        Ok(HttpResponse {
                            status: 302,
                            headers: vec![("location".into(), cb.to_owned())],
                            body: Vec::new(),
                        })
                    }
                    _ => ok(&json!({ "success": true, "user": user })),
                }
            }
            ("GET", ["organizations"]) => {
                let user = self.session_user(req).await?;
                ok(&self.list_organizations(&user.id).await?)
            }
            ("POST", ["organizations"]) => {
                let user = self.session_user(req).await?;
                let b: NewOrgBody = parse_body(req)?;
                let input = CreateOrganization {
                    name: b.name,
                    owner_id: user.id,
                    slug: b.slug,
                    metadata: b.metadata,
                };
                ok(&self.create_organization(input).await?)
            }
            ("POST", ["organizations", "active"]) => {
                let (session, user) = self.session_and_user(req).await?;
                let b: ActiveOrgBody = parse_body(req)?;
                self.set_active_organization(&session.id, &user.id, b.organization_id.as_deref())
                    .await?;
                let session = crate::human::Session {
                    active_organization_id: b.organization_id,
                    ..session
                };
                ok(&json!({ "session": session }))
            }
            ("GET", ["invitations"]) => {
                let user = self.session_user(req).await?;
                // Only a proven address sees what was sent to it.
                if !user.email_verified {
                    return Err(KavachError::EmailNotVerified.into());
                }
                ok(&self.invitations_for_email(&user.email).await?)
            }
            ("GET", ["invitations", id]) => {
                let user = self.session_user(req).await?;
                let inv = self
                    .get_invitation(id)
                    .await?
                    .filter(|i| i.email.eq_ignore_ascii_case(&user.email))
                    .ok_or_else(|| ApiError::not_found("invitation"))?;
                let org = self.get_organization(&inv.organization_id).await?;
                ok(&json!({
                    "invitation": inv,
                    "organization": org.map(|o| json!({ "id": o.id, "name": o.name, "slug": o.slug })),
                }))
            }
            ("POST", ["invitations", id, answer]) => {
                let user = self.session_user(req).await?;
                if *answer == "accept" {
                    ok(&self.accept_invitation(id, &user.id).await?)
                } else {
                    ok(&self.decline_invitation(id, &user.id).await?)
                }
            }
            (method, ["organizations", id, rest @ ..]) => {
                let user = self.session_user(req).await?;
                // Someone outside the organization learns nothing about it.
                let me = self.membership(id, &user.id).await?.ok_or_else(|| {
                    ApiError::new(
                        403,
                        "FORBIDDEN",
                        "you are not a member of this organization",
                    )
                })?;
                let roles = self.settings().organization.as_ref();
                let can = |permission: &str| {
                    roles.is_some_and(|r| r.role_allows(&me.role, &[permission.to_owned()]))
                };
                let forbidden = || {
                    ApiError::new(
                        403,
                        "FORBIDDEN",
                        "your role in this organization does not allow this",
                    )
                };
                match (method, rest) {
                    ("GET", []) if can("organization:read") => ok(&self
                        .get_organization(id)
                        .await?
                        .ok_or_else(|| ApiError::not_found("organization"))?),
                    ("PATCH", []) if can("organization:update") => {
                        ok(&self.update_organization(id, parse_body(req)?).await?)
                    }
                    ("DELETE", []) if can("organization:delete") => {
                        self.delete_organization(id).await?;
                        ok(&json!({ "success": true }))
                    }
                    ("GET", ["members"]) if can("members:read") => {
                        ok(&self.list_members(id).await?)
                    }
                    ("POST", ["members"]) if can("members:add") => {
                        let b: MemberBody = parse_body(req)?;
                        let user_id = b.user_id.ok_or_else(|| {
                            ApiError::new(400, "VALIDATION_FAILED", "userId is required")
                        })?;
                        if b.role == "owner" && me.role != "owner" {
                            return Err(forbidden());
                        }
                        ok(&self
                            .add_member(MemberInput {
                                organization_id: id.to_string(),
                                user_id,
                                role: b.role,
                            })
                            .await?)
                    }
                    ("PATCH", ["members", target]) if can("members:update-role") => {
                        let b: MemberBody = parse_body(req)?;
                        let current = self
                            .membership(id, target)
                            .await?
                            .ok_or_else(|| ApiError::not_found("member"))?;
                        if me.role != "owner" && (current.role == "owner" || b.role == "owner") {
                            return Err(forbidden());
                        }
                        ok(&self
                            .update_member_role(MemberInput {
                                organization_id: id.to_string(),
                                user_id: target.to_string(),
                                role: b.role,
                            })
                            .await?)
                    }
                    ("DELETE", ["members", target]) => {
                        let current = self
                            .membership(id, target)
                            .await?
                            .ok_or_else(|| ApiError::not_found("member"))?;
                        // Anyone may leave; managers remove others, and only owners remove owners.
                        let allowed = *target == user.id
                            || (can("members:remove")
                                && (current.role != "owner" || me.role == "owner"));
                        if !allowed {
                            return Err(forbidden());
                        }
                        ok(&self
                            .remove_member(MemberRef {
                                organization_id: id.to_string(),
                                user_id: target.to_string(),
                            })
                            .await?)
                    }
                    ("GET", ["invitations"]) if can("invitations:read") => {
                        ok(&self.list_invitations(id).await?)
                    }
                    ("POST", ["invitations"]) if can("invitations:create") => {
                        let b: InviteBody = parse_body(req)?;
                        if b.role == "owner" && me.role != "owner" {
                            return Err(forbidden());
                        }
                        ok(&self
                            .invite_member(
                                InviteInput {
                                    organization_id: id.to_string(),
                                    email: b.email,
                                    role: b.role,
                                    inviter_id: Some(user.id.clone()),
                                },
                                req.url_origin.as_deref(),
                            )
                            .await?)
                    }
                    ("DELETE", ["invitations", inv]) if can("invitations:cancel") => {
                        self.cancel_invitation(id, inv).await?;
                        ok(&json!({ "success": true }))
                    }
                    ("POST", ["has-permission"]) => {
                        let b: PermissionBody = parse_body(req)?;
                        let allowed = self
                            .has_permission(id, &user.id, &b.permission.into_vec())
                            .await?;
                        ok(&json!({ "allowed": allowed }))
                    }
                    _ => Err(forbidden()),
                }
            }
            ("GET", ["agents"]) => {
                let user = self.session_user(req).await?;
                let mut f = AgentFilter {
                    owner_id: Some(user.id),
                    ..Default::default()
                };
                for (k, v) in req.query_map() {
                    match k.as_str() {
                        "status" => f.status = Some(v),
                        "type" => f.kind = Some(v),
                        "limit" => f.limit = v.parse().ok(),
                        "offset" => f.offset = v.parse().ok(),
                        _ => {}
                    }
                }
                ok(&self.list_agents(f).await?)
            }
            ("POST", ["agents"]) => {
                let user = self.session_user(req).await?;
                let mut body: Value = parse_body(req)?;
                let obj = body.as_object_mut().ok_or_else(|| {
                    ApiError::new(400, "VALIDATION_FAILED", "the body must be an object")
                })?;
                match obj.get("ownerId") {
                    None | Some(Value::Null) => {
                        obj.insert("ownerId".into(), Value::String(user.id.clone()));
                    }
                    Some(Value::String(o)) if *o == user.id => {}
                    Some(_) => {
                        return Err(ApiError::new(
                            403,
                            "FORBIDDEN",
                            "agents are created for the signed-in user only",
                        ))
                    }
                }
                let input: CreateAgent = serde_json::from_value(body).map_err(|e| {
                    ApiError::new(
                        400,
                        "VALIDATION_FAILED",
                        format!("invalid request body: {e}"),
                    )
                })?;
                ok(&self.create_agent(input).await?)
            }
            ("GET", ["agents", id]) => {
                let user = self.session_user(req).await?;
                ok(&self.owned_agent(id, &user.id).await?)
            }
            ("PATCH", ["agents", id]) => {
                let user = self.session_user(req).await?;
                self.owned_agent(id, &user.id).await?;
                let patch: UpdateAgent = parse_body(req)?;
                ok(&self.update_agent(id, patch).await?)
            }
            ("DELETE", ["agents", id]) => {
                let user = self.session_user(req).await?;
                self.owned_agent(id, &user.id).await?;
                self.revoke_agent(id).await?;
                ok(&json!({ "success": true }))
            }
            ("POST", ["agents", id, "rotate"]) => {
                let user = self.session_user(req).await?;
                self.owned_agent(id, &user.id).await?;
                ok(&self.rotate_agent(id).await?)
            }
            ("POST", ["authorize"]) => {
                let user = self.session_user(req).await?;
                let b: AuthorizeBody = parse_body(req)?;
                self.owned_agent(&b.agent_id, &user.id).await?;
                let r = AuthzRequest {
                    action: b.action,
                    resource: b.resource,
                    arguments: b.arguments,
                    ip: b.ip,
                };
                ok(&self.authorize(&b.agent_id, &r).await?)
            }
            ("POST", ["authorize", "token"]) => {
                let b: AuthorizeTokenBody = parse_body(req)?;
                let token = req
                    .bearer()
                    .filter(|t| t.starts_with(AGENT_TOKEN_PREFIX))
                    .map(str::to_owned)
                    .or(b.token)
                    .ok_or_else(|| {
                        ApiError::new(
                            401,
                            "INVALID_TOKEN",
                            "send the agent token as Authorization: Bearer kv_...",
                        )
                    })?;
                // The caller here is the agent itself: its address is the one to check.
                let ip = b.ip.or_else(|| req.client_ip.clone());
                let r = AuthzRequest {
                    action: b.action,
                    resource: b.resource,
                    arguments: b.arguments,
                    ip,
                };
                ok(&self.authorize_by_token(&token, &r).await?)
            }
            ("GET", ["audit"]) => {
                let user = self.session_user(req).await?;
                let f = audit_filter(&req.query_map(), &user.id)?;
                ok(&self.audit_query(&f).await?)
            }
            ("GET", ["audit", "export"]) => {
                let user = self.session_user(req).await?;
                let q = req.query_map();
                let format = match q
                    .iter()
                    .find(|(k, _)| k == "format")
                    .map(|(_, v)| v.as_str())
                {
                    None | Some("json") => ExportFormat::Json,
                    Some("csv") => ExportFormat::Csv,
                    Some(_) => {
                        return Err(ApiError::new(
                            400,
                            "VALIDATION_FAILED",
                            "format must be json or csv",
                        ))
                    }
                };
                let f = audit_filter(&q, &user.id)?;
                let body = self.audit_export(&f, format).await?;
                let (ct, ext) = match format {
                    ExportFormat::Json => ("application/json; charset=utf-8", "json"),
                    ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
                };
                Ok(HttpResponse {
                    status: 200,
                    headers: vec![
                        ("content-type".into(), ct.into()),
                        ("cache-control".into(), "no-store".into()),
                        (
                            "content-disposition".into(),
                            format!("attachment; filename=\"kavach-audit.{ext}\""),
                        ),
                    ],
                    body: body.into_bytes(),
                })
            }
            (m, ["two-factor", ..]) => self.route_two_factor(req, m, &segs).await,
            (m, ["admin", ..]) => self.route_admin(req, m, &segs).await,
            _ => Err(ApiError::new(404, "NOT_FOUND", "no such route")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> HttpRequest {
        HttpRequest {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn session_token_sources() {
        assert_eq!(
            session_token(
                &req(&[("Cookie", "a=1; kavach_session=abc; b=2")]),
                "kavach_session"
            ),
            Some("abc")
        );
        assert_eq!(
            session_token(&req(&[("authorization", "Bearer xyz")]), "kavach_session"),
            Some("xyz")
        );
        assert_eq!(
            session_token(
                &req(&[("authorization", "Bearer kv_agent")]),
                "kavach_session"
            ),
            None,
            "agent tokens are never sessions"
        );
        assert_eq!(
            session_token(&req(&[("cookie", "other=1")]), "kavach_session"),
            None
        );
    }

    #[test]
    fn routes_and_methods() {
        assert_eq!(allowed_methods(&["auth", "sign-in"]), Some(&["POST"][..]));
        assert_eq!(
            allowed_methods(&["agents", "x", "rotate"]),
            Some(&["POST"][..])
        );
        assert_eq!(allowed_methods(&["nope"]), None);
    }
}
