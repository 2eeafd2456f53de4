//! The MCP OAuth 2.1 server (`createKavach({ mcp })`, seed 004): an authorization server for MCP
//! clients whose tokens name an agent.
//!
//! - Metadata: RFC 8414 (`/.well-known/oauth-authorization-server`, also path-inserted
//!   `/.well-known/oauth-authorization-server{basePath}`, the form the MCP SDK looks up first) and
//!   RFC 9728 (`/.well-known/oauth-protected-resource[/{resource path}]`).
//! - RFC 7591 registration, the authorization code grant with PKCE S256 only and RFC 8707
//!   resource indicators, refresh-token rotation whose replay revokes the whole grant, RFC 7009
//!   revocation, and a JWKS.
//! - Consent creates (or reuses) an agent that the user owns for the client: access tokens are
//!   RFC 9068 JWTs (`typ: at+jwt`, EdDSA) whose `sub` is that agent; its permissions are the
//!   granted scopes mapped through `mcp.scopes`. Every token check reads the grant, the agent and
//!   the token's own revocation in one query, so revoking any of them counts on the next request
//!   in every process.
//!
//! OAuth endpoints answer RFC 6749 errors (`{ error, error_description }`), not kavachos' shape.

mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::agents::permission::Permission;
use crate::agents::{CreateAgent, UpdateAgent};
use crate::crypto::token::{hash_token, new_id};
use crate::error::{KavachError, Result};
use crate::http::{session_token, ApiResult, HttpRequest, HttpResponse};
use crate::kavach::Kavach;
use crate::plugin::{PluginEnv, Route};
use crate::plugins::jwt::{install_crypto_provider, JwtAlg, KeyRing};
use crate::route;
use store::{Client, Grant, Take};

const CODE_TTL_MS: i64 = 300_000;
/// Scopes MCP clients ask for by habit (OpenID Connect's): accepted, and they grant nothing.
const PASSIVE_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
const AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];
const MAX_PARAM: usize = 4096;

/// `mcp: { ... }` of `createKavach`, checked.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct McpOptions {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    scopes: BTreeMap<String, Vec<Permission>>,
    #[serde(default)]
    login_page: Option<String>,
    #[serde(default)]
    consent_page: Option<String>,
    /// `true` when the app gave an `autoApprove` function (called as `mcp.autoApprove`).
    #[serde(default)]
    auto_approve: Option<bool>,
    #[serde(default)]
    access_token_ttl: Option<u64>,
    #[serde(default)]
    refresh_token_ttl: Option<u64>,
    #[serde(default)]
    allow_dynamic_registration: Option<bool>,
    #[serde(default)]
    resources: Vec<String>,
}

/// The running MCP server.
pub struct McpPlugin {
    scopes: BTreeMap<String, Vec<Permission>>,
    login_page: String,
    consent_page: Option<String>,
    auto_approve: bool,
    access_ttl_secs: i64,
    refresh_ttl_secs: i64,
    allow_registration: bool,
    resources: Vec<String>,
    ring: KeyRing,
}

fn page_ok(p: &str) -> bool {
    let path_ok = p.starts_with('/') && !p.starts_with("//");
    let url_ok = (p.starts_with("https://") || p.starts_with("http://"))
        && crate::config::origin_of(p).is_some();
    (path_ok || url_ok) && p.len() <= 2048 && !p.chars().any(char::is_control) && !p.contains('#')
}

fn scope_name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

/// The registry's factory.
pub fn plugin(options: &Value, env: &PluginEnv<'_>) -> Result<Arc<dyn crate::plugin::Plugin>> {
    let bad = |m: String| KavachError::ConfigInvalid(format!("mcp: {m}"));
    let o: McpOptions = match options {
        Value::Null => serde_json::from_value(json!({})),
        v => serde_json::from_value(v.clone()),
    }
    .map_err(|e| bad(e.to_string()))?;
    let _ = o.enabled;
    let secret = env.secret.ok_or_else(|| {
        bad("needs the instance secret (its signing keys are stored encrypted with it)".into())
    })?;
    if env.base_url.is_none() {
        return Err(bad(
            "needs baseUrl: the issuer is {baseUrl}{basePath}".into()
        ));
    }
    for (name, perms) in &o.scopes {
        if !scope_name_ok(name) {
            return Err(bad(format!(
                "scope \"{}\" must be printable ASCII without spaces",
                name.chars().take(64).collect::<String>()
            )));
        }
        crate::agents::permission::compile_all(perms)
            .map_err(|e| bad(format!("scope \"{name}\": {e}")))?;
    }
    let login_page = o.login_page.unwrap_or_else(|| "/sign-in".into());
    if !page_ok(&login_page) {
        return Err(bad("loginPage must be a path or an http(s) URL".into()));
    }
    if o.consent_page.as_deref().is_some_and(|p| !page_ok(p)) {
        return Err(bad("consentPage must be a path or an http(s) URL".into()));
    }
    let access = o.access_token_ttl.unwrap_or(3600);
    if !(60..=86_400).contains(&access) {
        return Err(bad(
            "accessTokenTtl must be between 60 seconds and a day".into()
        ));
    }
    let refresh = o.refresh_token_ttl.unwrap_or(2_592_000);
    if !(60..=31_622_400).contains(&refresh) {
        return Err(bad(
            "refreshTokenTtl must be between 60 seconds and 366 days".into(),
        ));
    }
    for r in &o.resources {
        if !(r.starts_with("https://") || r.starts_with("http://"))
            || crate::config::origin_of(r).is_none()
            || r.contains('#')
            || r.len() > 2048
            || r.chars().any(char::is_control)
        {
            return Err(bad(format!(
                "resource \"{}\" must be an absolute http(s) URL without a fragment",
                r.chars().take(200).collect::<String>()
            )));
        }
    }
    let access_ttl_secs = i64::try_from(access).unwrap_or(3600);
    Ok(Arc::new(McpPlugin {
        scopes: o.scopes,
        login_page,
        consent_page: o.consent_page,
        auto_approve: o.auto_approve.unwrap_or(false),
        access_ttl_secs,
        refresh_ttl_secs: i64::try_from(refresh).unwrap_or(2_592_000),
        allow_registration: o.allow_dynamic_registration.unwrap_or(true),
        resources: o.resources,
        ring: KeyRing::new(
            "kavach_mcp_jwks",
            JwtAlg::EdDsa,
            secret.as_bytes(),
            (access_ttl_secs + 60) * 1000,
        ),
    }))
}

impl crate::plugin::Plugin for McpPlugin {
    fn id(&self) -> &'static str {
        "mcp"
    }

    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    fn namespace(&self) -> Option<&'static str> {
        Some("mcp")
    }

    fn call<'a>(
        &'a self,
        k: &'a Kavach,
        op: &'a str,
        input: Value,
    ) -> crate::BoxFut<'a, Result<Value>> {
        Box::pin(self.js_call(k, op, input))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn this(k: &Kavach) -> Result<&McpPlugin> {
    k.plugin::<McpPlugin>()
        .ok_or_else(|| KavachError::ConfigInvalid("the MCP server is off (mcp)".into()))
}

fn random_secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn json_with(status: u16, body: &Value, extra: &[(&str, &str)]) -> HttpResponse {
    let mut headers = vec![
        (
            "content-type".to_owned(),
            "application/json; charset=utf-8".to_owned(),
        ),
        ("cache-control".to_owned(), "no-store".to_owned()),
    ];
    headers.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    HttpResponse {
        status,
        headers,
        body: body.to_string().into_bytes(),
    }
}

/// An RFC 6749 error answer.
fn oauth_error(status: u16, error: &str, description: &str) -> HttpResponse {
    json_with(
        status,
        &json!({ "error": error, "error_description": description }),
        &[("pragma", "no-cache")],
    )
}

/// Public metadata: any site may read it.
fn public_json(body: &Value) -> HttpResponse {
    let mut r = json_with(200, body, &[("access-control-allow-origin", "*")]);
    for (k, v) in r.headers.iter_mut() {
        if k == "cache-control" {
            *v = "public, max-age=300".into();
        }
    }
    r
}

fn found(location: &str) -> HttpResponse {
    HttpResponse {
        status: 302,
        headers: vec![
            ("location".to_owned(), location.to_owned()),
            ("cache-control".to_owned(), "no-store".to_owned()),
        ],
        body: Vec::new(),
    }
}

/// `url` with `pairs` added to its query.
fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", ser.finish())
}

/// A parameter set from the query, a form body or a JSON body; `Err` is the answer to give.
type Params = BTreeMap<String, String>;

fn bad_params() -> HttpResponse {
    oauth_error(
        400,
        "invalid_request",
        "parameters must be printable text, each given once",
    )
}

fn collect(
    pairs: impl Iterator<Item = (String, String)>,
) -> std::result::Result<Params, HttpResponse> {
    let mut out = Params::new();
    for (k, v) in pairs {
        if k.len() > 64
            || v.len() > MAX_PARAM
            || v.chars().any(char::is_control)
            || out.insert(k, v).is_some()
        {
            return Err(bad_params());
        }
    }
    Ok(out)
}

fn query_params(req: &HttpRequest) -> std::result::Result<Params, HttpResponse> {
    collect(form_urlencoded::parse(req.query.as_bytes()).into_owned())
}

fn body_params(req: &HttpRequest) -> std::result::Result<Params, HttpResponse> {
    if req.body.is_empty() {
        return Ok(Params::new());
    }
    let ct = req.header_value("content-type").unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/x-www-form-urlencoded" => {
            collect(form_urlencoded::parse(&req.body).into_owned())
        }
        "application/json" => {
            let v: Value = serde_json::from_slice(&req.body)
                .map_err(|_| oauth_error(400, "invalid_request", "the body is not valid JSON"))?;
            let Value::Object(m) = v else {
                return Err(oauth_error(
                    400,
                    "invalid_request",
                    "the body must be an object",
                ));
            };
            let mut pairs = Vec::with_capacity(m.len());
            for (k, v) in m {
                let s = match v {
                    Value::String(s) => s,
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    Value::Null => continue,
                    _ => return Err(bad_params()),
                };
                pairs.push((k, s));
            }
            collect(pairs.into_iter())
        }
        _ => Err(oauth_error(
            400,
            "invalid_request",
            "send application/x-www-form-urlencoded or application/json",
        )),
    }
}

fn is_json(req: &HttpRequest) -> bool {
    req.header_value("content-type").is_some_and(|c| {
        c.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
    })
}

fn split_scope(s: &str) -> BTreeSet<String> {
    s.split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn join_scope(s: &BTreeSet<String>) -> String {
    s.iter().map(String::as_str).collect::<Vec<_>>().join(" ")
}

/// A redirect URI a client may register: https, or http on a loopback host; no fragment.
fn redirect_uri_ok(u: &str) -> bool {
    if u.len() > 2048 || u.contains('#') || u.chars().any(|c| c.is_control() || c == ' ') {
        return false;
    }
    let Some(origin) = crate::config::origin_of(u) else {
        return false;
    };
    if origin.starts_with("https://") {
        return true;
    }
    let host = origin
        .strip_prefix("http://")
        .map(|h| {
            if let Some(v6) = h.strip_prefix('[') {
                v6.split(']').next().unwrap_or("")
            } else {
                h.split(':').next().unwrap_or("")
            }
        })
        .unwrap_or("");
    matches!(host, "127.0.0.1" | "localhost" | "::1")
}

/// A validated authorization request.
struct AuthRequest {
    client: Client,
    redirect_uri: String,
    state: Option<String>,
    code_challenge: String,
    scope: BTreeSet<String>,
    resource: Option<String>,
    prompt: BTreeSet<String>,
    /// The parameters as given (to carry through login and consent).
    params: Params,
}

/// What the authorization endpoint does with a request.
enum Refusal {
    /// Not to the client (an unknown client or redirect URI): shown here.
    Here(HttpResponse),
    /// Back to the client's redirect URI with `error`.
    Back(HttpResponse),
}

impl McpPlugin {
    fn issuer(k: &Kavach) -> Result<String> {
        let s = k.settings();
        let origin = s
            .base_origin
            .as_deref()
            .ok_or_else(|| KavachError::ConfigInvalid("mcp needs baseUrl".into()))?;
        Ok(format!("{origin}{}", s.base_path))
    }

    fn scopes_supported(&self) -> Vec<&str> {
        self.scopes.keys().map(String::as_str).collect()
    }

    fn as_metadata(&self, k: &Kavach) -> Result<Value> {
        let iss = Self::issuer(k)?;
        let mut m = Map::new();
        m.insert("issuer".into(), json!(iss));
        m.insert(
            "authorization_endpoint".into(),
            json!(format!("{iss}/mcp/authorize")),
        );
        m.insert("token_endpoint".into(), json!(format!("{iss}/mcp/token")));
        if self.allow_registration {
            m.insert(
                "registration_endpoint".into(),
                json!(format!("{iss}/mcp/register")),
            );
        }
        m.insert(
            "revocation_endpoint".into(),
            json!(format!("{iss}/mcp/revoke")),
        );
        m.insert("jwks_uri".into(), json!(format!("{iss}/mcp/jwks")));
        m.insert("scopes_supported".into(), json!(self.scopes_supported()));
        m.insert("response_types_supported".into(), json!(["code"]));
        m.insert("response_modes_supported".into(), json!(["query"]));
        m.insert(
            "grant_types_supported".into(),
            json!(["authorization_code", "refresh_token"]),
        );
        m.insert("code_challenge_methods_supported".into(), json!(["S256"]));
        m.insert(
            "token_endpoint_auth_methods_supported".into(),
            json!(AUTH_METHODS),
        );
        m.insert(
            "revocation_endpoint_auth_methods_supported".into(),
            json!(AUTH_METHODS),
        );
        m.insert(
            "authorization_response_iss_parameter_supported".into(),
            json!(true),
        );
        Ok(Value::Object(m))
    }

    /// RFC 9728 metadata of the resource whose path is `path` (`""` for the first one).
    fn resource_metadata(
        &self,
        k: &Kavach,
        req: &HttpRequest,
        path: &str,
    ) -> Result<Option<Value>> {
        let iss = Self::issuer(k)?;
        let resource = if self.resources.is_empty() {
            let origin = k
                .settings()
                .base_origin
                .as_deref()
                .or(req.url_origin.as_deref())
                .unwrap_or_default();
            Some(format!("{origin}{path}"))
        } else if path.is_empty() || path == "/" {
            self.resources.first().cloned()
        } else {
            self.resources
                .iter()
                .find(|r| resource_path(r).trim_end_matches('/') == path.trim_end_matches('/'))
                .cloned()
        };
        Ok(resource.map(|resource| {
            json!({
                "resource": resource,
                "authorization_servers": [iss],
                "scopes_supported": self.scopes_supported(),
                "bearer_methods_supported": ["header"],
                "resource_signing_alg_values_supported": ["EdDSA"],
            })
        }))
    }

    /// The `aud` of a token: the resource asked for, else the only configured one, else the issuer.
    fn audience(&self, k: &Kavach, resource: Option<&str>) -> Result<String> {
        match resource {
            Some(r) => Ok(r.to_owned()),
            None => match self.resources.first() {
                Some(r) => Ok(r.clone()),
                None => Self::issuer(k),
            },
        }
    }

    /// The permissions an agent holds for `scope`: the union of `mcp.scopes` of each.
    fn permissions_for(&self, scope: &BTreeSet<String>) -> Vec<Permission> {
        scope
            .iter()
            .filter_map(|s| self.scopes.get(s))
            .flatten()
            .cloned()
            .collect()
    }

    /// Checks an authorization request (from the query, or the consent form's body).
    async fn check_request(
        &self,
        k: &Kavach,
        params: Params,
    ) -> std::result::Result<AuthRequest, Refusal> {
        let here = |code: &str, d: &str| Refusal::Here(oauth_error(400, code, d));
        let client_id = params.get("client_id").cloned().unwrap_or_default();
        let client = match store::client(k, &client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(here("invalid_client", "unknown client_id")),
            Err(_) => {
                return Err(Refusal::Here(oauth_error(
                    503,
                    "temporarily_unavailable",
                    "try again",
                )))
            }
        };
        let redirect_uri = params.get("redirect_uri").cloned().unwrap_or_default();
        if !client.redirect_uris.iter().any(|u| u == &redirect_uri) {
            return Err(here(
                "invalid_request",
                "redirect_uri is not one this client registered",
            ));
        }
        let state = params.get("state").cloned();
        let back = |error: &str, d: &str| {
            let mut pairs = vec![("error", error), ("error_description", d)];
            if let Some(s) = &state {
                pairs.push(("state", s.as_str()));
            }
            Refusal::Back(found(&with_query(&redirect_uri, &pairs)))
        };
        if params.get("response_type").map(String::as_str) != Some("code") {
            return Err(back(
                "unsupported_response_type",
                "response_type must be code",
            ));
        }
        let challenge = params.get("code_challenge").cloned().unwrap_or_default();
        if params.get("code_challenge_method").map(String::as_str) != Some("S256")
            || challenge.len() != 43
            || !challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(back(
                "invalid_request",
                "PKCE is required: code_challenge with code_challenge_method S256",
            ));
        }
        let mut scope = split_scope(params.get("scope").map(String::as_str).unwrap_or(""));
        if scope.is_empty() {
            scope = client
                .metadata
                .get("scope")
                .and_then(Value::as_str)
                .map(split_scope)
                .unwrap_or_else(|| self.scopes.keys().cloned().collect());
        }
        if let Some(s) = scope
            .iter()
            .find(|s| !self.scopes.contains_key(*s) && !PASSIVE_SCOPES.contains(&s.as_str()))
        {
            let d = format!("unknown scope {s}");
            return Err(back("invalid_scope", &d));
        }
        let resource = params.get("resource").cloned();
        if let Some(r) = &resource {
            let listed = self.resources.is_empty() || self.resources.iter().any(|x| x == r);
            if !listed || crate::config::origin_of(r).is_none() || r.contains('#') {
                return Err(back("invalid_target", "this resource is not served here"));
            }
        }
        let prompt = split_scope(params.get("prompt").map(String::as_str).unwrap_or(""));
        Ok(AuthRequest {
            client,
            redirect_uri,
            state,
            code_challenge: challenge,
            scope,
            resource,
            prompt,
            params,
        })
    }

    /// Consent given: the grant (new, or the live one widened) and the agent acting for it.
    async fn approve(&self, k: &Kavach, user_id: &str, a: &AuthRequest) -> Result<Grant> {
        let latest = store::latest_grant(k, user_id, &a.client.client_id).await?;
        let agent_live = |id: String| async move {
            Ok::<bool, KavachError>(
                matches!(k.get_agent(&id).await?, Some(ag) if ag.status == "active"),
            )
        };
        if let Some(g) = latest {
            if agent_live(g.agent_id.clone()).await? {
                let scope = if g.revoked {
                    a.scope.clone()
                } else {
                    split_scope(&g.scope).union(&a.scope).cloned().collect()
                };
                let permissions = self.permissions_for(&scope);
                k.update_agent(
                    &g.agent_id,
                    UpdateAgent {
                        permissions: Some(permissions),
                        ..Default::default()
                    },
                )
                .await?;
                let scope_text = join_scope(&scope);
                if !g.revoked {
                    if scope_text != g.scope {
                        store::set_grant_scope(k, &g.id, &scope_text).await?;
                    }
                    return Ok(Grant {
                        scope: scope_text,
                        ..g
                    });
                }
                let grant = Grant {
                    id: new_id(),
                    client_id: g.client_id,
                    user_id: g.user_id,
                    agent_id: g.agent_id,
                    scope: scope_text,
                    revoked: false,
                };
                store::insert_grant(k, &grant).await?;
                return Ok(grant);
            }
        }
        let name = a
            .client
            .name
            .clone()
            .unwrap_or_else(|| a.client.client_id.clone());
        let agent = k
            .create_agent(CreateAgent {
                owner_id: user_id.to_owned(),
                name: format!("MCP: {}", name.chars().take(200).collect::<String>()),
                kind: "delegated".into(),
                permissions: self.permissions_for(&a.scope),
                expires_at: None,
                metadata: Some(json!({ "mcpClientId": a.client.client_id })),
            })
            .await?;
        let grant = Grant {
            id: new_id(),
            client_id: a.client.client_id.clone(),
            user_id: user_id.to_owned(),
            agent_id: agent.agent.id,
            scope: join_scope(&a.scope),
            revoked: false,
        };
        store::insert_grant(k, &grant).await?;
        Ok(grant)
    }

    /// A code for `grant`, and the redirect back to the client with it.
    async fn code_redirect(&self, k: &Kavach, grant: &Grant, a: &AuthRequest) -> Result<String> {
        let code = random_secret();
        store::insert_code(
            k,
            &code,
            &grant.id,
            &a.client.client_id,
            &a.redirect_uri,
            &a.code_challenge,
            &join_scope(&a.scope),
            a.resource.as_deref(),
            CODE_TTL_MS,
        )
        .await?;
        let iss = Self::issuer(k)?;
        let mut pairs = vec![("code", code.as_str()), ("iss", iss.as_str())];
        if let Some(s) = &a.state {
            pairs.push(("state", s.as_str()));
        }
        Ok(with_query(&a.redirect_uri, &pairs))
    }

    async fn wants_auto_approve(&self, k: &Kavach, client: &Client) -> bool {
        if !self.auto_approve {
            return false;
        }
        let Some(f) = k.hooks().plugin_fn("mcp.autoApprove") else {
            return false;
        };
        let input = json!({
            "clientId": client.client_id,
            "clientName": client.name,
            "redirectUris": client.redirect_uris,
        });
        // A throw or anything but `true` is no: consent is then asked for.
        matches!(f.call(input).await, Ok(v) if v.get("approve") == Some(&Value::Bool(true)))
    }

    /// `GET /mcp/authorize`.
    async fn authorize_get(&self, k: &Kavach, req: &HttpRequest) -> ApiResult {
        let params = match query_params(req) {
            Ok(p) => p,
            Err(r) => return Ok(r),
        };
        let a = match self.check_request(k, params).await {
            Ok(a) => a,
            Err(Refusal::Here(r) | Refusal::Back(r)) => return Ok(r),
        };
        let user = match session_token(req, &k.settings().cookie_name) {
            Some(t) => k.get_session(t).await?.map(|(_, u)| u),
            None => None,
        };
        let mount = req.mount_or(&k.settings().base_path);
        let Some(user) = user else {
            if a.prompt.contains("none") {
                return Ok(self.back_error(&a, "login_required"));
            }
            let next = format!("{mount}/mcp/authorize?{}", req.query);
            return Ok(found(&with_query(&self.login_page, &[("next", &next)])));
        };
        let latest = store::latest_grant(k, &user.id, &a.client.client_id).await?;
        let covered =
            matches!(&latest, Some(g) if !g.revoked && a.scope.is_subset(&split_scope(&g.scope)));
        let agent_ok = match &latest {
            Some(g) => matches!(k.get_agent(&g.agent_id).await?, Some(ag) if ag.status == "active"),
            None => false,
        };
        let forced = a.prompt.contains("consent");
        if covered && agent_ok && !forced {
            if let Some(g) = latest {
                return Ok(found(&self.code_redirect(k, &g, &a).await?));
            }
        }
        if self.wants_auto_approve(k, &a.client).await {
            let g = self.approve(k, &user.id, &a).await?;
            return Ok(found(&self.code_redirect(k, &g, &a).await?));
        }
        if a.prompt.contains("none") {
            return Ok(self.back_error(&a, "consent_required"));
        }
        if let Some(page) = &self.consent_page {
            return Ok(found(&format!(
                "{page}{}{}",
                if page.contains('?') { '&' } else { '?' },
                req.query
            )));
        }
        Ok(consent_page(&a, &user.email, mount))
    }

    fn back_error(&self, a: &AuthRequest, error: &str) -> HttpResponse {
        let mut pairs = vec![("error", error)];
        if let Some(s) = &a.state {
            pairs.push(("state", s.as_str()));
        }
        found(&with_query(&a.redirect_uri, &pairs))
    }

    /// `POST /mcp/authorize`: the consent decision (`decision=approve|deny`, or `accept`).
    async fn authorize_post(&self, k: &Kavach, req: &HttpRequest) -> ApiResult {
        let params = match body_params(req) {
            Ok(p) => p,
            Err(r) => return Ok(r),
        };
        let (_, user) = k.session_and_user(req).await?;
        let approve = match (params.get("decision"), params.get("accept")) {
            (Some(d), _) => d == "approve",
            (None, Some(a)) => a == "true",
            (None, None) => false,
        };
        let mut oauth_params = params;
        oauth_params.remove("decision");
        oauth_params.remove("accept");
        let a = match self.check_request(k, oauth_params).await {
            Ok(a) => a,
            Err(Refusal::Here(r) | Refusal::Back(r)) => return Ok(r),
        };
        let location = if approve {
            let g = self.approve(k, &user.id, &a).await?;
            self.code_redirect(k, &g, &a).await?
        } else {
            let mut pairs = vec![("error", "access_denied")];
            if let Some(s) = &a.state {
                pairs.push(("state", s.as_str()));
            }
            with_query(&a.redirect_uri, &pairs)
        };
        if is_json(req) {
            return Ok(json_with(
                200,
                &json!({ "redirect": true, "url": location }),
                &[],
            ));
        }
        Ok(found(&location))
    }

    /// The client a token or revocation request authenticates as (Basic, post, or none for a
    /// public client); `Err` is the answer.
    async fn client_of(
        &self,
        k: &Kavach,
        req: &HttpRequest,
        params: &Params,
    ) -> std::result::Result<Client, HttpResponse> {
        let invalid = || {
            json_with(
                401,
                &json!({ "error": "invalid_client", "error_description": "client authentication failed" }),
                &[("www-authenticate", "Basic realm=\"mcp\"")],
            )
        };
        let basic = req
            .header_value("authorization")
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
            })
            .map(|b64| {
                let raw = STANDARD.decode(b64).ok()?;
                let text = String::from_utf8(raw).ok()?;
                let (id, secret) = text.split_once(':')?;
                let dec = |s: &str| {
                    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                };
                Some((dec(id)?, dec(secret)?))
            });
        let (client_id, secret) = match basic {
            Some(Some((id, secret))) => (id, Some(secret)),
            Some(None) => return Err(invalid()),
            None => (
                params.get("client_id").cloned().unwrap_or_default(),
                params.get("client_secret").cloned(),
            ),
        };
        let client = match store::client(k, &client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(invalid()),
            Err(_) => return Err(oauth_error(503, "temporarily_unavailable", "try again")),
        };
        if let Some(expected) = &client.secret_hash {
            let given = secret.map(|s| hash_token(&s)).unwrap_or_default();
            if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
                return Err(invalid());
            }
        }
        Ok(client)
    }

    /// `POST /mcp/token`.
    async fn token(&self, k: &Kavach, req: &HttpRequest) -> ApiResult {
        let params = match body_params(req) {
            Ok(p) => p,
            Err(r) => return Ok(r),
        };
        let client = match self.client_of(k, req, &params).await {
            Ok(c) => c,
            Err(r) => return Ok(r),
        };
        let grant_err = |d: &str| Ok(oauth_error(400, "invalid_grant", d));
        let now = k.now_ms();
        let (taken, kind) = match params.get("grant_type").map(String::as_str) {
            Some("authorization_code") => {
                let code = params.get("code").map(String::as_str).unwrap_or("");
                if code.is_empty() {
                    return Ok(oauth_error(400, "invalid_request", "code is required"));
                }
                (store::take_code(k, code).await?, "code")
            }
            Some("refresh_token") => {
                let token = params
                    .get("refresh_token")
                    .map(String::as_str)
                    .unwrap_or("");
                if token.is_empty() {
                    return Ok(oauth_error(
                        400,
                        "invalid_request",
                        "refresh_token is required",
                    ));
                }
                (store::take_refresh(k, token).await?, "refresh token")
            }
            _ => {
                return Ok(oauth_error(
                    400,
                    "unsupported_grant_type",
                    "use authorization_code or refresh_token",
                ))
            }
        };
        let t = match taken {
            Take::Fresh(t) => t,
            Take::Unknown => return grant_err(&format!("unknown {kind}")),
            Take::Replayed { grant_id } => {
                // A used code or refresh token again: someone holds a copy. End the whole grant.
                store::revoke_grant(k, &grant_id).await?;
                return grant_err(&format!(
                    "this {kind} was already used; the grant is revoked"
                ));
            }
        };
        if t.expires_at <= now {
            return grant_err(&format!("the {kind} has expired"));
        }
        if !bool::from(t.client_id.as_bytes().ct_eq(client.client_id.as_bytes())) {
            return grant_err(&format!("the {kind} was issued to another client"));
        }
        if let (Some(expected), Some(challenge)) = (&t.redirect_uri, &t.code_challenge) {
            if params.get("redirect_uri") != Some(expected) {
                return grant_err("redirect_uri differs from the authorization request's");
            }
            let verifier = params
                .get("code_verifier")
                .map(String::as_str)
                .unwrap_or("");
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if !well_formed || !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
                return grant_err("code_verifier does not match the code_challenge");
            }
        }
        let resource = match (params.get("resource"), &t.resource) {
            (Some(asked), Some(bound)) if asked != bound => {
                return Ok(oauth_error(
                    400,
                    "invalid_target",
                    "resource differs from the one this grant was given for",
                ))
            }
            (Some(asked), None) => {
                if !self.resources.is_empty() && !self.resources.iter().any(|r| r == asked) {
                    return Ok(oauth_error(
                        400,
                        "invalid_target",
                        "this resource is not served here",
                    ));
                }
                Some(asked.clone())
            }
            (_, bound) => bound.clone(),
        };
        let mut scope = split_scope(&t.scope);
        if let Some(asked) = params.get("scope").filter(|_| kind != "code") {
            let asked = split_scope(asked);
            if !asked.is_subset(&scope) {
                return Ok(oauth_error(
                    400,
                    "invalid_scope",
                    "a refresh cannot widen the scope",
                ));
            }
            scope = asked;
        }
        let Some(grant) = store::grant(k, &t.grant_id).await?.filter(|g| !g.revoked) else {
            return grant_err("the grant was revoked");
        };
        if !matches!(k.get_agent(&grant.agent_id).await?, Some(a) if a.status == "active") {
            return grant_err("the agent of this grant is revoked or expired");
        }
        self.issue(k, &grant, &scope, resource.as_deref()).await
    }

    /// An access token and a fresh refresh token for `grant`.
    async fn issue(
        &self,
        k: &Kavach,
        grant: &Grant,
        scope: &BTreeSet<String>,
        resource: Option<&str>,
    ) -> ApiResult {
        install_crypto_provider();
        let now = k.now_ms().div_euclid(1000);
        let scope_text = join_scope(scope);
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(Self::issuer(k)?));
        claims.insert("sub".into(), json!(grant.agent_id));
        claims.insert("aud".into(), json!(self.audience(k, resource)?));
        claims.insert("client_id".into(), json!(grant.client_id));
        claims.insert("scope".into(), json!(scope_text));
        claims.insert("owner_id".into(), json!(grant.user_id));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + self.access_ttl_secs));
        claims.insert("jti".into(), json!(new_id()));
        claims.insert("gid".into(), json!(grant.id));
        let access = self.ring.sign(k, "at+jwt", &claims).await?;
        let refresh = random_secret();
        store::insert_refresh(
            k,
            &refresh,
            &grant.id,
            &grant.client_id,
            &scope_text,
            resource,
            self.refresh_ttl_secs * 1000,
        )
        .await?;
        Ok(json_with(
            200,
            &json!({
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": self.access_ttl_secs,
                "refresh_token": refresh,
                "scope": scope_text,
            }),
            &[("pragma", "no-cache")],
        ))
    }

    /// `POST /mcp/revoke` (RFC 7009): always 200 for a known client; a refresh token ends its
    /// grant, an access token itself.
    async fn revoke(&self, k: &Kavach, req: &HttpRequest) -> ApiResult {
        let params = match body_params(req) {
            Ok(p) => p,
            Err(r) => return Ok(r),
        };
        let client = match self.client_of(k, req, &params).await {
            Ok(c) => c,
            Err(r) => return Ok(r),
        };
        let token = params.get("token").map(String::as_str).unwrap_or("");
        if token.is_empty() {
            return Ok(oauth_error(400, "invalid_request", "token is required"));
        }
        if let Some(grant_id) = store::refresh_grant(k, token, &client.client_id).await? {
            store::revoke_grant(k, &grant_id).await?;
        } else if let Ok((_, claims)) = self.ring.verify_signature(k, token).await {
            let own =
                claims.get("client_id").and_then(Value::as_str) == Some(client.client_id.as_str());
            if let (true, Some(jti), Some(exp)) = (
                own,
                claims.get("jti").and_then(Value::as_str),
                claims.get("exp").and_then(Value::as_i64),
            ) {
                store::revoke_jti(k, jti, exp.saturating_mul(1000)).await?;
            }
        }
        Ok(json_with(200, &json!({}), &[]))
    }

    /// Registers a client (RFC 7591); answers the registration response.
    async fn register(
        &self,
        k: &Kavach,
        meta: &Value,
    ) -> std::result::Result<Value, (&'static str, String)> {
        let bad = |m: &str| ("invalid_client_metadata", m.to_owned());
        let Value::Object(m) = meta else {
            return Err(bad("the body must be a JSON object"));
        };
        let strings =
            |key: &str| -> std::result::Result<Option<Vec<String>>, (&'static str, String)> {
                match m.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::Array(list)) => list
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_owned)
                                .ok_or_else(|| bad(&format!("{key} must list strings")))
                        })
                        .collect::<std::result::Result<Vec<_>, _>>()
                        .map(Some),
                    Some(_) => Err(bad(&format!("{key} must be an array"))),
                }
            };
        let text = |key: &str,
                    max: usize|
         -> std::result::Result<Option<String>, (&'static str, String)> {
            match m.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.len() <= max && !s.chars().any(char::is_control) => {
                    Ok(Some(s.clone()))
                }
                Some(_) => Err(bad(&format!(
                    "{key} must be a string of at most {max} characters"
                ))),
            }
        };
        let redirect_uris = strings("redirect_uris")?.unwrap_or_default();
        if redirect_uris.is_empty() || redirect_uris.len() > 10 {
            return Err(("invalid_redirect_uri", "give 1 to 10 redirect_uris".into()));
        }
        if let Some(u) = redirect_uris.iter().find(|u| !redirect_uri_ok(u)) {
            return Err((
                "invalid_redirect_uri",
                format!(
                    "{} must be https, or http on a loopback host, without a fragment",
                    u.chars().take(200).collect::<String>()
                ),
            ));
        }
        let auth_method =
            text("token_endpoint_auth_method", 64)?.unwrap_or_else(|| "client_secret_basic".into());
        if !AUTH_METHODS.contains(&auth_method.as_str()) {
            return Err(bad("token_endpoint_auth_method must be client_secret_basic, client_secret_post or none"));
        }
        let grant_types = strings("grant_types")?
            .unwrap_or_else(|| vec!["authorization_code".into(), "refresh_token".into()]);
        if grant_types.is_empty()
            || grant_types
                .iter()
                .any(|g| g != "authorization_code" && g != "refresh_token")
        {
            return Err(bad(
                "grant_types may hold authorization_code and refresh_token",
            ));
        }
        let response_types = strings("response_types")?.unwrap_or_else(|| vec!["code".into()]);
        if response_types.iter().any(|r| r != "code") {
            return Err(bad("response_types may hold only code"));
        }
        let scope = text("scope", 2048)?;
        if let Some(s) = &scope {
            if let Some(w) = split_scope(s)
                .iter()
                .find(|w| !self.scopes.contains_key(*w) && !PASSIVE_SCOPES.contains(&w.as_str()))
            {
                return Err(bad(&format!("unknown scope {w}")));
            }
        }
        let name = text("client_name", 200)?;
        let client_id = format!("mcp_{}", &random_secret()[..24]);
        let secret = (auth_method != "none").then(random_secret);
        let mut out = Map::new();
        out.insert("client_id".into(), json!(client_id));
        out.insert(
            "client_id_issued_at".into(),
            json!(k.now_ms().div_euclid(1000)),
        );
        out.insert("redirect_uris".into(), json!(redirect_uris));
        out.insert("token_endpoint_auth_method".into(), json!(auth_method));
        out.insert("grant_types".into(), json!(grant_types));
        out.insert("response_types".into(), json!(response_types));
        if let Some(n) = &name {
            out.insert("client_name".into(), json!(n));
        }
        if let Some(s) = &scope {
            out.insert("scope".into(), json!(s));
        }
        for key in [
            "client_uri",
            "logo_uri",
            "tos_uri",
            "policy_uri",
            "software_id",
            "software_version",
        ] {
            if let Some(v) = text(key, 2048)? {
                out.insert(key.into(), json!(v));
            }
        }
        let client = Client {
            client_id,
            secret_hash: secret.as_deref().map(hash_token),
            name,
            redirect_uris,
            auth_method,
            metadata: Value::Object(out.clone()),
        };
        store::insert_client(k, &client)
            .await
            .map_err(|_| ("server_error", "the client could not be stored".to_owned()))?;
        if let Some(s) = secret {
            out.insert("client_secret".into(), json!(s));
            out.insert("client_secret_expires_at".into(), json!(0));
        }
        Ok(Value::Object(out))
    }

    /// Checks an access token for `resource` (and `scopes`): the agent, user, client and scopes it
    /// carries. One round trip: grant, agent and the token's own revocation together.
    async fn authenticate(
        &self,
        k: &Kavach,
        authorization: Option<&str>,
        resource: &str,
        scopes: &[String],
    ) -> Result<Value> {
        let invalid = |m: &str| KavachError::McpToken {
            code: "INVALID_TOKEN",
            message: m.to_owned(),
        };
        install_crypto_provider();
        let token = authorization
            .and_then(|v| {
                let (scheme, t) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| t.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| invalid("no access token"))?;
        let (typ, claims) = self
            .ring
            .verify_signature(k, token)
            .await
            .map_err(|_| invalid("the access token is not valid"))?;
        if !typ.is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        }) {
            return Err(invalid("not an access token"));
        }
        let text = |key: &str| claims.get(key).and_then(Value::as_str);
        if text("iss") != Some(Self::issuer(k)?.as_str()) {
            return Err(invalid("the access token is from another issuer"));
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => a == resource,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(resource)),
            _ => false,
        };
        if !aud_ok {
            return Err(invalid("the access token is for another resource"));
        }
        let now = k.now_ms();
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid("no expiry"))?;
        if now >= exp.saturating_mul(1000) {
            return Err(invalid("the access token has expired"));
        }
        let (Some(agent_id), Some(user_id), Some(client_id), Some(jti), Some(gid)) = (
            text("sub"),
            text("owner_id"),
            text("client_id"),
            text("jti"),
            text("gid"),
        ) else {
            return Err(invalid("the access token is incomplete"));
        };
        let live = store::liveness(k, gid, jti)
            .await?
            .ok_or_else(|| invalid("the access token's grant is gone"))?;
        if live.grant_revoked || live.jti_revoked {
            return Err(invalid("the access token was revoked"));
        }
        let status = crate::agents::effective_status(live.agent_status, live.agent_expires_at, now);
        if status != "active" {
            return Err(invalid("the agent of this token is revoked or expired"));
        }
        let granted = split_scope(text("scope").unwrap_or(""));
        let missing: Vec<&str> = scopes
            .iter()
            .filter(|s| !granted.contains(*s))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(KavachError::McpToken {
                code: "INSUFFICIENT_SCOPE",
                message: format!("the access token lacks the scope {}", missing.join(" ")),
            });
        }
        Ok(json!({
            "agentId": agent_id,
            "userId": user_id,
            "clientId": client_id,
            "scopes": granted,
            "expiresAt": exp.saturating_mul(1000),
            "token": token,
        }))
    }

    /// `kavach.mcp.<op>(input)`.
    async fn js_call(&self, k: &Kavach, op: &str, input: Value) -> Result<Value> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct AuthInput {
            #[serde(default)]
            authorization: Option<String>,
            resource: String,
            #[serde(default)]
            scopes: Vec<String>,
        }
        match op {
            "authenticate" => {
                let i: AuthInput = crate::plugin::decode(input, "authenticate input")?;
                if i.resource.is_empty() || i.resource.chars().any(char::is_control) {
                    return Err(KavachError::validation(
                        "resource must be the resource's URL",
                    ));
                }
                self.authenticate(k, i.authorization.as_deref(), &i.resource, &i.scopes)
                    .await
            }
            "registerClient" => self
                .register(k, &input)
                .await
                .map_err(|(_, m)| KavachError::validation(m)),
            "rotateKeys" => Ok(json!({ "kid": self.ring.rotate(k).await? })),
            "jwks" => self.ring.jwks(k).await,
            "metadata" => self.as_metadata(k),
            "revokeGrant" => {
                let id = input
                    .as_str()
                    .ok_or_else(|| KavachError::validation("give a grant id"))?;
                crate::error::check_plain("grantId", id, 255)?;
                Ok(json!({ "revoked": store::revoke_grant(k, id).await? }))
            }
            _ => Err(KavachError::Internal("unknown mcp call".into())),
        }
    }
}

/// The path of a resource URL (`https://h/mcp` -> `/mcp`).
fn resource_path(r: &str) -> &str {
    match crate::config::origin_of(r) {
        Some(o) if r.len() >= o.len() => {
            let rest = &r[o.len()..];
            rest.split(['?', '#']).next().unwrap_or("")
        }
        _ => "",
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The built-in consent page: who asks, for what; Approve and Deny post back (same origin, with
/// the session cookie, so the Origin check applies).
fn consent_page(a: &AuthRequest, email: &str, mount: &str) -> HttpResponse {
    let name = a.client.name.as_deref().unwrap_or(&a.client.client_id);
    // The request's parameters ride along; a `decision` or `accept` in the authorize URL never
    // does (the button says which).
    let hidden: String = a
        .params
        .iter()
        .filter(|(k, _)| k.as_str() != "decision" && k.as_str() != "accept")
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(k),
                esc(v)
            )
        })
        .collect();
    let scopes: String = a
        .scope
        .iter()
        .map(|s| format!("<li><code>{}</code></li>", esc(s)))
        .collect();
    let host = crate::config::origin_of(&a.redirect_uri).unwrap_or_default();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Authorize {n}</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}button{{font-size:1rem;padding:.5rem 1rem;margin-right:.5rem}}</style></head>\
<body><main><h1>Authorize {n}</h1><p><strong>{n}</strong> ({h}) wants to act for <strong>{e}</strong> as an agent with:</p><ul>{s}</ul>\
<form method=\"post\" action=\"{m}/mcp/authorize\">{hidden}<button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button><button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form></main></body></html>",
        n = esc(name),
        h = esc(&host),
        e = esc(email),
        s = scopes,
        m = esc(mount),
    );
    HttpResponse {
        status: 200,
        headers: vec![
            ("content-type".into(), "text/html; charset=utf-8".into()),
            ("cache-control".into(), "no-store".into()),
            ("x-frame-options".into(), "DENY".into()),
            (
                "content-security-policy".into(),
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'".into(),
            ),
            // `no-referrer` would make the form POST send `Origin: null`, which the Origin check refuses;
            // `same-origin` keeps the real Origin on the POST and sends no Referer to the client.
            ("referrer-policy".into(), "same-origin".into()),
        ],
        body: html.into_bytes(),
    }
}

/// The suffix of a well-known path after its name (`/api/auth` of
/// `/.well-known/oauth-authorization-server/api/auth`).
fn well_known_suffix<'a>(path: &'a str, name: &str) -> &'a str {
    path.split_once(name).map(|(_, rest)| rest).unwrap_or("")
}

const ROUTES: &[Route] = &[
    route!(
        "GET",
        "/.well-known/oauth-authorization-server/*",
        |k, req, p| {
            let me = this(k)?;
            let suffix = well_known_suffix(&req.path, "oauth-authorization-server");
            let base = k.settings().base_path.as_str();
            if !(suffix.is_empty() || suffix == "/" || suffix.trim_end_matches('/') == base) {
                return Err(crate::http::ApiError::not_found("authorization server"));
            }
            Ok(public_json(&me.as_metadata(k)?))
        }
    ),
    route!(
        "GET",
        "/.well-known/oauth-protected-resource/*",
        |k, req, p| {
            let me = this(k)?;
            let suffix = well_known_suffix(&req.path, "oauth-protected-resource");
            match me.resource_metadata(k, req, suffix)? {
                Some(m) => Ok(public_json(&m)),
                None => Err(crate::http::ApiError::not_found("protected resource")),
            }
        }
    ),
    route!(cookieless "POST", "/mcp/register", |k, req, p| {
        let me = this(k)?;
        if !me.allow_registration {
            return Ok(oauth_error(403, "access_denied", "dynamic client registration is off"));
        }
        k.limit_ip(req).await?;
        let meta: Value = match serde_json::from_slice(&req.body) {
            Ok(v) if is_json(req) && crate::input::check_value(&v).is_ok() => v,
            _ => return Ok(oauth_error(400, "invalid_client_metadata", "send the client metadata as JSON of printable text")),
        };
        match me.register(k, &meta).await {
            Ok(out) => Ok(json_with(201, &out, &[])),
            Err((code, m)) if code == "server_error" => Ok(oauth_error(500, code, &m)),
            Err((code, m)) => Ok(oauth_error(400, code, &m)),
        }
    }),
    route!("GET", "/mcp/authorize", |k, req, p| {
        this(k)?.authorize_get(k, req).await
    }),
    route!("POST", "/mcp/authorize", |k, req, p| {
        this(k)?.authorize_post(k, req).await
    }),
    // Code and credential routes share the per-IP credential limit (429 with Retry-After).
    route!(cookieless "POST", "/mcp/token", |k, req, p| {
        let me = this(k)?;
        k.limit_ip(req).await?;
        me.token(k, req).await
    }),
    route!(cookieless "POST", "/mcp/revoke", |k, req, p| {
        let me = this(k)?;
        k.limit_ip(req).await?;
        me.revoke(k, req).await
    }),
    route!("GET", "/mcp/jwks", |k, req, p| {
        Ok(public_json(&this(k)?.ring.jwks(k).await?))
    }),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_https_or_loopback() {
        for ok in [
            "https://client.example.com/cb",
            "http://127.0.0.1:9/callback",
            "http://localhost:3000/cb",
            "http://[::1]:8080/cb",
        ] {
            assert!(redirect_uri_ok(ok), "{ok}");
        }
        for bad in [
            "http://client.example.com/cb",
            "https://client.example.com/cb#frag",
            "javascript:alert(1)",
            "http://127.0.0.1.evil.com/cb",
            "",
            "https://a.example.com/\ncb",
        ] {
            assert!(!redirect_uri_ok(bad), "{bad}");
        }
    }

    #[test]
    fn resource_paths_and_well_known_suffixes() {
        assert_eq!(resource_path("https://h.example.com/mcp"), "/mcp");
        assert_eq!(resource_path("http://127.0.0.1:3000"), "");
        assert_eq!(
            well_known_suffix(
                "/.well-known/oauth-authorization-server/api/auth",
                "oauth-authorization-server"
            ),
            "/api/auth"
        );
        assert_eq!(
            well_known_suffix(
                "/.well-known/oauth-protected-resource",
                "oauth-protected-resource"
            ),
            ""
        );
    }

    #[test]
    fn queries_are_appended() {
        assert_eq!(
            with_query("https://c/cb", &[("code", "a b")]),
            "https://c/cb?code=a+b"
        );
        assert_eq!(
            with_query("https://c/cb?x=1", &[("state", "s")]),
            "https://c/cb?x=1&state=s"
        );
    }

    #[test]
    fn consent_page_escapes_what_the_client_named() {
        let a = AuthRequest {
            client: Client {
                client_id: "mcp_x".into(),
                secret_hash: None,
                name: Some("<script>alert(1)</script>".into()),
                redirect_uris: vec!["https://c.example.com/cb".into()],
                auth_method: "none".into(),
                metadata: Value::Null,
            },
            redirect_uri: "https://c.example.com/cb".into(),
            state: Some("\"><img>".into()),
            code_challenge: "c".repeat(43),
            scope: split_scope("tools:call"),
            resource: None,
            prompt: BTreeSet::new(),
            params: [("state".to_owned(), "\"><img>".to_owned())]
                .into_iter()
                .collect(),
        };
        let html = String::from_utf8(consent_page(&a, "a@example.com", "/api/auth").body).unwrap();
        assert!(!html.contains("<script>"));
        assert!(!html.contains("\"><img>"));
        assert!(html.contains("action=\"/api/auth/mcp/authorize\""));
        let mut with_decision = a;
        with_decision
            .params
            .insert("decision".into(), "approve".into());
        let html =
            String::from_utf8(consent_page(&with_decision, "a@example.com", "/api/auth").body)
                .unwrap();
        assert_eq!(
            html.matches("name=\"decision\"").count(),
            2,
            "only the two buttons"
        );
    }
}
