//! The oauth plugin (`oauth({ providers })` from `kavachos/auth`): sign-in with the 17 first-class
//! providers of `providers.rs` and with generic ones (explicit endpoints, or an OpenID Connect
//! `issuer` found by discovery), account linking and unlinking, and the provider tokens, sealed at
//! rest in `kavach_account` (the store the importers write) and refreshed on demand.
//!
//! The authorization request (PKCE S256, `state`, `nonce`) and the code and refresh exchanges go
//! through the `oauth2` crate; ID tokens are verified in `oidc.rs`. The state is single use: kept
//! server-side (sealed, keyed by its hash) and bound to the browser by a SameSite=Lax cookie, so a
//! callback URL replayed, forged or carried to another browser gives no session.
//!
//! Routes (under the mount): `GET /oauth/:id` and its callback `GET|POST /oauth/:id/callback`
//! (POST: Apple's `form_post`, answered with a redirect to the GET); better-auth's JSON routes
//! `POST /auth/sign-in/social`, `POST /auth/link-social`, `GET /auth/list-accounts`,
//! `POST /auth/unlink-account`. JS calls: `kavach.oauth.getAccessToken`, `listAccounts`,
//! `unlinkAccount`.

pub mod providers;

pub(crate) mod oidc;
mod store;

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointNotSet, EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, TokenResponse, TokenUrl,
};
use parking_lot::Mutex;
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use self::providers::{ClientAuth, Profile, Spec};
use self::store::{StateData, STATE_TTL_MS};
use crate::accounts::human::{normalize_email, same_origin_path, User};
use crate::accounts::provider_tokens::{self, TokenKind};
use crate::error::{KavachError, Result};
use crate::http::{ok, ok_value, parse_body, ApiError, ApiResult, HttpRequest, HttpResponse};
use crate::kavach::Kavach;
use crate::plugin::{decode, encode, PluginEnv, Route};
use crate::route;

/// The cookie that binds a started sign-in to the browser that started it.
pub const STATE_COOKIE: &str = "kavach_oauth_state";

/// A stored access token this close to its expiry is refreshed first (better-auth's margin).
const REFRESH_MARGIN_MS: i64 = 5_000;

pub(crate) fn oauth_error(code: &'static str, message: impl Into<String>) -> KavachError {
    KavachError::OAuth {
        code,
        message: message.into(),
    }
}

/// An endpoint kavachos may call or send people to: https, or http on a loopback host (a
/// provider run on the same machine, in development and tests).
pub(crate) fn check_endpoint(url: &str) -> std::result::Result<(), ()> {
    let (scheme, rest) = url.split_once("://").ok_or(())?;
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.rsplit_once(':').map_or(host_port, |(h, _)| h),
    };
    if host.is_empty() || url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(());
    }
    match scheme {
        "https" => Ok(()),
        "http" if matches!(host, "127.0.0.1" | "localhost" | "::1") => Ok(()),
        _ => Err(()),
    }
}

/// Where a provider's endpoints come from.
enum Source {
    First(&'static Spec),
    Generic {
        authorization: Option<String>,
        token: Option<String>,
        userinfo: Option<String>,
        issuer: Option<String>,
    },
}

/// The endpoints a flow uses, resolved (discovery done).
#[derive(Debug)]
struct Endpoints {
    authorization: String,
    token: String,
    userinfo: Option<String>,
    /// `(issuer, jwks_uri)` when ID tokens are verified.
    id_token: Option<(String, String)>,
}

struct Provider {
    id: String,
    name: String,
    client_id: String,
    client_secret: Option<String>,
    scopes: Vec<String>,
    scope_separator: &'static str,
    pkce: bool,
    auth: ClientAuth,
    disable_implicit_sign_up: bool,
    prompt: Option<String>,
    access_type: Option<String>,
    source: Source,
    resolved: Mutex<Option<Arc<Endpoints>>>,
}

type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

impl Provider {
    async fn endpoints(&self, http: &reqwest::Client) -> Result<Arc<Endpoints>> {
        if let Some(e) = self.resolved.lock().clone() {
            return Ok(e);
        }
        let e = match &self.source {
            Source::First(spec) => Endpoints {
                authorization: spec.authorization_endpoint.to_owned(),
                token: spec.token_endpoint.to_owned(),
                userinfo: None,
                id_token: spec
                    .id_token
                    .as_ref()
                    .map(|s| (s.issuer.to_owned(), s.jwks_uri.to_owned())),
            },
            Source::Generic {
                authorization,
                token,
                userinfo,
                issuer,
            } => {
                let d = match issuer {
                    Some(i) => Some(oidc::discover(http, i).await?),
                    None => None,
                };
                let pick = |own: &Option<String>, found: Option<&String>| {
                    own.clone().or_else(|| found.cloned())
                };
                let missing = || {
                    oauth_error(
                        "OAUTH_PROVIDER_ERROR",
                        "the provider has no authorization or token endpoint",
                    )
                };
                Endpoints {
                    authorization: pick(
                        authorization,
                        d.as_ref().map(|d| &d.authorization_endpoint),
                    )
                    .ok_or_else(missing)?,
                    token: pick(token, d.as_ref().map(|d| &d.token_endpoint))
                        .ok_or_else(missing)?,
                    userinfo: pick(
                        userinfo,
                        d.as_ref().and_then(|d| d.userinfo_endpoint.as_ref()),
                    ),
                    id_token: d.and_then(|d| d.jwks_uri.map(|j| (d.issuer, j))),
                }
            }
        };
        let e = Arc::new(e);
        *self.resolved.lock() = Some(e.clone());
        Ok(e)
    }

    fn client(&self, ep: &Endpoints, redirect_uri: &str) -> Result<OAuthClient> {
        let bad = |_| oauth_error("OAUTH_PROVIDER_ERROR", "a provider endpoint is not a URL");
        let mut c = oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_auth_uri(AuthUrl::new(ep.authorization.clone()).map_err(bad)?)
            .set_token_uri(TokenUrl::new(ep.token.clone()).map_err(bad)?)
            .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned()).map_err(bad)?)
            .set_auth_type(match self.auth {
                ClientAuth::Basic => AuthType::BasicAuth,
                ClientAuth::Post => AuthType::RequestBody,
            });
        if let Some(s) = &self.client_secret {
            c = c.set_client_secret(ClientSecret::new(s.clone()));
        }
        Ok(c)
    }

    /// Whether the authorization request carries a `nonce` (checked in the ID token).
    fn wants_nonce(&self, ep: &Endpoints) -> bool {
        match &self.source {
            Source::First(spec) => spec.nonce,
            Source::Generic { .. } => {
                ep.id_token.is_some() && self.scopes.iter().any(|s| s == "openid")
            }
        }
    }
}

/// A token endpoint's answer, read leniently: `scope` as a space- or comma-separated string or an
/// array (Twitch), `expires_in` as a number or a string, `token_type` missing or in any case.
#[derive(Debug, Clone, Serialize)]
pub struct TokenAnswer {
    access_token: AccessToken,
    token_type: BasicTokenType,
    expires_in: Option<u64>,
    refresh_token: Option<RefreshToken>,
    scopes: Option<Vec<Scope>>,
    id_token: Option<String>,
    #[serde(skip)]
    raw: Value,
}

impl<'de> Deserialize<'de> for TokenAnswer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        let raw = Value::deserialize(d)?;
        let text = |k: &str| raw.get(k).and_then(Value::as_str);
        let access = text("access_token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| D::Error::custom("no access_token"))?;
        let token_type = match text("token_type").map(str::to_ascii_lowercase).as_deref() {
            None | Some("bearer") => BasicTokenType::Bearer,
            Some("mac") => BasicTokenType::Mac,
            Some(other) => BasicTokenType::Extension(other.to_owned()),
        };
        let expires_in = raw
            .get("expires_in")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
        let scopes = match raw.get("scope") {
            Some(Value::String(s)) => Some(
                s.split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(|s| Scope::new(s.to_owned()))
                    .collect(),
            ),
            Some(Value::Array(a)) => Some(
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|s| Scope::new(s.to_owned()))
                    .collect(),
            ),
            _ => None,
        };
        Ok(TokenAnswer {
            access_token: AccessToken::new(access.to_owned()),
            token_type,
            expires_in,
            refresh_token: text("refresh_token")
                .filter(|t| !t.is_empty())
                .map(|t| RefreshToken::new(t.to_owned())),
            scopes,
            id_token: text("id_token").map(str::to_owned),
            raw,
        })
    }
}

impl TokenResponse for TokenAnswer {
    type TokenType = BasicTokenType;
    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }
    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }
    fn expires_in(&self) -> Option<Duration> {
        self.expires_in.map(Duration::from_secs)
    }
    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }
    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scopes.as_ref()
    }
}

impl TokenAnswer {
    fn scope_string(&self) -> Option<String> {
        self.scopes
            .as_ref()
            .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
    }
}

/// A refused exchange (a used, expired or foreign code; a bad client secret) is the caller's
/// `code_invalid`; anything else is the provider's fault.
fn exchange_error<RE: std::error::Error + 'static>(
    e: RequestTokenError<RE, BasicErrorResponse>,
    code_invalid: &'static str,
) -> KavachError {
    match e {
        RequestTokenError::ServerResponse(r) => oauth_error(
            code_invalid,
            format!("the provider refused the exchange ({})", r.error().as_ref()),
        ),
        // GitHub answers a bad code with 200 and an error body.
        RequestTokenError::Parse(_, body)
            if serde_json::from_slice::<Value>(&body)
                .ok()
                .is_some_and(|v| v.get("error").is_some()) =>
        {
            oauth_error(code_invalid, "the provider refused the exchange")
        }
        _ => oauth_error(
            "OAUTH_PROVIDER_ERROR",
            "the provider's token endpoint could not be used",
        ),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProviderOptions {
    id: String,
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    authorization_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint: Option<String>,
    #[serde(default)]
    user_info_endpoint: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    pkce: Option<bool>,
    #[serde(default)]
    authentication: Option<String>,
    #[serde(default)]
    disable_implicit_sign_up: Option<bool>,
    /// OpenID Connect `prompt` (better-auth's name), e.g. `"select_account consent"`; replaces a
    /// first-class provider's own.
    #[serde(default)]
    prompt: Option<String>,
    /// Google's `access_type` (better-auth's `accessType`): `"offline"` asks for a refresh token.
    #[serde(default)]
    access_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OAuthOptions {
    providers: Vec<ProviderOptions>,
}

fn parse_provider(o: ProviderOptions) -> Result<Provider> {
    let bad =
        |m: String| KavachError::ConfigInvalid(format!("oauth(): provider \"{}\": {m}", o.id));
    let id_ok = !o.id.is_empty()
        && o.id.len() <= 64
        && o.id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !id_ok {
        return Err(KavachError::ConfigInvalid(format!(
            "oauth(): provider id \"{}\" must be 1-64 characters of a-z, 0-9, - and _",
            o.id.chars().take(64).collect::<String>()
        )));
    }
    if o.client_id.is_empty() || o.client_id.chars().any(char::is_control) {
        return Err(bad("clientId is required".into()));
    }
    if o.client_secret
        .as_deref()
        .is_some_and(|s| s.chars().any(char::is_control))
    {
        return Err(bad("clientSecret must not hold control characters".into()));
    }
    let auth = match o.authentication.as_deref() {
        None => None,
        Some("basic") => Some(ClientAuth::Basic),
        Some("post") => Some(ClientAuth::Post),
        Some(_) => return Err(bad("authentication must be 'basic' or 'post'".into())),
    };
    for u in [
        &o.authorization_endpoint,
        &o.token_endpoint,
        &o.user_info_endpoint,
        &o.issuer,
    ]
    .into_iter()
    .flatten()
    {
        check_endpoint(u).map_err(|_| {
            bad(format!(
                "\"{u}\" must be an https URL (http only on localhost)"
            ))
        })?;
    }
    if o.prompt.as_deref().is_some_and(|p| {
        p.is_empty()
            || !p
                .split(' ')
                .all(|w| matches!(w, "none" | "login" | "consent" | "select_account"))
    }) {
        return Err(bad(
            "prompt must be words among none, login, consent and select_account".into(),
        ));
    }
    if o.access_type
        .as_deref()
        .is_some_and(|a| a != "offline" && a != "online")
    {
        return Err(bad("accessType must be 'offline' or 'online'".into()));
    }
    if let Some(scopes) = &o.scopes {
        if scopes
            .iter()
            .any(|s| s.is_empty() || s.chars().any(|c| c.is_control() || c == ' '))
        {
            return Err(bad("scopes must be non-empty words".into()));
        }
    }
    let (source, name, default_scopes, separator, pkce, auth) = match providers::spec(&o.id) {
        Some(spec) => {
            if o.authorization_endpoint.is_some()
                || o.token_endpoint.is_some()
                || o.user_info_endpoint.is_some()
                || o.issuer.is_some()
            {
                return Err(bad(
                    "a first-class provider's endpoints are built in; use another id for a generic provider".into(),
                ));
            }
            (
                Source::First(spec),
                spec.name.to_owned(),
                spec.default_scopes
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
                spec.scope_separator,
                o.pkce.unwrap_or(spec.pkce) && spec.pkce,
                auth.unwrap_or(spec.client_auth),
            )
        }
        None => {
            let has_endpoints = o.authorization_endpoint.is_some() && o.token_endpoint.is_some();
            if !has_endpoints && o.issuer.is_none() {
                return Err(KavachError::ConfigInvalid(format!(
                    "oauth(): \"{}\" is not a built-in provider: give it authorizationEndpoint and tokenEndpoint, or an OpenID Connect issuer",
                    o.id
                )));
            }
            let scopes = if o.issuer.is_some() {
                vec!["openid".into(), "email".into(), "profile".into()]
            } else {
                Vec::new()
            };
            (
                Source::Generic {
                    authorization: o.authorization_endpoint,
                    token: o.token_endpoint,
                    userinfo: o.user_info_endpoint,
                    issuer: o.issuer,
                },
                o.name.clone().unwrap_or_else(|| o.id.clone()),
                scopes,
                " ",
                o.pkce.unwrap_or(true),
                auth.unwrap_or(ClientAuth::Basic),
            )
        }
    };
    Ok(Provider {
        name: o.name.unwrap_or(name),
        scopes: o.scopes.unwrap_or(default_scopes),
        id: o.id,
        client_id: o.client_id,
        client_secret: o.client_secret.filter(|s| !s.is_empty()),
        scope_separator: separator,
        pkce,
        auth,
        disable_implicit_sign_up: o.disable_implicit_sign_up.unwrap_or(false),
        prompt: o.prompt,
        access_type: o.access_type,
        source,
        resolved: Mutex::new(None),
    })
}

/// The running plugin.
pub struct OAuthPlugin {
    providers: Vec<Provider>,
    secret: String,
    http: reqwest::Client,
    keys: oidc::KeySets,
    /// Refreshes of stored tokens run one at a time, so that two callers never spend the same
    /// refresh token (providers that rotate it would revoke the grant).
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for OAuthPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthPlugin")
            .field(
                "providers",
                &self.providers.iter().map(|p| &p.id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The plugin's factory (`{ id: 'oauth', options: { providers } }`).
pub fn plugin(options: &Value, env: &PluginEnv<'_>) -> Result<Arc<dyn crate::plugin::Plugin>> {
    let o: OAuthOptions = serde_json::from_value(options.clone())
        .map_err(|e| KavachError::ConfigInvalid(format!("oauth(): {e}")))?;
    let secret = env.secret.filter(|s| !s.is_empty()).ok_or_else(|| {
        KavachError::ConfigInvalid(
            "oauth() needs the instance secret: provider tokens are stored encrypted with it"
                .into(),
        )
    })?;
    let mut providers: Vec<Provider> = Vec::with_capacity(o.providers.len());
    for p in o.providers {
        let p = parse_provider(p)?;
        if providers.iter().any(|q| q.id == p.id) {
            return Err(KavachError::ConfigInvalid(format!(
                "oauth(): provider \"{}\" is listed twice",
                p.id
            )));
        }
        providers.push(p);
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("kavachos/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| KavachError::Internal("could not build the HTTP client".into()))?;
    Ok(Arc::new(OAuthPlugin {
        providers,
        secret: secret.to_owned(),
        http,
        keys: oidc::KeySets::default(),
        refreshing: tokio::sync::Mutex::new(()),
    }))
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// Where a started sign-in goes next.
#[derive(Default)]
struct Start {
    callback: Option<String>,
    error_callback: Option<String>,
    new_user_callback: Option<String>,
    link_user: Option<String>,
}

/// How a finished callback ended.
struct Done {
    token: Option<String>,
    new_user: bool,
}

fn redirect(location: &str, cookies: Vec<String>) -> HttpResponse {
    let mut headers = vec![
        ("location".to_owned(), location.to_owned()),
        ("cache-control".to_owned(), "no-store".to_owned()),
    ];
    headers.extend(cookies.into_iter().map(|c| ("set-cookie".to_owned(), c)));
    HttpResponse {
        status: 302,
        headers,
        body: Vec::new(),
    }
}

/// `url` with `error=<code>` added to its query.
pub(crate) fn with_error(url: &str, code: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut out = format!("{base}{sep}error={code}");
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

impl OAuthPlugin {
    fn provider(&self, id: &str) -> Result<&Provider> {
        self.providers
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| KavachError::NotFound("OAuth provider not found".into()))
    }

    fn state_cookie(&self, k: &Kavach, value: &str, max_age_ms: i64) -> String {
        format!(
            "{STATE_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
            max_age_ms / 1000,
            if k.settings().secure_cookies {
                "; Secure"
            } else {
                ""
            }
        )
    }

    /// `scheme://host` this instance is reached at.
    fn own_origin<'a>(k: &'a Kavach, req: &'a HttpRequest) -> Result<&'a str> {
        k.settings()
            .base_origin
            .as_deref()
            .or(req.url_origin.as_deref())
            .ok_or_else(|| KavachError::ConfigInvalid("set baseUrl to use OAuth sign-in".into()))
    }

    /// A callback URL on this site: a relative path, or an absolute URL on our own origin or a
    /// trusted one. Anything else is refused (no open redirect).
    pub(crate) fn safe_target(k: &Kavach, req: &HttpRequest, url: &str) -> Result<String> {
        if url.len() > 2048 {
            return Err(KavachError::validation("callbackURL is too long"));
        }
        if url.starts_with('/') {
            return Ok(same_origin_path(url)?.to_owned());
        }
        let origin = crate::config::origin_of(url);
        let s = k.settings();
        let own = s.base_origin.as_deref().or(req.url_origin.as_deref());
        match origin {
            Some(o)
                if !url.chars().any(char::is_control)
                    && (own == Some(o.as_str()) || s.trusted_origins.contains(&o)) =>
            {
                Ok(url.to_owned())
            }
            _ => Err(KavachError::validation(
                "callbackURL must be a path or a URL on this site",
            )),
        }
    }

    /// Where the API is mounted: as the request reached it, else the configured `basePath`.
    /// `{origin}{mount}/oauth/:id/callback`: the URI to register at the provider.
    fn redirect_uri(k: &Kavach, req: &HttpRequest, id: &str) -> Result<String> {
        Ok(format!(
            "{}{}/oauth/{id}/callback",
            Self::own_origin(k, req)?,
            req.mount_or(&k.settings().base_path)
        ))
    }

    /// Starts a sign-in or a link: the provider's authorize URL and the state cookie.
    async fn start(
        &self,
        k: &Kavach,
        req: &HttpRequest,
        id: &str,
        s: Start,
    ) -> Result<(String, String)> {
        let p = self.provider(id)?;
        let target = |u: Option<String>| -> Result<Option<String>> {
            u.map(|u| Self::safe_target(k, req, &u)).transpose()
        };
        let data = StateData {
            verifier: None,
            nonce: None,
            callback: target(s.callback)?.unwrap_or_else(|| "/".to_owned()),
            error_callback: target(s.error_callback)?,
            new_user_callback: target(s.new_user_callback)?,
            link_user: s.link_user,
        };
        let redirect_uri = Self::redirect_uri(k, req, id)?;
        let ep = p.endpoints(&self.http).await?;
        let client = p.client(&ep, &redirect_uri)?;
        let state = random_token();
        let nonce = p.wants_nonce(&ep).then(random_token);
        let mut auth = client.authorize_url(|| CsrfToken::new(state.clone()));
        if p.scope_separator == " " {
            auth = auth.add_scopes(p.scopes.iter().map(|s| Scope::new(s.clone())));
        } else if !p.scopes.is_empty() {
            auth = auth.add_scope(Scope::new(p.scopes.join(p.scope_separator)));
        }
        let mut verifier = None;
        if p.pkce {
            let (challenge, v) = PkceCodeChallenge::new_random_sha256();
            auth = auth.set_pkce_challenge(challenge);
            verifier = Some(v.secret().clone());
        }
        if let Source::First(spec) = &p.source {
            for (name, value) in spec.extra_authorize_params {
                if !(*name == "prompt" && p.prompt.is_some()) {
                    auth = auth.add_extra_param(*name, *value);
                }
            }
        }
        if let Some(prompt) = &p.prompt {
            auth = auth.add_extra_param("prompt", prompt.clone());
        }
        if let Some(access_type) = &p.access_type {
            auth = auth.add_extra_param("access_type", access_type.clone());
        }
        if let Some(n) = &nonce {
            auth = auth.add_extra_param("nonce", n.clone());
        }
        let (url, _) = auth.url();
        let data = StateData {
            verifier,
            nonce,
            ..data
        };
        store::put_state(k, &self.secret, &state, id, &data).await?;
        Ok((url.to_string(), self.state_cookie(k, &state, STATE_TTL_MS)))
    }

    /// The callback: checks the state, then finishes the sign-in or link; after a valid state
    /// every failure is a redirect with `error=<CODE>`, never a session.
    async fn callback(&self, k: &Kavach, req: &HttpRequest, id: &str) -> ApiResult {
        let p = self.provider(id)?;
        let q = req.query_map()?;
        let get = |n: &str| {
            q.iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let clear = self.state_cookie(k, "", 0);
        let state = get("state").filter(|s| s.len() <= 256);
        let bound = match (state, req.cookie(STATE_COOKIE)) {
            (Some(s), Some(c)) => bool::from(s.as_bytes().ct_eq(c.as_bytes())),
            _ => false,
        };
        let refuse = |e: KavachError| {
            let mut e = ApiError::from(e);
            e.headers.push(("set-cookie".into(), clear.clone()));
            e
        };
        let (Some(state), true) = (state, bound) else {
            return Err(refuse(oauth_error(
                "OAUTH_STATE_INVALID",
                "this sign-in was not started in this browser, or it was already used",
            )));
        };
        let data = store::take_state(k, &self.secret, state, id)
            .await
            .map_err(refuse)?;
        match self.finish(k, req, p, &data, &get).await {
            Ok(done) => {
                let target = match (done.new_user, &data.new_user_callback) {
                    (true, Some(n)) => n.as_str(),
                    _ => data.callback.as_str(),
                };
                let mut cookies = vec![clear];
                if let Some(t) = &done.token {
                    cookies.push(k.session_cookie(t));
                }
                Ok(redirect(target, cookies))
            }
            Err(e) => {
                let target = data.error_callback.as_deref().unwrap_or(&data.callback);
                Ok(redirect(&with_error(target, e.code()), vec![clear]))
            }
        }
    }

    async fn finish<'q>(
        &self,
        k: &Kavach,
        req: &HttpRequest,
        p: &Provider,
        data: &StateData,
        get: &impl Fn(&str) -> Option<&'q str>,
    ) -> Result<Done> {
        if let Some(err) = get("error") {
            return Err(if err == "access_denied" {
                oauth_error(
                    "OAUTH_ACCESS_DENIED",
                    "the sign-in was cancelled at the provider",
                )
            } else {
                oauth_error("OAUTH_PROVIDER_ERROR", "the provider refused the sign-in")
            });
        }
        let code = get("code")
            .ok_or_else(|| oauth_error("OAUTH_CODE_MISSING", "the provider sent no code"))?;
        if code.len() > 4096 {
            return Err(oauth_error("OAUTH_CODE_INVALID", "the code is malformed"));
        }
        let ep = p.endpoints(&self.http).await?;
        let client = p.client(&ep, &Self::redirect_uri(k, req, &p.id)?)?;
        let mut exchange = client.exchange_code(AuthorizationCode::new(code.to_owned()));
        if let Some(v) = &data.verifier {
            exchange = exchange.set_pkce_verifier(PkceCodeVerifier::new(v.clone()));
        }
        let answer = exchange
            .request_async(&self.http)
            .await
            .map_err(|e| exchange_error(e, "OAUTH_CODE_INVALID"))?;
        let id_claims = match (&ep.id_token, &answer.id_token) {
            (Some((issuer, jwks)), Some(token)) => Some(
                oidc::verify_id_token(
                    &self.http,
                    &self.keys,
                    jwks,
                    token,
                    &oidc::Expect {
                        issuer,
                        client_id: &p.client_id,
                        alt_issuer: None,
                        nonce: data.nonce.as_deref(),
                    },
                )
                .await?,
            ),
            (Some(_), None) if data.nonce.is_some() => {
                return Err(oauth_error(
                    "OAUTH_ID_TOKEN_INVALID",
                    "the provider sent no ID token",
                ))
            }
            _ => None,
        };
        let profile = match &p.source {
            Source::First(spec) => {
                let tokens = providers::Tokens {
                    access_token: answer.access_token.secret().clone(),
                    raw: answer.raw.clone(),
                    id_claims,
                    apple_user: get("user").and_then(|u| serde_json::from_str(u).ok()),
                };
                providers::fetch_profile(spec, &self.http, &tokens)
                    .await
                    .map_err(|e| oauth_error("OAUTH_PROVIDER_ERROR", e.0))?
            }
            Source::Generic { .. } => {
                generic_profile(&self.http, &ep, answer.access_token.secret(), id_claims).await?
            }
        };
        let profile = clean_profile(profile)?;
        let now = k.now_ms();
        let scope = answer
            .scope_string()
            .or_else(|| Some(p.scopes.join(" ")).filter(|s| !s.is_empty()));
        let expires_at = answer
            .expires_in
            .map(|s| now.saturating_add(i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)));
        let seal = |account_id: &str| {
            store::seal_tokens(
                &self.secret,
                account_id,
                answer.access_token.secret(),
                answer.refresh_token.as_ref().map(|r| r.secret().as_str()),
                expires_at,
                scope.clone(),
            )
        };
        let existing = store::account_by_subject(k, &p.id, &profile.subject).await?;

        if let Some(link_user) = &data.link_user {
            match existing {
                Some(a) if &a.user_id != link_user => {
                    return Err(oauth_error(
                        "OAUTH_ACCOUNT_IN_USE",
                        "this provider account is linked to another user",
                    ))
                }
                Some(a) => store::update_tokens(k, &a.id, &seal(&a.id)?).await?,
                None => {
                    let aid = store::new_account_id();
                    store::insert_account(
                        k,
                        &aid,
                        link_user,
                        &p.id,
                        &profile.subject,
                        &seal(&aid)?,
                        false,
                    )
                    .await?;
                }
            }
            return Ok(Done {
                token: None,
                new_user: false,
            });
        }

        let (user, new_user) = sign_in_or_up(
            k,
            &p.id,
            &profile,
            existing,
            Some(&seal),
            p.disable_implicit_sign_up,
        )
        .await?;
        let (_, token) = k
            .humans()
            .create_session(&user.id, req.client(), now, true)
            .await?;
        Ok(Done {
            token: Some(token),
            new_user,
        })
    }

    /// `getAccessToken`: the stored access token, refreshed first when it expires within
    /// [`REFRESH_MARGIN_MS`] and a refresh token is stored.
    async fn access_token(&self, k: &Kavach, input: AccountRef) -> Result<Value> {
        let find = || async {
            store::accounts_of(k, &input.user_id)
                .await?
                .into_iter()
                .find(|a| {
                    a.provider_id == input.provider_id
                        && input
                            .account_id
                            .as_deref()
                            .is_none_or(|id| id == a.provider_account_id)
                })
                .ok_or_else(|| KavachError::NotFound("account not found".into()))
        };
        let stale = |a: &store::AccountRow| {
            a.refresh_token.is_some()
                && a.expires_at
                    .is_some_and(|e| e.saturating_sub(k.now_ms()) < REFRESH_MARGIN_MS)
        };
        let mut account = find().await?;
        if stale(&account) {
            let _one_at_a_time = self.refreshing.lock().await;
            account = find().await?;
            if stale(&account) {
                account = self.refresh(k, account).await?;
            }
        }
        let sealed = account.access_token.as_deref().ok_or_else(|| {
            KavachError::NotFound("no access token is stored for this account".into())
        })?;
        let access = provider_tokens::open(&self.secret, &account.id, TokenKind::Access, sealed)?;
        Ok(json!({
            "accessToken": access,
            "accessTokenExpiresAt": account.expires_at,
            "scopes": store::scopes_of(account.scope.as_deref()),
        }))
    }

    async fn refresh(&self, k: &Kavach, mut a: store::AccountRow) -> Result<store::AccountRow> {
        let p = self.provider(&a.provider_id)?;
        let Some(sealed) = a.refresh_token.as_deref() else {
            return Ok(a);
        };
        let refresh = provider_tokens::open(&self.secret, &a.id, TokenKind::Refresh, sealed)?;
        let ep = p.endpoints(&self.http).await?;
        // The redirect URI is not sent with a refresh; any well-formed one builds the client.
        let client = p.client(&ep, "https://localhost/unused")?;
        let answer = client
            .exchange_refresh_token(&RefreshToken::new(refresh))
            .request_async(&self.http)
            .await
            .map_err(|e| exchange_error(e, "OAUTH_REFRESH_FAILED"))?;
        let now = k.now_ms();
        let expires_at = answer
            .expires_in
            .map(|s| now.saturating_add(i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)));
        let t = store::seal_tokens(
            &self.secret,
            &a.id,
            answer.access_token.secret(),
            answer.refresh_token.as_ref().map(|r| r.secret().as_str()),
            expires_at,
            answer.scope_string(),
        )?;
        store::update_tokens(k, &a.id, &t).await?;
        a.access_token = t.access;
        if t.refresh.is_some() {
            a.refresh_token = t.refresh;
        }
        a.expires_at = expires_at;
        if t.scope.is_some() {
            a.scope = t.scope;
        }
        Ok(a)
    }
}

/// A generic provider's profile: the verified ID token's claims, completed (never overridden for
/// `sub`) by its user info endpoint.
async fn generic_profile(
    http: &reqwest::Client,
    ep: &Endpoints,
    access_token: &str,
    id_claims: Option<Value>,
) -> Result<Profile> {
    let mut info = id_claims.clone().unwrap_or_else(|| json!({}));
    if let Some(url) = &ep.userinfo {
        let ui = oidc::get_json(http, url, Some(access_token)).await?;
        if let Some(claims) = &id_claims {
            // OpenID Connect Core 5.3.4: the user info must be about the token's subject.
            if ui.get("sub") != claims.get("sub") {
                return Err(oauth_error(
                    "OAUTH_PROVIDER_ERROR",
                    "the user info is about another subject",
                ));
            }
        }
        if let (Some(into), Value::Object(from)) = (info.as_object_mut(), ui) {
            for (key, v) in from {
                into.entry(key).or_insert(v);
            }
        }
    }
    let text = |k: &str| match info.get(k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let subject = text("sub").or_else(|| text("id")).ok_or_else(|| {
        oauth_error(
            "OAUTH_PROVIDER_ERROR",
            "the provider did not say who signed in (configure userInfoEndpoint or issuer)",
        )
    })?;
    let verified = match info.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    Ok(Profile {
        subject,
        email: text("email"),
        email_verified: verified,
        name: text("name").or_else(|| text("preferred_username")),
        image: text("picture").or_else(|| text("avatar_url")),
    })
}

/// Bounds what a provider said before it is stored: a subject of at most 255 characters without
/// control characters, a valid email (lowercased), a name cut to 255 characters and an image URL
/// of at most 2,048.
/// Seals the provider tokens for the account row `id` (see [`sign_in_or_up`]).
type Sealer<'a> = dyn Fn(&str) -> Result<store::SealedTokens> + Sync + 'a;

/// Signs in the user a provider account (`provider_id`, `profile.subject`) is linked to, or links
/// it by a verified email to the user who has it, or signs a new user up (unless
/// `disable_sign_up`); `seal` makes the provider tokens the account row keeps. Shared by the
/// redirect callback and the oneTap plugin, so an ID token signs in exactly as a redirect does.
pub(crate) async fn sign_in_or_up(
    k: &Kavach,
    provider_id: &str,
    profile: &Profile,
    existing: Option<store::AccountRow>,
    seal: Option<&Sealer<'_>>,
    disable_sign_up: bool,
) -> Result<(User, bool)> {
    // A sign-in that brings no provider tokens (an ID token alone) keeps what a link stores.
    let sealed = |aid: &str| match seal {
        Some(f) => f(aid),
        None => Ok(store::SealedTokens {
            access: None,
            refresh: None,
            expires_at: None,
            scope: None,
        }),
    };
    let humans = k.humans();
    let now = k.now_ms();
    let (user, new_user) = match existing {
        Some(a) => {
            let user = humans.user_by_id(&a.user_id).await?.ok_or_else(|| {
                oauth_error("OAUTH_PROVIDER_ERROR", "the linked user no longer exists")
            })?;
            if user.is_banned(now) {
                return Err(KavachError::UserBanned);
            }
            if let Some(seal) = seal {
                store::update_tokens(k, &a.id, &seal(&a.id)?).await?;
            }
            (user, false)
        }
        None => {
            let email = profile.email.clone().ok_or_else(|| {
                oauth_error(
                    "OAUTH_EMAIL_MISSING",
                    "the provider did not share an email address",
                )
            })?;
            match store::user_by_email(k, &email).await? {
                Some(user) => {
                    // Only an email the provider vouches for may join an existing account:
                    // otherwise anyone could claim a victim's address at a lax provider.
                    if !profile.email_verified {
                        return Err(oauth_error(
                            "OAUTH_ACCOUNT_NOT_LINKED",
                            "an account with this email exists; sign in and link this provider from it",
                        ));
                    }
                    if user.is_banned(now) {
                        return Err(KavachError::UserBanned);
                    }
                    let aid = store::new_account_id();
                    store::insert_account(
                        k,
                        &aid,
                        &user.id,
                        provider_id,
                        &profile.subject,
                        &sealed(&aid)?,
                        true,
                    )
                    .await?;
                    (user, false)
                }
                None => {
                    if disable_sign_up {
                        return Err(oauth_error(
                            "OAUTH_SIGN_UP_DISABLED",
                            "new accounts cannot be created with this provider",
                        ));
                    }
                    let mut user = User {
                        name: profile.name.clone(),
                        email_verified: profile.email_verified,
                        image: profile.image.clone(),
                        ..User::new(email, now)
                    };
                    for plugin in k.plugins().iter() {
                        plugin.prepare_user(&mut user);
                    }
                    let aid = store::new_account_id();
                    store::create_user(
                        k,
                        &user,
                        &aid,
                        provider_id,
                        &profile.subject,
                        &sealed(&aid)?,
                    )
                    .await?;
                    (user, true)
                }
            }
        }
    };
    Ok((user, new_user))
}

/// Signs in (or up) the holder of a verified ID token of `provider_id` (the oneTap plugin): the
/// account that owns `sub` wins, then a verified email links, as on the redirect path.
pub(crate) async fn sign_in_with_id_claims(
    k: &Kavach,
    req: &HttpRequest,
    provider_id: &str,
    claims: &Value,
    disable_sign_up: bool,
) -> Result<crate::accounts::human::SignedIn> {
    let text = |n: &str| claims.get(n).and_then(Value::as_str).map(str::to_owned);
    let profile = clean_profile(Profile {
        subject: text("sub").unwrap_or_default(),
        email: text("email"),
        email_verified: match claims.get("email_verified") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        },
        name: text("name"),
        image: text("picture"),
    })?;
    let existing = store::account_by_subject(k, provider_id, &profile.subject).await?;
    let (user, _) =
        sign_in_or_up(k, provider_id, &profile, existing, None, disable_sign_up).await?;
    k.sign_in_verified(user, req.client()).await
}

fn clean_profile(mut p: Profile) -> Result<Profile> {
    if p.subject.is_empty() || p.subject.len() > 255 || p.subject.chars().any(char::is_control) {
        return Err(oauth_error(
            "OAUTH_PROVIDER_ERROR",
            "the provider's user id is unusable",
        ));
    }
    p.email = p.email.and_then(|e| normalize_email(&e).ok());
    if p.email.is_none() {
        p.email_verified = false;
    }
    p.name = p
        .name
        .map(|n| n.chars().filter(|c| !c.is_control()).take(255).collect())
        .filter(|n: &String| !n.is_empty());
    p.image = p.image.filter(|i| {
        i.len() <= 2048
            && (i.starts_with("https://") || i.starts_with("http://"))
            && !i.chars().any(char::is_control)
    });
    Ok(p)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AccountRef {
    user_id: String,
    provider_id: String,
    #[serde(default)]
    account_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UserRef {
    user_id: String,
}

async fn call(k: &Kavach, op: &str, input: Value) -> Result<Value> {
    let me = this(k)?;
    match op {
        "getAccessToken" => {
            me.access_token(k, decode(input, "getAccessToken input")?)
                .await
        }
        "listAccounts" => {
            let r: UserRef = decode(input, "listAccounts input")?;
            let rows = store::accounts_of(k, &r.user_id).await?;
            Ok(Value::Array(
                rows.iter().map(store::AccountRow::public).collect(),
            ))
        }
        "unlinkAccount" => {
            let r: AccountRef = decode(input, "unlinkAccount input")?;
            store::unlink(k, &r.user_id, &r.provider_id, r.account_id.as_deref()).await?;
            encode(&json!({ "success": true }))
        }
        "providers" => Ok(Value::Array(
            me.providers
                .iter()
                .map(|p| json!({ "id": p.id, "name": p.name }))
                .collect(),
        )),
        other => Err(KavachError::validation(format!(
            "oauth has no call \"{other}\""
        ))),
    }
}

fn this(k: &Kavach) -> Result<&OAuthPlugin> {
    k.plugin::<OAuthPlugin>()
        .ok_or_else(|| KavachError::Internal("the oauth plugin is not on".into()))
}

#[derive(Deserialize)]
struct SocialBody {
    provider: String,
    #[serde(default, rename = "callbackURL")]
    callback_url: Option<String>,
    #[serde(default, rename = "errorCallbackURL")]
    error_callback_url: Option<String>,
    #[serde(default, rename = "newUserCallbackURL")]
    new_user_callback_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UnlinkBody {
    provider_id: String,
    #[serde(default)]
    account_id: Option<String>,
}

/// `{ url, redirect: true }` and the state cookie.
fn started(url: String, cookie: String) -> ApiResult {
    let mut r = ok_value(json!({ "url": url, "redirect": true }))?;
    r.headers.push(("set-cookie".into(), cookie));
    Ok(r)
}

static ROUTES: &[Route] = &[
    route!("GET", "/oauth/:id", |k, req, p| {
        let me = this(k)?;
        let q = req.query_map()?;
        let get = |n: &str| q.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        me.provider(p[0])?;
        k.limit_ip(req).await?;
        let link_user = match get("link").as_deref() {
            Some("1" | "true") => Some(k.session_user(req).await?.id),
            _ => None,
        };
        let (url, cookie) = me
            .start(
                k,
                req,
                p[0],
                Start {
                    callback: get("callbackURL"),
                    error_callback: get("errorCallbackURL"),
                    new_user_callback: get("newUserCallbackURL"),
                    link_user,
                },
            )
            .await?;
        Ok(redirect(&url, vec![cookie]))
    }),
    route!("GET", "/oauth/:id/callback", |k, req, p| {
        k.limit_ip(req).await?;
        this(k)?.callback(k, req, p[0]).await
    }),
    // Apple posts the callback as a form from its own site: no cookie of ours rides on that
    // cross-site POST, so it is turned into the GET (a top-level navigation, which carries the
    // SameSite=Lax state cookie) and checked there. Nothing is read or changed here.
    route!(cross_site_form "POST", "/oauth/:id/callback", |k, req, p| {
        this(k)?.provider(p[0])?;
        if req.body.len() > 16 * 1024 {
            return Err(ApiError::new(413, "PAYLOAD_TOO_LARGE", "the request body is too large"));
        }
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form_urlencoded::parse(&req.body))
            .finish();
        let location = format!("{}/oauth/{}/callback?{query}", req.mount_or(&k.settings().base_path), p[0]);
        Ok(HttpResponse {
            status: 303,
            headers: vec![
                ("location".into(), location),
                ("cache-control".into(), "no-store".into()),
            ],
            body: Vec::new(),
        })
    }),
    route!("POST", "/auth/sign-in/social", |k, req, p| {
        let b: SocialBody = parse_body(req)?;
        let me = this(k)?;
        me.provider(&b.provider)?;
        k.limit_ip(req).await?;
        let (url, cookie) = me
            .start(
                k,
                req,
                &b.provider,
                Start {
                    callback: b.callback_url,
                    error_callback: b.error_callback_url,
                    new_user_callback: b.new_user_callback_url,
                    link_user: None,
                },
            )
            .await?;
        started(url, cookie)
    }),
    route!("POST", "/auth/link-social", |k, req, p| {
        let b: SocialBody = parse_body(req)?;
        let me = this(k)?;
        let user = k.session_user(req).await?;
        me.provider(&b.provider)?;
        k.limit_ip(req).await?;
        let (url, cookie) = me
            .start(
                k,
                req,
                &b.provider,
                Start {
                    callback: b.callback_url,
                    error_callback: b.error_callback_url,
                    new_user_callback: None,
                    link_user: Some(user.id),
                },
            )
            .await?;
        started(url, cookie)
    }),
    route!("GET", "/auth/list-accounts", |k, req, p| {
        let user = k.session_user(req).await?;
        let rows = store::accounts_of(k, &user.id).await?;
        ok(&rows
            .iter()
            .map(store::AccountRow::public)
            .collect::<Vec<_>>())
    }),
    route!("POST", "/auth/unlink-account", |k, req, p| {
        let b: UnlinkBody = parse_body(req)?;
        let user = k.session_user(req).await?;
        store::unlink(k, &user.id, &b.provider_id, b.account_id.as_deref()).await?;
        ok_value(json!({ "success": true }))
    }),
];

impl crate::plugin::Plugin for OAuthPlugin {
    fn id(&self) -> &'static str {
        "oauth"
    }

    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    fn namespace(&self) -> Option<&'static str> {
        Some("oauth")
    }

    fn call<'a>(
        &'a self,
        k: &'a Kavach,
        op: &'a str,
        input: Value,
    ) -> crate::BoxFut<'a, Result<Value>> {
        Box::pin(call(k, op, input))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_https_or_loopback() {
        assert!(check_endpoint("https://github.com/login/oauth/authorize").is_ok());
        assert!(check_endpoint("http://127.0.0.1:4000/auth").is_ok());
        assert!(check_endpoint("http://localhost/auth").is_ok());
        assert!(check_endpoint("http://[::1]:80/x").is_ok());
        assert!(check_endpoint("http://example.com/auth").is_err());
        assert!(check_endpoint("http://127.0.0.1.evil.com/auth").is_err());
        assert!(check_endpoint("javascript:alert(1)").is_err());
        assert!(check_endpoint("https://a b/").is_err());
    }

    #[test]
    fn errors_join_the_callback_query() {
        assert_eq!(with_error("/", "X"), "/?error=X");
        assert_eq!(with_error("/a?b=1", "X"), "/a?b=1&error=X");
        assert_eq!(with_error("/a#f", "X"), "/a?error=X#f");
    }

    #[test]
    fn token_answers_are_read_leniently() {
        let t: TokenAnswer = serde_json::from_value(json!({
            "access_token": "at", "token_type": "bearer", "expires_in": "3600",
            "scope": ["user:read:email", "openid"], "refresh_token": "rt", "id_token": "x.y.z"
        }))
        .unwrap();
        assert_eq!(t.expires_in, Some(3600));
        assert_eq!(t.scope_string().as_deref(), Some("user:read:email openid"));
        let t: TokenAnswer =
            serde_json::from_value(json!({ "access_token": "at", "scope": "repo,gist" })).unwrap();
        assert_eq!(t.scope_string().as_deref(), Some("repo gist"));
        assert!(
            serde_json::from_value::<TokenAnswer>(json!({ "error": "bad_verification_code" }))
                .is_err()
        );
    }

    #[test]
    fn options_are_checked() {
        let env_secret = "0123456789abcdef0123456789abcdef";
        let cb = crate::callbacks::Callbacks::default();
        let env = PluginEnv {
            secret: Some(env_secret),
            base_url: None,
            callbacks: &cb,
        };
        let bad = [
            json!({ "providers": [{ "id": "linear", "clientId": "x", "clientSecret": "y" }] }),
            json!({ "providers": [{ "id": "linear", "clientId": "x", "authorizationEndpoint": "http://example.com/a", "tokenEndpoint": "https://example.com/t" }] }),
            json!({ "providers": [{ "id": "github", "clientId": "" }] }),
            json!({ "providers": [{ "id": "Git Hub", "clientId": "x" }] }),
            json!({ "providers": [{ "id": "github", "clientId": "x" }, { "id": "github", "clientId": "y" }] }),
            json!({ "providers": [{ "id": "github", "clientId": "x", "issuer": "https://example.com" }] }),
            json!({ "providers": [{ "id": "x", "clientId": "x", "issuer": "https://e.com", "authentication": "jwt" }] }),
        ];
        for b in bad {
            match plugin(&b, &env) {
                Err(e) => assert_eq!(e.code(), "CONFIG_INVALID", "{b}"),
                Ok(_) => panic!("accepted {b}"),
            }
        }
        let env_without = PluginEnv {
            secret: None,
            base_url: None,
            callbacks: &cb,
        };
        assert!(plugin(&json!({ "providers": [] }), &env_without).is_err());
        assert!(plugin(&json!({ "providers": [
            { "id": "linear", "clientId": "x", "clientSecret": "y", "authorizationEndpoint": "https://linear.app/oauth/authorize", "tokenEndpoint": "https://api.linear.app/oauth/token", "scopes": ["read"] },
            { "id": "corp", "clientId": "x", "issuer": "http://127.0.0.1:9999" },
        ] }), &env).is_ok());
    }

    #[test]
    fn profiles_are_bounded() {
        let p = clean_profile(Profile {
            subject: "1".into(),
            email: Some(" Ada@Example.COM ".into()),
            email_verified: true,
            name: Some("Ada\u{0}".into()),
            image: Some("javascript:x".into()),
        })
        .unwrap();
        assert_eq!(p.email.as_deref(), Some("ada@example.com"));
        assert_eq!(p.name.as_deref(), Some("Ada"));
        assert_eq!(p.image, None);
        let p = clean_profile(Profile {
            subject: "1".into(),
            email: Some("not an email".into()),
            email_verified: true,
            ..Default::default()
        })
        .unwrap();
        assert!(p.email.is_none() && !p.email_verified);
        assert!(clean_profile(Profile {
            subject: "a\nb".into(),
            ..Default::default()
        })
        .is_err());
    }
}
