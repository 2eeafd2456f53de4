//! The HTTP API (`kavach.handler(request)`): routing, JSON in and out, cookies, Origin checks. The
//! framework shims only convert their request into [`HttpRequest`] and the answer back.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::human::{ClientInfo, User};
use crate::agents::audit::AuditFilter;
use crate::error::KavachError;
use crate::kavach::Kavach;
use crate::plugin::Route;
use crate::store::ratelimit;

mod routes;
use crate::crypto::token::AGENT_TOKEN_PREFIX;

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
    /// Where the API is mounted, as this request reached it (the URL's path without `path`): links
    /// back to the API (the OAuth redirect URI) use it; without it, the configured `basePath`.
    pub mount: Option<String>,
}

/// The answer: status, headers (several `set-cookie` allowed), body bytes.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A failure shaped as `{ error: { code, message } }`.
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }
    pub fn unauthorized() -> Self {
        Self::new(401, "UNAUTHORIZED", "sign in first")
    }
    pub fn not_found(what: &str) -> Self {
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
        let mut out = Self::new(e.http_status(), e.code(), message);
        if let KavachError::TooManyAttempts(secs) = e {
            out.headers.push(("retry-after".into(), secs.to_string()));
        }
        out
    }
}

pub type ApiResult = Result<HttpResponse, ApiError>;

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
        body: serde_json::to_vec(body).unwrap_or_default(),
    }
}

pub fn ok<T: serde::Serialize>(v: &T) -> ApiResult {
    let body = serde_json::to_value(v)
        .map_err(|_| ApiError::new(500, "INTERNAL_ERROR", "could not encode the response"))?;
    ok_value(body)
}

/// [`ok`] for an answer already built as a `Value` (`json!`): no second copy of the tree.
pub fn ok_value(mut body: Value) -> ApiResult {
    crate::events::iso_times(&mut body);
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
    /// The first value of header `name` (any case).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.header(name)
    }

    /// Where the API is mounted as this request reached it (a sane path), else `base_path`: the
    /// prefix of links back into the API (an OAuth redirect URI, a form's action).
    pub fn mount_or<'a>(&'a self, base_path: &'a str) -> &'a str {
        self.mount
            .as_deref()
            .filter(|m| {
                m.is_empty()
                    || (m.starts_with('/')
                        && m.len() <= 512
                        && !m.contains(['?', '#', '\\'])
                        && !m.chars().any(char::is_control))
            })
            .unwrap_or(base_path)
    }

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

    /// The query's `(name, value)` pairs, decoded; 400 `VALIDATION_FAILED` when one holds a
    /// control character or is not UTF-8. Every route reads its query through here (the MCP
    /// server, which answers in OAuth's error shape, parses its own).
    pub(crate) fn query_map(&self) -> Result<Vec<(String, String)>, ApiError> {
        self.query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                match (decode_query_part(k), decode_query_part(v)) {
                    (Some(k), Some(v)) => Ok((k, v)),
                    _ => Err(ApiError::new(
                        400,
                        "VALIDATION_FAILED",
                        "a query parameter holds a control character or is not UTF-8",
                    )),
                }
            })
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

pub fn parse_body<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
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
    let value = json_body(&req.body)?;
    serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            400,
            "VALIDATION_FAILED",
            format!("invalid request body: {e}"),
        )
    })
}

/// A JSON body parsed and checked: malformed JSON is 400 `INVALID_JSON`; a lone surrogate (which
/// serde_json refuses as a syntax error) or a control character in any string is 400
/// `VALIDATION_FAILED`. Every JSON body of every route, the plugins' included, comes through here.
pub fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        if crate::input::has_lone_surrogate(body) {
            ApiError::new(
                400,
                "VALIDATION_FAILED",
                "the body holds a lone surrogate (not a Unicode character)",
            )
        } else {
            ApiError::new(400, "INVALID_JSON", "the body is not valid JSON")
        }
    })?;
    crate::input::check_value(&value)?;
    Ok(value)
}

/// 400 `VALIDATION_FAILED` for a path with a control character: checked once for every route,
/// before its handler reads its parameters.
fn check_path(req: &HttpRequest) -> Result<(), ApiError> {
    if crate::input::has_control(&req.path, false) {
        return Err(ApiError::new(
            400,
            "VALIDATION_FAILED",
            "the path must not contain control characters",
        ));
    }
    Ok(())
}

/// One `name=value` of a query string, decoded strictly: `+` is a space, a percent escape that
/// makes no UTF-8 (a lone surrogate, stray bytes) or a control character other than tab and line
/// breaks is `None`.
fn decode_query_part(part: &str) -> Option<String> {
    let spaced = part.replace('+', " ");
    let text = percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()?;
    (!crate::input::has_control(&text, true)).then(|| text.into_owned())
}

const STATE_CHANGING: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];

/// The segments of a path inside the mount.
fn segments(path: &str) -> Vec<&str> {
    let path = path.trim_matches('/');
    if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').collect()
    }
}

/// How well `pattern` fits `segs`: `None` if it does not, else its number of literal segments. A
/// last part `*` takes whatever segments remain, none included (the handler reads `req.path`).
fn fit(pattern: &str, segs: &[&str]) -> Option<usize> {
    let mut literal = 0;
    let mut parts = pattern.trim_matches('/').split('/').peekable();
    for seg in segs {
        let part = parts.next()?;
        if part == "*" {
            return parts.next().is_none().then_some(literal);
        }
        if part.starts_with(':') {
            if seg.is_empty() {
                return None;
            }
        } else if part == *seg {
            literal += 1;
        } else {
            return None;
        }
    }
    match parts.next() {
        None => Some(literal),
        Some("*") => parts.peek().is_none().then_some(literal),
        Some(_) => None,
    }
}

/// The values of the `:name` segments of `pattern` in `segs`.
fn params_of<'s>(pattern: &str, segs: &[&'s str]) -> Vec<&'s str> {
    pattern
        .trim_matches('/')
        .split('/')
        .zip(segs)
        .filter(|(part, _)| part.starts_with(':'))
        .map(|(_, seg)| *seg)
        .collect()
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

    /// The answer of a route that ended signed in: `{ user, session }` with the session cookie,
    /// as email and password's sign-in (the token travels only in the httpOnly cookie).
    pub fn signed_in_response(&self, signed: &crate::accounts::human::SignedIn) -> ApiResult {
        let mut r = ok_value(json!({
            "user": signed.user,
            "session": signed.session,
        }))?;
        r.headers
            .push(("set-cookie".into(), self.session_cookie(&signed.token)));
        Ok(r)
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
        match ratelimit::hit(self.limiter(), &format!("ip:{ip}"), per_ip, self.now_ms()).await? {
            Some(retry) => Err(too_many(retry)),
            None => Ok(()),
        }
    }

    /// The request's live session and its user, or 401.
    pub(crate) async fn session_and_user(
        &self,
        req: &HttpRequest,
    ) -> Result<(crate::accounts::human::Session, User), ApiError> {
        let found = match session_token(req, &self.settings().cookie_name) {
            Some(token) => self.get_session(token).await?,
            None => self.plugin_session(req).await?,
        };
        found.ok_or_else(ApiError::unauthorized)
    }

    /// The session a plugin reads from a request without a session cookie or Bearer token (an
    /// API key's user), if any.
    pub async fn plugin_session(
        &self,
        req: &HttpRequest,
    ) -> crate::error::Result<Option<(crate::accounts::human::Session, User)>> {
        for p in self.plugins().iter() {
            if let Some(found) = p.session_from_headers(self, req).await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// `{ session, user }` for a request's headers (`(name, value)` pairs): its session token,
    /// else what a plugin reads from them (an API key), else an imported session of an
    /// `externalAuth` cookie.
    pub async fn session_of_request(
        &self,
        headers: Vec<(String, String)>,
    ) -> crate::error::Result<Option<(crate::accounts::human::Session, User)>> {
        let req = HttpRequest {
            headers,
            ..Default::default()
        };
        if let Some(token) = session_token(&req, &self.settings().cookie_name) {
            if let Some(found) = self.get_session(token).await? {
                return Ok(Some(found));
            }
        } else if let Some(found) = self.plugin_session(&req).await? {
            return Ok(Some(found));
        }
        if req.cookies().next().is_none() {
            return Ok(None);
        }
        self.external_session(req.cookies()).await
    }

    /// [`Kavach::session_of_request`] answered on the calling thread when reads are enough
    /// (SQLite); `None`: take the async call.
    pub fn session_of_request_inline(
        &self,
        headers: Vec<(String, String)>,
    ) -> Option<crate::error::Result<Option<(crate::accounts::human::Session, User)>>> {
        let req = HttpRequest {
            headers,
            ..Default::default()
        };
        if let Some(token) = session_token(&req, &self.settings().cookie_name) {
            return self.get_session_inline(Some(token));
        }
        for p in self.plugins().iter() {
            match p.session_from_headers_inline(self, &req)? {
                Ok(None) => {}
                other => return Some(other),
            }
        }
        self.get_session_inline(None)
    }

    /// `{ session, user }` for the values of a Cookie and an Authorization header: the session
    /// token they carry, else an imported session of an `externalAuth` cookie (read as it is: no
    /// answer can carry a new cookie here).
    pub async fn session_of_headers(
        &self,
        cookie: Option<String>,
        authorization: Option<String>,
    ) -> crate::error::Result<Option<(crate::accounts::human::Session, User)>> {
        let mut headers = Vec::with_capacity(2);
        if let Some(c) = cookie {
            headers.push(("cookie".to_owned(), c));
        }
        if let Some(a) = authorization {
            headers.push(("authorization".to_owned(), a));
        }
        let req = HttpRequest {
            headers,
            ..Default::default()
        };
        if let Some(token) = session_token(&req, &self.settings().cookie_name) {
            if let Some(found) = self.get_session(token).await? {
                return Ok(Some(found));
            }
        }
        if req.cookies().next().is_none() {
            return Ok(None);
        }
        self.external_session(req.cookies()).await
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
    pub async fn handle(&self, req: HttpRequest) -> HttpResponse {
        self.handle_inner(req, false).await.0
    }

    /// [`Kavach::handle`], except that `GET /audit/export` answers its headers with the export
    /// still to read, every matching row a page at a time (the body is then empty): the Node
    /// handler streams it.
    pub async fn handle_streaming(
        &self,
        req: HttpRequest,
    ) -> (HttpResponse, Option<crate::agents::audit::AuditExport>) {
        self.handle_inner(req, true).await
    }

    async fn handle_inner(
        &self,
        mut req: HttpRequest,
        stream: bool,
    ) -> (HttpResponse, Option<crate::agents::audit::AuditExport>) {
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
        req.client_ip = client_ip(&req, &self.settings().trusted_proxy_headers);
        let req = req;
        let mut export = None;
        let mut response = if req.method.eq_ignore_ascii_case("OPTIONS") {
            self.preflight(&req)
        } else if stream
            && req.method.eq_ignore_ascii_case("GET")
            && segments(&req.path) == ["audit", "export"]
        {
            match routes::export_response(self, &req, None).await {
                Ok((r, e)) => {
                    export = Some(e);
                    r
                }
                Err(e) => error_response(e),
            }
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
        self.add_cors(&req, &mut response);
        (response, export)
    }

    /// `GET /auth/session` answered on the calling thread when one read is enough (SQLite, a
    /// session token in the request, no sliding refresh due): the very response [`Self::handle`]
    /// gives. `None`: take [`Self::handle`].
    pub fn handle_inline(&self, req: &HttpRequest) -> Option<HttpResponse> {
        if req.path != "/auth/session" || !req.method.eq_ignore_ascii_case("GET") {
            return None;
        }
        let token = session_token(req, &self.settings().cookie_name)?;
        let answer = match self.get_session_inline(Some(token))? {
            Ok(found) => routes::session_answer(self, req, found),
            Err(e) => Err(e.into()),
        };
        let mut response = answer.unwrap_or_else(error_response);
        self.add_cors(req, &mut response);
        Some(response)
    }

    /// The CORS headers of an answer to an allowed Origin.
    fn add_cors(&self, req: &HttpRequest, response: &mut HttpResponse) {
        if let Some(origin) = self.allowed_origin(req) {
            response
                .headers
                .push(("access-control-allow-origin".into(), origin));
            response
                .headers
                .push(("access-control-allow-credentials".into(), "true".into()));
            response.headers.push(("vary".into(), "Origin".into()));
        }
    }

    fn preflight(&self, req: &HttpRequest) -> HttpResponse {
        let segs = segments(&req.path);
        let found = self.routes_for(&segs);
        match found.is_empty() {
            true => error_response(ApiError::new(404, "NOT_FOUND", "no such route")),
            false => {
                let methods: Vec<&str> = found.iter().map(|r| r.method).collect();
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

    /// The routes of the core and of the running plugins whose pattern fits `segs` best (the most
    /// literal segments: `/organizations/active` before `/organizations/:id`), one per method.
    fn routes_for(&self, segs: &[&str]) -> Vec<&'static Route> {
        let tables = std::iter::once(routes::CORE).chain(self.plugins().iter().map(|p| p.routes()));
        let mut best: Vec<&'static Route> = Vec::new();
        let mut best_fit = 0;
        for route in tables.flatten() {
            let Some(f) = fit(route.path, segs) else {
                continue;
            };
            if best.is_empty() || f > best_fit {
                best.clear();
                best_fit = f;
            } else if f < best_fit {
                continue;
            }
            if !best.iter().any(|r| r.method == route.method) {
                best.push(route);
            }
        }
        best
    }

    /// `(method, pattern)` of every route this instance serves: the core's, then each plugin's.
    pub(crate) fn route_table(&self) -> Vec<(&'static str, &'static str)> {
        std::iter::once(routes::CORE)
            .chain(self.plugins().iter().map(|p| p.routes()))
            .flatten()
            .map(|r| (r.method, r.path))
            .collect()
    }

    async fn route(&self, req: &HttpRequest) -> ApiResult {
        let segs = segments(&req.path);
        let method = req.method.to_ascii_uppercase();
        let found = self.routes_for(&segs);
        if found.is_empty() {
            return Err(ApiError::new(404, "NOT_FOUND", "no such route"));
        }
        let Some(route) = found.iter().find(|r| r.method == method) else {
            let allowed: Vec<&str> = found.iter().map(|r| r.method).collect();
            let mut e = ApiError::new(
                405,
                "METHOD_NOT_ALLOWED",
                format!("use {}", allowed.join(" or ")),
            );
            e.headers.push(("allow".into(), allowed.join(", ")));
            return Err(e);
        };
        check_path(req)?;
        let params = params_of(route.path, &segs);
        if req.body.len() > self.settings().max_body_bytes {
            return Err(ApiError::new(
                413,
                "PAYLOAD_TOO_LARGE",
                "the request body is too large",
            ));
        }
        if STATE_CHANGING.contains(&method.as_str()) && !route.cross_site_form && !route.cookieless
        {
            self.check_origin(req)?;
        }
        let r = (route.handler)(self, req, &params).await?;
        self.after_new_session(req, &r).await?;
        Ok(r)
    }

    /// `Plugin::on_new_session` for an answer that sets a new session cookie.
    async fn after_new_session(&self, req: &HttpRequest, r: &HttpResponse) -> Result<(), ApiError> {
        let prefix = format!("{}=", self.settings().cookie_name);
        let Some(token) = r
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .find_map(|(_, v)| v.strip_prefix(&prefix))
            .map(|v| v.split(';').next().unwrap_or(""))
            .filter(|t| !t.is_empty())
        else {
            return Ok(());
        };
        for p in self.plugins().iter() {
            p.on_new_session(self, req, token).await?;
        }
        Ok(())
    }
}

/// The address per-IP limits count for this request: from the first of `trusted` (the
/// `trustedProxyHeaders`) that the request carries with an address in it, else the socket address
/// the shim passed, else none (then only the per-account limits apply).
///
/// A proxy appends the address it saw to `X-Forwarded-For` (and `Forwarded`), after whatever the
/// client sent: the last entry is the one the trusted proxy wrote, so that is the one taken. Addresses
/// are parsed (a port or brackets dropped, IPv4-mapped IPv6 made IPv4): a header holding anything else
/// is skipped, so a client cannot choose its own rate-limit key.
fn client_ip(req: &HttpRequest, trusted: &[String]) -> Option<String> {
    for name in trusted {
        let Some((_, value)) = req
            .headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        else {
            continue;
        };
        let last = value.rsplit(',').map(str::trim).find(|v| !v.is_empty());
        let entry = if name == "forwarded" {
            last.and_then(|e| {
                e.split(';').find_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| v.trim().trim_matches('"'))
                })
            })
        } else {
            last
        };
        if let Some(ip) = entry.and_then(parse_ip) {
            return Some(ip);
        }
    }
    let socket = req.client_ip.as_deref()?;
    parse_ip(socket).or_else(|| {
        // An address form this parser does not know (a Unix socket path, a platform's own label):
        // kept as the key when it is short printable text.
        (socket.len() <= 64 && !socket.chars().any(char::is_control)).then(|| socket.to_owned())
    })
}

/// An IP address in `v`, as `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]:80` or `::ffff:1.2.3.4`: its
/// canonical text.
fn parse_ip(v: &str) -> Option<String> {
    use std::net::{IpAddr, SocketAddr};
    let v = v.trim();
    let ip = v
        .parse::<IpAddr>()
        .ok()
        .or_else(|| v.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            v.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse::<IpAddr>().ok())
        })?;
    Some(ip.to_canonical().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ip_from_trusted_headers_only() {
        let socket = |headers: &[(&str, &str)]| HttpRequest {
            client_ip: Some("::ffff:10.0.0.1".into()),
            ..req(headers)
        };
        let xff = vec!["x-forwarded-for".to_owned()];
        // Untrusted: the header is ignored, the socket address counts (IPv4-mapped made IPv4).
        assert_eq!(
            client_ip(&socket(&[("X-Forwarded-For", "1.2.3.4")]), &[]),
            Some("10.0.0.1".into())
        );
        // Trusted: the last entry, the one the proxy appended.
        assert_eq!(
            client_ip(&socket(&[("x-forwarded-for", "6.6.6.6, 1.2.3.4")]), &xff),
            Some("1.2.3.4".into())
        );
        // Garbage in the header: the socket address.
        assert_eq!(
            client_ip(&socket(&[("x-forwarded-for", "not-an-ip")]), &xff),
            Some("10.0.0.1".into())
        );
        assert_eq!(
            client_ip(&socket(&[("x-forwarded-for", "[2001:db8::1]:443")]), &xff),
            Some("2001:db8::1".into())
        );
        assert_eq!(
            client_ip(
                &socket(&[(
                    "forwarded",
                    "for=6.6.6.6, for=\"[2001:db8::2]:80\";proto=https"
                )]),
                &["forwarded".to_owned()]
            ),
            Some("2001:db8::2".into())
        );
        // No address anywhere: none.
        assert_eq!(client_ip(&req(&[("x-forwarded-for", "")]), &xff), None);
    }

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
    fn patterns_fit_paths() {
        assert_eq!(fit("/auth/sign-in", &["auth", "sign-in"]), Some(2));
        assert_eq!(
            fit("/agents/:id/rotate", &["agents", "x", "rotate"]),
            Some(2)
        );
        assert_eq!(fit("/agents/:id", &["agents", "x", "rotate"]), None);
        assert_eq!(fit("/agents/:id", &["agents"]), None);
        assert_eq!(fit("/agents/:id", &["agents", ""]), None);
        assert_eq!(fit("/nope", &["auth"]), None);
        // A trailing `*` takes any rest, none included; never a missing literal.
        assert_eq!(fit("/.well-known/x/*", &[".well-known", "x"]), Some(2));
        assert_eq!(
            fit("/.well-known/x/*", &[".well-known", "x", "api", "auth"]),
            Some(2)
        );
        assert_eq!(fit("/.well-known/x/*", &[".well-known"]), None);
        assert_eq!(fit("/.well-known/x/*", &[".well-known", "y", "z"]), None);
        // A literal segment beats a parameter.
        assert!(
            fit("/organizations/active", &["organizations", "active"])
                > fit("/organizations/:id", &["organizations", "active"])
        );
        assert_eq!(
            params_of(
                "/organizations/:id/members/:user",
                &["organizations", "o", "members", "u"]
            ),
            vec!["o", "u"]
        );
    }

    #[test]
    fn every_route_has_a_well_formed_pattern_and_no_twin() {
        for (i, r) in routes::CORE.iter().enumerate() {
            assert!(
                r.path.starts_with('/') && !r.path.ends_with('/'),
                "{}",
                r.path
            );
            assert!(
                STATE_CHANGING.contains(&r.method) || r.method == "GET",
                "{}",
                r.method
            );
            let twin = routes::CORE[i + 1..]
                .iter()
                .any(|o| o.method == r.method && o.path == r.path);
            assert!(!twin, "{} {} is listed twice", r.method, r.path);
        }
    }
}
