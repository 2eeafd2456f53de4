//! The passkey() plugin (better-auth 1.7's `passkey`): WebAuthn Level 2 registration and sign-in,
//! checked by webauthn-rs. Routes under the mount:
//!
//! - `GET /auth/passkey/generate-register-options?name=&authenticatorAttachment=` (signed in, with a
//!   session younger than a day) and `POST /auth/passkey/verify-registration { response, name? }`;
//! - `GET /auth/passkey/generate-authenticate-options?email=` (a discoverable credential, or the
//!   passkeys of `email` / of the signed-in user) and `POST /auth/passkey/verify-authentication
//!   { response }`, which signs in like every other method (the session cookie; a banned user is
//!   refused; per-IP limits);
//! - `GET /auth/passkey/list-user-passkeys`, `POST /auth/passkey/update-passkey { id, name }`,
//!   `POST /auth/passkey/delete-passkey { id }`: the signed-in user's own passkeys only.
//!
//! The options answered are `PublicKeyCredentialCreationOptionsJSON` /
//! `PublicKeyCredentialRequestOptionsJSON` (base64url), what `@simplewebauthn/browser` takes.
//!
//! A ceremony's state (its challenge) stays on the server, in `kavach_one_time` ([`OneTime`]):
//! the browser holds only a random token in an HttpOnly cookie, stored as a keyed hash, and the
//! state is taken with a conditional `DELETE` when the answer comes back, so a challenge works
//! once. A registration's state is also bound to the session that asked for it. webauthn-rs checks
//! the origin, the rpId hash, user verification, the signature and the sign counter; the stored
//! counter then moves with a conditional `UPDATE`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::Row;
use webauthn_rs::prelude::{
    Credential, CredentialID, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn,
    WebauthnBuilder,
};

use crate::accounts::human::{normalize_email, User};
use crate::crypto::token::new_id;
use crate::error::{KavachError, Result};
use crate::http::{ok, ok_value, parse_body, ApiError, ApiResult, HttpRequest};
use crate::kavach::Kavach;
use crate::plugins::one_time::{OneTime, Taken};
use crate::route;
use crate::store::db::{sql_for, Ts};
use crate::{col_opt_str, col_str, on_pool};

/// `purpose` of a registration's state in `kavach_one_time`.
const REGISTER: &str = "passkey-registration";
/// `purpose` of an authentication's state.
const AUTHENTICATE: &str = "passkey-authentication";
/// The cookie that carries a ceremony's token (better-auth's `webAuthnChallengeCookie`).
pub const CHALLENGE_COOKIE: &str = "kavach_passkey";
/// How long a ceremony may take (better-auth's 5 minutes).
const CHALLENGE_TTL_MS: i64 = 5 * 60_000;
/// A passkey is added only from a session this young (better-auth's fresh session: a day).
const FRESH_MS: i64 = 86_400_000;
/// A user's passkeys: more is refused.
const MAX_PER_USER: usize = 100;

/// `passkey(options)` of `kavachos/plugins`, running.
pub struct PasskeyPlugin {
    settings: PasskeySettings,
    /// Keys the challenge tokens' hashes (from the instance secret).
    key: Vec<u8>,
}

impl std::fmt::Debug for PasskeyPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyPlugin")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The checked `passkey({ rpID?, rpName?, origin? })`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PasskeySettings {
    pub rp_id: Option<String>,
    pub rp_name: Option<String>,
    /// The origins an answer may come from (`scheme://host[:port]`); none: `baseUrl`'s, else the
    /// one the request was sent to.
    pub origins: Vec<String>,
    /// `baseUrl`'s origin, if set.
    base_origin: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Options {
    #[serde(default, rename = "rpID")]
    rp_id: Option<String>,
    #[serde(default, rename = "rpName")]
    rp_name: Option<String>,
    #[serde(default)]
    origin: Option<Value>,
}

fn config(msg: impl Into<String>) -> KavachError {
    KavachError::ConfigInvalid(msg.into())
}

/// Checks `passkey()`'s options against `baseUrl`.
pub fn parse_options(options: &Value, base_url: Option<&str>) -> Result<PasskeySettings> {
    let o: Options = match options {
        Value::Null => Options::default(),
        v => serde_json::from_value(v.clone())
            .map_err(|e| config(format!("invalid passkey() options: {e}")))?,
    };
    let mut origins = Vec::new();
    match &o.origin {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => origins.push(s.clone()),
        Some(Value::Array(a)) => {
            for v in a {
                match v {
                    Value::String(s) => origins.push(s.clone()),
                    _ => return Err(config("passkey({ origin }) must be a string or strings")),
                }
            }
        }
        Some(_) => return Err(config("passkey({ origin }) must be a string or strings")),
    }
    let origins = origins
        .iter()
        .map(|s| {
            crate::config::origin_of(s.trim())
                .filter(|o| o.len() == s.trim().trim_end_matches('/').len())
                .ok_or_else(|| {
                    config(format!(
                        "passkey({{ origin }}): \"{s}\" is not an origin (scheme://host[:port])"
                    ))
                })
        })
        .collect::<Result<Vec<_>>>()?;
    for (what, v) in [("rpID", &o.rp_id), ("rpName", &o.rp_name)] {
        if let Some(s) = v {
            if s.is_empty() || s.len() > 255 || s.chars().any(char::is_control) {
                return Err(config(format!(
                    "passkey({{ {what} }}) must be a non-empty string of at most 255 characters"
                )));
            }
        }
    }
    let settings = PasskeySettings {
        rp_id: o.rp_id.map(|s| s.to_ascii_lowercase()),
        rp_name: o.rp_name,
        origins,
        base_origin: base_url.and_then(crate::config::origin_of),
    };
    // Checked at boot when the origin is known (else against each request's origin): the rpID
    // must be the origin's host or a parent domain of it.
    if let Some(first) = settings.origins.first().or(settings.base_origin.as_ref()) {
        settings
            .webauthn(first)
            .map_err(|e| config(e.to_string()))?;
    } else if settings.rp_id.is_some() {
        // Checked against each request's origin.
    }
    Ok(settings)
}

impl PasskeySettings {
    /// The relying party for answers from `fallback_origin` (when neither `origin` nor `baseUrl`
    /// says where the app lives).
    fn webauthn(&self, fallback_origin: &str) -> Result<Webauthn> {
        let origins: Vec<&str> = if !self.origins.is_empty() {
            self.origins.iter().map(String::as_str).collect()
        } else if let Some(o) = &self.base_origin {
            vec![o.as_str()]
        } else {
            vec![fallback_origin]
        };
        let urls = origins
            .iter()
            .map(|o| Url::parse(o).map_err(|_| config(format!("passkey(): bad origin {o}"))))
            .collect::<Result<Vec<_>>>()?;
        let rp_id = match &self.rp_id {
            Some(id) => id.clone(),
            None => urls[0]
                .host_str()
                .ok_or_else(|| config("passkey(): the origin has no host"))?
                .to_owned(),
        };
        let mut b = WebauthnBuilder::new(&rp_id, &urls[0]).map_err(|_| {
            config(format!(
                "passkey(): rpID \"{rp_id}\" must be the host of {} or a parent domain of it (an IP address cannot be one)",
                origins[0]
            ))
        })?;
        for u in &urls[1..] {
            b = b.append_allowed_origin(u);
        }
        b.rp_name(self.rp_name.as_deref().unwrap_or("kavachos"))
            .build()
            .map_err(|_| config("passkey(): invalid relying party"))
    }
}

/// The registry's factory.
pub fn plugin(
    options: &Value,
    env: &crate::plugin::PluginEnv<'_>,
) -> Result<std::sync::Arc<dyn crate::plugin::Plugin>> {
    Ok(std::sync::Arc::new(PasskeyPlugin {
        settings: parse_options(options, env.base_url)?,
        key: crate::plugins::one_time::key(env.secret),
    }))
}

impl crate::plugin::Plugin for PasskeyPlugin {
    fn id(&self) -> &'static str {
        "passkey"
    }

    fn routes(&self) -> &'static [crate::plugin::Route] {
        ROUTES
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// ---- errors -------------------------------------------------------------------------------------

fn challenge_not_found() -> KavachError {
    KavachError::refused(
        "CHALLENGE_NOT_FOUND",
        400,
        "no passkey ceremony is under way (or it expired, or its answer was already used)",
    )
}

fn registration_failed() -> KavachError {
    KavachError::refused(
        "FAILED_TO_VERIFY_REGISTRATION",
        400,
        "the passkey registration could not be verified",
    )
}

fn authentication_failed() -> KavachError {
    KavachError::refused(
        "AUTHENTICATION_FAILED",
        401,
        "the passkey could not be verified",
    )
}

fn passkey_not_found() -> KavachError {
    KavachError::refused("PASSKEY_NOT_FOUND", 404, "passkey not found")
}

// ---- rows ---------------------------------------------------------------------------------------

/// One row of `kavach_passkey`.
struct Row1 {
    id: String,
    user_id: String,
    name: Option<String>,
    credential_id: String,
    credential: String,
    counter: i64,
    device_type: String,
    backed_up: bool,
    transports: Option<String>,
    aaguid: Option<String>,
    created_at: i64,
}

impl Row1 {
    /// better-auth's `Passkey` shape (the public key stays server-side).
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "userId": self.user_id,
            "credentialID": self.credential_id,
            "counter": self.counter,
            "deviceType": self.device_type,
            "backedUp": self.backed_up,
            "transports": self.transports,
            "aaguid": self.aaguid,
            "createdAt": self.created_at,
        })
    }

    fn passkey(&self) -> Result<Passkey> {
        serde_json::from_str(&self.credential)
            .map_err(|_| KavachError::Internal("a stored passkey could not be read".into()))
    }
}

const COLUMNS: &str = "id, user_id, name, credential_id, credential, counter, device_type, backed_up, transports, aaguid, created_at";

fn row1(r: &impl RowLike) -> Result<Row1> {
    r.row1()
}

/// Reads a [`Row1`] from any dialect's row.
trait RowLike {
    fn row1(&self) -> Result<Row1>;
}

macro_rules! impl_rowlike {
    ($t:ty) => {
        impl RowLike for $t {
            fn row1(&self) -> Result<Row1> {
                let r = self;
                Ok(Row1 {
                    id: col_str!(r, "id")?,
                    user_id: col_str!(r, "user_id")?,
                    name: col_opt_str!(r, "name")?,
                    credential_id: col_str!(r, "credential_id")?,
                    credential: col_str!(r, "credential")?,
                    counter: r.try_get::<i64, _>("counter")?,
                    device_type: col_str!(r, "device_type")?,
                    backed_up: r.try_get::<bool, _>("backed_up")?,
                    transports: col_opt_str!(r, "transports")?,
                    aaguid: col_opt_str!(r, "aaguid")?,
                    created_at: r.try_get::<Ts, _>("created_at")?.0,
                })
            }
        }
    };
}
impl_rowlike!(sqlx::sqlite::SqliteRow);
impl_rowlike!(sqlx::postgres::PgRow);
impl_rowlike!(sqlx::mysql::MySqlRow);

/// The table's queries.
struct Store<'k> {
    k: &'k Kavach,
}

impl<'k> Store<'k> {
    fn sql<'s>(&self, s: &'s str) -> std::borrow::Cow<'s, str> {
        sql_for(self.k.dialect(), s)
    }

    async fn of_user(&self, user_id: &str) -> Result<Vec<Row1>> {
        let text = format!(
            "SELECT {COLUMNS} FROM kavach_passkey WHERE user_id = ? ORDER BY created_at, id"
        );
        let sql = self.sql(&text);
        on_pool!(self.k.pool(), p => {
            sqlx::query(&sql).bind(user_id).fetch_all(p).await?.iter().map(row1).collect()
        })
    }

    async fn by_credential(&self, credential_id: &str) -> Result<Option<Row1>> {
        let text = format!("SELECT {COLUMNS} FROM kavach_passkey WHERE credential_id = ?");
        let sql = self.sql(&text);
        on_pool!(self.k.pool(), p => {
            match sqlx::query(&sql).bind(credential_id).fetch_optional(p).await? {
                Some(r) => Ok(Some(row1(&r)?)),
                None => Ok(None),
            }
        })
    }

    async fn own(&self, id: &str, user_id: &str) -> Result<Option<Row1>> {
        let text = format!("SELECT {COLUMNS} FROM kavach_passkey WHERE id = ? AND user_id = ?");
        let sql = self.sql(&text);
        on_pool!(self.k.pool(), p => {
            match sqlx::query(&sql).bind(id).bind(user_id).fetch_optional(p).await? {
                Some(r) => Ok(Some(row1(&r)?)),
                None => Ok(None),
            }
        })
    }

    async fn insert(&self, row: &Row1) -> Result<()> {
        let sql = self.sql(
            "INSERT INTO kavach_passkey (id, user_id, name, credential_id, credential, counter, device_type, backed_up, transports, aaguid, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        let done = on_pool!(self.k.pool(), p => sqlx::query(&sql)
            .bind(&row.id).bind(&row.user_id).bind(&row.name).bind(&row.credential_id)
            .bind(&row.credential).bind(row.counter).bind(&row.device_type).bind(row.backed_up)
            .bind(&row.transports).bind(&row.aaguid).bind(Ts(row.created_at))
            .execute(p).await.map(|_| ()));
        match done {
            Ok(()) => Ok(()),
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                Err(previously_registered())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Moves the counter and the stored credential after an assertion, only if no other
    /// assertion moved them meanwhile. True when this one did.
    async fn after_assertion(&self, row: &Row1, pk: &Passkey) -> Result<bool> {
        let cred = Credential::from(pk.clone());
        let text = serde_json::to_string(pk)
            .map_err(|_| KavachError::Internal("a passkey could not be stored".into()))?;
        let sql = self.sql(
            "UPDATE kavach_passkey SET counter = ?, credential = ?, backed_up = ?, device_type = ? WHERE id = ? AND counter = ?",
        );
        let n = on_pool!(self.k.pool(), p => sqlx::query(&sql)
            .bind(i64::from(cred.counter)).bind(&text).bind(cred.backup_state)
            .bind(device_type(&cred)).bind(&row.id).bind(row.counter)
            .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    async fn rename(&self, id: &str, user_id: &str, name: &str) -> Result<bool> {
        let sql = self.sql("UPDATE kavach_passkey SET name = ? WHERE id = ? AND user_id = ?");
        let n = on_pool!(self.k.pool(), p => sqlx::query(&sql)
            .bind(name).bind(id).bind(user_id).execute(p).await?.rows_affected());
        // MySQL counts only changed rows: an unchanged name is still a match.
        Ok(n == 1 || self.own(id, user_id).await?.is_some())
    }

    async fn delete(&self, id: &str, user_id: &str) -> Result<bool> {
        let sql = self.sql("DELETE FROM kavach_passkey WHERE id = ? AND user_id = ?");
        let n = on_pool!(self.k.pool(), p => sqlx::query(&sql)
            .bind(id).bind(user_id).execute(p).await?.rows_affected());
        Ok(n == 1)
    }
}

fn previously_registered() -> KavachError {
    KavachError::refused(
        "PREVIOUSLY_REGISTERED",
        400,
        "this passkey is already registered",
    )
}

fn device_type(c: &Credential) -> &'static str {
    if c.backup_eligible {
        "multiDevice"
    } else {
        "singleDevice"
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

// ---- the ceremonies -----------------------------------------------------------------------------

fn challenge_cookie(k: &Kavach, value: &str, max_age_s: i64) -> String {
    format!(
        "{CHALLENGE_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{}",
        if k.settings().secure_cookies {
            "; Secure"
        } else {
            ""
        }
    )
}

/// A JSON answer with the challenge cookie set (or cleared).
fn with_cookie(mut r: crate::http::HttpResponse, cookie: String) -> ApiResult {
    r.headers.push(("set-cookie".into(), cookie));
    Ok(r)
}

impl PasskeyPlugin {
    fn one_time<'k>(&'k self, k: &'k Kavach) -> OneTime<'k> {
        OneTime::new(k, &self.key)
    }

    fn relying_party(&self, k: &Kavach, req: &HttpRequest) -> Result<Webauthn> {
        let fallback = k
            .settings()
            .base_origin
            .as_deref()
            .or(req.url_origin.as_deref())
            .unwrap_or("http://localhost");
        self.settings.webauthn(fallback).map_err(|e| {
            KavachError::refused(
                "PASSKEY_NOT_CONFIGURED",
                400,
                format!("passkeys are not available here: {e}"),
            )
        })
    }

    /// The user handle the authenticator keeps: a keyed hash of the user id (stable, so a user's
    /// passkeys on one authenticator replace each other; it tells nothing of the id).
    fn user_handle(&self, user_id: &str) -> Result<Uuid> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .map_err(|_| KavachError::Internal("could not key a user handle".into()))?;
        mac.update(b"passkey-user-handle\0");
        mac.update(user_id.as_bytes());
        let out = mac.finalize().into_bytes();
        let mut b = [0u8; 16];
        b.copy_from_slice(&out[..16]);
        Ok(Uuid::from_bytes(b))
    }

    /// Takes (consumes) the ceremony state the request's cookie points to.
    async fn take_state(&self, k: &Kavach, req: &HttpRequest, purpose: &str) -> Result<Value> {
        let token = req
            .cookie(CHALLENGE_COOKIE)
            .filter(|t| !t.is_empty() && t.len() <= 128)
            .ok_or_else(challenge_not_found)?;
        match self.one_time(k).take_secret(purpose, token).await? {
            Taken::Valid {
                data: Some(data), ..
            } => Ok(data),
            _ => Err(challenge_not_found()),
        }
    }

    async fn register_options(&self, k: &Kavach, req: &HttpRequest) -> ApiResult {
        let (session, user) = k.session_and_user(req).await?;
        if k.now_ms() - session.created_at > FRESH_MS {
            return Err(KavachError::refused(
                "SESSION_NOT_FRESH",
                403,
                "sign in again to add a passkey",
            )
            .into());
        }
        let (mut name, mut attachment) = (None, None);
        for (q, v) in req.query_map()? {
            match q.as_str() {
                "name" => name = Some(v),
                "authenticatorAttachment" => attachment = Some(v),
                _ => {}
            }
        }
        if let Some(n) = &name {
            check_name(n)?;
        }
        if let Some(a) = &attachment {
            if a != "platform" && a != "cross-platform" {
                return Err(KavachError::validation(
                    "authenticatorAttachment must be 'platform' or 'cross-platform'",
                )
                .into());
            }
        }
        let existing = Store { k }.of_user(&user.id).await?;
        if existing.len() >= MAX_PER_USER {
            return Err(KavachError::refused(
                "TOO_MANY_PASSKEYS",
                400,
                format!("a user may have at most {MAX_PER_USER} passkeys"),
            )
            .into());
        }
        let exclude = existing
            .iter()
            .filter_map(|r| URL_SAFE_NO_PAD.decode(&r.credential_id).ok())
            .collect::<Vec<CredentialID>>();
        let rp = self.relying_party(k, req)?;
        let user_name = name.clone().unwrap_or_else(|| user.email.clone());
        let display = user.name.clone().unwrap_or_else(|| user.email.clone());
        let (ccr, state) = rp
            .start_passkey_registration(
                self.user_handle(&user.id)?,
                &user_name,
                &display,
                Some(exclude),
            )
            .map_err(|_| registration_failed())?;
        let mut options = serde_json::to_value(&ccr)
            .map_err(|_| KavachError::Internal("could not encode passkey options".into()))?
            .get_mut("publicKey")
            .map(Value::take)
            .unwrap_or(Value::Null);
        // A discoverable credential where the authenticator can make one (better-auth's
        // `residentKey: 'preferred'`), so that sign-in needs no email.
        if let Some(sel) = options
            .get_mut("authenticatorSelection")
            .and_then(Value::as_object_mut)
        {
            sel.insert("residentKey".into(), json!("preferred"));
            sel.insert("requireResidentKey".into(), json!(false));
            if let Some(a) = attachment {
                sel.insert("authenticatorAttachment".into(), json!(a));
            }
        }
        let token = OneTime::new_token();
        let data = json!({
            "state": serde_json::to_value(&state)
                .map_err(|_| KavachError::Internal("could not store a passkey challenge".into()))?,
            "userId": user.id,
            "sessionId": session.id,
        });
        self.one_time(k)
            .issue(REGISTER, &user.id, &token, Some(&data), CHALLENGE_TTL_MS)
            .await?;
        with_cookie(
            ok(&options)?,
            challenge_cookie(k, &token, CHALLENGE_TTL_MS / 1000),
        )
    }

    async fn verify_registration(&self, k: &Kavach, req: &HttpRequest) -> ApiResult {
        let (session, user) = k.session_and_user(req).await?;
        let b: RegisterBody = parse_body(req)?;
        let name = match b.name.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(n) => Some(check_name(n)?.to_owned()),
        };
        k.limit_ip(req).await?;
        let data = self.take_state(k, req, REGISTER).await?;
        // Bound to the session that asked for the options.
        if data.get("userId").and_then(Value::as_str) != Some(user.id.as_str())
            || data.get("sessionId").and_then(Value::as_str) != Some(session.id.as_str())
        {
            return Err(KavachError::refused(
                "YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY",
                401,
                "this passkey challenge belongs to another session",
            )
            .into());
        }
        let state: PasskeyRegistration = data
            .get("state")
            .cloned()
            .and_then(|s| serde_json::from_value(s).ok())
            .ok_or_else(challenge_not_found)?;
        let response: RegisterPublicKeyCredential =
            serde_json::from_value(b.response).map_err(|_| registration_failed())?;
        let rp = self.relying_party(k, req)?;
        let pk = rp
            .finish_passkey_registration(&response, &state)
            .map_err(|_| registration_failed())?;
        let cred = Credential::from(pk.clone());
        let transports = response
            .response
            .transports
            .as_ref()
            .or(cred.transports.as_ref())
            .map(|ts| {
                ts.iter()
                    .filter_map(|t| serde_json::to_value(t).ok())
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .filter(|s| !s.is_empty());
        let row = Row1 {
            id: new_id(),
            user_id: user.id.clone(),
            name,
            credential_id: b64(cred.cred_id.as_ref()),
            credential: serde_json::to_string(&pk)
                .map_err(|_| KavachError::Internal("a passkey could not be stored".into()))?,
            counter: i64::from(cred.counter),
            device_type: device_type(&cred).to_owned(),
            backed_up: cred.backup_state,
            transports,
            aaguid: None,
            created_at: k.now_ms(),
        };
        Store { k }.insert(&row).await?;
        let clear = challenge_cookie(k, "", 0);
        if b.create_session == Some(true) {
            let signed = k.sign_in_verified(user, req.client()).await?;
            let mut body = row.to_json();
            body["user"] = serde_json::to_value(&signed.user)
                .map_err(|_| KavachError::Internal("could not encode the user".into()))?;
            body["session"] = serde_json::to_value(&signed.session)
                .map_err(|_| KavachError::Internal("could not encode the session".into()))?;
            let mut r = ok(&body)?;
            r.headers
                .push(("set-cookie".into(), k.session_cookie(&signed.token)));
            return with_cookie(r, clear);
        }
        with_cookie(ok(&row.to_json())?, clear)
    }

    async fn authenticate_options(&self, k: &Kavach, req: &HttpRequest) -> ApiResult {
        let mut email = None;
        for (q, v) in req.query_map()? {
            if q == "email" {
                email = Some(v);
            }
        }
        k.limit_ip(req).await?;
        let user_id = match email {
            Some(e) => {
                let e = normalize_email(&e)?;
                k.humans().user_by_email(&e).await?.map(|u| u.id)
            }
            None => match crate::http::session_token(req, &k.settings().cookie_name) {
                Some(t) => k.get_session(t).await?.map(|(_, u)| u.id),
                None => None,
            },
        };
        let passkeys = match &user_id {
            Some(id) => Store { k }
                .of_user(id)
                .await?
                .iter()
                .filter_map(|r| r.passkey().ok())
                .collect(),
            None => Vec::new(),
        };
        let rp = self.relying_party(k, req)?;
        // An unknown email, or one without passkeys, gets the same discoverable options as no
        // email at all: the answer does not tell which accounts exist.
        let (options, data) = if passkeys.is_empty() {
            let (rcr, state) = rp
                .start_discoverable_authentication()
                .map_err(|_| authentication_failed())?;
            (
                serde_json::to_value(&rcr),
                json!({ "kind": "discoverable", "state": serde_json::to_value(&state).unwrap_or(Value::Null) }),
            )
        } else {
            let (rcr, state) = rp
                .start_passkey_authentication(&passkeys)
                .map_err(|_| authentication_failed())?;
            (
                serde_json::to_value(&rcr),
                json!({ "kind": "user", "userId": user_id, "state": serde_json::to_value(&state).unwrap_or(Value::Null) }),
            )
        };
        let options = options
            .map_err(|_| KavachError::Internal("could not encode passkey options".into()))?
            .get_mut("publicKey")
            .map(Value::take)
            .unwrap_or(Value::Null);
        if data["state"].is_null() {
            return Err(KavachError::Internal("could not store a passkey challenge".into()).into());
        }
        let token = OneTime::new_token();
        self.one_time(k)
            .issue(
                AUTHENTICATE,
                &new_id(),
                &token,
                Some(&data),
                CHALLENGE_TTL_MS,
            )
            .await?;
        with_cookie(
            ok(&options)?,
            challenge_cookie(k, &token, CHALLENGE_TTL_MS / 1000),
        )
    }

    async fn verify_authentication(&self, k: &Kavach, req: &HttpRequest) -> ApiResult {
        let b: AuthenticateBody = parse_body(req)?;
        k.limit_ip(req).await?;
        let data = self.take_state(k, req, AUTHENTICATE).await?;
        let response: PublicKeyCredential =
            serde_json::from_value(b.response).map_err(|_| authentication_failed())?;
        let rp = self.relying_party(k, req)?;
        let store = Store { k };
        let row = store
            .by_credential(&b64(response.get_credential_id()))
            .await?
            .ok_or_else(|| {
                KavachError::refused("PASSKEY_NOT_FOUND", 401, "this passkey is not registered")
            })?;
        let mut pk = row.passkey()?;
        let result = match data.get("kind").and_then(Value::as_str) {
            Some("discoverable") => {
                // The authenticator names the account: it must be the passkey's owner.
                let handle = self.user_handle(&row.user_id)?;
                if response.get_user_unique_id() != Some(handle.as_bytes().as_slice()) {
                    return Err(authentication_failed().into());
                }
                let state: DiscoverableAuthentication = data
                    .get("state")
                    .cloned()
                    .and_then(|s| serde_json::from_value(s).ok())
                    .ok_or_else(challenge_not_found)?;
                rp.finish_discoverable_authentication_v2(&response, state, &pk)
            }
            Some("user") => {
                if data.get("userId").and_then(Value::as_str) != Some(row.user_id.as_str()) {
                    return Err(authentication_failed().into());
                }
                let state: PasskeyAuthentication = data
                    .get("state")
                    .cloned()
                    .and_then(|s| serde_json::from_value(s).ok())
                    .ok_or_else(challenge_not_found)?;
                rp.finish_passkey_authentication(&response, &state)
            }
            _ => return Err(challenge_not_found().into()),
        }
        .map_err(|_| authentication_failed())?;
        pk.update_credential(&result);
        if !store.after_assertion(&row, &pk).await? {
            // Another assertion of this passkey moved its counter meanwhile.
            return Err(authentication_failed().into());
        }
        let user: User = k
            .humans()
            .user_by_id(&row.user_id)
            .await?
            .ok_or_else(|| KavachError::refused("USER_NOT_FOUND", 401, "user not found"))?;
        let signed = k.sign_in_verified(user, req.client()).await?;
        with_cookie(k.signed_in_response(&signed)?, challenge_cookie(k, "", 0))
    }
}

fn check_name(n: &str) -> Result<&str> {
    if n.is_empty() || n.len() > 255 || n.chars().any(char::is_control) {
        return Err(KavachError::validation(
            "name must be 1 to 255 characters without control characters",
        ));
    }
    Ok(n)
}

fn check_id(id: &str) -> Result<&str> {
    if id.is_empty() || id.len() > 64 || id.chars().any(char::is_control) {
        return Err(passkey_not_found());
    }
    Ok(id)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RegisterBody {
    response: Value,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    create_session: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthenticateBody {
    response: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdBody {
    id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    id: String,
    name: String,
}

fn me(k: &Kavach) -> std::result::Result<&PasskeyPlugin, ApiError> {
    k.plugin::<PasskeyPlugin>()
        .ok_or_else(|| ApiError::not_found("route"))
}

/// The plugin's HTTP routes.
const ROUTES: &[crate::plugin::Route] = &[
    route!(
        "GET",
        "/auth/passkey/generate-register-options",
        |k, req, p| { me(k)?.register_options(k, req).await }
    ),
    route!("POST", "/auth/passkey/verify-registration", |k, req, p| {
        me(k)?.verify_registration(k, req).await
    }),
    route!(
        "GET",
        "/auth/passkey/generate-authenticate-options",
        |k, req, p| { me(k)?.authenticate_options(k, req).await }
    ),
    route!(
        "POST",
        "/auth/passkey/verify-authentication",
        |k, req, p| { me(k)?.verify_authentication(k, req).await }
    ),
    route!("GET", "/auth/passkey/list-user-passkeys", |k, req, p| {
        me(k)?;
        let user = k.session_user(req).await?;
        let rows = Store { k }.of_user(&user.id).await?;
        ok(&rows.iter().map(Row1::to_json).collect::<Vec<_>>())
    }),
    route!("POST", "/auth/passkey/update-passkey", |k, req, p| {
        me(k)?;
        let user = k.session_user(req).await?;
        let b: UpdateBody = parse_body(req)?;
        let id = check_id(&b.id)?;
        let name = check_name(b.name.trim())?;
        let store = Store { k };
        if !store.rename(id, &user.id, name).await? {
            return Err(passkey_not_found().into());
        }
        let row = store
            .own(id, &user.id)
            .await?
            .ok_or_else(passkey_not_found)?;
        ok_value(json!({ "passkey": row.to_json() }))
    }),
    route!("POST", "/auth/passkey/delete-passkey", |k, req, p| {
        me(k)?;
        let user = k.session_user(req).await?;
        let b: IdBody = parse_body(req)?;
        let id = check_id(&b.id)?;
        let store = Store { k };
        if !store.delete(id, &user.id).await? {
            return Err(passkey_not_found().into());
        }
        ok_value(json!({ "status": true }))
    }),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let s = parse_options(&Value::Null, Some("https://app.example.com/api")).unwrap();
        assert_eq!(s.base_origin.as_deref(), Some("https://app.example.com"));
        assert!(s.webauthn("http://ignored").is_ok());
        let s = parse_options(
            &json!({ "rpID": "example.com", "rpName": "Example", "origin": ["https://a.example.com", "https://b.example.com"] }),
            None,
        )
        .unwrap();
        assert_eq!(s.origins.len(), 2);
        assert!(s.webauthn("http://ignored").is_ok());
        // Without origin or baseUrl the request's origin is used.
        let s = parse_options(&json!({}), None).unwrap();
        assert!(s.webauthn("http://localhost:3000").is_ok());
        assert!(s.webauthn("http://127.0.0.1:3000").is_err());
        for bad in [
            json!({ "rpID": "other.com", "origin": "https://a.example.com" }),
            json!({ "origin": "not a url" }),
            json!({ "origin": "https://a.example.com/path" }),
            json!({ "origin": 3 }),
            json!({ "rpID": "" }),
            json!({ "nope": 1 }),
        ] {
            assert_eq!(
                parse_options(&bad, None).unwrap_err().code(),
                "CONFIG_INVALID",
                "{bad}"
            );
        }
    }

    #[test]
    fn user_handles_are_stable_and_keyed() {
        let a = PasskeyPlugin {
            settings: PasskeySettings::default(),
            key: crate::plugins::one_time::key(Some(&"a".repeat(32))),
        };
        let b = PasskeyPlugin {
            settings: PasskeySettings::default(),
            key: crate::plugins::one_time::key(Some(&"b".repeat(32))),
        };
        assert_eq!(a.user_handle("u1").unwrap(), a.user_handle("u1").unwrap());
        assert_ne!(a.user_handle("u1").unwrap(), a.user_handle("u2").unwrap());
        assert_ne!(a.user_handle("u1").unwrap(), b.user_handle("u1").unwrap());
    }
}
