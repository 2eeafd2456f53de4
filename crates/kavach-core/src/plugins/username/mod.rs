//! The username() plugin, as better-auth 1.7's: `POST /auth/sign-up` (and `/auth/update-user`)
//! take `username` and `displayUsername`, `POST /auth/sign-in/username` signs in by username and
//! password (the core's password sign-in, [`Login::Username`]), `POST /auth/is-username-available`.
//!
//! - A username is stored lowercased in `kavach_user.username` (a unique index: uniqueness ignores
//!   case, and a taken one is `USERNAME_TAKEN` 409 from the core's `user_conflict`, even between
//!   two concurrent sign-ups); `display_username` keeps what the user typed.
//! - A username is `minUsernameLength..=maxUsernameLength` characters (3 and 30 by default) that
//!   `usernameValidator` accepts (default: ASCII letters, digits, `_` and `.`), checked as typed;
//!   anything else is 400 `VALIDATION_FAILED`, its message starting with better-auth's code
//!   (`USERNAME_TOO_SHORT`, `USERNAME_TOO_LONG`, `INVALID_USERNAME`, `INVALID_DISPLAY_USERNAME`).
//! - `usernameValidator` and `displayUsernameValidator` are the app's async JS functions, awaited
//!   as `plugin:username.<option>`; only a `true` answer accepts.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::human::{Login, User};
use crate::callbacks::Hooks;
use crate::error::{KavachError, Result};
use crate::http::{ok_value, parse_body};
use crate::kavach::Kavach;
use crate::on_pool;
use crate::route;
use crate::store::db::sql_for;

/// `username(options)` of `kavachos/plugins`, running.
#[derive(Debug)]
pub struct UsernamePlugin {
    pub min_length: usize,
    pub max_length: usize,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    #[serde(default)]
    min_username_length: Option<u32>,
    #[serde(default)]
    max_username_length: Option<u32>,
    // The functions cross as hooks; their keys may still appear (as `true` or `{}`).
    #[serde(default)]
    #[allow(dead_code)]
    username_validator: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    display_username_validator: Option<Value>,
}

/// The registry's factory.
pub fn plugin(
    options: &Value,
    _env: &crate::plugin::PluginEnv<'_>,
) -> Result<std::sync::Arc<dyn crate::plugin::Plugin>> {
    Ok(std::sync::Arc::new(parse_options(options)?))
}

/// Checks `username()`'s options.
pub fn parse_options(options: &Value) -> Result<UsernamePlugin> {
    let o: Options = match options {
        Value::Null => Options::default(),
        v => serde_json::from_value(v.clone())
            .map_err(|e| KavachError::ConfigInvalid(format!("invalid username() options: {e}")))?,
    };
    let min = o.min_username_length.unwrap_or(3) as usize;
    let max = o.max_username_length.unwrap_or(30) as usize;
    if min == 0 || max < min || max > 255 {
        return Err(KavachError::ConfigInvalid(
            "username({ minUsernameLength, maxUsernameLength }) must satisfy 1 <= min <= max <= 255"
                .into(),
        ));
    }
    Ok(UsernamePlugin {
        min_length: min,
        max_length: max,
    })
}

/// better-auth's default: ASCII letters, digits, underscores and dots.
pub fn default_validator(username: &str) -> bool {
    !username.is_empty()
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

fn invalid(code: &str, msg: &str) -> KavachError {
    KavachError::validation(format!("{code}: {msg}"))
}

/// Awaits the app's `plugin:username.<option>` on `value`; `None` when the app gave none.
async fn app_says(hooks: &Hooks, option: &str, value: &str) -> Result<Option<bool>> {
    match hooks.plugin_fn(&format!("username.{option}")) {
        None => Ok(None),
        Some(f) => Ok(Some(f.call(json!(value)).await? == Value::Bool(true))),
    }
}

impl UsernamePlugin {
    /// A username as typed: its length, no control characters, then the validator.
    pub async fn check(&self, hooks: &Hooks, username: &str) -> Result<()> {
        if username.chars().any(char::is_control) {
            return Err(invalid(
                "INVALID_USERNAME",
                "username must not contain control characters",
            ));
        }
        let n = username.chars().count();
        if n < self.min_length {
            return Err(invalid(
                "USERNAME_TOO_SHORT",
                &format!("username must be at least {} characters", self.min_length),
            ));
        }
        if n > self.max_length {
            return Err(invalid(
                "USERNAME_TOO_LONG",
                &format!("username must be at most {} characters", self.max_length),
            ));
        }
        let valid = match app_says(hooks, "usernameValidator", username).await? {
            Some(v) => v,
            None => default_validator(username),
        };
        if valid {
            Ok(())
        } else {
            Err(invalid("INVALID_USERNAME", "username is invalid"))
        }
    }

    async fn check_display(&self, hooks: &Hooks, display: &str) -> Result<()> {
        if display.chars().any(char::is_control) || display.trim().is_empty() || display.len() > 255
        {
            return Err(invalid(
                "INVALID_DISPLAY_USERNAME",
                "displayUsername must be 1 to 255 characters without control characters",
            ));
        }
        if app_says(hooks, "displayUsernameValidator", display).await? == Some(false) {
            return Err(invalid(
                "INVALID_DISPLAY_USERNAME",
                "displayUsername is invalid",
            ));
        }
        Ok(())
    }
}

fn take_str(fields: &mut serde_json::Map<String, Value>, key: &str) -> Result<Option<String>> {
    match fields.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(KavachError::validation(format!("{key} must be a string"))),
    }
}

impl crate::plugin::Plugin for UsernamePlugin {
    fn id(&self) -> &'static str {
        "username"
    }

    fn routes(&self) -> &'static [crate::plugin::Route] {
        ROUTES
    }

    /// Sign-up and update-user: `username` (stored lowercased, shown as typed) and
    /// `displayUsername`. On sign-up a `displayUsername` alone that is a valid username is also
    /// the username (as better-auth's). A changed username without `displayUsername` is shown as
    /// typed.
    fn user_fields<'a>(
        &'a self,
        hooks: &'a Hooks,
        fields: &'a mut serde_json::Map<String, Value>,
        user: &'a mut User,
        for_update: bool,
    ) -> crate::BoxFut<'a, Result<()>> {
        Box::pin(async move {
            let username = take_str(fields, "username")?;
            let display = take_str(fields, "displayUsername")?;
            if let Some(d) = &display {
                self.check_display(hooks, d).await?;
            }
            let username = match (username, &display) {
                (Some(u), _) => Some(u),
                (None, Some(d)) if !for_update && self.check(hooks, d).await.is_ok() => {
                    Some(d.clone())
                }
                _ => None,
            };
            match username {
                Some(u) => {
                    self.check(hooks, &u).await?;
                    user.username = Some(u.to_lowercase());
                    user.display_username = Some(display.unwrap_or(u));
                }
                None => {
                    if let Some(d) = display {
                        user.display_username = Some(d);
                    }
                }
            }
            Ok(())
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Kavach {
    fn username_plugin(&self) -> Result<&UsernamePlugin> {
        self.plugin::<UsernamePlugin>().ok_or_else(|| {
            KavachError::ConfigInvalid("username routes need the username() plugin".into())
        })
    }

    /// Whether nobody has `username` (any case).
    pub async fn username_available(&self, username: &str) -> Result<bool> {
        self.check_open()?;
        let plugin = self.username_plugin()?;
        plugin.check(self.hooks(), username).await?;
        let sql = sql_for(
            self.dialect(),
            "SELECT id FROM kavach_user WHERE username = ?",
        );
        let lower = username.to_lowercase();
        let taken = on_pool!(self.pool(), p => sqlx::query(&sql).bind(&lower).fetch_optional(p).await?.is_some());
        Ok(!taken)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignInBody {
    username: String,
    password: String,
    /// Accepted for better-auth's body; the session cookie is the core's either way.
    #[serde(default)]
    #[allow(dead_code)]
    remember_me: Option<bool>,
    #[serde(default, rename = "callbackURL")]
    #[allow(dead_code)]
    callback_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AvailableBody {
    username: String,
}

const ROUTES: &[crate::plugin::Route] = &[
    route!("POST", "/auth/sign-in/username", |k, req, p| {
        let b: SignInBody = parse_body(req)?;
        k.username_plugin()?.check(k.hooks(), &b.username).await?;
        k.password_sign_in_response(req, Login::Username(b.username), b.password)
            .await
    }),
    route!("POST", "/auth/is-username-available", |k, req, p| {
        let b: AvailableBody = parse_body(req)?;
        // An oracle of who has an account: it shares the per-IP limit of the credential routes.
        k.limit_ip(req).await?;
        ok_value(json!({ "available": k.username_available(&b.username).await? }))
    }),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_validator_is_better_auths() {
        assert!(default_validator("ada.lovelace_1"));
        assert!(!default_validator("ada lovelace"));
        assert!(!default_validator("ada-l"));
        assert!(!default_validator("adä"));
        assert!(!default_validator(""));
    }

    #[test]
    fn options() {
        let o = parse_options(&Value::Null).unwrap();
        assert_eq!((o.min_length, o.max_length), (3, 30));
        let o = parse_options(&json!({ "minUsernameLength": 5, "maxUsernameLength": 8 })).unwrap();
        assert_eq!((o.min_length, o.max_length), (5, 8));
        assert!(parse_options(&json!({ "minUsernameLength": 9, "maxUsernameLength": 8 })).is_err());
        assert!(parse_options(&json!({ "nope": 1 })).is_err());
    }
}
