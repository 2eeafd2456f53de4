//! The deviceAuthorization() plugin (better-auth 1.7's `device-authorization`, RFC 8628): a device
//! without a browser (a TV, a CLI) asks for a code pair, shows the user code, and polls for a
//! token while its user approves on another screen.
//!
//! - `POST /auth/device/code` `{ client_id, scope?, user_id? }` → `{ device_code, user_code,
//!   verification_uri, verification_uri_complete, expires_in, interval }`, and
//!   `POST /auth/device/token` `{ grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
//!   device_code, client_id }` → `{ access_token, token_type: 'Bearer', expires_in, scope }`. Both
//!   are called by devices (no cookie, no Origin: `route!(cookieless ...)`), take
//!   `application/x-www-form-urlencoded` as RFC 8628 says (JSON too), and answer RFC 6749's error
//!   shape `{ error, error_description }` (`authorization_pending`, `slow_down`, `expired_token`,
//!   `access_denied`, `invalid_grant`, ...).
//! - The access token is a core session token: `Authorization: Bearer <token>` works on
//!   `GET /auth/session` and `auth.getSession`, as for any session (banned users get none).
//! - `GET /auth/device?user_code=` is the user-code page's lookup: for a signed-in user it claims
//!   the pending code (then only they may decide it) and shows them `client_id` and `scope`;
//!   `POST /auth/device/approve|deny { userCode }` follow it (signed-in claimant only). These
//!   answer the core's `{ error: { code, message } }` with better-auth's codes
//!   (`INVALID_USER_CODE`, `EXPIRED_USER_CODE`, `DEVICE_CODE_ALREADY_PROCESSED`,
//!   `DEVICE_CODE_NOT_CLAIMED`, `ACCESS_DENIED`).
//! - User codes use RFC 8628 6.1's alphabet without vowels or look-alikes (`BCDFGHJKLMNPQRSTVWXZ`),
//!   shown as `XXXX-XXXX`; what a person types is normalised (case, dashes, spaces). Both codes
//!   are stored as keyed hashes only ([`store`]). Polling faster than the interval answers
//!   `slow_down` and adds 5 seconds to it; a device code is redeemed once.

mod store;

use std::collections::BTreeMap;

use rand::rngs::OsRng;
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{KavachError, Result};
use crate::http::{
    ok, ok_value, parse_body, session_token, ApiError, ApiResult, HttpRequest, HttpResponse,
};
use crate::kavach::Kavach;
use crate::plugin::{Plugin, PluginEnv, Route};
use crate::route;

/// RFC 8628 6.1's example alphabet: no vowels (no words), no 0/O or 1/I/L look-alikes... and no
/// digits at all, so a code is easy to read out and to type on a TV remote.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Device codes: letters and digits (40 of them are about 238 bits).
const DEVICE_CODE_ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
const DEFAULT_EXPIRES_MS: i64 = 30 * 60_000;
const DEFAULT_INTERVAL_MS: i64 = 5_000;
const VALIDATE_CLIENT_FN: &str = "device-authorization.validateClient";
const ON_REQUEST_FN: &str = "device-authorization.onDeviceAuthRequest";
/// Longest parameter value taken (better-auth's column limit).
const MAX_PARAM: usize = 191;

/// `deviceAuthorization(options)` of `kavachos/plugins`, running.
pub struct DeviceAuthorizationPlugin {
    pub settings: DeviceSettings,
    /// The key the codes' hashes are made with (from the instance secret).
    key: Vec<u8>,
}

impl std::fmt::Debug for DeviceAuthorizationPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorizationPlugin")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The checked `deviceAuthorization({ expiresIn?, interval?, userCodeLength?, deviceCodeLength?,
/// verificationUri?, validateClient?, onDeviceAuthRequest? })`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSettings {
    pub expires_ms: i64,
    pub interval_ms: i64,
    pub user_code_length: usize,
    pub device_code_length: usize,
    /// `verificationUri`: an absolute URL or a path on the app's origin (default `/device`).
    pub verification_uri: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    #[serde(default)]
    expires_in: Option<Value>,
    #[serde(default)]
    interval: Option<Value>,
    #[serde(default)]
    user_code_length: Option<u32>,
    #[serde(default)]
    device_code_length: Option<u32>,
    #[serde(default)]
    verification_uri: Option<String>,
    /// better-auth's `schema` (field renames for its adapter): our table is fixed, so it is
    /// accepted and has no effect.
    #[serde(default)]
    schema: Option<Value>,
}

fn duration(v: &Option<Value>, default: i64, what: &str, max: i64) -> Result<i64> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(v) => crate::config::parse_duration_ms(v)
            .filter(|ms| (1_000..=max).contains(ms))
            .ok_or_else(|| {
                KavachError::ConfigInvalid(format!(
                    "deviceAuthorization({{ {what} }}) must be seconds (a number) or a duration like '30m', from 1 second"
                ))
            }),
    }
}

/// Checks `deviceAuthorization()`'s options (the functions cross as hooks, not in `options`).
pub fn parse_options(options: &Value) -> Result<DeviceSettings> {
    let o: Options = match options {
        Value::Null => Options::default(),
        Value::Object(m) => {
            for key in [
                "validateClient",
                "onDeviceAuthRequest",
                "generateDeviceCode",
                "generateUserCode",
            ] {
                if m.contains_key(key) {
                    return Err(KavachError::ConfigInvalid(format!(
                        "deviceAuthorization({{ {key} }}) must be a function"
                    )));
                }
            }
            serde_json::from_value(options.clone()).map_err(|e| {
                KavachError::ConfigInvalid(format!("invalid deviceAuthorization() options: {e}"))
            })?
        }
        _ => {
            return Err(KavachError::ConfigInvalid(
                "deviceAuthorization() options must be an object".into(),
            ))
        }
    };
    let _ = o.schema;
    let expires_ms = duration(
        &o.expires_in,
        DEFAULT_EXPIRES_MS,
        "expiresIn",
        7 * 86_400_000,
    )?;
    let interval_ms = duration(&o.interval, DEFAULT_INTERVAL_MS, "interval", 3_600_000)?;
    let user_code_length = match o.user_code_length {
        None => 8,
        // Under 6 letters of 20 a code is guessable within its lifetime; over 32 nobody types it.
        Some(n @ 6..=32) => n as usize,
        Some(_) => {
            return Err(KavachError::ConfigInvalid(
                "deviceAuthorization({ userCodeLength }) must be from 6 to 32".into(),
            ))
        }
    };
    let device_code_length = match o.device_code_length {
        None => 40,
        Some(n @ 22..=191) => n as usize,
        Some(_) => {
            return Err(KavachError::ConfigInvalid(
                "deviceAuthorization({ deviceCodeLength }) must be from 22 to 191".into(),
            ))
        }
    };
    let verification_uri = match o.verification_uri {
        None => "/device".to_owned(),
        Some(u) => {
            let absolute = crate::config::origin_of(&u).is_some();
            let path = u.starts_with('/') && !u.starts_with("//");
            if u.len() > 2048
                || u.chars().any(|c| c.is_control() || c == ' ')
                || u.contains('#')
                || !(absolute || path)
            {
                return Err(KavachError::ConfigInvalid(
                    "deviceAuthorization({ verificationUri }) must be an http(s) URL or a path starting with /".into(),
                ));
            }
            u
        }
    };
    Ok(DeviceSettings {
        expires_ms,
        interval_ms,
        user_code_length,
        device_code_length,
        verification_uri,
    })
}

/// The registry's factory.
pub fn plugin(options: &Value, env: &PluginEnv<'_>) -> Result<std::sync::Arc<dyn Plugin>> {
    let settings = parse_options(options)?;
    for name in [
        "device-authorization.generateDeviceCode",
        "device-authorization.generateUserCode",
    ] {
        if env.callbacks.hooks.plugin_fn(name).is_some() {
            return Err(KavachError::ConfigInvalid(format!(
                "deviceAuthorization({{ {} }}) is not supported: kavachos draws the codes itself (see userCodeLength and deviceCodeLength)",
                name.trim_start_matches("device-authorization.")
            )));
        }
    }
    Ok(std::sync::Arc::new(DeviceAuthorizationPlugin {
        settings,
        key: crate::plugins::one_time::key(env.secret),
    }))
}

impl Plugin for DeviceAuthorizationPlugin {
    fn id(&self) -> &'static str {
        "device-authorization"
    }

    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn this(k: &Kavach) -> std::result::Result<&DeviceAuthorizationPlugin, ApiError> {
    k.plugin::<DeviceAuthorizationPlugin>()
        .ok_or_else(|| ApiError::not_found("route"))
}

// ---- codes --------------------------------------------------------------------------------------

fn random_code(alphabet: &[u8], len: usize) -> String {
    let mut rng = OsRng;
    (0..len)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

/// A user code as shown: its two halves joined by a dash (`WDJB-MJHT`).
fn display_user_code(code: &str) -> String {
    let mid = code.len() / 2;
    format!("{}-{}", &code[..mid], &code[mid..])
}

/// What a person typed, as stored: upper case, without dashes or spaces; `None` when anything
/// else is left (no lookup is made for it).
fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (!code.is_empty() && code.len() <= 64 && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

// ---- RFC 6749 answers ---------------------------------------------------------------------------

fn json_answer(status: u16, body: &Value) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![
            (
                "content-type".to_owned(),
                "application/json; charset=utf-8".to_owned(),
            ),
            ("cache-control".to_owned(), "no-store".to_owned()),
            ("pragma".to_owned(), "no-cache".to_owned()),
        ],
        body: body.to_string().into_bytes(),
    }
}

/// An RFC 6749 5.2 / RFC 8628 3.5 error answer.
fn oauth_error(status: u16, error: &str, description: &str) -> HttpResponse {
    json_answer(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

type Params = BTreeMap<String, String>;

fn collect(
    pairs: impl Iterator<Item = (String, String)>,
) -> std::result::Result<Params, HttpResponse> {
    let mut out = Params::new();
    for (k, v) in pairs {
        if k.len() > 64 || v.len() > MAX_PARAM || v.chars().any(char::is_control) {
            return Err(oauth_error(
                400,
                "invalid_request",
                "parameters must be printable text of at most 191 characters",
            ));
        }
        // RFC 6749 3.1: a parameter sent twice is an error (an empty one counts as absent).
        if v.is_empty() {
            continue;
        }
        if out.insert(k.clone(), v).is_some() {
            return Err(oauth_error(
                400,
                "invalid_request",
                &format!("{k} must not be repeated"),
            ));
        }
    }
    Ok(out)
}

/// The parameters of a device's request: a form body (RFC 8628) or a JSON object of strings.
fn params(req: &HttpRequest) -> std::result::Result<Params, HttpResponse> {
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
            if std::str::from_utf8(&req.body).is_err() {
                return Err(oauth_error(400, "invalid_request", "the body is not UTF-8"));
            }
            collect(form_urlencoded::parse(&req.body).into_owned())
        }
        "application/json" => {
            let v = crate::http::json_body(&req.body)
                .map_err(|e| oauth_error(400, "invalid_request", &e.message))?;
            let Value::Object(m) = v else {
                return Err(oauth_error(
                    400,
                    "invalid_request",
                    "the body must be an object",
                ));
            };
            let mut pairs = Vec::with_capacity(m.len());
            for (k, v) in m {
                match v {
                    Value::String(s) => pairs.push((k, s)),
                    Value::Null => {}
                    _ => {
                        return Err(oauth_error(
                            400,
                            "invalid_request",
                            &format!("{k} must be a string"),
                        ))
                    }
                }
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

// ---- the device's side --------------------------------------------------------------------------

impl DeviceAuthorizationPlugin {
    /// The app's `validateClient(clientId)`, if it gave one: only `true` lets the client in; a
    /// throw refuses (fail closed).
    async fn client_allowed(&self, k: &Kavach, client_id: &str) -> bool {
        match k.hooks().plugin_fn(VALIDATE_CLIENT_FN) {
            None => true,
            Some(f) => matches!(f.call(json!(client_id)).await, Ok(Value::Bool(true))),
        }
    }

    fn verification_uri(&self, k: &Kavach, req: &HttpRequest) -> String {
        let uri = &self.settings.verification_uri;
        if !uri.starts_with('/') {
            return uri.clone();
        }
        match k
            .settings()
            .base_origin
            .as_deref()
            .or(req.url_origin.as_deref())
        {
            Some(origin) => format!("{origin}{uri}"),
            None => uri.clone(),
        }
    }

    /// `POST /auth/device/code`.
    async fn code(&self, k: &Kavach, req: &HttpRequest) -> ApiResult {
        let p = match params(req) {
            Ok(p) => p,
            Err(r) => return Ok(r),
        };
        let Some(client_id) = p.get("client_id") else {
            return Ok(oauth_error(400, "invalid_request", "client_id is required"));
        };
        if !self.client_allowed(k, client_id).await {
            return Ok(oauth_error(400, "invalid_client", "Invalid client ID"));
        }
        let scope = p.get("scope").map(String::as_str);
        let user_id = p.get("user_id").map(String::as_str);
        if let Some(f) = k.hooks().plugin_fn(ON_REQUEST_FN) {
            if let Err(e) = f
                .call(json!({ "clientId": client_id, "scope": scope }))
                .await
            {
                return Ok(oauth_error(400, "invalid_request", &e.to_string()));
            }
        }
        let now = k.now_ms();
        let s = &self.settings;
        for _ in 0..3 {
            let device_code = random_code(DEVICE_CODE_ALPHABET, s.device_code_length);
            let user_code = random_code(USER_CODE_ALPHABET, s.user_code_length);
            let device_hash = store::hash(&self.key, "device-code", &device_code)?;
            let user_hash = store::hash(&self.key, "user-code", &user_code)?;
            let stored = store::insert(
                k,
                &store::NewCode {
                    device_hash: &device_hash,
                    user_hash: &user_hash,
                    user_id,
                    client_id,
                    scope,
                    interval_ms: s.interval_ms,
                    expires_at: now.saturating_add(s.expires_ms),
                },
            )
            .await?;
            if !stored {
                continue;
            }
            let shown = display_user_code(&user_code);
            let uri = self.verification_uri(k, req);
            let mut complete = form_urlencoded::Serializer::new(String::new());
            complete.append_pair("user_code", &shown);
            let sep = if uri.contains('?') { '&' } else { '?' };
            let complete = format!("{uri}{sep}{}", complete.finish());
            return Ok(json_answer(
                200,
                &json!({
                    "device_code": device_code,
                    "user_code": shown,
                    "verification_uri": uri,
                    "verification_uri_complete": complete,
                    "expires_in": s.expires_ms / 1000,
                    // Rounded up: a device that waits this long is never early.
                    "interval": (s.interval_ms + 999) / 1000,
                }),
            ));
        }
        Err(KavachError::Internal("could not draw unique device codes".into()).into())
    }

    /// `POST /auth/device/token`.
    async fn token(&self, k: &Kavach, req: &HttpRequest) -> ApiResult {
        let p = match params(req) {
            Ok(p) => p,
            Err(r) => return Ok(r),
        };
        match p.get("grant_type").map(String::as_str) {
            Some(GRANT_TYPE) => {}
            None => {
                return Ok(oauth_error(
                    400,
                    "invalid_request",
                    "grant_type is required",
                ))
            }
            Some(_) => {
                return Ok(oauth_error(
                    400,
                    "unsupported_grant_type",
                    "use urn:ietf:params:oauth:grant-type:device_code",
                ))
            }
        }
        let (Some(device_code), Some(client_id)) = (p.get("device_code"), p.get("client_id"))
        else {
            return Ok(oauth_error(
                400,
                "invalid_request",
                "device_code and client_id are required",
            ));
        };
        if !self.client_allowed(k, client_id).await {
            return Ok(oauth_error(400, "invalid_client", "Invalid client ID"));
        }
        let invalid = || Ok(oauth_error(400, "invalid_grant", "Invalid device code"));
        let hash = store::hash(&self.key, "device-code", device_code)?;
        let Some(row) = store::find(k, "device_code_hash", &hash).await? else {
            return invalid();
        };
        if row.client_id != *client_id {
            return Ok(oauth_error(400, "invalid_grant", "Client ID mismatch"));
        }
        let now = k.now_ms();
        if row.expires_at <= now {
            store::remove(k, &row.id).await?;
            return Ok(oauth_error(400, "expired_token", "Device code has expired"));
        }
        let early = row
            .last_polled_at
            .is_some_and(|at| now.saturating_sub(at) < row.interval_ms);
        // Of two polls that read the same row, only one records itself; the other came too early.
        if early || !store::record_poll(k, &row, now).await? {
            store::slow_down(k, &row.id, now).await?;
            return Ok(oauth_error(400, "slow_down", "Polling too frequently"));
        }
        match row.status.as_str() {
            "pending" => Ok(oauth_error(
                400,
                "authorization_pending",
                "Authorization pending",
            )),
            "denied" => {
                store::take(k, &row.id, "denied").await?;
                Ok(oauth_error(400, "access_denied", "Access denied"))
            }
            "approved" => {
                let Some(user_id) = row.user_id.as_deref() else {
                    return invalid();
                };
                // Single use: only the caller whose DELETE removed the approved row goes on.
                if !store::take(k, &row.id, "approved").await? {
                    return invalid();
                }
                let Some(user) = k.humans().user_by_id(user_id).await? else {
                    return Ok(oauth_error(
                        400,
                        "access_denied",
                        "the user no longer exists",
                    ));
                };
                let signed = match k.sign_in_verified(user, req.client()).await {
                    Ok(s) => s,
                    Err(KavachError::UserBanned) => {
                        return Ok(oauth_error(400, "access_denied", "the user is banned"))
                    }
                    Err(e) => return Err(e.into()),
                };
                let expires_in = (signed.session.expires_at - k.now_ms()).max(0) / 1000;
                Ok(json_answer(
                    200,
                    &json!({
                        "access_token": signed.token,
                        "token_type": "Bearer",
                        "expires_in": expires_in,
                        "scope": row.scope.unwrap_or_default(),
                    }),
                ))
            }
            _ => invalid(),
        }
    }
}

// ---- the user's side (the user-code page) -------------------------------------------------------

fn refused(code: &'static str, status: u16, message: &str) -> ApiError {
    KavachError::refused(code, status, message.to_owned()).into()
}

fn invalid_user_code() -> ApiError {
    refused("INVALID_USER_CODE", 400, "Invalid user code")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DecisionBody {
    user_code: String,
}

impl DeviceAuthorizationPlugin {
    /// The live row of a typed user code.
    async fn by_user_code(
        &self,
        k: &Kavach,
        typed: &str,
    ) -> std::result::Result<store::DeviceCode, ApiError> {
        let code = normalize_user_code(typed).ok_or_else(invalid_user_code)?;
        let hash = store::hash(&self.key, "user-code", &code)?;
        let row = store::find(k, "user_code_hash", &hash)
            .await?
            .ok_or_else(invalid_user_code)?;
        if row.expires_at <= k.now_ms() {
            return Err(refused("EXPIRED_USER_CODE", 400, "User code has expired"));
        }
        Ok(row)
    }

    /// `GET /auth/device?user_code=`.
    async fn lookup(&self, k: &Kavach, req: &HttpRequest) -> ApiResult {
        let mut typed = None;
        for (name, v) in req.query_map()? {
            if name == "user_code" {
                typed = Some(v);
            }
        }
        let Some(typed) = typed else {
            return Err(refused("VALIDATION_FAILED", 400, "user_code is required"));
        };
        let mut row = self.by_user_code(k, &typed).await?;
        let signed_in = match session_token(req, &k.settings().cookie_name) {
            Some(t) => k.get_session(t).await?,
            None => k.plugin_session(req).await?,
        };
        let me = signed_in.map(|(_, u)| u.id);
        if let Some(me) = &me {
            if row.user_id.is_none()
                && row.status == "pending"
                && store::claim(k, &row.id, me, k.now_ms()).await?
            {
                row.user_id = Some(me.clone());
            }
        }
        let mut answer = json!({ "user_code": typed, "status": row.status });
        if me.is_some() && row.user_id == me {
            answer["client_id"] = json!(row.client_id);
            if let Some(scope) = &row.scope {
                answer["scope"] = json!(scope);
            }
        }
        ok(&answer)
    }

    /// `POST /auth/device/approve` and `/auth/device/deny`.
    async fn decide(&self, k: &Kavach, req: &HttpRequest, status: &str) -> ApiResult {
        let b: DecisionBody = parse_body(req)?;
        let (_, user) = k.session_and_user(req).await?;
        let row = self.by_user_code(k, &b.user_code).await?;
        if row.status != "pending" {
            return Err(processed());
        }
        let Some(owner) = row.user_id.as_deref() else {
            return Err(refused(
                "DEVICE_CODE_NOT_CLAIMED",
                400,
                "Device code has not been claimed by a verifying session; call GET /device with the user_code while signed in before approving or denying",
            ));
        };
        if owner != user.id {
            return Err(refused(
                "ACCESS_DENIED",
                403,
                "You are not authorized to decide this device authorization",
            ));
        }
        if !store::decide(k, &row.id, &user.id, status, k.now_ms()).await? {
            return Err(processed());
        }
        ok_value(json!({ "success": true }))
    }
}

fn processed() -> ApiError {
    refused(
        "DEVICE_CODE_ALREADY_PROCESSED",
        400,
        "Device code already processed",
    )
}

/// The plugin's HTTP routes. The device's two routes and the page's lookup share the per-IP
/// credential limit (429 with Retry-After), as every code route does.
const ROUTES: &[Route] = &[
    route!(cookieless "POST", "/auth/device/code", |k, req, p| {
        let me = this(k)?;
        k.limit_ip(req).await?;
        me.code(k, req).await
    }),
    route!(cookieless "POST", "/auth/device/token", |k, req, p| {
        let me = this(k)?;
        k.limit_ip(req).await?;
        me.token(k, req).await
    }),
    route!("GET", "/auth/device", |k, req, p| {
        let me = this(k)?;
        k.limit_ip(req).await?;
        me.lookup(k, req).await
    }),
    route!("POST", "/auth/device/approve", |k, req, p| {
        let me = this(k)?;
        k.limit_ip(req).await?;
        me.decide(k, req, "approved").await
    }),
    route!("POST", "/auth/device/deny", |k, req, p| {
        let me = this(k)?;
        k.limit_ip(req).await?;
        me.decide(k, req, "denied").await
    }),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let d = parse_options(&Value::Null).unwrap();
        assert_eq!(d.expires_ms, 30 * 60_000);
        assert_eq!(d.interval_ms, 5_000);
        assert_eq!((d.user_code_length, d.device_code_length), (8, 40));
        assert_eq!(d.verification_uri, "/device");
        let o = parse_options(&json!({
            "expiresIn": "10m", "interval": 2, "userCodeLength": 10,
            "verificationUri": "https://example.com/activate"
        }))
        .unwrap();
        assert_eq!(
            (o.expires_ms, o.interval_ms, o.user_code_length),
            (600_000, 2_000, 10)
        );
        for bad in [
            json!({ "expiresIn": 0 }),
            json!({ "interval": "5x" }),
            json!({ "userCodeLength": 4 }),
            json!({ "deviceCodeLength": 8 }),
            json!({ "verificationUri": "javascript:alert(1)" }),
            json!({ "verificationUri": "//evil.example/x" }),
            json!({ "validateClient": true }),
            json!({ "nope": 1 }),
        ] {
            assert_eq!(
                parse_options(&bad).unwrap_err().code(),
                "CONFIG_INVALID",
                "{bad}"
            );
        }
    }

    #[test]
    fn user_codes_are_unambiguous_and_typed_loosely() {
        let c = random_code(USER_CODE_ALPHABET, 8);
        assert_eq!(c.len(), 8);
        assert!(c.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
        let shown = display_user_code(&c);
        assert_eq!(shown.len(), 9);
        assert_eq!(normalize_user_code(&shown).as_deref(), Some(c.as_str()));
        assert_eq!(
            normalize_user_code("wdjb-mjht").as_deref(),
            Some("WDJBMJHT")
        );
        assert_eq!(
            normalize_user_code(" WDJB MJHT ").as_deref(),
            Some("WDJBMJHT")
        );
        for bad in ["", "----", "WDJB-MJH0", "AEIO-UWDJ", "WDJB\u{0}MJHT"] {
            assert_eq!(normalize_user_code(bad), None, "{bad:?}");
        }
        let d = random_code(DEVICE_CODE_ALPHABET, 40);
        assert_eq!(d.len(), 40);
        assert_ne!(d, random_code(DEVICE_CODE_ALPHABET, 40));
    }

    #[test]
    fn hashes_depend_on_the_key_and_the_kind() {
        let a = store::hash(b"k1", "device-code", "x").unwrap();
        assert_ne!(a, store::hash(b"k2", "device-code", "x").unwrap());
        assert_ne!(a, store::hash(b"k1", "user-code", "x").unwrap());
        assert_eq!(a.len(), 64);
    }
}
