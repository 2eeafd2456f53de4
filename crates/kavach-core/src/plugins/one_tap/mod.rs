//! The oneTap() plugin (better-auth 1.7's `one-tap`): `POST /auth/one-tap/callback { idToken }`
//! verifies a Google ID token and signs its holder in (or up), answering `{ token, user }` with the
//! session cookie, as better-auth does.
//!
//! - The token is checked as the OAuth plugin checks an OpenID Connect ID token (the same code,
//!   `oauth::oidc::verify_id_token`): an asymmetric signature by a key of the issuer's JWKS (cached
//!   for 10 minutes and fetched again, at most every 10 seconds, for an unknown `kid`), `iss`,
//!   `aud` = `clientId`, `exp` (60 s leeway) and `sub`.
//! - Who is signed in is settled as on the OAuth redirect path (`oauth::sign_in_with_id_claims`):
//!   the account linked to the Google `sub` wins; else a user with the same email is linked only
//!   if Google vouches for the email (`email_verified`); else a new user (unless `disableSignup`).
//! - `issuer` and `jwksUrl` default to Google's and can be set for another OpenID Connect issuer
//!   or a test; the accounts are stored under `providerId` (default `google`), so a user who signed
//!   in with Google's redirect flow is the same user here.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{KavachError, Result};
use crate::http::{ok_value, parse_body, ApiError};
use crate::plugins::oauth::{oidc, sign_in_with_id_claims, OAuthPlugin};
use crate::route;

/// Google's issuer and key set.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const GOOGLE_ISSUER_BARE: &str = "accounts.google.com";
pub const GOOGLE_JWKS: &str = "https://www.googleapis.com/oauth2/v3/certs";

/// `oneTap(options)` of `kavachos/plugins`, running.
pub struct OneTapPlugin {
    pub settings: OneTapSettings,
    http: reqwest::Client,
    keys: oidc::KeySets,
}

impl std::fmt::Debug for OneTapPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneTapPlugin")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The checked `oneTap({ clientId, disableSignup?, issuer?, jwksUrl?, providerId? })`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTapSettings {
    pub client_id: String,
    pub disable_sign_up: bool,
    pub issuer: String,
    pub jwks_url: String,
    pub provider_id: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    disable_signup: Option<bool>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    jwks_url: Option<String>,
    #[serde(default)]
    provider_id: Option<String>,
}

fn bad(why: &str) -> KavachError {
    KavachError::ConfigInvalid(format!("oneTap(): {why}"))
}

fn url_option(name: &str, v: Option<String>, default: &str) -> Result<String> {
    let v = v.unwrap_or_else(|| default.to_owned());
    let ok = (v.starts_with("https://") || v.starts_with("http://"))
        && v.len() <= 2048
        && !v.chars().any(|c| c.is_control() || c.is_whitespace());
    if !ok {
        return Err(bad(&format!("{name} must be an http(s) URL")));
    }
    Ok(v)
}

/// Checks `oneTap()`'s options. `clientId` is required: without the audience check a token
/// Google issued to any other site would sign in here.
pub fn parse_options(options: &Value) -> Result<OneTapSettings> {
    let o: Options = match options {
        Value::Null => Options::default(),
        v => serde_json::from_value(v.clone()).map_err(|e| bad(&e.to_string()))?,
    };
    let client_id = o
        .client_id
        .filter(|c| !c.is_empty() && c.len() <= 512 && !c.chars().any(char::is_control))
        .ok_or_else(|| bad("clientId (your Google client ID) is required"))?;
    let provider_id = o.provider_id.unwrap_or_else(|| "google".to_owned());
    let id_ok = !provider_id.is_empty()
        && provider_id.len() <= 64
        && provider_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !id_ok {
        return Err(bad("providerId must be letters, digits, '-' or '_'"));
    }
    Ok(OneTapSettings {
        client_id,
        disable_sign_up: o.disable_signup.unwrap_or(false),
        issuer: url_option("issuer", o.issuer, GOOGLE_ISSUER)?,
        jwks_url: url_option("jwksUrl", o.jwks_url, GOOGLE_JWKS)?,
        provider_id,
    })
}

/// The registry's factory.
pub fn plugin(
    options: &Value,
    _env: &crate::plugin::PluginEnv<'_>,
) -> Result<Arc<dyn crate::plugin::Plugin>> {
    let settings = parse_options(options)?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("kavachos/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| KavachError::Internal("could not build the HTTP client".into()))?;
    Ok(Arc::new(OneTapPlugin {
        settings,
        http,
        keys: oidc::KeySets::default(),
    }))
}

impl crate::plugin::Plugin for OneTapPlugin {
    fn id(&self) -> &'static str {
        "one-tap"
    }

    fn routes(&self) -> &'static [crate::plugin::Route] {
        ROUTES
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// `POST /auth/one-tap/callback`'s body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CallbackBody {
    id_token: String,
    /// Where the client goes next; checked to be on this site (better-auth sends it for the same
    /// reason: no open redirect), not used by the server.
    #[serde(default, rename = "callbackURL")]
    callback_url: Option<String>,
}

impl OneTapPlugin {
    async fn claims(&self, id_token: &str) -> Result<Value> {
        let s = &self.settings;
        let alt = (s.issuer == GOOGLE_ISSUER).then_some(GOOGLE_ISSUER_BARE);
        oidc::verify_id_token(
            &self.http,
            &self.keys,
            &s.jwks_url,
            id_token,
            &oidc::Expect {
                issuer: &s.issuer,
                client_id: &s.client_id,
                alt_issuer: alt,
                nonce: None,
            },
        )
        .await
    }
}

const ROUTES: &[crate::plugin::Route] = &[route!("POST", "/auth/one-tap/callback", |k, req, p| {
    let plugin = k
        .plugin::<OneTapPlugin>()
        .ok_or_else(|| ApiError::not_found("route"))?;
    let b: CallbackBody = parse_body(req)?;
    if let Some(cb) = b.callback_url.as_deref() {
        OAuthPlugin::safe_target(k, req, cb).map_err(|_| {
            KavachError::validation("callbackURL must be a path or a URL on this site")
        })?;
    }
    k.limit_ip(req).await?;
    let claims = plugin.claims(&b.id_token).await?;
    let s = &plugin.settings;
    let signed = sign_in_with_id_claims(k, req, &s.provider_id, &claims, s.disable_sign_up).await?;
    let mut r =
        ok_value(json!({ "token": signed.token, "user": signed.user, "session": signed.session }))?;
    r.headers
        .push(("set-cookie".into(), k.session_cookie(&signed.token)));
    Ok(r)
})];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        assert!(parse_options(&Value::Null).is_err());
        assert!(parse_options(&json!({ "clientId": "" })).is_err());
        let s = parse_options(&json!({ "clientId": "abc.apps.googleusercontent.com" })).unwrap();
        assert_eq!(s.issuer, GOOGLE_ISSUER);
        assert_eq!(s.jwks_url, GOOGLE_JWKS);
        assert_eq!(s.provider_id, "google");
        assert!(!s.disable_sign_up);
        assert!(parse_options(&json!({ "clientId": "x", "jwksUrl": "ftp://x" })).is_err());
        assert!(parse_options(&json!({ "clientId": "x", "nope": 1 })).is_err());
        assert!(parse_options(&json!({ "clientId": "x", "providerId": "a b" })).is_err());
        let s = parse_options(&json!({
            "clientId": "x", "disableSignup": true,
            "issuer": "http://127.0.0.1:9/", "jwksUrl": "http://127.0.0.1:9/jwks"
        }))
        .unwrap();
        assert!(s.disable_sign_up);
        assert_eq!(s.issuer, "http://127.0.0.1:9/");
    }
}
