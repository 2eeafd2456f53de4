//! The magicLink() plugin (better-auth 1.7's `magic-link`): `POST /auth/sign-in/magic-link` mails a
//! single-use link through the app's `sendMagicLink`, and `GET /auth/magic-link/verify` signs its
//! holder in (or up), then redirects to the app's `callbackURL`.
//!
//! - The link's token lives in `kavach_one_time` as a keyed hash only ([`OneTime`]); opening the
//!   link takes (deletes) that row atomically, so ten concurrent clicks make exactly one session.
//! - Every redirect target (`callbackURL`, `newUserCallbackURL`, `errorCallbackURL`) must be on the
//!   app's own origin (a path, our origin or a trusted one): a foreign one is refused when the
//!   link is asked for and again when it is opened, never redirected to.
//! - A link that fails in a browser redirects to `errorCallbackURL` (else `callbackURL`) with
//!   `?error=INVALID_TOKEN|TOKEN_EXPIRED|...` and no session; without `callbackURL` the failure is
//!   the JSON error.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::human::{normalize_email, User};
use crate::error::{KavachError, Result};
use crate::http::{ok_value, parse_body, ApiError, ApiResult, HttpRequest, HttpResponse};
use crate::kavach::Kavach;
use crate::plugins::oauth::{with_error, OAuthPlugin};
use crate::plugins::one_time::{link_error, OneTime, Taken};
use crate::route;

/// The `purpose` of the plugin's rows in `kavach_one_time`.
const PURPOSE: &str = "magic-link";
/// The app's function that delivers a link (`plugin:magic-link.sendMagicLink`).
const SEND_FN: &str = "magic-link.sendMagicLink";
/// Default lifetime of a link: 5 minutes.
pub const DEFAULT_TTL_MS: i64 = 5 * 60_000;

/// `magicLink(options)` of `kavachos/plugins`, running.
pub struct MagicLinkPlugin {
    pub settings: MagicLinkSettings,
    /// The key the tokens' hashes are made with (from the instance secret).
    key: Vec<u8>,
}

impl std::fmt::Debug for MagicLinkPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MagicLinkPlugin")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The checked `magicLink({ expiresIn?, disableSignUp? })`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MagicLinkSettings {
    pub ttl_ms: i64,
    pub disable_sign_up: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    #[serde(default)]
    expires_in: Option<Value>,
    #[serde(default)]
    disable_sign_up: Option<bool>,
}

/// Checks `magicLink()`'s options (`sendMagicLink` crosses as a function, not in `options`).
pub fn parse_options(options: &Value) -> Result<MagicLinkSettings> {
    let o: Options = match options {
        Value::Null => Options::default(),
        v => serde_json::from_value(v.clone())
            .map_err(|e| KavachError::ConfigInvalid(format!("invalid magicLink() options: {e}")))?,
    };
    let ttl_ms = match &o.expires_in {
        None | Some(Value::Null) => DEFAULT_TTL_MS,
        Some(v) => crate::config::parse_duration_ms(v)
            .filter(|ms| (1_000..=7 * 86_400_000).contains(ms))
            .ok_or_else(|| {
                KavachError::ConfigInvalid(
                    "magicLink({ expiresIn }) must be seconds (a number) or a duration like '5m', between 1 second and 7 days".into(),
                )
            })?,
    };
    Ok(MagicLinkSettings {
        ttl_ms,
        disable_sign_up: o.disable_sign_up.unwrap_or(false),
    })
}

/// The registry's factory.
pub fn plugin(
    options: &Value,
    env: &crate::plugin::PluginEnv<'_>,
) -> Result<std::sync::Arc<dyn crate::plugin::Plugin>> {
    let settings = parse_options(options)?;
    if env.callbacks.hooks.plugin_fn(SEND_FN).is_none() {
        return Err(KavachError::ConfigInvalid(
            "magicLink() needs sendMagicLink: an async function of { email, url, token }".into(),
        ));
    }
    Ok(std::sync::Arc::new(MagicLinkPlugin {
        settings,
        key: crate::plugins::one_time::key(env.secret),
    }))
}

impl crate::plugin::Plugin for MagicLinkPlugin {
    fn id(&self) -> &'static str {
        "magic-link"
    }

    fn routes(&self) -> &'static [crate::plugin::Route] {
        ROUTES
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// ---- input --------------------------------------------------------------------------------------

/// `POST /auth/sign-in/magic-link`'s body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SendBody {
    email: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "callbackURL")]
    callback_url: Option<String>,
    #[serde(default, rename = "newUserCallbackURL")]
    new_user_callback_url: Option<String>,
    #[serde(default, rename = "errorCallbackURL")]
    error_callback_url: Option<String>,
    /// Handed to `sendMagicLink` as it is (better-auth's `metadata`).
    #[serde(default)]
    metadata: Option<serde_json::Map<String, Value>>,
}

/// Refuses control characters (NUL included) in a field before anything reaches SQL.
fn clean<'s>(what: &str, s: &'s str) -> Result<&'s str> {
    if s.chars().any(char::is_control) {
        return Err(KavachError::validation(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(s)
}

/// A redirect target the app may use: a path on this site or a URL on its own (or a trusted)
/// origin, as the OAuth plugin accepts; anything else is `VALIDATION_FAILED`.
fn target(k: &Kavach, req: &HttpRequest, what: &str, url: Option<&str>) -> Result<Option<String>> {
    match url {
        None => Ok(None),
        Some(u) => {
            clean(what, u)?;
            OAuthPlugin::safe_target(k, req, u).map(Some).map_err(|_| {
                KavachError::validation(format!("{what} must be a path or a URL on this site"))
            })
        }
    }
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl MagicLinkPlugin {
    fn store<'k>(&'k self, k: &'k Kavach) -> OneTime<'k> {
        OneTime::new(k, &self.key)
    }

    /// Issues a link for `b.email` and hands it to `sendMagicLink`.
    async fn send(&self, k: &Kavach, req: &HttpRequest, b: SendBody) -> Result<()> {
        let email = normalize_email(clean("email", &b.email)?)?;
        if let Some(n) = &b.name {
            clean("name", n)?;
            if n.len() > 255 {
                return Err(KavachError::validation(
                    "name must be at most 255 characters",
                ));
            }
        }
        let callback = target(k, req, "callbackURL", b.callback_url.as_deref())?;
        let new_user = target(
            k,
            req,
            "newUserCallbackURL",
            b.new_user_callback_url.as_deref(),
        )?;
        let error = target(k, req, "errorCallbackURL", b.error_callback_url.as_deref())?;
        let Some(send) = k.hooks().plugin_fn(SEND_FN) else {
            return Err(KavachError::ConfigInvalid(
                "magicLink() needs sendMagicLink".into(),
            ));
        };
        let origin = crate::accounts::human::link_origin(k.settings(), req.url_origin.as_deref())?;
        let mount = req.mount_or(&k.settings().base_path);
        let token = OneTime::new_token();
        let mut url = format!(
            "{origin}{mount}/auth/magic-link/verify?token={token}&callbackURL={}",
            enc(callback.as_deref().unwrap_or("/"))
        );
        if let Some(u) = &new_user {
            url.push_str(&format!("&newUserCallbackURL={}", enc(u)));
        }
        if let Some(u) = &error {
            url.push_str(&format!("&errorCallbackURL={}", enc(u)));
        }
        let data = json!({ "name": b.name });
        let store = self.store(k);
        store
            .issue(PURPOSE, &email, &token, Some(&data), self.settings.ttl_ms)
            .await?;
        let mut message = json!({ "email": email, "url": url, "token": token });
        if let Some(m) = b.metadata {
            message["metadata"] = Value::Object(m);
        }
        if let Err(e) = send.call(message).await {
            // A link that was never delivered must not stay usable.
            store.remove(PURPOSE, &email).await?;
            return Err(e);
        }
        Ok(())
    }

    /// Opens a link: its user (created unless sign-up is off), signed in. `bool`: a new user.
    async fn redeem(
        &self,
        k: &Kavach,
        req: &HttpRequest,
        token: &str,
    ) -> Result<(crate::accounts::human::SignedIn, bool)> {
        if token.is_empty() || token.len() > 256 || token.chars().any(char::is_control) {
            return Err(invalid_token());
        }
        let (email, data) = match self.store(k).take_secret(PURPOSE, token).await? {
            Taken::Valid { identifier, data } => (identifier, data),
            other => return Err(link_error(&other)),
        };
        let humans = k.humans();
        let mut new_user = false;
        let user = match humans.user_by_email(&email).await? {
            Some(u) => u,
            None if self.settings.disable_sign_up => {
                return Err(KavachError::refused(
                    "NEW_USER_SIGNUP_DISABLED",
                    400,
                    "sign-up with a magic link is turned off",
                ))
            }
            None => {
                let name = data
                    .as_ref()
                    .and_then(|d| d.get("name"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let user = User {
                    name,
                    email_verified: true,
                    ..User::new(email.clone(), k.now_ms())
                };
                match humans.create_user(user, "magic-link").await {
                    Ok(u) => {
                        new_user = true;
                        u
                    }
                    // Created meanwhile by another way in: sign that user in.
                    Err(KavachError::UserExists) => humans
                        .user_by_email(&email)
                        .await?
                        .ok_or_else(invalid_token)?,
                    Err(e) => return Err(e),
                }
            }
        };
        let user = if user.email_verified {
            user
        } else {
            // Whoever held this account before the email was proven (someone who signed up with
            // this address and a password) keeps no session.
            humans.revoke_user_sessions(&user.id, k.now_ms()).await?;
            humans.mark_email_verified(&user.id, k.now_ms()).await?
        };
        Ok((k.sign_in_verified(user, req.client()).await?, new_user))
    }
}

fn invalid_token() -> KavachError {
    link_error(&Taken::Invalid)
}

fn redirect(location: &str, cookie: Option<String>) -> HttpResponse {
    let mut headers = vec![
        ("location".to_owned(), location.to_owned()),
        ("cache-control".to_owned(), "no-store".to_owned()),
    ];
    headers.extend(cookie.map(|c| ("set-cookie".to_owned(), c)));
    HttpResponse {
        status: 302,
        headers,
        body: Vec::new(),
    }
}

/// `GET /auth/magic-link/verify?token=&callbackURL=&newUserCallbackURL=&errorCallbackURL=`.
async fn verify(k: &Kavach, req: &HttpRequest) -> ApiResult {
    let plugin = k
        .plugin::<MagicLinkPlugin>()
        .ok_or_else(|| ApiError::not_found("route"))?;
    let (mut token, mut cb, mut new_cb, mut err_cb) = (None, None, None, None);
    for (name, v) in req.query_map()? {
        match name.as_str() {
            "token" => token = Some(v),
            "callbackURL" => cb = Some(v),
            "newUserCallbackURL" => new_cb = Some(v),
            "errorCallbackURL" => err_cb = Some(v),
            _ => {}
        }
    }
    // Checked before anything else: a foreign target is never redirected to, even with an error.
    let cb = target(k, req, "callbackURL", cb.as_deref())?;
    let new_cb = target(k, req, "newUserCallbackURL", new_cb.as_deref())?;
    let err_cb = target(k, req, "errorCallbackURL", err_cb.as_deref())?;
    k.limit_ip(req).await?;
    let outcome = plugin.redeem(k, req, token.as_deref().unwrap_or("")).await;
    match (outcome, cb) {
        (Ok((signed, _)), None) => {
            let mut r = ok_value(json!({
                "token": signed.token,
                "user": signed.user,
                "session": signed.session,
            }))?;
            r.headers
                .push(("set-cookie".into(), k.session_cookie(&signed.token)));
            Ok(r)
        }
        (Ok((signed, new_user)), Some(cb)) => {
            let to = if new_user { new_cb.unwrap_or(cb) } else { cb };
            Ok(redirect(&to, Some(k.session_cookie(&signed.token))))
        }
        (Err(e), cb) => match err_cb.or(cb) {
            // The link's own failures go back to the app's page; anything else is the JSON error.
            Some(back) if matches!(e, KavachError::Refused { .. } | KavachError::UserBanned) => {
                Ok(redirect(&with_error(&back, e.code()), None))
            }
            _ => Err(e.into()),
        },
    }
}

/// The plugin's HTTP routes.
const ROUTES: &[crate::plugin::Route] = &[
    route!("POST", "/auth/sign-in/magic-link", |k, req, p| {
        let plugin = k
            .plugin::<MagicLinkPlugin>()
            .ok_or_else(|| ApiError::not_found("route"))?;
        let b: SendBody = parse_body(req)?;
        k.limit_ip(req).await?;
        plugin.send(k, req, b).await?;
        ok_value(json!({ "status": true }))
    }),
    route!("GET", "/auth/magic-link/verify", |k, req, p| {
        verify(k, req).await
    }),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let d = parse_options(&Value::Null).unwrap();
        assert_eq!(d.ttl_ms, DEFAULT_TTL_MS);
        assert!(!d.disable_sign_up);
        assert_eq!(
            parse_options(&json!({ "expiresIn": 600, "disableSignUp": true })).unwrap(),
            MagicLinkSettings {
                ttl_ms: 600_000,
                disable_sign_up: true
            }
        );
        assert_eq!(
            parse_options(&json!({ "expiresIn": "10m" }))
                .unwrap()
                .ttl_ms,
            600_000
        );
        for bad in [
            json!({ "expiresIn": 0 }),
            json!({ "expiresIn": "5x" }),
            json!({ "expiresIn": -3 }),
            json!({ "disableSignUp": "yes" }),
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
    fn control_characters_are_refused() {
        assert!(clean("email", "a\0@b.c").is_err());
        assert!(clean("email", "a@b.c").is_ok());
    }
}
