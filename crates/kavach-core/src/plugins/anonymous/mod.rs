//! The anonymous() plugin (better-auth's `anonymous`): guests.
//!
//! - `POST /auth/sign-in/anonymous` creates a user with `isAnonymous`, an email
//!   `temp-<id>@<emailDomainName | baseUrl's host | anon.kavachos>` and the name `generateName()`
//!   answers (else "Anonymous"), and signs them in (session and cookie) answering
//!   `{ token, user, session }`. A guest cannot do it again (`ANONYMOUS_USERS_CANNOT_SIGN_IN_AGAIN_ANONYMOUSLY`).
//! - When a request carrying a guest's session ends in a new session of another, non-anonymous
//!   user (any sign-in or sign-up method: the core's `Plugin::on_new_session`), `onLinkAccount({
//!   anonymousUser: { user, session }, newUser: { user, session } })` is awaited and then the guest
//!   is deleted with everything of theirs (`Kavach::delete_user`), unless `disableDeleteAnonymousUser`.
//! - `POST /auth/delete-anonymous-user` deletes the signed-in guest.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::human::User;
use crate::crypto::token::new_id;
use crate::error::{KavachError, Result};
use crate::http::{ok_value, parse_body, session_token, HttpRequest};
use crate::kavach::Kavach;
use crate::plugin::{Plugin, PluginEnv, Route};
use crate::route;

/// `anonymous(options)` of `kavachos/plugins`, running.
#[derive(Debug)]
pub struct AnonymousPlugin {
    /// The domain of guests' emails.
    pub email_domain: String,
    pub disable_delete: bool,
}

/// The checked `anonymous({ emailDomainName?, disableDeleteAnonymousUser?, onLinkAccount?, generateName? })`;
/// the functions cross as hooks (`plugin:anonymous.<name>`), so they are not in the JSON.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    #[serde(default)]
    email_domain_name: Option<String>,
    #[serde(default)]
    disable_delete_anonymous_user: Option<bool>,
}

/// The registry's factory.
pub fn plugin(options: &Value, env: &PluginEnv<'_>) -> Result<std::sync::Arc<dyn Plugin>> {
    let o: Options = match options {
        Value::Null => Options::default(),
        Value::Object(m) => {
            for key in ["onLinkAccount", "generateName"] {
                if m.contains_key(key) {
                    return Err(KavachError::ConfigInvalid(format!(
                        "anonymous({{ {key} }}) must be a function"
                    )));
                }
            }
            serde_json::from_value(options.clone()).map_err(|e| {
                KavachError::ConfigInvalid(format!("invalid anonymous() options: {e}"))
            })?
        }
        _ => {
            return Err(KavachError::ConfigInvalid(
                "anonymous() options must be an object".into(),
            ))
        }
    };
    let email_domain = match o.email_domain_name {
        Some(d) => {
            let d = d.trim().to_ascii_lowercase();
            let valid = !d.is_empty()
                && d.len() <= 200
                && !d.starts_with(['.', '-'])
                && d.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if !valid {
                return Err(KavachError::ConfigInvalid(
                    "anonymous({ emailDomainName }) must be a domain name like example.com".into(),
                ));
            }
            d
        }
        None => env
            .base_url
            .and_then(crate::config::origin_of)
            .and_then(|o| {
                let host = o.split_once("://")?.1;
                let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
                // An IP literal or a bare name is no email domain.
                (host.contains('.')
                    && !host.starts_with('[')
                    && host.parse::<std::net::Ipv4Addr>().is_err())
                .then(|| host.to_owned())
            })
            .unwrap_or_else(|| "anon.kavachos".to_owned()),
    };
    Ok(std::sync::Arc::new(AnonymousPlugin {
        email_domain,
        disable_delete: o.disable_delete_anonymous_user.unwrap_or(false),
    }))
}

const ROUTES: &[Route] = &[
    route!("POST", "/auth/sign-in/anonymous", |k, req, p| {
        let _: NoBody = parse_body(req)?;
        k.limit_ip(req).await?;
        let plugin = k
            .plugin::<AnonymousPlugin>()
            .ok_or_else(|| KavachError::Internal("the anonymous plugin is off".into()))?;
        if let Some(token) = session_token(req, &k.settings().cookie_name) {
            if let Some((_, user)) = k.get_session(token).await? {
                if user.is_anonymous {
                    return Err(KavachError::refused(
                        "ANONYMOUS_USERS_CANNOT_SIGN_IN_AGAIN_ANONYMOUSLY",
                        400,
                        "Anonymous users cannot sign in again anonymously",
                    )
                    .into());
                }
            }
        }
        let signed = plugin.sign_in(k, req).await?;
        let mut r = ok_value(
            json!({ "token": signed.token, "user": signed.user, "session": signed.session }),
        )?;
        r.headers
            .push(("set-cookie".into(), k.session_cookie(&signed.token)));
        Ok(r)
    }),
    route!("POST", "/auth/delete-anonymous-user", |k, req, p| {
        let _: NoBody = parse_body(req)?;
        let plugin = k
            .plugin::<AnonymousPlugin>()
            .ok_or_else(|| KavachError::Internal("the anonymous plugin is off".into()))?;
        let (_, user) = k.session_and_user(req).await?;
        if plugin.disable_delete {
            return Err(KavachError::refused(
                "DELETE_ANONYMOUS_USER_DISABLED",
                400,
                "Deleting anonymous users is disabled",
            )
            .into());
        }
        if !user.is_anonymous {
            return Err(KavachError::refused(
                "USER_IS_NOT_ANONYMOUS",
                403,
                "User is not anonymous",
            )
            .into());
        }
        k.delete_user(&user.id).await?;
        let mut r = ok_value(json!({ "success": true }))?;
        r.headers.push(("set-cookie".into(), k.clear_cookie()));
        Ok(r)
    }),
];

/// A body with nothing in it (`{}`, or none).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoBody {}

impl AnonymousPlugin {
    /// A new guest, signed in.
    async fn sign_in(
        &self,
        k: &Kavach,
        req: &HttpRequest,
    ) -> Result<crate::accounts::human::SignedIn> {
        let name = match k.hooks().plugin_fn("anonymous.generateName") {
            None => None,
            Some(f) => match f.call(json!({})).await? {
                Value::String(s) => {
                    if s.chars().count() > 255 || s.chars().any(char::is_control) {
                        return Err(KavachError::validation(
                            "generateName must answer a name of at most 255 characters",
                        ));
                    }
                    Some(s).filter(|s| !s.trim().is_empty())
                }
                Value::Null => None,
                _ => return Err(KavachError::validation("generateName must answer a string")),
            },
        };
        let id = new_id();
        let user = User {
            id: id.clone(),
            name: Some(name.unwrap_or_else(|| "Anonymous".to_owned())),
            is_anonymous: true,
            ..User::new(
                format!("temp-{}@{}", id.to_ascii_lowercase(), self.email_domain),
                k.now_ms(),
            )
        };
        let user = k.humans().create_user(user, "anonymous").await?;
        k.sign_in_verified(user, req.client()).await
    }
}

impl Plugin for AnonymousPlugin {
    fn id(&self) -> &'static str {
        "anonymous"
    }

    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    /// A guest who signs in or up as someone else: `onLinkAccount`, then the guest goes.
    fn on_new_session<'a>(
        &'a self,
        k: &'a Kavach,
        req: &'a HttpRequest,
        new_token: &'a str,
    ) -> crate::BoxFut<'a, Result<()>> {
        Box::pin(async move {
            let Some(old_token) = session_token(req, &k.settings().cookie_name) else {
                return Ok(());
            };
            if old_token == new_token {
                return Ok(());
            }
            let Some((anon_session, anon_user)) = k.get_session(old_token).await? else {
                return Ok(());
            };
            if !anon_user.is_anonymous {
                return Ok(());
            }
            let Some((new_session, new_user)) = k.get_session(new_token).await? else {
                return Ok(());
            };
            if new_user.id == anon_user.id || new_user.is_anonymous {
                return Ok(());
            }
            if let Some(f) = k.hooks().plugin_fn("anonymous.onLinkAccount") {
                f.call(json!({
                    "anonymousUser": { "user": anon_user, "session": anon_session },
                    "newUser": { "user": new_user, "session": new_session },
                }))
                .await
                // The new user and session exist; the answer (and its cookie) does not leave.
                .map_err(|_| {
                    KavachError::refused(
                        "ANONYMOUS_LINK_FAILED",
                        500,
                        "anonymous({ onLinkAccount }) failed; the guest was kept",
                    )
                })?;
            }
            if !self.disable_delete {
                k.delete_user(&anon_user.id).await?;
            }
            Ok(())
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
